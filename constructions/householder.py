"""Generalized Householder (GH) factorisations (Proposition 1 of arXiv 2411.12537).

A GH factor is ``G(k, beta) = I - beta k k^T`` (key ``k`` in R^n, not necessarily unit); its non-trivial
eigenvalue is ``1 - beta |k|^2`` (eigenvector ``k``), the other ``n - 1`` eigenvalues are 1. A factor list
``keys [F, n], betas [F]`` is applied in order: ``H <- G_F ... G_2 G_1 H`` (factor 0 first).

Three factorisations, each checked against its target before it is returned:

* :func:`permutation_factors` -- a permutation matrix as one reflection per transposition, the minimum count
  ``moved points - non-trivial cycles``. A reflection is stored with the *integer* key ``e_i - e_j`` and ``beta = 1``
  (the same matrix as unit key ``(e_i - e_j)/sqrt2`` with ``beta = 2``), so every product is exact in float32,
  bfloat16 and float16.
* :func:`orthogonal_factors` -- an orthogonal matrix through Householder QR, at most ``n`` reflections (unit keys,
  ``beta = 2``).
* :func:`contraction_factors` -- any matrix of spectral norm <= 1 through the SVD ``U diag(s) V^T``: at most ``n``
  reflections for ``V^T``, at most ``n`` projections-with-scale (``beta = 1 - s_i`` in [0, 1]) for the singular
  values, at most ``n`` reflections for ``U``; at most ``3n`` factors.

Permutation convention: ``perm[x] = y`` means the point ``x`` moves to ``y``; its matrix ``P`` has ``P e_x = e_y``,
so ``(P h)[perm[x]] = h[x]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from statetrack.errors import StatetrackError

#: absolute tolerance of the reproduction check of the float factorisations (orthogonal, contraction)
CHECK_TOL = 1e-9


@dataclass(frozen=True)
class GHFactors:
    """An ordered list of GH factors: ``keys [F, n]`` (float64), ``betas [F]`` (float64); factor 0 is applied first."""

    keys: np.ndarray
    betas: np.ndarray

    @property
    def count(self) -> int:
        return int(self.betas.shape[0])

    @property
    def n(self) -> int:
        return int(self.keys.shape[1])

    @property
    def eigenvalues(self) -> np.ndarray:
        """The non-trivial eigenvalue ``1 - beta |k|^2`` of each factor, ``[F]``."""
        return factor_eigenvalues(self.keys, self.betas)

    def matrix(self) -> np.ndarray:
        """The product ``G_F ... G_1`` as a float64 ``[n, n]`` matrix."""
        return factors_matrix(self.keys, self.betas, self.n)


def factor_eigenvalues(keys: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """``1 - beta |k|^2`` per factor; ``keys [..., F, n]``, ``betas [..., F]`` -> ``[..., F]``."""
    keys = np.asarray(keys, dtype=np.float64)
    return 1.0 - np.asarray(betas, dtype=np.float64) * (keys * keys).sum(-1)


def factors_matrix(keys: np.ndarray, betas: np.ndarray, n: int | None = None) -> np.ndarray:
    """The float64 product ``G_F ... G_1`` of factors ``keys [F, n]``, ``betas [F]`` (identity when ``F = 0``)."""
    keys = np.asarray(keys, dtype=np.float64)
    betas = np.asarray(betas, dtype=np.float64)
    n = keys.shape[-1] if n is None else n
    M = np.eye(n)
    for k, b in zip(keys, betas):
        M = M - b * np.outer(k, k @ M)
    return M


def permutation_matrix(perm: Sequence[int]) -> np.ndarray:
    """``P`` with ``P e_x = e_{perm[x]}`` (int64 ``[n, n]``)."""
    perm = np.asarray(perm, dtype=np.int64)
    n = perm.size
    P = np.zeros((n, n), dtype=np.int64)
    P[perm, np.arange(n)] = 1
    return P


def cycles(perm: Sequence[int]) -> list[list[int]]:
    """The non-trivial cycles of ``perm``, each as ``[a1, a2, ..., ak]`` with ``perm[a_i] = a_{i+1}``."""
    perm = [int(x) for x in perm]
    seen = [False] * len(perm)
    out = []
    for a in range(len(perm)):
        if seen[a] or perm[a] == a:
            seen[a] = True
            continue
        cyc = [a]
        seen[a] = True
        b = perm[a]
        while b != a:
            cyc.append(b)
            seen[b] = True
            b = perm[b]
        out.append(cyc)
    return out


def transposition_count(perm: Sequence[int]) -> int:
    """The minimum number of transpositions whose product is ``perm``: moved points - non-trivial cycles."""
    cs = cycles(perm)
    return sum(len(c) for c in cs) - len(cs)


def permutation_transpositions(perm: Sequence[int]) -> list[tuple[int, int]]:
    """Transpositions ``(i, j)``, applied in order, whose product is ``perm`` (minimum count).

    For a cycle ``a1 -> a2 -> ... -> ak`` the swaps ``(a1 a2), (a1 a3), ..., (a1 ak)`` in this order move the
    content of ``a1`` to ``a2``, then the content of ``a2`` (now at ``a1``) to ``a3``, and so on.
    """
    return [(c[0], c[j]) for c in cycles(perm) for j in range(1, len(c))]


def permutation_factors(perm: Sequence[int]) -> GHFactors:
    """Reflections with integer keys ``e_i - e_j`` and ``beta = 1`` whose product is the matrix of ``perm``.

    Count = moved points - non-trivial cycles; every eigenvalue is ``1 - 1 * 2 = -1``. The product is checked
    exactly (integer arithmetic) against :func:`permutation_matrix`.
    """
    perm = np.asarray(perm, dtype=np.int64)
    n = perm.size
    if sorted(perm.tolist()) != list(range(n)):
        raise StatetrackError(f"not a permutation of 0..{n - 1}: {perm.tolist()}")
    swaps = permutation_transpositions(perm)
    keys = np.zeros((len(swaps), n), dtype=np.int64)
    for f, (i, j) in enumerate(swaps):
        keys[f, i], keys[f, j] = 1, -1
    # exact check in integers: G = I - k k^T with beta = 1
    M = np.eye(n, dtype=np.int64)
    for k in keys:
        M = M - np.outer(k, k @ M)
    if not (M == permutation_matrix(perm)).all():  # pragma: no cover - guarded by the algorithm
        raise AssertionError(f"permutation factorisation does not reproduce {perm.tolist()}")
    return GHFactors(keys.astype(np.float64), np.ones(len(swaps)))


def orthogonal_factors(Q: np.ndarray, tol: float = 1e-8) -> GHFactors:
    """At most ``n`` reflections (unit keys, ``beta = 2``) whose product is the orthogonal matrix ``Q``.

    Householder QR: reflections ``R_1 .. R_{n-1}`` bring ``Q`` to ``diag(1, ..., 1, +-1)``; a final ``-1`` is the
    reflection with key ``e_n``. Hence ``Q = R_1 ... R_{n-1} D`` and the application order is ``D, R_{n-1}, ..., R_1``.
    """
    Q = np.asarray(Q, dtype=np.float64)
    n = Q.shape[0]
    if Q.shape != (n, n) or not np.allclose(Q.T @ Q, np.eye(n), atol=tol):
        raise StatetrackError("orthogonal_factors: the matrix is not orthogonal")
    A = Q.copy()
    refl: list[np.ndarray] = []  # R_1, R_2, ... as unit keys
    for j in range(n - 1):
        x = A[j:, j].copy()
        target = np.zeros_like(x)
        target[0] = np.linalg.norm(x)
        w = x - target
        nw = np.linalg.norm(w)
        if nw <= 1e-14:
            continue
        k = np.zeros(n)
        k[j:] = w / nw
        A = A - 2.0 * np.outer(k, k @ A)
        refl.append(k)
    keys = []
    if A[n - 1, n - 1] < 0:
        e = np.zeros(n)
        e[n - 1] = 1.0
        keys.append(e)
    keys += refl[::-1]
    keys_arr = np.array(keys, dtype=np.float64).reshape(len(keys), n)
    out = GHFactors(keys_arr, np.full(len(keys), 2.0))
    _check(out, Q, "orthogonal_factors")
    return out


def contraction_factors(M: np.ndarray, tol: float = 1e-9) -> GHFactors:
    """At most ``3n`` GH factors whose product is ``M`` (spectral norm <= 1), through ``M = U diag(s) V^T``.

    ``diag(s) = prod_i (I - (1 - s_i) e_i e_i^T)`` (beta in [0, 1]; ``s_i = 1`` needs no factor), ``U`` and ``V^T``
    via :func:`orthogonal_factors`. Application order: the factors of ``V^T``, then the singular values, then ``U``.
    """
    M = np.asarray(M, dtype=np.float64)
    n = M.shape[0]
    if M.shape != (n, n):
        raise StatetrackError(f"contraction_factors: need a square matrix, got shape {M.shape}")
    U, s, Vt = np.linalg.svd(M)
    if s.max(initial=0.0) > 1.0 + tol:
        raise StatetrackError(f"contraction_factors: spectral norm {s.max():.6g} exceeds 1")
    s = np.minimum(s, 1.0)
    parts = [orthogonal_factors(Vt)]
    dk, db = [], []
    for i, si in enumerate(s):
        if si < 1.0 - 1e-15:
            e = np.zeros(n)
            e[i] = 1.0
            dk.append(e)
            db.append(1.0 - si)
    parts.append(GHFactors(np.array(dk, dtype=np.float64).reshape(len(dk), n), np.array(db, dtype=np.float64)))
    parts.append(orthogonal_factors(U))
    out = GHFactors(np.concatenate([p.keys for p in parts]), np.concatenate([p.betas for p in parts]))
    _check(out, M, "contraction_factors")
    return out


def _check(f: GHFactors, target: np.ndarray, name: str) -> None:
    err = np.abs(f.matrix() - target).max(initial=0.0)
    if err > CHECK_TOL * max(1.0, target.shape[0]):
        raise StatetrackError(f"{name}: the factors reproduce the target only to {err:.3g}")


__all__ = [
    "GHFactors", "factor_eigenvalues", "factors_matrix", "permutation_matrix", "cycles", "transposition_count",
    "permutation_transpositions", "permutation_factors", "orthogonal_factors", "contraction_factors",
]
