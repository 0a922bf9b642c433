"""Certificates for multi-layer models: regions carried through the layers on a product graph.

In a model without short convolutions the input of layer ``l`` at a token is a function of the token and of the
states of layers ``0 .. l-1`` after it. The argument runs layer by layer on one graph, refined as it goes:

1. Layer 0 reads the token's embedding (a point). Its per-edge maps and exact kinds, its regions (anchored at
   representative words, :mod:`.anchored`, on the window graph split by the normal forms of its exact rows) are
   those of the one-layer argument.
2. For every edge ``p -a-> p'`` the state of layer ``l`` after the token lies in ``region_l(p')``; interval bounds
   carry that box through the output norm, gate, projection, residual and MLP of block ``l``
   (:func:`.readout.block_output`): the input of layer ``l + 1`` on that edge lies in a box ``X_e``.
3. Layer ``l + 1``'s coefficients (keys, values, gates, queries) are bounded on ``X_e`` by interval arithmetic
   (:func:`layer_step`): ``A in A_c +- A_r``, ``B in B_c +- B_r``. Its regions are computed on the same graph (the
   *product* of the DFA, the token and the lower layers' normal forms), refined again by its own exact rows.
4. The last layer's regions go through the readout as in the one-layer case.

**Exact inputs.** Where every region of the layers below has radius 0 at ``p'`` (each lower state *is* the state of
``p'``'s representative word), the input of layer ``l + 1`` on every edge into ``p'`` with symbol ``a`` is one fixed
real vector (known to the interval ``X_e``); the map of that letter ``(p', a)`` is then one map, and the exact
relations of its saturated gates (reflections, identities, sign flips) hold as in layer 0. Elsewhere only identities
are used exactly (a gate clamped at the identity on the whole box is the identity, whatever the input), and the
regions allow two different maps for the representative word and another word of a node (twice the coefficient
radius, :func:`.anchored._coef_radius`).

Soundness is the one-layer induction applied per layer, in order: layer ``l``'s claim (its state lies in its node's
region) needs only that its inputs lie in the boxes ``X_e``, which layer ``l - 1``'s claim gives. The arithmetic is
the one of :mod:`.intervals` (real arithmetic, float64 bounds widened outward).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from statetrack.automata.dfa import DFA

from ..layers import DeltaProductLayer, GATE_OVERSHOOT
from ..model import LRNNModel
from .anchored import anchored_regions, refine_by_normal_forms
from .certificate import Certificate
from .intervals import REL, Interval, widen
from .paths import output_bounds
from .readout import _np, _rms, block_output, margin_lower_bound
from .regions import choose_basis, hull_boxes, simulate
from .window_graph import WindowGraph, build_window_graph
from .window_steps import (EXACT_MARGIN, IDEMPOTENT, IDENTITY, INVOLUTION, KEY_FLOOR, KIND_NAMES, RESET,
                           WindowStep)


# ----------------------------------------------------------------------------------------------- interval helpers
def _ival(lo: np.ndarray, hi: np.ndarray) -> Interval:
    return Interval(*widen(lo, hi))


def _sigmoid(x: Interval) -> Interval:
    s = lambda t: 1.0 / (1.0 + np.exp(-t))  # noqa: E731
    return Interval(*widen(s(x.lo), s(x.hi), 1e-12))


def _softplus(x: Interval) -> Interval:
    return Interval(*widen(np.logaddexp(0.0, x.lo), np.logaddexp(0.0, x.hi), 1e-12))


def _normalize(x: Interval) -> tuple[Interval, float]:
    """``x / ||x||`` over the last axis (exact per-component extremes, as the RMS norm) and a lower bound of
    ``||x||`` (the normalisation is that of ``F.normalize`` only where it is >= its floor)."""
    n = x.lo.shape[-1]
    sq_lo = np.where((x.lo <= 0) & (x.hi >= 0), 0.0, np.minimum(x.lo ** 2, x.hi ** 2))
    norm_lo = float(np.sqrt(sq_lo.sum(-1)).min()) * (1 - 1e-12)
    if norm_lo <= 0:
        return Interval(-np.ones_like(x.lo), np.ones_like(x.hi)), 0.0
    return x.rms_norm(np.full(n, n ** -0.5), 0.0), norm_lo


def _matmul(a: Interval, b: Interval) -> Interval:
    """``a @ b`` (batched) in centre-radius form, widened for float64 rounding."""
    ac, ar, bc, br = a.centre, a.radius, b.centre, b.radius
    c = ac @ bc
    r = np.abs(ac) @ br + ar @ np.abs(bc) + ar @ br
    mag = np.abs(ac) @ np.abs(bc) + r
    return Interval(c - r - REL * mag * ac.shape[-1], c + r + REL * mag * ac.shape[-1])


def _gate_level(s: Interval, gate: str) -> Interval:
    if gate == "sigmoid":
        return s
    m = GATE_OVERSHOOT
    return Interval(*widen(s.lo * (1 + 2 * m) - m, s.hi * (1 + 2 * m) - m))


def _clamp01(u: Interval, gate: str) -> Interval:
    return u if gate == "sigmoid" else Interval(np.clip(u.lo, 0.0, 1.0), np.clip(u.hi, 0.0, 1.0))


def _step(A: Interval, B: Interval, q: Interval, extra: Interval, gate: Interval, x: Interval, kinds: np.ndarray,
          a_exact: np.ndarray, b_exact: np.ndarray) -> WindowStep:
    return WindowStep(A.centre, B.centre, q.centre, extra.centre, gate.centre, x.centre, kinds, a_exact, b_exact,
                      A_rad=A.radius, B_rad=B.radius, q_rad=q.radius, extra_rad=extra.radius, x_rad=x.radius,
                      gate_rad=gate.radius)


# ----------------------------------------------------------------------------------------------- one layer's step
def layer_step(model64: LRNNModel, layer: int, x: Interval, exact_input: bool) -> WindowStep:
    """Bounds on what one token does in block ``layer`` when the residual stream entering it lies in ``x
    [d_model]``: the affine map ``S -> A S + B`` per head, the query, skip term and output gate, as a
    :class:`WindowStep` whose ``*_rad`` fields hold the interval radii. ``exact_input``: ``x`` bounds one fixed real
    vector shared by every word taking this letter (then reflections, sign flips, projections and resets count as
    exact kinds; otherwise only identities)."""
    block = model64.blocks[layer]
    h = _rms(block.norm1, x)
    mixer = block.mixer
    if isinstance(mixer, DeltaProductLayer):
        return _householder_step(mixer, h, x, exact_input)
    return _diagonal_step(mixer, h, x, exact_input)


def _householder_step(mixer: DeltaProductLayer, h: Interval, x: Interval, exact_input: bool) -> WindowStep:
    n_h, H, K, V = mixer.num_householder, mixer.num_heads, mixer.head_dim, mixer.value_dim
    q = h.linear(_np(mixer.q_proj.weight))
    k = h.linear(_np(mixer.k_proj.weight))
    v = h.linear(_np(mixer.v_proj.weight)).silu()
    if mixer.qk_silu:
        q, k = q.silu(), k.silu()
    q = Interval(q.lo.reshape(H, K), q.hi.reshape(H, K))
    k = Interval(k.lo.reshape(n_h, H, K), k.hi.reshape(n_h, H, K))
    v = Interval(v.lo.reshape(n_h, H, V), v.hi.reshape(n_h, H, V))
    q, _ = _normalize(q)
    q = q * np.full(K, K ** -0.5)
    key_norms = [_normalize(Interval(k.lo[j, hh], k.hi[j, hh])) for j in range(n_h) for hh in range(H)]
    if mixer.qk_norm_eps is not None:  # x / sqrt(|x|^2 + eps): inside the unit box, never exactly unit
        unit_box = Interval(-np.ones((H, K)), np.ones((H, K)))
        q = unit_box * np.full(K, K ** -0.5)
        key_norms = [(Interval(-np.ones(K), np.ones(K)), 0.0) for _ in range(n_h * H)]
    k = Interval(np.stack([kn.lo for kn, _ in key_norms]).reshape(n_h, H, K),
                 np.stack([kn.hi for kn, _ in key_norms]).reshape(n_h, H, K))
    unit = np.array([ln >= KEY_FLOOR for _, ln in key_norms]).reshape(n_h, H)
    z = h.linear(_np(mixer.b_proj.weight), None if mixer.b_proj.bias is None else _np(mixer.b_proj.bias))
    u = _gate_level(_sigmoid(z), mixer.gate)  # [n_h * H]
    beta = _clamp01(u, mixer.gate) * np.full(n_h * H, mixer.beta_max)
    beta = Interval(beta.lo.reshape(n_h, H), beta.hi.reshape(n_h, H))
    eye = np.broadcast_to(np.eye(K), (H, K, K)).copy()
    A = Interval(eye.copy(), eye.copy())
    B = Interval(np.zeros((H, K, V)), np.zeros((H, K, V)))
    for j in range(n_h):
        kj, vj = Interval(k.lo[j], k.hi[j]), Interval(v.lo[j], v.hi[j])
        bj = Interval(beta.lo[j][:, None, None], beta.hi[j][:, None, None])
        kk = Interval(kj.lo[:, :, None], kj.hi[:, :, None]) * Interval(kj.lo[:, None, :], kj.hi[:, None, :])
        F = Interval(eye, eye) + (bj * kk) * np.array(-1.0)
        A = _matmul(F, A)
        B = _matmul(F, B) + bj * (Interval(kj.lo[:, :, None], kj.hi[:, :, None]) *
                                  Interval(vj.lo[:, None, :], vj.hi[:, None, :]))
    if mixer.use_output_gate:
        g = h.linear(_np(mixer.g_proj.weight)).silu()
        gate = Interval(g.lo.reshape(H, V), g.hi.reshape(H, V))
    else:
        gate = Interval(np.ones((H, V)), np.ones((H, V)))
    kinds = np.zeros(H, dtype=np.int8)
    if mixer.gate == "saturating":
        ul, uh = u.lo.reshape(n_h, H), u.hi.reshape(n_h, H)
        zero, full = uh <= -EXACT_MARGIN, ul >= 1 + EXACT_MARGIN
        kinds[zero.all(0)] = IDENTITY
        if exact_input:
            one = (full.sum(0) == 1) & (zero.sum(0) == n_h - 1) & ((full & unit).sum(0) == 1)
            kinds[one & (mixer.beta_max == 2.0)] = INVOLUTION
            kinds[one & (mixer.beta_max == 1.0)] = IDEMPOTENT
    ident = kinds == IDENTITY
    A.lo[ident], A.hi[ident] = eye[ident], eye[ident]  # beta = 0 exactly on every factor: the identity
    B.lo[ident], B.hi[ident] = 0.0, 0.0
    rows = np.repeat(kinds[:, None], K, axis=1)
    zero_extra = Interval(np.zeros((H, V)), np.zeros((H, V)))
    return _step(A, B, q, zero_extra, gate, x, rows, rows == IDENTITY, rows == IDENTITY)


def _diagonal_step(mixer, h: Interval, x: Interval, exact_input: bool) -> WindowStep:
    H, K, V = mixer.num_heads, mixer.state_dim, mixer.head_dim
    v = h.linear(_np(mixer.x_proj.weight)).silu()
    v = Interval(v.lo.reshape(H, V), v.hi.reshape(H, V))
    dt = _softplus(h.linear(_np(mixer.dt_proj.weight), _np(mixer.dt_bias)))  # [H] or [H * K] (dt_per_channel)
    dt = Interval(dt.lo.reshape(H, -1), dt.hi.reshape(H, -1))  # [H, 1] or [H, K]
    rate = np.exp(_np(mixer.A_log))  # [H, K], > 0: exp(-dt * rate) decreases with dt
    s = Interval(*widen(np.exp(-dt.hi * rate), np.exp(-dt.lo * rate), 1e-12))
    u = _gate_level(s, mixer.gate)
    e = _clamp01(u, mixer.gate)
    a = Interval(*widen(2 * e.lo - 1, 2 * e.hi - 1)) if mixer.eigenvalue_range == (-1, 1) else e
    weight = (Interval(1 - e.hi, 1 - e.lo) if mixer.gate == "saturating"
              else Interval(np.broadcast_to(dt.lo, (H, K)), np.broadcast_to(dt.hi, (H, K))))
    b = h.linear(_np(mixer.B_proj.weight))
    k = Interval(b.lo.reshape(H, K), b.hi.reshape(H, K)) * weight
    q = h.linear(_np(mixer.C_proj.weight))
    q = Interval(q.lo.reshape(H, K), q.hi.reshape(H, K))
    kinds = np.zeros((H, K), dtype=np.int8)
    clamped = np.zeros((H, K), dtype=bool)
    if mixer.gate == "saturating":
        zero, full = u.hi <= -EXACT_MARGIN, u.lo >= 1 + EXACT_MARGIN
        clamped = zero | full  # a row of A known exactly (a = -1 or 0; a = 1)
        if exact_input:
            kinds[zero] = INVOLUTION if mixer.eigenvalue_range == (-1, 1) else RESET
        kinds[full] = IDENTITY
        k.lo[full], k.hi[full] = 0.0, 0.0  # (1 - e) = 0 exactly
        for t in (a.lo, a.hi):
            t[full] = 1.0
            t[zero] = -1.0 if mixer.eigenvalue_range == (-1, 1) else 0.0
    A = Interval(np.zeros((H, K, K)), np.zeros((H, K, K)))
    idx = np.arange(K)
    A.lo[:, idx, idx], A.hi[:, idx, idx] = a.lo, a.hi
    B = Interval(k.lo[:, :, None], k.hi[:, :, None]) * Interval(v.lo[:, None, :], v.hi[:, None, :])
    ident = kinds == IDENTITY
    B.lo[ident], B.hi[ident] = 0.0, 0.0
    extra = v * _np(mixer.D)
    g = h.linear(_np(mixer.z_proj.weight)).silu()
    gate = Interval(g.lo.reshape(H, V), g.hi.reshape(H, V))
    return _step(A, B, q, extra, gate, x, kinds, clamped, ident)


# ------------------------------------------------------------------------------------------- the layered argument
@dataclass
class StackRegions:
    """What :func:`carry_regions` found. ``graph``: the product graph (the last refinement); ``inputs[l][e]``: the box
    of layer ``l``'s input (the residual stream entering block ``l``) on edge ``e`` of ``graph``; ``steps``, ``outs``:
    the last layer's steps and scan-output boxes per edge; ``layers``: per-layer figures; ``closed`` False with
    ``reason`` when some layer's regions did not close."""

    graph: WindowGraph
    inputs: list[list[Interval]]
    steps: list[WindowStep]
    outs: list[Interval]
    layers: list[dict]
    closed: bool
    reason: str = ""


