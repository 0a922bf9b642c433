"""Regions of a one-layer diagonal model in the coordinates of its own inputs: per-row parameter intervals.

In a diagonal layer every state row ``r = (h, k)`` evolves alone, ``S_r -> a_r(w) S_r + B_r(w)`` with ``S_r [V]``,
and in a one-layer model the transition ``a_r(w)`` and the input ``B_r(w) = k_r(w) v_h(w)`` are functions of the
token window ``w`` only. Hence, in real arithmetic and for every word,

    ``S_r = sum_w s_{r,w} B_r(w)``,  ``s_{r,w} -> a_r(w_t) s_{r,w} + [w = w_t]``,  ``s = 0`` for the empty word,

with one scalar *parameter* ``s_{r,w}`` per row and window (windows whose ``B_r(w)`` is exactly 0, the identity rows
of saturated gates, carry none). The parameters of a row move on a line each, so per window-graph node a box of
parameters is an exact description of where the row can be, without the wrapping of a box around a rotated set.

:func:`parameter_regions` computes, per node, an interval of every parameter that each edge maps into the interval
of the edge's target: a Kleene iteration (join of the images into the target) in float64 with outward rounding,
exact where the operation is exact (the maps of saturated gates: ``a`` exactly 1, -1 or 0; sums detected exact by
the error-free two-sum), with the parameters that still move widened every :data:`WIDEN_EVERY` rounds. When a round
changes nothing, every edge's image (computed with outward rounding and the coefficients' uncertainty, so it contains
the exact real image) lies in its target: the intervals are an inductive invariant, and by induction on the length
every word's parameters lie in its node's box. Parameters evolve independently, so one that never settles (a row
that counts, or flips on every token with different inputs) is marked *free* and the others keep their boxes.

:func:`readout_margins` bounds the readout on every edge's image box. The scan output is affine in the parameters,
``o_h = extra_h + sum_{k,w} s_{h,k,w} q_{h,k} B_{h,k}(w)``, so a box of parameters gives a tight interval of ``o``;
where the interval readout (:mod:`.readout`) does not separate the classes, the box is split along the parameter that
moves ``o`` most (branch and bound), up to a budget of boxes. The free parameters of a head, grouped by identical
dynamics, are covered at every scale: an inner box and the faces of the outer region, on which the output is known
up to a positive factor and the output norm's eps is scaled accordingly (:class:`_Piece`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .intervals import Interval
from .regions import COEF_ABS, COEF_REL
from .window_graph import WindowGraph
from .window_steps import WindowStep

#: rounds of the Kleene iteration between two widenings of the parameters that still move
WIDEN_EVERY = 64
#: relative and absolute size of one widening step
WIDEN_REL, WIDEN_ABS = 1e-9, 1e-12
#: parameters beyond this magnitude count as unbounded (a row that counts, ``a = 1`` with an input)
MAX_PARAMETER = 1e8


@dataclass
class ParameterRegions:
    """Per node ``p`` the parameter box ``lo[p] <= s <= hi[p]`` (``[P, H, K, W]``; ``W`` = distinct windows): every
    edge maps its source's box into its target's (checked with outward rounding), except on the ``free [H, K, W]``
    parameters, which have no bound (their entries in ``lo, hi`` are placeholders, 0); ``active [H, K, W]``: the
    parameters that carry an input (``B_r(w)`` not known to be exactly 0)."""

    lo: np.ndarray
    hi: np.ndarray
    active: np.ndarray
    windows: list[tuple[int, ...]]
    window_of_edge: np.ndarray
    rounds: int
    free: np.ndarray
    details: dict = field(default_factory=dict)


def _down(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, -np.inf)


def _up(x: np.ndarray) -> np.ndarray:
    return np.nextafter(x, np.inf)


def _two_sum_error(a: np.ndarray, b: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The exact rounding error ``(a + b) - s`` of ``s = fl(a + b)`` (Knuth's two-sum; exact in float64)."""
    bb = s - a
    return (a - (s - bb)) + (b - bb)


