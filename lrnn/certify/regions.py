"""Invariant boxes for a one-layer model's recurrent state, one per window-graph node, by fixed-point iteration.

Region of node ``p``, per head ``h``: ``{C_ph + T_h E : |E| <= R_ph}`` (``C [K, V]`` centre, ``T_h [K, K]`` a fixed
invertible basis, ``R [K, V] >= 0``; a box in the basis ``T_h``). For an edge ``p -a-> p'`` with update
``S -> A S + B`` the image of region(p) is inside region(p') when, componentwise,

    |T^-1 (A C_p + B - C_p')| + |T^-1 A T| R_p  <=  R_p'.

``T^-1`` is used through ``N = T^T`` (T orthonormal up to rounding) and the exact identity
``T^-1 = (N T)^-1 N``: with ``eps = ||N T - I||_inf < 1`` every column of ``T^-1 y`` is within
``eps / (1 - eps) * ||N y||_inf`` of ``N y``. The per-window coefficients ``A, B, q`` are float64 evaluations of the
model and are treated as intervals of relative width ``COEF_REL`` (plus ``COEF_ABS``), which covers their float64
rounding many times over. The regions start as the hull of simulated states and grow (``R <- (1 + grow) max(R,
required)``) until every edge maps its region inside its target's, or a round limit / size limit is reached.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .window_graph import WindowGraph
from .window_steps import WindowStep

COEF_REL = 1e-9
COEF_ABS = 1e-12
_SAFE = 1 + 1e-9


@dataclass
class Regions:
    """Boxes per node: ``centre [P, H, K, V]``, ``radius [P, H, K, V]`` in the basis ``basis [H, K, K]``."""

    centre: np.ndarray
    radius: np.ndarray
    basis: np.ndarray
    closed: bool = False
    rounds: int = 0
    reason: str = ""
    details: dict = field(default_factory=dict)


def _stack(steps: list[WindowStep]) -> tuple[np.ndarray, np.ndarray]:
    return np.stack([s.A for s in steps]), np.stack([s.B for s in steps])


def simulate(graph: WindowGraph, steps: list[WindowStep], rng: np.random.Generator, walks: int = 64,
             length: int = 256, every: int = 4) -> dict[int, list[np.ndarray]]:
    """States ``[H, K, V]`` seen at each node along random walks (all visits while the word is shorter than the
    cap, then every ``every``-th step)."""
    A, B = _stack(steps)
    succ = np.full((len(graph.nodes), max(a for _, a, _ in graph.edges) + 1), -1, dtype=np.int64)
    for e, (s, a, _) in enumerate(graph.edges):
        succ[s, a] = e
    n_sym = succ.shape[1]
    S = np.zeros((walks,) + B.shape[1:])
    node = np.zeros(walks, dtype=np.int64)
    seen: dict[int, list[np.ndarray]] = {0: [np.zeros(B.shape[1:])]}
    for t in range(length):
        e = succ[node, rng.integers(0, n_sym, size=walks)]
        S = np.matmul(A[e], S) + B[e]
        node = np.array([graph.edges[i][2] for i in e])
        if t < 2 * graph.cap + 2 or t % every == 0:
            for w in range(walks):
                seen.setdefault(int(node[w]), []).append(S[w])
    return seen


def choose_basis(seen: dict[int, list[np.ndarray]], H: int, K: int) -> np.ndarray:
    """Per head an orthonormal basis ``[K, K]``: principal directions of the simulated state columns."""
    every = [s for v in seen.values() for s in v]
    allS = np.stack(every[:: max(1, len(every) // 512)])  # [M, H, K, V], at most ~1k states
    basis = np.empty((H, K, K))
    for h in range(H):
        cols = np.moveaxis(allS[:, h], 1, 2).reshape(-1, K)  # [M * V, K]
        cols = cols - cols.mean(0)
        _, vecs = np.linalg.eigh(cols.T @ cols)
        basis[h] = vecs[:, ::-1]
    return basis


def _inverse_slack(basis: np.ndarray) -> float:
    """``eps / (1 - eps)`` for ``eps = max_h ||T_h^T T_h - I||_inf`` (plus a rounding allowance)."""
    K = basis.shape[-1]
    eps = max(float(np.abs(b.T @ b - np.eye(K)).sum(1).max()) for b in basis) + 4 * K * K * 2.0 ** -52
    if eps >= 0.5:
        raise ValueError("basis is not close to orthonormal")
    return eps / (1 - eps)


def required_radius(graph: WindowGraph, A: np.ndarray, B: np.ndarray, centre: np.ndarray, radius: np.ndarray,
                    basis: np.ndarray, slack: float) -> np.ndarray:
    """Per edge, the radius ``[E, H, K, V]`` (in the target's frame) that contains the image of the source's box."""
    src = np.array([s for s, _, _ in graph.edges])
    dst = np.array([d for _, _, d in graph.edges])
    N = np.swapaxes(basis, -1, -2)  # [H, K, K]
    Nabs, Tabs = np.abs(N), np.abs(basis)
    Ar = COEF_REL * np.abs(A) + COEF_ABS
    Br = COEF_REL * np.abs(B) + COEF_ABS
    C, R = centre[src], radius[src]
    AC = np.matmul(A, C)
    D = AC + B - centre[dst]
    t1 = np.abs(np.matmul(N[None], D))
    t1 += np.matmul(Nabs[None], np.matmul(Ar, np.abs(C)) + Br)
    M = np.matmul(np.matmul(N[None], A), basis[None])
    t2 = np.matmul(np.abs(M), R)
    t2 += np.matmul(Nabs[None], np.matmul(Ar, np.matmul(Tabs[None], R)))
    # rounding of the sums above: magnitudes of the terms, relative 1e-12
    mag = np.matmul(Nabs[None], np.abs(AC) + np.abs(B) + np.abs(centre[dst]))
    need = (t1 + t2 + 1e-12 * (mag + t2)) * _SAFE
    need += slack * need.max(axis=2, keepdims=True)
    return need


def hull_boxes(graph: WindowGraph, steps: list[WindowStep], seen: dict[int, list[np.ndarray]], basis: np.ndarray,
               inflate: float = 1.01) -> tuple[np.ndarray, np.ndarray]:
    """``(centre, radius)`` ``[P, H, K, V]``: per node the hull of its simulated states in the basis, the half-widths
    times ``inflate`` plus ``1e-9 (1 + |centre|)``; a node no walk reached is centred on the image of a visited
    predecessor's centre (radius 0)."""
    A, B = _stack(steps)
    P = len(graph.nodes)
    shape = B.shape[1:]
    centre = np.zeros((P,) + shape)
    radius = np.zeros((P,) + shape)
    N = np.swapaxes(basis, -1, -2)
    missing = []
    for p in range(P):
        pts = seen.get(p)
        if not pts:
            missing.append(p)
            continue
        coords = np.matmul(N[None], np.stack(pts))
        lo, hi = coords.min(0), coords.max(0)
        centre[p] = np.matmul(basis, (lo + hi) / 2)
        radius[p] = (hi - lo) / 2 * inflate + 1e-9 * (1 + np.abs((lo + hi) / 2))
    for p in missing:
        for e, (s, _, d) in enumerate(graph.edges):
            if d == p and s not in missing:
                centre[p] = A[e] @ centre[s] + B[e]
                break
    return centre, radius


def close_radii(need: Callable[[np.ndarray], np.ndarray], radius: np.ndarray, dst: np.ndarray, max_rounds: int,
                grow: float, max_radius: float, floor: float = 0.0) -> tuple[bool, int, np.ndarray, str | None]:
    """The radii's fixed-point iteration shared by the box and the anchored regions: ``need(radius) [E, ...]`` is the
    radius each edge requires at its destination ``dst [E]``; radii grow to the worst requirement (times ``1 + grow``,
    plus ``floor``) until every edge's requirement is met. Returns ``(closed, rounds, radius, failure)`` with
    ``failure`` None, ``"grew"`` (past ``max_radius`` or not finite) or ``"rounds"`` (``max_rounds`` reached)."""
    for rnd in range(1, max_rounds + 1):
        worst = np.zeros_like(radius)
        np.maximum.at(worst, dst, need(radius))
        if (worst <= radius).all():
            return True, rnd, radius, None
        radius = np.maximum(radius, worst) * (1 + grow) + floor
        if not np.isfinite(radius).all() or radius.max() > max_radius:
            return False, rnd, radius, "grew"
    return False, max_rounds, radius, "rounds"


def grow_regions(graph: WindowGraph, steps: list[WindowStep], seen: dict[int, list[np.ndarray]], basis: np.ndarray,
                 max_rounds: int = 3000, grow: float = 1e-3, max_radius: float = 1e6) -> Regions:
    """Centres from the simulated states, then the radii's fixed-point iteration (see the module docstring)."""
    A, B = _stack(steps)
    centre, radius = hull_boxes(graph, steps, seen, basis)
    slack = _inverse_slack(basis)
    dst = np.array([d for _, _, d in graph.edges])
    regions = Regions(centre, radius, basis)
    closed, rounds, radius, failure = close_radii(
        lambda r: required_radius(graph, A, B, centre, r, basis, slack), radius, dst, max_rounds, grow, max_radius,
        floor=1e-15)
    regions.closed, regions.rounds = closed, rounds
    if failure == "grew":
        regions.reason = (f"the state boxes grew past {max_radius:g} after {rounds} rounds: the model's updates do "
                          f"not contract the state enough for boxes to close")
    elif failure == "rounds":
        regions.reason = f"the state boxes did not close within {max_rounds} rounds"
    regions.radius = radius
    regions.details = {"largest_radius": float(radius.max()), "rounds": regions.rounds}
    return regions
