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
  when ``norm <= 1``;
* ``gnorm``, an upper bound of ``M``'s operator norm in the *group norm* ``||z||_G = max_g ||z_g||_2``: the groups are
  the frame's coordinates, one per real eigenvalue and one pair per complex pair (``groups``). A complex pair
  ``a +- b i`` with eigenvector ``u + i w`` gives the columns ``u, w`` (scaled by one common factor), on which ``A``
  acts as ``[[a, b], [-b, a]]``: a scaled rotation whose Euclidean norm is its modulus ``sqrt(a^2 + b^2)``, while its
  ``inf``-norm ``|a| + |b|`` exceeds 1 when ``a`` is near 1. ``gnorm = max_g sum_h ||M_gh||_2`` (the induced norm of
  a block matrix is at most that), each ``||M_gh||_2`` bounded from above exactly: ``|m|`` (1x1), the Euclidean
  length (1x2, 2x1), or ``sigma_max^2 = (T + sqrt(T^2 - 4 D^2)) / 2`` with ``T`` the squared Frobenius norm and
  ``D`` the determinant (2x2); square roots are rounded up (:func:`sqrt_up`).
"""
from __future__ import annotations

import math
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
    groups: tuple = ()
    gnorm: Fraction | None = None

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


def _mp_fraction(x) -> Fraction:
    """An mpmath real (``mpf``) exactly as a :class:`Fraction`."""
    sign, man, exp, _ = x._mpf_
    if not man:
        return Fraction(0)
    return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)


def _eigen(A: np.ndarray, bits: int | None) -> tuple[np.ndarray, list, list]:
    """Eigenvalues (complex float64, for ordering and messages) and per eigenvalue the real and imaginary parts of an
    eigenvector (numpy's, or mpmath's at ``bits`` bits of precision, returned exactly as :class:`Fraction` lists)."""
    n = A.shape[0]
    if bits is None:
        w, V = np.linalg.eig(A)
        return w, [[_frac(V[r, i].real) for r in range(n)] for i in range(n)], \
            [[_frac(V[r, i].imag) for r in range(n)] for i in range(n)]
    import mpmath

    with mpmath.workprec(bits):
        E, ER = mpmath.eig(mpmath.matrix(A.tolist()))
        tol = mpmath.mpf(2) ** (20 - bits)
        w = np.array([complex(E[i]) if abs(mpmath.im(E[i])) > tol * max(1, abs(E[i])) else complex(mpmath.re(E[i]))
                      for i in range(n)])
        re = [[_mp_fraction(mpmath.re(ER[r, i])) for r in range(n)] for i in range(n)]
        im = [[_mp_fraction(mpmath.im(ER[r, i])) for r in range(n)] for i in range(n)]
    for i in range(n):  # a real eigenvalue: a real eigenvector (the larger part of a complex-phased one)
        if w[i].imag == 0 and max(map(abs, im[i])) > max(map(abs, re[i])):
            re[i] = im[i]
    return w, re, im


def build_frame(A: np.ndarray, bits: int | None = None) -> Frame | None:
    """The frame of a block ``A [n, n]`` (finite float64 values of the dtype), or None when the eigenvectors give a
    singular ``X`` (a defective block). ``bits``: take the eigenvectors from :mod:`mpmath` at that precision instead
    of numpy's float64 ones (then ``M`` is block diagonal up to about ``2^-bits``; nothing else changes: ``X`` is still
    read exactly and every norm is exact)."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    try:
        w, re, im = _eigen(A, bits)
    except (ZeroDivisionError, ValueError, ArithmeticError, RuntimeError):  # mpmath did not converge: numpy's vectors
        w, re, im = _eigen(A, None)
    order = sorted(range(n), key=lambda i: (-abs(w[i]), abs(w[i].imag), -w[i].real))
    cols: list[list[Fraction]] = []
    groups: list[tuple[int, ...]] = []
    used: set[int] = set()

    def scaled(*vs: list[Fraction]) -> list[list[Fraction]]:  # one common power of two: max |entry| in (1/2, 1]
        top = max(abs(x) for v in vs for x in v)
        if not top:
            return [list(v) for v in vs]
        e = top.numerator.bit_length() - top.denominator.bit_length()  # 2^(e-1) < top < 2^(e+1)
        sc = Fraction(2) ** (e if top <= Fraction(2) ** e else e + 1)
        return [[x / sc for x in v] for v in vs]

    for i in order:
        if i in used:
            continue
        used.add(i)
        if abs(w[i].imag) == 0.0:
            cols.extend(scaled(re[i]))
            groups.append((len(cols) - 1,))
        else:  # the pair's conjugate partner spans the same real plane; one scale keeps the rotation form
            j = min((k for k in range(n) if k not in used), key=lambda k: abs(w[k] - np.conj(w[i])), default=None)
            if j is not None:
                used.add(j)
            cols.extend(scaled(re[i], im[i]))
            groups.append((len(cols) - 2, len(cols) - 1))
    groups = [g for g in groups if max(g) < n]
    if sum(len(g) for g in groups) != n:  # an unpaired complex eigenvalue (numpy's output): singletons
        groups = [(k,) for k in range(n)]
    X = [[cols[j][i] for j in range(n)] for i in range(n)]
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
    gnorm = max(sum((block_norm_up([[M[r][c] for c in h] for r in g]) for h in groups), Fraction(0)) for g in groups)
    return Frame(X, Xinv, M, lead_real, M[0][0], eps_r, eps_c, mu, norm, w, tuple(groups), gnorm)


#: relative accuracy of :func:`sqrt_up` (bits)
SQRT_BITS = 160


def sqrt_up(x: Fraction) -> Fraction:
    """A rational upper bound of ``sqrt(x)`` (``x >= 0``), within a relative ``2^-SQRT_BITS``."""
    if x < 0:
        raise ValueError("sqrt_up of a negative number")
    if x == 0:
        return Fraction(0)
    nd = x.numerator * x.denominator  # sqrt(x) = sqrt(n d) / d
    k = max(0, SQRT_BITS - nd.bit_length() // 2)
    big = nd << (2 * k)
    r = math.isqrt(big)
    if r * r < big:
        r += 1
    return Fraction(r, x.denominator << k)


def block_norm_up(B: list[list[Fraction]]) -> Fraction:
    """An upper bound of the spectral norm ``||B||_2`` of an exact block with at most 2 rows and 2 columns."""
    if len(B) == 1 or len(B[0]) == 1:
        return sqrt_up(sum((v * v for row in B for v in row), Fraction(0)))
    (p, q), (r, s) = B
    T = p * p + q * q + r * r + s * s
    D = p * s - q * r
    return sqrt_up((T + sqrt_up(T * T - 4 * D * D)) / 2)


def group_norm_up(z: list[Fraction], groups: tuple) -> Fraction:
    """An upper bound of ``||z||_G = max_g ||z_g||_2``."""
    return max((sqrt_up(sum((z[k] * z[k] for k in g), Fraction(0))) for g in groups), default=Fraction(0))


def group_row_up(x: list[Fraction], groups: tuple) -> Fraction:
    """An upper bound of ``sum_g ||x_g||_2`` (the dual norm of ``||.||_G``): ``|x . z| <= that * ||z||_G``."""
    return sum((sqrt_up(sum((x[k] * x[k] for k in g), Fraction(0))) for g in groups), Fraction(0))


__all__ = ["Frame", "build_frame", "exact_inverse", "exact_matmul", "exact_matvec", "sqrt_up", "block_norm_up",
           "group_norm_up", "group_row_up"]