def carry_regions(model64: LRNNModel, dfa: DFA, min_length: int, seed: int, max_rounds: int) -> StackRegions:
    """Regions of every layer of a float64 model without short convolutions, each layer given the input boxes
    that the layers below hand it, on the product graph (module docstring)."""
    graph = build_window_graph(dfa, 1, min_length)
    emb = _np(model64.embedding.weight)
    X = [Interval(emb[a].copy(), emb[a].copy()) for _, a, _ in graph.edges]
    inputs: list[list[Interval]] = []
    exact = [True] * len(graph.edges)
    keys: list[tuple] = [w for w in graph.windows]
    # per node: the normal forms of every layer below, where they determine its states exactly (else None)
    node_key: list[tuple | None] = [()] * len(graph.nodes)
    diagonal = model64.config.layer == "diagonal"
    L = model64.config.n_layers
    layers: list[dict] = []
    for layer in range(L):
        steps = [layer_step(model64, layer, X[e], exact[e]) for e in range(len(graph.edges))]
        graph = WindowGraph(graph.nodes, graph.edges, keys, 1, graph.cap)
        finer = refine_by_normal_forms(graph, steps, diagonal)
        if finer is not None:
            o = finer.origin
            steps, X, exact = [steps[i] for i in o], [X[i] for i in o], [exact[i] for i in o]
            inputs = [[boxes[i] for i in o] for boxes in inputs]
            node_key = [node_key[i] for i in finer.node_origin]
            graph = finer
        inputs.append(X)
        H, K = steps[0].B.shape[:2]
        seen = simulate(graph, steps, np.random.default_rng(seed))
        basis = np.broadcast_to(np.eye(K), (H, K, K)).copy() if diagonal else choose_basis(seen, H, K)
        free, _ = hull_boxes(graph, steps, seen, basis)
        reg = anchored_regions(graph, steps, basis, diagonal, free_centre=free, max_rounds=max_rounds)
        counts = {KIND_NAMES[k]: int(sum((s.kinds == k).sum() for s in steps)) for k in range(1, len(KIND_NAMES))}
        layers.append({"layer": layer + 1, "nodes": len(graph.nodes), "edges": len(graph.edges),
                       "exact_rows": counts, "split_by_normal_forms": finer is not None,
                       "exact_inputs": int(sum(exact)), **reg.details})
        if not reg.closed:
            return StackRegions(graph, inputs, steps, [], layers, False, f"layer {layer + 1}: {reg.reason}")
        zeros = np.zeros_like(basis)
        outs = [output_bounds(steps[e], reg.centre[d], reg.centre_err[d], basis, zeros, reg.radius[d])
                for e, (_, _, d) in enumerate(graph.edges)]
        if layer == L - 1:
            break
        X = [block_output(model64, layer, steps[e], outs[e]) for e in range(len(graph.edges))]
        # a node's state is exact where its radius is 0 and every row is anchored: the state of its representative
        # word, which its normal forms determine (equal normal forms, equal compositions of maps from S = 0)
        anchored = bool(reg.anchored_rows.all())
        node_key = [None if k is None or not anchored or (reg.radius[p] != 0).any() else k + (tuple(reg.forms[p]),)
                    for p, k in enumerate(node_key)]
        exact = [exact[e] and node_key[d] is not None for e, (_, _, d) in enumerate(graph.edges)]
        # letters of the next layer: (symbol, lower normal forms) where the input is one fixed real vector
        keys = [(a,) + node_key[d] if exact[e] else ("edge", layer, e) for e, (_, a, d) in enumerate(graph.edges)]
    return StackRegions(graph, inputs, steps, outs, layers, True)


