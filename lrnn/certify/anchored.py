"""Regions anchored at representative words: the region argument for maps that are exact isometries.

Boxes grown by fixed-point iteration (:mod:`.regions`) need every cycle of the window graph to contract: the float64
coefficients are known to a relative 1e-9 only, so an exact reflection (``beta = 2``) or sign flip (``a = -1``),
which preserves lengths, lets the uncertainty grow round every cycle and no box closes. Here the uncertainty is not
pushed round the cycles. Every node ``p`` gets a *representative word* ``w_p`` (its path in the breadth-first tree
of the window graph) and the region

    ``region(p) = { S(w_p) + T E : |E| <= R_p }``  (per head, ``T`` the box basis; ``S(w)`` the real state after w).

For an edge ``p -a-> p'`` and any word ``w`` at ``p`` the two maps of the same window cancel their ``B``:

    ``S(w a) - S(w_p') = A (S(w) - S(w_p)) + delta_e``,  ``delta_e = S(w_p a) - S(w_p')``,

so the regions are invariant when ``|T^-1 A T| R_p + |T^-1 delta_e| <= R_p'`` for every edge. The *defect*
``delta_e`` is a difference of two specific states. It is exactly 0 on a state row where the two words are equal
as compositions of that row's maps: each word is reduced to a normal form by the exact relations of
:mod:`.window_steps` (an ``IDENTITY`` window is dropped, two equal ``INVOLUTION`` windows in a row cancel, an
``IDEMPOTENT`` window repeated is kept once, a ``RESET`` window forgets what came before), and equal normal forms
give equal maps in real arithmetic whatever the irrational keys and values are. Elsewhere it is bounded from the
float64 states of the two words, each carried with an error bound. With every defect exactly 0 the radii are 0:
every reachable state *is* the state of its node's representative word (finitely many states).

Rows of ``A`` that are exactly known (identity maps, diagonal entries -1 or 0) are used without coefficient
uncertainty, and their part of the bound is computed exactly (diagonal layers: the axis basis, a product with an
entry of absolute value 1 or 0), so an exact sign flip maps a radius to the same radius.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .regions import COEF_ABS, COEF_REL, close_radii
from .window_graph import WindowGraph
from .window_steps import IDEMPOTENT, IDENTITY, INVOLUTION, RESET, WindowStep

_SAFE = 1 + 1e-9


@dataclass
class AnchoredRegions:
    """``centre [P, H, K, V]`` (float64 states of the representative words), ``centre_err`` (their error bounds),
    ``radius [P, H, K, V]`` in the basis ``basis [H, K, K]``; ``exact_edges``: non-tree edges whose defect is 0 on
    every row."""

    centre: np.ndarray
    centre_err: np.ndarray
    radius: np.ndarray
    basis: np.ndarray
    closed: bool = False
    rounds: int = 0
    reason: str = ""
    details: dict = field(default_factory=dict)
    #: per node, the normal form of each state row (``H * K`` tuples of letter ids, letters numbered in the order of
    #: first appearance in ``graph.windows``); ``anchored_rows [H, K]``: rows on which every defect is exactly 0
    forms: list[list[tuple[int, ...]]] = field(default_factory=list)
    anchored_rows: np.ndarray | None = None


def push(form: tuple[int, ...], letter: int, kind: int) -> tuple[int, ...]:
    """The normal form of ``form`` followed by the window ``letter`` whose map on this row is of ``kind``."""
    if kind == IDENTITY:
        return form
    if kind == RESET:
        return (letter,)
    if form and form[-1] == letter:
        if kind == INVOLUTION:
            return form[:-1]
        if kind == IDEMPOTENT:
            return form
    return form + (letter,)


def _coef_radius(step: WindowStep, diagonal: bool) -> tuple[np.ndarray, np.ndarray]:
    """Uncertainty ``(Ar [H, K, K], Br [H, K, V])`` of a step's float64 coefficients; exact rows have none, and a
    diagonal layer's off-diagonal entries are exactly 0. A step whose input is only known to a box (``A_rad``,
    ``B_rad``) may be a different map for the representative word than for another word of the node: twice its
    radius bounds the difference of the two maps, which then enters the defect as ``Ar |S(w_p)| + Br``."""
    Ar = COEF_REL * np.abs(step.A) + COEF_ABS + 2 * step.A_rad  # 2x: two words may see two different maps
    if diagonal:
        Ar = Ar * np.eye(Ar.shape[-1])[None]
    Ar[step.a_exact] = 0.0
    Br = COEF_REL * np.abs(step.B) + COEF_ABS + 2 * step.B_rad
    Br[step.b_exact] = 0.0
    return Ar, Br


def anchored_regions(graph: WindowGraph, steps: list[WindowStep], basis: np.ndarray, diagonal: bool,
                     free_centre: np.ndarray | None = None, max_rounds: int = 3000, grow: float = 1e-3,
                     max_radius: float = 1e6) -> AnchoredRegions:
    """Centres, defects and the radii's fixed point (module docstring). ``diagonal``: the model's layer is diagonal
    (``basis`` must then be the identity). ``free_centre [P, H, K, V]`` (e.g. the centres of simulated states): the
    centres of the rows (diagonal layers) or heads (Householder layers) on which some edge has a non-zero defect;
    such rows need a contraction anyway, and any centre is sound for them (their defects are then
    ``A c_p + B - c_p'``)."""
    P, E = len(graph.nodes), len(graph.edges)
    H, K, V = steps[0].B.shape
    letters: dict[tuple[int, ...], int] = {}
    letter = [letters.setdefault(w, len(letters)) for w in graph.windows]
    coef = [_coef_radius(s, diagonal) for s in steps]
    # breadth-first tree: the first edge into a node comes from a node that was found earlier
    parent = [-1] * P
    for e, (_, _, d) in enumerate(graph.edges):
        if parent[d] < 0 and d != 0:
            parent[d] = e
    centre = np.zeros((P, H, K, V))
    err = np.zeros((P, H, K, V))
    forms: list[list[tuple[int, ...]]] = [[()] * (H * K) for _ in range(P)]
    for p in range(1, P):
        e = parent[p]
        s = graph.edges[e][0]
        c, cr, step = centre[s], err[s], steps[e]
        Ar, Br = coef[e]
        centre[p] = step.A @ c + step.B
        # S(w_p) - centre = A d + dA c + dA d + dB with |d| <= cr, |dA| <= Ar, |dB| <= Br: (|A| + Ar) cr + Ar |c| + Br
        err[p] = ((np.abs(step.A) + Ar) @ cr + Ar @ np.abs(c) + Br
                  + 1e-12 * (np.abs(step.A) @ np.abs(c) + np.abs(step.B)))  # float64 rounding, many times over
        kinds = step.kinds.reshape(-1)
        forms[p] = [push(f, letter[e], int(k)) for f, k in zip(forms[s], kinds)]
    # defects: 0 on rows where the normal forms agree; otherwise the float64 difference and its error
    N = np.swapaxes(basis, -1, -2)
    Nabs, Tabs = np.abs(N), np.abs(basis)
    D = np.zeros((E, H, K, V))
    Dr = np.zeros((E, H, K, V))
    M = np.zeros((E, H, K, K))  # T^-1 A T (through N = T^T)
    Mr = np.zeros((E, H, K, K))  # its uncertainty
    same_all = []
    for e, (s, _, d) in enumerate(graph.edges):
        kinds = steps[e].kinds.reshape(-1)
        same = np.array([push(f, letter[e], int(k)) == g for f, k, g in zip(forms[s], kinds, forms[d])])
        same = same.reshape(H, K)
        if not diagonal:
            same = np.repeat(same.all(axis=1, keepdims=True), K, axis=1)  # whole heads (a rotated basis)
        same_all.append(same)
    anchored_rows = np.logical_and.reduce(same_all)  # [H, K]: rows on which every defect is exactly 0
    if free_centre is not None:
        centre = np.where(anchored_rows[None, :, :, None], centre, free_centre)
        err = np.where(anchored_rows[None, :, :, None], err, 0.0)
    for e, (s, _, d) in enumerate(graph.edges):
        step = steps[e]
        Ar, Br = coef[e]
        img = step.A @ centre[s] + step.B
        same = same_all[e] & anchored_rows if free_centre is not None else same_all[e]
        D[e] = img - centre[d]
        Dr[e] = ((np.abs(step.A) + Ar) @ err[s] + Ar @ np.abs(centre[s]) + Br + err[d]
                 + 1e-12 * (np.abs(step.A) @ np.abs(centre[s]) + np.abs(step.B) + np.abs(centre[d])))
        # identity rows (A row = e_i and B row = 0 exactly): the image is the centre itself, computed without
        # rounding, so only the subtraction and the centres' own errors count (an identity self-loop has defect 0)
        ident = step.kinds == IDENTITY
        Dr[e][ident] = (err[s] + err[d] + 1e-12 * np.abs(D[e]))[ident]
        D[e][same] = 0.0
        Dr[e][same] = 0.0
        M[e] = N @ step.A @ basis
        Mr[e] = Nabs @ Ar @ Tabs + (0.0 if diagonal else 1e-12 * np.abs(M[e]))
    if diagonal:
        exact_a = np.stack([s.a_exact for s in steps])  # [E, H, K]: rows whose |A| R is computed exactly
    else:
        exact_a = np.zeros((E, H, K), dtype=bool)
    base = np.abs(np.einsum("ehkl,ehlv->ehkv", N[None], D)) + np.einsum("hkl,ehlv->ehkv", Nabs, Dr)
    base = base * _SAFE + 1e-300
    base[(D == 0) & (Dr == 0)] = 0.0
    absM = np.abs(M)
    dst = np.array([d for _, _, d in graph.edges])
    src = np.array([s for s, _, _ in graph.edges])
    slack = _inverse_slack(basis, diagonal)
    radius = np.zeros((P, H, K, V))
    out = AnchoredRegions(centre, err, radius, basis, forms=forms, anchored_rows=anchored_rows)

    def need(radius: np.ndarray) -> np.ndarray:
        R = radius[src]
        lin = np.matmul(absM, R)
        lin_unc = np.matmul(Mr, R)
        req = base + lin_unc * _SAFE + np.where(exact_a[..., None], lin, lin * _SAFE)
        return req + slack * req.max(axis=2, keepdims=True) if slack else req

    out.closed, out.rounds, radius, failure = close_radii(need, radius, dst, max_rounds, grow, max_radius)
    if failure == "grew":
        out.reason = (f"the anchored regions grew past {max_radius:g} after {out.rounds} rounds: a cycle of the "
                      f"window graph neither contracts nor has exactly zero defects")
    elif failure == "rounds":
        out.reason = f"the anchored regions did not close within {max_rounds} rounds"
    out.radius = radius
    nontree = E - (P - 1)
    tree = set(parent[1:])
    exact_edges = sum(bool((D[e] == 0).all() and (Dr[e] == 0).all()) for e in range(E) if e not in tree)
    out.details = {"anchored_rounds": out.rounds, "anchored_largest_radius": float(radius.max()),
                   "non_tree_edges": nontree, "exact_non_tree_edges": exact_edges,
                   "anchored_rows": int(anchored_rows.sum())}
    return out


def _inverse_slack(basis: np.ndarray, diagonal: bool) -> float:
    """0 for the exact axis basis of a diagonal layer; otherwise ``eps / (1 - eps)`` as in :mod:`.regions`."""
    if diagonal:
        return 0.0
    K = basis.shape[-1]
    eps = max(float(np.abs(b.T @ b - np.eye(K)).sum(1).max()) for b in basis) + 4 * K * K * 2.0 ** -52
    if eps >= 0.5:
        raise ValueError("basis is not close to orthonormal")
    return eps / (1 - eps)


def refine_by_normal_forms(graph: WindowGraph, steps: list[WindowStep], diagonal: bool,
                           max_nodes: int = 20_000) -> WindowGraph | None:
    """The window graph split by the normal forms of its *exact rows* (rows whose map is exact on every edge), or
    None when there are none or the split passes ``max_nodes`` (the normal forms do not stay finitely many).

    A node of the result is (window-graph node, normal form of every exact row); its representative word has
    exactly that normal form, so on the exact rows every defect is 0 by construction, even where the window graph
    alone would merge words with different states there (e.g. a head that flips its sign on '0' while the language
    counts 1s)."""
    from .window_steps import PLAIN

    H, K = steps[0].kinds.shape
    kinds = np.stack([s.kinds for s in steps])  # [E, H, K]
    exact = (kinds != PLAIN).all(axis=0)  # [H, K]
    if not diagonal:
        exact = np.repeat(exact.all(axis=1, keepdims=True), K, axis=1)
    rows = [(h, i) for h in range(H) for i in range(K) if exact[h, i]]
    groups: dict[tuple[int, ...], int] = {}
    for h, i in rows:  # rows with the same kinds on every edge have the same normal forms
        groups.setdefault(tuple(int(k) for k in kinds[:, h, i]), len(groups))
    if not groups:
        return None
    signature = list(groups)
    letters: dict[tuple[int, ...], int] = {}
    letter = [letters.setdefault(w, len(letters)) for w in graph.windows]
    out_edges: dict[int, list[int]] = {}
    for e, (s, _, _) in enumerate(graph.edges):
        out_edges.setdefault(s, []).append(e)
    start = (0, tuple(() for _ in signature))
    index = {start: 0}
    order = [start]
    nodes, edges, windows, origin, node_origin = [graph.nodes[0]], [], [], [], [0]
    i = 0
    while i < len(order):
        base, forms = order[i]
        for e in out_edges.get(base, []):
            _, a, d = graph.edges[e]
            nxt = (d, tuple(push(f, letter[e], sig[e]) for f, sig in zip(forms, signature)))
            j = index.get(nxt)
            if j is None:
                if len(order) >= max_nodes:
                    return None
                j = index[nxt] = len(order)
                order.append(nxt)
                nodes.append(graph.nodes[d])
                node_origin.append(d)
            edges.append((i, a, j))
            windows.append(graph.windows[e])
            origin.append(e)
        i += 1
    if len(nodes) == len(graph.nodes):
        return None
    return WindowGraph(nodes, edges, windows, graph.width, graph.cap, origin, node_origin)