def _add_directed(x: np.ndarray, d: np.ndarray, downward: bool) -> np.ndarray:
    """``x + d`` rounded down (``downward``) or up: exact sums are left as they are, so that cycles of exact maps
    (a sign flip twice) come back to the same float."""
    s = x + d
    err = _two_sum_error(x, d, s)
    return np.where(err < 0, _down(s), s) if downward else np.where(err > 0, _up(s), s)


@dataclass
class _EdgeMaps:
    """Per edge the parameter map ``s -> a s + onehot(window)`` on every row: ``a`` known to ``a_rad``;
    ``exact [E, H, K]`` where ``a`` is exactly -1, 0 or 1 (a saturated gate), so its products are exact;
    ``active [H, K, W]``: the parameters with an input (``B_r(w)`` not known to be exactly 0); the others stay 0
    (their generator is 0, so they do not matter, and a row that is the identity would count them for ever)."""

    src: np.ndarray
    dst: np.ndarray
    a: np.ndarray
    a_rad: np.ndarray
    exact: np.ndarray
    onehot: np.ndarray  # [E, W]
    active: np.ndarray  # [H, K, W]

    def image(self, lo: np.ndarray, hi: np.ndarray, edges: np.ndarray | slice = slice(None)
              ) -> tuple[np.ndarray, np.ndarray]:
        """Outward-rounded images ``[e, H, K, W]`` of the boxes ``lo[e], hi[e]`` (``[e, H, K, W]``) under the maps
        of ``edges``."""
        a, ar, exact = self.a[edges][..., None], self.a_rad[edges][..., None], self.exact[edges][..., None]
        a_lo, a_hi = a - ar, a + ar
        p = np.stack([a_lo * lo, a_lo * hi, a_hi * lo, a_hi * hi])
        plo, phi = p.min(0), p.max(0)
        plo = np.where(exact, plo, _down(plo))
        phi = np.where(exact, phi, _up(phi))
        d = np.broadcast_to(self.onehot[edges][:, None, None, :] * self.active, plo.shape)
        return _add_directed(plo, d, True), _add_directed(phi, d, False)


def _edge_maps(graph: WindowGraph, steps: list[WindowStep]) -> tuple[_EdgeMaps, list[tuple[int, ...]], np.ndarray]:
    windows: dict[tuple[int, ...], int] = {}
    win = np.array([windows.setdefault(w, len(windows)) for w in graph.windows], dtype=np.int64)
    E, W = len(graph.edges), len(windows)
    a = np.stack([np.diagonal(s.A, axis1=-2, axis2=-1) for s in steps])  # [E, H, K]
    exact = np.stack([s.a_exact for s in steps]) & np.isin(a, (-1.0, 0.0, 1.0))
    a_rad = COEF_REL * np.abs(a) + COEF_ABS + 2 * np.stack([np.diagonal(s.A_rad, axis1=-2, axis2=-1) for s in steps])
    a_rad[exact] = 0.0
    onehot = np.zeros((E, W))
    onehot[np.arange(E), win] = 1.0
    src = np.array([s for s, _, _ in graph.edges], dtype=np.int64)
    dst = np.array([d for _, _, d in graph.edges], dtype=np.int64)
    first = {int(w): e for e, w in reversed(list(enumerate(win)))}
    active = ~np.stack([steps[first[w]].b_exact for w in range(W)], axis=-1)  # [H, K, W]
    return _EdgeMaps(src, dst, a, a_rad, exact, onehot, active), list(windows), win


def generators(steps: list[WindowStep], windows_of_edge: np.ndarray, W: int) -> tuple[np.ndarray, np.ndarray]:
    """``B_r(w)`` per window ``[W, H, K, V]`` and its uncertainty (0 on rows known exactly: identity rows)."""
    first = {int(w): e for e, w in reversed(list(enumerate(windows_of_edge)))}
    B = np.stack([steps[first[w]].B for w in range(W)])
    Br = np.stack([COEF_REL * np.abs(steps[first[w]].B) + COEF_ABS + steps[first[w]].B_rad for w in range(W)])
    exact = np.stack([steps[first[w]].b_exact for w in range(W)])  # [W, H, K]
    Br[exact] = 0.0
    return B, Br