def certify_stack(model64: LRNNModel, dfa: DFA, classes: np.ndarray, min_length: int, seed: int,
                  max_rounds: int) -> Certificate:
    """The region argument of a multi-layer float64 model without short convolutions (module docstring)."""
    base: dict = {"min_length": min_length}
    if model64.config.use_short_conv:
        return Certificate("inconclusive", "regions", reason="the multi-layer region argument covers models without "
                           "short convolutions (a convolution reads past states of the layer below)", **base)
    stack = carry_regions(model64, dfa, min_length, seed, max_rounds)
    details: dict = {"layers": stack.layers}
    base["details"] = details
    if not stack.closed:
        return Certificate("inconclusive", "regions", reason=stack.reason, **base)
    graph, L = stack.graph, model64.config.n_layers
    worst, where = np.inf, 0
    for e, (_, _, d) in enumerate(graph.edges):
        q, _, n = graph.nodes[d]
        if n < min_length:
            continue
        m = margin_lower_bound(model64, stack.steps[e], stack.outs[e], int(classes[q]), layer=L - 1)
        if m < worst:
            worst, where = m, e
    details["readout_margin"] = float(worst)
    if worst <= 0:
        _, a, d = graph.edges[where]
        return Certificate("inconclusive", "regions", reason=f"the readout bound does not separate the classes "
                           f"after words ending in {dfa.alphabet[a]!r} at DFA state {dfa.states[graph.nodes[d][0]]!r} "
                           f"(margin {worst:.3g})", **base)
    details["argument"] = f"regions carried through {L} layers (product graph, anchored regions)"
    return Certificate("certified", "regions", reason=f"every reachable state of each of the {L} layers lies in its "
                       "node's region, given the boxes that the layers below hand it, and the readout is right on "
                       "every region", arithmetic="real", **base)


__all__ = ["certify_stack", "carry_regions", "layer_step", "StackRegions"]
