"""Exact linear algebra over the rationals (``fractions.Fraction``), shared by the constructions and the claims.

Matrices are lists of rows. Nothing here imports the rest of statetrack.
"""
from __future__ import annotations

from fractions import Fraction


def solve_exact(A: list[list[Fraction]], B: list[list[Fraction]]) -> list[list[Fraction]] | None:
    """The solution ``X [n, k]`` of ``A X = B`` for ``A [m, n]`` of full column rank (``m >= n``) and ``B [m, k]``,
    by Gauss-Jordan elimination in exact rationals; None when ``A`` has a smaller rank or the system is inconsistent.
    ``solve_exact(X, I)`` is ``X^-1``."""
    m = len(A)
    n = len(A[0]) if m else 0
    k = len(B[0]) if B else 0
    rows = [[Fraction(x) for x in A[i]] + [Fraction(x) for x in B[i]] for i in range(m)]
    for c in range(n):
        p = max(range(c, m), key=lambda r: abs(rows[r][c]), default=None)
        if p is None or rows[p][c] == 0:
            return None
        rows[c], rows[p] = rows[p], rows[c]
        pivot = rows[c][c]
        rows[c] = [x / pivot for x in rows[c]]
        for r in range(m):
            if r != c and rows[r][c] != 0:
                f = rows[r][c]
                rows[r] = [x - f * y for x, y in zip(rows[r], rows[c])]
    if any(x != 0 for r in range(n, m) for x in rows[r][n:]):
        return None
    return [row[n:n + k] for row in rows[:n]]


__all__ = ["solve_exact"]