def parameter_regions(graph: WindowGraph, steps: list[WindowStep], max_rounds: int = 5_000) -> ParameterRegions:
    """The per-node parameter boxes of the module docstring (diagonal layers only).

    Parameters evolve independently of each other, so one that does not settle (a row that counts, or flips on
    every token with different inputs: its state grows without bound) is marked *free* (``free [H, K, W]``: any real
    value) and the others are still boxed: when a parameter passes :data:`MAX_PARAMETER`, and for every parameter
    still moving after ``max_rounds`` rounds. The widening step grows fourfold each time it is applied, so slow
    contractions (``|a|`` near 1) settle in a few hundred rounds. The readout decides whether the free parameters
    matter (:func:`readout_margins`)."""
    maps, windows, win = _edge_maps(graph, steps)
    W = len(windows)
    P = len(graph.nodes)
    H, K = steps[0].B.shape[:2]
    active = maps.active
    free = np.zeros((H, K, W), dtype=bool)
    lo = np.full((P, H, K, W), np.inf)
    hi = np.full((P, H, K, W), -np.inf)
    lo[0] = hi[0] = 0.0  # the empty word
    src, dst = maps.src, maps.dst
    widenings = 0
    moved = np.zeros((P, H, K, W), dtype=bool)
    rounds = 0
    for rounds in range(1, max_rounds + 1):
        reached = np.flatnonzero(np.isfinite(lo[src, 0, 0, 0]))  # a node's box is empty until it is reached
        ilo, ihi = maps.image(lo[src[reached]], hi[src[reached]], reached)
        new_lo, new_hi = lo.copy(), hi.copy()
        np.minimum.at(new_lo, dst[reached], ilo)
        np.maximum.at(new_hi, dst[reached], ihi)
        big = np.isfinite(new_lo) & (np.maximum(np.abs(new_lo), np.abs(new_hi)) > MAX_PARAMETER)
        free |= big.any(axis=0)
        new_lo[:, free] = np.where(np.isfinite(new_lo[:, free]), 0.0, np.inf)  # free: kept at 0 (not used)
        new_hi[:, free] = np.where(np.isfinite(new_hi[:, free]), 0.0, -np.inf)
        moved = (new_lo != lo) | (new_hi != hi)
        lo, hi = new_lo, new_hi
        if not moved.any():
            break
        if rounds % WIDEN_EVERY == 0:  # widen what still moves: contractions then map strictly inside
            ok = moved & np.isfinite(lo)  # (a moved box is reached, so finite)
            flo, fhi = np.where(ok, lo, 0.0), np.where(ok, hi, 0.0)
            rel = min(WIDEN_REL * 4.0 ** widenings, 0.1)
            grow = rel * (fhi - flo + np.abs(flo) + np.abs(fhi)) + WIDEN_ABS
            lo = np.where(ok, _down(lo - grow), lo)
            hi = np.where(ok, _up(hi + grow), hi)
            widenings += 1
    else:
        free |= moved.any(axis=0)  # still moving after max_rounds: no bound claimed
        lo[:, free] = np.where(np.isfinite(lo[:, free]), 0.0, np.inf)
        hi[:, free] = np.where(np.isfinite(hi[:, free]), 0.0, -np.inf)
    free &= active
    details = {"parameter_rounds": rounds, "parameters": int(active.sum()), "free_parameters": int(free.sum())}
    return ParameterRegions(lo, hi, active, windows, win, rounds, free, details)


def scan_output(step: WindowStep, lo: np.ndarray, hi: np.ndarray, B: np.ndarray, Br: np.ndarray,
                free: np.ndarray | None = None) -> Interval:
    """Bounds on ``o_h = extra_h + sum_{k,w} s_{h,k,w} q_{h,k} B_{h,k}(w)`` ``[H, V]`` for parameters in the box
    ``lo, hi [H, K, W]`` (``B, Br [W, H, K, V]``: the generators and their uncertainty). A head in which a ``free``
    parameter ``[H, K, W]`` has a generator that is not exactly 0 gets ``(-inf, inf)``."""
    return _scan_output(step, lo, hi, *output_generators(step, B, Br), free)


