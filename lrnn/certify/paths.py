"""Closing the boxes through paths: a multi-step version of the region check that lets products contract.

A single Householder step has eigenvalue 1 on every direction orthogonal to its key, so boxes rarely map into boxes
in one step even when every product of a few dozen steps contracts strongly. :func:`close_by_paths` therefore
explores, from every node's box, the tree of continuations: after ``j >= 1`` steps along a path the image of the box
is the zonotope ``F(C) + M (R . eps)`` (``M = A_path T``, exact composition, no wrapping); a branch closes when that
zonotope lies inside the box of the node reached, and is expanded (up to ``max_depth`` steps) otherwise, with the
readout checked on every zonotope that is not already inside a box.

Soundness: every state at time t lies in its node's box (induction over the times at which branches close: the
empty word's state is its box's centre; from a state in a box every continuation re-enters a box at some later time,
and the states in between lie in the checked zonotopes), so every prefix is classified correctly.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .intervals import Interval
from .regions import COEF_ABS, COEF_REL
from .window_graph import WindowGraph
from .window_steps import WindowStep

_SAFE = 1 + 1e-9


@dataclass
class PathOutcome:
    closed: bool
    expansions: int
    deepest: int
    reason: str = ""


def close_by_paths(graph: WindowGraph, steps: list[WindowStep], centre: np.ndarray, radius: np.ndarray,
                   basis: np.ndarray, readout_ok: Callable[[int, Interval], bool], max_depth: int = 64,
                   budget: int = 200_000) -> PathOutcome:
    """See the module docstring. ``readout_ok(edge, o_box)``: the readout of ``edge`` is right for every scan output
    in ``o_box`` (``[H, V]``). The readout on the boxes themselves must have been checked by the caller."""
    A = np.stack([s.A for s in steps])
    B = np.stack([s.B for s in steps])
    Ar, Br = COEF_REL * np.abs(A) + COEF_ABS, COEF_REL * np.abs(B) + COEF_ABS
    N = np.swapaxes(basis, -1, -2)
    Nabs = np.abs(N)
    K = basis.shape[-1]
    eps = max(float(np.abs(b.T @ b - np.eye(K)).sum(1).max()) for b in basis) + 4 * K * K * 2.0 ** -52
    slack = eps / (1 - eps)
    out_edges: dict[int, list[int]] = {}
    for e, (s, _, _) in enumerate(graph.edges):
        out_edges.setdefault(s, []).append(e)
    expansions, deepest = 0, 0
    for p in range(len(graph.nodes)):
        zero = np.zeros_like(basis)
        stack = [(p, centre[p], np.zeros_like(centre[p]), basis.copy(), zero, radius[p], 0)]
        while stack:
            node, c, cr, M, Mr, R, depth = stack.pop()
            for e in out_edges.get(node, []):
                dst = graph.edges[e][2]
                c2 = A[e] @ c + B[e]
                cr2 = np.abs(A[e]) @ cr + Ar[e] @ np.abs(c) + Br[e] + 1e-12 * (np.abs(c2) + np.abs(B[e]))
                M2 = A[e] @ M
                Mr2 = np.abs(A[e]) @ Mr + Ar[e] @ np.abs(M) + 1e-12 * np.abs(M2)
                expansions += 1
                need = np.abs(N @ (c2 - centre[dst])) + Nabs @ cr2 + (np.abs(N @ M2) + Nabs @ Mr2) @ R
                need = need * _SAFE + 1e-12 * (Nabs @ (np.abs(c2) + np.abs(centre[dst])))
                need += slack * need.max(axis=1, keepdims=True)
                if (need <= radius[dst]).all():
                    continue
                o = output_bounds(steps[e], c2, cr2, M2, Mr2, R)
                if not readout_ok(e, o):
                    return PathOutcome(False, expansions, max(deepest, depth + 1),
                                       f"the readout is not shown right on the image of a box {depth + 1} step(s) "
                                       f"along a path (window {graph.windows[e]})")
                if depth + 1 >= max_depth:
                    return PathOutcome(False, expansions, depth + 1, f"a path of {max_depth} steps from a box did "
                                       f"not re-enter a box (the state does not contract enough along it)")
                if expansions > budget:
                    return PathOutcome(False, expansions, deepest, f"more than {budget} path steps explored")
                deepest = max(deepest, depth + 1)
                stack.append((dst, c2, cr2, M2, Mr2, R, depth + 1))
    return PathOutcome(True, expansions, deepest)


def output_bounds(step: WindowStep, c: np.ndarray, cr: np.ndarray, M: np.ndarray, Mr: np.ndarray, R: np.ndarray
            ) -> Interval:
    """Bounds on ``o_h = S^T q + extra`` for ``S = c + M (R . eps)`` (``c`` known to ``cr``, ``M`` to ``Mr``)."""
    q = step.q
    qr = 1e-9 * np.abs(q) + 1e-12 + step.q_rad
    oc = np.einsum("hkv,hk->hv", c, q) + step.extra
    mq = np.abs(np.einsum("hkl,hk->hl", M, q)) + np.einsum("hkl,hk->hl", Mr, np.abs(q))
    reach = np.abs(c) + cr + np.matmul(np.abs(M) + Mr, R)
    orad = np.einsum("hlv,hl->hv", R, mq) + np.einsum("hkv,hk->hv", cr, np.abs(q)) + np.einsum("hkv,hk->hv", reach, qr)
    orad += 1e-9 * np.abs(step.extra) + step.extra_rad + 1e-12 * (np.abs(oc) + orad) + 1e-12
    return Interval.around(oc, orad)


def edge_image_output(step: WindowStep, centre: np.ndarray, radius: np.ndarray, basis: np.ndarray) -> Interval:
    """Bounds on the scan output after one step along an edge from the box ``{centre + T (radius . eps)}``: the
    image ``A centre + B + (A T) (radius . eps)``, the coefficients known to ``COEF_REL``/``COEF_ABS``."""
    A, B = step.A, step.B
    Ar, Br = COEF_REL * np.abs(A) + COEF_ABS, COEF_REL * np.abs(B) + COEF_ABS
    c2 = A @ centre + B
    cr2 = Ar @ np.abs(centre) + Br + 1e-12 * (np.abs(c2) + np.abs(B))
    M2 = A @ basis
    Mr2 = Ar @ np.abs(basis) + 1e-12 * np.abs(M2)
    return output_bounds(step, c2, cr2, M2, Mr2, radius)
