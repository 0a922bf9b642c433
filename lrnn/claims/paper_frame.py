"""An exact change of basis for a dense block of the paper model: ``M = X^{-1} A X`` with rational ``X``.

For a block ``A [n, n]`` (dtype values, so exact dyadic rationals) :func:`build_frame` takes float64 eigenvectors
from ``numpy.linalg.eig`` (a real eigenvalue: its eigenvector; a complex pair: the real and imaginary parts of one
eigenvector), reads them *exactly* as dyadic rationals into ``X``, and computes ``X^{-1}`` and ``M = X^{-1} A X``
exactly with :class:`~fractions.Fraction`. Nothing about ``X`` has to be accurate for soundness: every certificate
built on a frame uses only the exact ``M`` and exact norms of its parts, so a poor ``X`` can only make a certificate
fail, never make it wrong. Column 0 of ``X`` is the eigenvector of the eigenvalue of largest modulus when that one is
real (``lead_real``), so that ``M = [[m, r^T], [c, M22]]`` splits off the dominant direction with tiny ``r``, ``c``.

The quantities the certificates use (all exact :class:`~fractions.Fraction`):

* ``lead = m = M[0, 0]``, ``eps_r = ||r||_1``, ``eps_c = ||c||_inf``, ``mu = ||M22||_inf``;
* ``norm = ||M||_inf``: for ``z = X^{-1} v`` the step ``v -> A v`` is ``z -> M z``, so ``||z||_inf`` never grows
  when ``norm <= 1``.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from statetrack.exact_linalg import solve_exact


def _frac(x: float) -> Fraction:
    return Fraction(float(x))


def exact_inverse(X: list[list[Fraction]]) -> list[list[Fraction]] | None:
    """``X^{-1}`` by Gauss-Jordan elimination in exact rationals, or None when ``X`` is singular."""
    n = len(X)
    return solve_exact(X, [[Fraction(int(i == j)) for j in range(n)] for i in range(n)])


def exact_matmul(P: list[list[Fraction]], Q: list[list[Fraction]]) -> list[list[Fraction]]:
    """``P Q`` in exact rationals (lists of rows)."""
    cols = list(zip(*Q))
    return [[sum((x * y for x, y in zip(row, col)), Fraction(0)) for col in cols] for row in P]


def exact_matvec(P: list[list[Fraction]], v: list[Fraction]) -> list[Fraction]:
    """``P v`` in exact rationals."""
    return [sum((x * y for x, y in zip(row, v)), Fraction(0)) for row in P]


@dataclass(frozen=True)
class Frame:
    """``X`` (rational, ``[n, n]``), ``X^{-1}`` and ``M = X^{-1} A X`` exactly, with the norms of the module
    docstring; ``eigenvalues``: numpy's estimate (for messages only, never for a decision)."""

    X: list
    Xinv: list
    M: list
    lead_real: bool
    lead: Fraction
    eps_r: Fraction
    eps_c: Fraction
    mu: Fraction
    norm: Fraction
    eigenvalues: np.ndarray

    @property
    def n(self) -> int:
        return len(self.X)

    def coords(self, y: list[Fraction]) -> list[Fraction]:
        """``z = X^{-1} y`` exactly."""
        return exact_matvec(self.Xinv, y)

    def spectrum_text(self) -> str:
        """The estimated eigenvalues, each as ``1 + d`` when it is near 1 (for reasons)."""
        parts = []
        for e in sorted(self.eigenvalues, key=lambda z: -abs(z)):
            if abs(e.imag) > 1e-12:
                parts.append(f"{e.real:.6g}{e.imag:+.6g}i")
            elif abs(e.real - 1) < 1e-2:
                parts.append(f"1{e.real - 1:+.2e}")
            else:
                parts.append(f"{e.real:.6g}")
        return "{" + ", ".join(parts) + "}"


def build_frame(A: np.ndarray) -> Frame | None:
    """The frame of a block ``A [n, n]`` (finite float64 values of the dtype), or None when numpy's eigenvectors
    give a singular ``X`` (a defective block)."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    w, V = np.linalg.eig(A)
    order = sorted(range(n), key=lambda i: (-abs(w[i]), abs(w[i].imag), -w[i].real))
    cols: list[np.ndarray] = []
    used: set[int] = set()
    for i in order:
        if i in used:
            continue
        used.add(i)
        if abs(w[i].imag) == 0.0:
            cols.append(V[:, i].real)
        else:  # the pair's conjugate partner spans the same real plane
            j = min((k for k in range(n) if k not in used), key=lambda k: abs(w[k] - np.conj(w[i])), default=None)
            if j is not None:
                used.add(j)
            cols.append(V[:, i].real)
            cols.append(V[:, i].imag)
    Xf = np.stack(cols[:n], axis=1)
    scale = np.max(np.abs(Xf), axis=0)
    scale[scale == 0] = 1.0
    Xf = Xf / scale
    X = [[_frac(Xf[i, j]) for j in range(n)] for i in range(n)]
    Xinv = exact_inverse(X)
    if Xinv is None:
        return None
    Ar = [[_frac(A[i, j]) for j in range(n)] for i in range(n)]
    M = exact_matmul(exact_matmul(Xinv, Ar), X)
    lead_real = abs(w[order[0]].imag) == 0.0 and (n == 1 or abs(w[order[1]]) < abs(w[order[0]]))
    eps_r = sum((abs(v) for v in M[0][1:]), Fraction(0))
    eps_c = max((abs(M[i][0]) for i in range(1, n)), default=Fraction(0))
    mu = max((sum((abs(v) for v in M[i][1:]), Fraction(0)) for i in range(1, n)), default=Fraction(0))
    norm = max(sum((abs(v) for v in row), Fraction(0)) for row in M)
    return Frame(X, Xinv, M, lead_real, M[0][0], eps_r, eps_c, mu, norm, w)


__all__ = ["Frame", "build_frame", "exact_inverse", "exact_matmul", "exact_matvec"]