def output_generators(step: WindowStep, B: np.ndarray, Br: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``q_{h,k} B_{h,k}(w)`` ``[H, K, W, V]``, what one unit of each parameter adds to the scan output at this
    step, and its uncertainty (from ``Br`` and the query's)."""
    q = step.q
    qr = 1e-9 * np.abs(q) + 1e-12 + step.q_rad
    G = np.einsum("hk,whkv->hkwv", q, B)
    Gr = np.einsum("hk,whkv->hkwv", np.abs(q) + qr, Br) + np.einsum("hk,whkv->hkwv", qr, np.abs(B))
    return G, Gr


def _scan_output(step: WindowStep, lo: np.ndarray, hi: np.ndarray, G: np.ndarray, Gr: np.ndarray,
                 free: np.ndarray | None) -> Interval:
    """:func:`scan_output` with the step's :func:`output_generators` given."""
    c, r = (lo + hi) / 2, (hi - lo) / 2
    mag = np.maximum(np.abs(lo), np.abs(hi))
    oc = np.einsum("hkw,hkwv->hv", c, G) + step.extra
    orad = np.einsum("hkw,hkwv->hv", r, np.abs(G)) + np.einsum("hkw,hkwv->hv", mag, Gr)
    orad += 1e-9 * np.abs(step.extra) + step.extra_rad + 1e-12 * (np.abs(oc) + orad) \
        + 1e-12 * np.einsum("hkw,hkwv->hv", np.abs(c), np.abs(G)) + 1e-12
    out = Interval.around(oc, orad)
    if free is not None and free.any():
        unknown = ((np.abs(G) + Gr).sum(-1) * free).sum(axis=(1, 2)) > 0  # [H]
        out.lo[unknown], out.hi[unknown] = -np.inf, np.inf
    return out


@dataclass
class MarginOutcome:
    """The least readout margin found (> 0 on every box: certified), the edge where it is smallest, and the boxes
    evaluated."""

    worst: float
    edge: int
    boxes: int
    exhausted: bool = False


#: heads with at most this many free directions are bounded through their directions of growth (a head with more
#: is left unknown: its normalised output is only known to lie in a ball)
MAX_FREE_DIRECTIONS = 3


def free_directions(regions: ParameterRegions, steps: list[WindowStep]) -> dict[int, list[list[tuple[int, int]]]]:
    """Per head, its free parameters ``(k, w)`` grouped by identical dynamics: the same window and, on every edge,
    the same exactly known transition (a saturated gate). Parameters in one group are equal after every word, so a
    head's free part is ``sum_g t_g g_g`` with one unknown real ``t_g`` per group."""
    free = regions.free
    out: dict[int, list[list[tuple[int, int]]]] = {}
    if not free.any():
        return out
    a = np.stack([np.diagonal(s.A, axis1=-2, axis2=-1) for s in steps])  # [E, H, K]
    exact = np.stack([s.a_exact for s in steps]).all(axis=0)  # [H, K]
    for h, k, w in zip(*np.nonzero(free)):
        key = (int(w), a[:, h, k].tobytes()) if exact[h, k] else (int(w), int(k))
        groups = out.setdefault(int(h), [])
        keys = [(int(g[0][1]), a[:, h, g[0][0]].tobytes()) if exact[h, g[0][0]] else (int(g[0][1]), int(g[0][0]))
                for g in groups]
        if key in keys:
            groups[keys.index(key)].append((int(k), int(w)))
        else:
            groups.append([(int(k), int(w))])
    return out


@dataclass
class _Piece:
    """A box of the bounded parameters (``lo, hi [H, K, W]``) and, per head with free directions, a box of their
    coefficients ``c [F]`` and a factor ``tau`` on the bounded part: the head's scan output is, up to a positive
    factor, ``tau * o_bounded + sum_f c_f g_f`` (inner box: ``tau = 1``, ``c = t``; a face of the outer region
    ``sigma t_i >= R0``, ``|t_j| <= |t_i|``: ``tau = 1 / |t_i|`` in ``[0, 1 / R0]``, ``c_i = sigma``,
    ``c_j = t_j / |t_i|`` in ``[-1, 1]``; the output norm's eps is then scaled by ``tau^2``)."""

    lo: np.ndarray
    hi: np.ndarray
    heads: dict[int, tuple[np.ndarray, np.ndarray, float, float]]

    def split(self, where: tuple) -> tuple["_Piece", "_Piece"]:
        pieces = []
        for side in (0, 1):
            lo, hi = self.lo.copy(), self.hi.copy()
            heads = {h: (c_lo.copy(), c_hi.copy(), tl, th) for h, (c_lo, c_hi, tl, th) in self.heads.items()}
            if where[0] == "param":
                j = where[1]
                mid = (lo[j] + hi[j]) / 2
                (hi if side == 0 else lo)[j] = mid
            else:
                h = where[1]
                c_lo, c_hi, tl, th = heads[h]
                if where[0] == "tau":
                    mid = (tl + th) / 2
                    tl, th = (tl, mid) if side == 0 else (mid, th)
                else:
                    f = where[2]
                    mid = (c_lo[f] + c_hi[f]) / 2
                    (c_hi if side == 0 else c_lo)[f] = mid
                heads[h] = (c_lo, c_hi, tl, th)
            pieces.append(_Piece(lo, hi, heads))
        return pieces[0], pieces[1]


def readout_margins(regions: ParameterRegions, graph: WindowGraph, steps: list[WindowStep],
                    margin: Callable[..., float], max_boxes: int = 20_000, progress: bool = False) -> MarginOutcome:
    """For every edge, the readout on the image of its source's box, split (branch and bound) until every piece has
    a positive margin. ``margin(e, o, o_eps)``: a lower bound of the right class's logit margin at edge ``e`` for
    scan outputs in ``o`` (``inf`` where no claim is made), ``o_eps`` as in
    :func:`~statetrack.lrnn.certify.readout.margin_lower_bound`. Free parameters: a head with at most
    :data:`MAX_FREE_DIRECTIONS` groups (:func:`free_directions`) is covered by an inner box of its unknowns and the
    faces of the outer region (:class:`_Piece`); a head with more has an unknown scan output. Stops at the first
    piece that cannot be split further or after ``max_boxes`` evaluations; ``worst`` is then that piece's margin
    (<= 0). ``progress``: a bar of the boxes on stderr once the work takes more than 2 s."""
    from tqdm.auto import tqdm

    bar = tqdm(total=max_boxes, desc="certify: readout boxes", unit="box", delay=2.0, disable=not progress,
               leave=False, dynamic_ncols=True)
    try:
        return _branch_and_bound(regions, graph, steps, margin, max_boxes, bar)
    finally:
        bar.close()


def _branch_and_bound(regions: ParameterRegions, graph: WindowGraph, steps: list[WindowStep],
                      margin: Callable[..., float], max_boxes: int, bar) -> MarginOutcome:
    maps = _edge_maps(graph, steps)[0]
    W = len(regions.windows)
    B, Br = generators(steps, regions.window_of_edge, W)
    free = regions.free
    groups = {h: gs for h, gs in free_directions(regions, steps).items() if len(gs) <= MAX_FREE_DIRECTIONS}
    unknown = free.copy()
    for h in groups:
        unknown[h] = False
    weight = np.abs(B).sum(-1).transpose(1, 2, 0)  # [H, K, W]: how far one unit of a parameter moves o (times |q|)
    boxes, best, where = 0, np.inf, 0
    for e, (s, _, _) in enumerate(graph.edges):
        step = steps[e]
        ilo, ihi = maps.image(regions.lo[s][None], regions.hi[s][None], np.array([e]))
        G, Gr = output_generators(step, B, Br)  # once per edge, for every piece below
        gens: dict[int, list[Interval]] = {}
        for h, gs in groups.items():
            gens[h] = []
            for g in gs:
                c = sum(G[h, k, w] for k, w in g)
                r = sum(Gr[h, k, w] + 1e-12 * np.abs(G[h, k, w]) for k, w in g)
                gens[h].append(Interval.around(c, r))
        base = _scan_output(step, ilo[0], ihi[0], G, Gr, unknown)
        pieces = [_Piece(ilo[0], ihi[0], {})]
        for h, gh in gens.items():  # every piece is split into the inner box and the 2F faces of each head
            F = len(gh)
            size = np.sqrt((np.maximum(np.abs(base.lo[h]), np.abs(base.hi[h])) ** 2).sum())
            least = min(float(np.sqrt((g.centre ** 2).sum())) for g in gh)
            R0 = 1.0 + 0.5 * size / max(least, 1e-300)
            options = [(np.full(F, -R0), np.full(F, R0), 1.0, 1.0)]
            for i in range(F):
                for sigma in (-1.0, 1.0):
                    c_lo, c_hi = np.full(F, -1.0), np.full(F, 1.0)
                    c_lo[i] = c_hi[i] = sigma
                    options.append((c_lo, c_hi, 0.0, 1.0 / R0))
            pieces = [_Piece(p.lo, p.hi, {**p.heads, h: opt}) for p in pieces for opt in options]
        influence = weight * np.abs(step.q)[..., None]
        stack = pieces[::-1]
        while stack:
            piece = stack.pop()
            boxes += 1
            bar.update(1)
            o, o_eps, scores = _piece_output(step, piece, G, Gr, unknown, gens, influence)
            m = margin(e, o, o_eps)
            if m > 0:
                if m < best:
                    best, where = m, e
                continue
            pick = max(scores, key=lambda t: t[0]) if scores else (0.0, None)
            if pick[0] <= 0 or boxes >= max_boxes:
                return MarginOutcome(m, e, boxes, exhausted=boxes >= max_boxes)
            left, right = piece.split(pick[1])
            stack.append(left)
            stack.append(right)
    return MarginOutcome(best, where, boxes)


def _piece_output(step: WindowStep, piece: _Piece, G: np.ndarray, Gr: np.ndarray, unknown: np.ndarray,
                  gens: dict[int, list[Interval]], influence: np.ndarray
                  ) -> tuple[Interval, tuple[np.ndarray, np.ndarray] | None, list[tuple[float, tuple]]]:
    """The scan output bounds of a piece (heads with free directions up to their positive factor), the output
    norm's eps factors, and the split candidates ``(score, where)``; ``G, Gr``: the step's
    :func:`output_generators`."""
    o = _scan_output(step, piece.lo, piece.hi, G, Gr, unknown)
    width = (piece.hi - piece.lo) * influence
    j = np.unravel_index(int(np.argmax(width)), width.shape)
    scores: list[tuple[float, tuple]] = [(float(width[j]), ("param", j))]
    if not piece.heads:
        return o, None, scores
    H = o.lo.shape[0]
    e_lo, e_hi = np.ones((H, 1)), np.ones((H, 1))
    lo, hi = o.lo.copy(), o.hi.copy()
    for h, (c_lo, c_hi, tl, th) in piece.heads.items():
        part = Interval(o.lo[h], o.hi[h])
        mag = float(np.maximum(np.abs(o.lo[h]), np.abs(o.hi[h])).sum())
        if (tl, th) != (1.0, 1.0):
            part = part * Interval(np.array([tl]), np.array([th]))
            e_lo[h], e_hi[h] = tl * tl, th * th
            scores.append(((th - tl) * mag, ("tau", h)))
        for f, g in enumerate(gens[h]):
            part = part + Interval(np.array([c_lo[f]]), np.array([c_hi[f]])) * g
            scores.append(((c_hi[f] - c_lo[f]) * float(np.abs(g.centre).sum()), ("coef", h, f)))
        lo[h], hi[h] = part.lo, part.hi
    return Interval(lo, hi), (e_lo, e_hi), scores
