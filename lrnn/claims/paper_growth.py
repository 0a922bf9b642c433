"""The growth certificate of the paper model: a dominant real eigenvalue above 1 drives every entry to +-inf.

Setting: a dense block ``A [n, n]`` and a column ``y``; the terms are ``v_j = A^j y`` and their casts. With a
:class:`~.paper_frame.Frame` (``M = X^{-1} A X`` exact, ``z_j = X^{-1} v_j = (a_j, b_j)``, ``a_j`` the coordinate
of the dominant direction) the step is ``a' = m a + r.b``, ``b' = c a + M22 b``. Write ``eps_r = ||r||_1``,
``eps_c = ||c||_inf``, ``mu = ||M22||_inf``, ``g = m - mu``, ``sigma = sign(a_0)``, ``at_j = sigma a_j``,
``B_j = ||b_j||_inf``. Then ``at' >= m at - eps_r B`` and, while ``at >= 0``, ``B' <= eps_c at + mu B``.

* With ``kappa = 2 eps_r / g``, ``nu = m - kappa eps_c`` and ``kappa (nu - mu) >= eps_r`` (checked exactly),
  ``Q_j = at_j - kappa B_j`` obeys ``Q_{j+1} >= nu Q_j``; so ``Q_0 > 0`` gives ``at_j >= Q_j >= nu^j Q_0 > 0`` for
  every ``j`` (by induction, which also keeps ``at_j >= 0`` for the bound on ``B``).
* With ``s = 2 eps_c / g``, ``omega = mu + s eps_r`` and ``s (g - s eps_r) >= eps_c`` (checked exactly),
  ``W_j = B_j - s at_j`` obeys ``W_{j+1} <= omega W_j``, so ``B_j <= s at_j + omega^j W0p``, ``W0p = max(W_0, 0)``.
* Entry ``i``: ``v_{j,i} = X_i0 a_j + X_i,rest b_j``. With ``rho_i = ||X_i,rest||_1`` and
  ``d_i = |X_i0| - s rho_i > 0``, ``s_i v_{j,i} >= L_i(j) = d_i nu^j Q_0 - rho_i omega^j W0p`` where
  ``s_i = sign(sigma X_i0)``. ``L_i`` is increasing once positive (``nu > 1``, ``nu > omega``). From the first ``J_i``
  with ``L_i > 0`` every term has the sign ``s_i``; before it a term of the other sign has
  ``|v_{j,i}| <= rho_i omega^j W0p (s rho_i / d_i + 1)``; when that stays at or below the overflow threshold
  (``no_other_inf``) no cast is ever ``-s_i inf``. From the first ``j1_i`` with ``L_i(j1_i) > thr`` (``thr``: the
  largest finite value plus half its spacing) every cast is ``s_i inf``.

Hence from ``j1 = max_i j1_i`` every cast of the column is the constant vector ``s inf``; with ``no_other_inf`` the
sum of the casts before ``j1 + 1`` contains ``s_i inf`` in each entry and never ``-s_i inf`` (otherwise the caller
follows the terms before ``sign_from = max_i J_i`` to see which infinities occur). The powers ``nu^j``, ``omega^j`` at the large
``j`` involved are evaluated with :mod:`mpmath`'s interval arithmetic (outward rounding), so every inequality above is
checked rigorously; the ``j`` found are upper bounds of the least ones (a certified settle bound, not the least).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .paper_frame import Frame, block_norm_up, group_norm_up, group_row_up
from .precision import GridFormat

_IV_PREC = 160


@dataclass(frozen=True)
class Growth:
    """A growth certificate for one column: every cast ``cast(A^j y)`` for ``j >= start`` is ``signs * inf``
    (``signs``: +-1 per row) and from ``sign_from`` on every term has the sign ``signs``. ``no_other_inf``: no cast
    at all is the opposite infinity (checked only for summed terms; when False, the terms before ``sign_from`` must
    be followed to know which infinities the sum holds)."""

    start: int
    signs: np.ndarray
    sign_from: int = 0
    no_other_inf: bool = True


def overflow_threshold(fmt: GridFormat) -> Fraction:
    """``|x| > thr`` casts to +-inf: the largest finite value plus half its spacing."""
    ulp_max = Fraction(2) ** (math.frexp(fmt.max)[1] - fmt.precision)
    return Fraction(fmt.max) + ulp_max / 2


def _iv():
    from mpmath import iv

    iv.prec = _IV_PREC
    return iv


def _ivf(iv, x: Fraction):
    return iv.mpf(x.numerator) / iv.mpf(x.denominator)


def _flog(x: Fraction) -> float:
    """``ln x`` of a positive rational, in float (estimates only)."""
    return math.log(x.numerator) - math.log(x.denominator)


def growth_certificate(frame: Frame, y: list[Fraction], fmt: GridFormat, summed: bool = True) -> Growth | None:
    """The certificate of the module docstring for ``A^j y`` (``y``: exact column), or None when a condition fails
    (no real dominant eigenvalue above 1 with a certified gap, ``y`` without a certified dominant component, an
    entry without a certified sign). ``summed``: the terms are summed (``A^j B``), so an overflow of the other sign
    before ``sign_from`` matters; it is excluded when the bound allows (``no_other_inf``), else left to the caller.

    The norm of the other coordinates ``b`` is ``||.||_inf`` or, when that fails, the group norm of the frame
    (:mod:`.paper_frame`; complex pairs whose real block has ``||.||_inf > 1``): the derivation only uses
    ``|r . b| <= eps_r ||b||``, ``||c a|| = eps_c |a|``, ``||M22 b|| <= mu ||b||`` and ``|X_i,rest . b| <= rho_i ||b||``,
    so each norm enters through those four numbers (the dual norm for ``eps_r`` and ``rho_i``)."""
    if not frame.lead_real or frame.lead <= 1:
        return None
    out = _growth(frame, y, fmt, summed, *_inf_norms(frame))
    if out is None and frame.groups and frame.groups[0] == (0,) and any(len(g) == 2 for g in frame.groups):
        out = _growth(frame, y, fmt, summed, *_group_norms(frame))
    return out


def _inf_norms(frame: Frame) -> tuple:
    """``eps_r, eps_c, mu``, the row weights ``rho_i`` and the norm of ``b`` in ``||.||_inf``."""
    rho = [sum((abs(v) for v in frame.X[i][1:]), Fraction(0)) for i in range(frame.n)]
    return frame.eps_r, frame.eps_c, frame.mu, rho, lambda b: max((abs(v) for v in b), default=Fraction(0))


def _group_norms(frame: Frame) -> tuple:
    """The same in the group norm ``max_g ||b_g||_2`` over the groups after the first (exact upper bounds)."""
    rest = [tuple(k for k in g) for g in frame.groups[1:]]
    M = frame.M
    eps_r = sum((block_norm_up([[M[0][k] for k in g]]) for g in rest), Fraction(0))
    eps_c = max((block_norm_up([[M[k][0]] for k in g]) for g in rest), default=Fraction(0))
    mu = max((sum((block_norm_up([[M[r][c] for c in h] for r in g]) for h in rest), Fraction(0)) for g in rest),
             default=Fraction(0))
    rho = [group_row_up([Fraction(0)] + list(frame.X[i][1:]), tuple(rest)) for i in range(frame.n)]
    return eps_r, eps_c, mu, rho, lambda b: group_norm_up([Fraction(0)] + list(b), tuple(rest))


def _growth(frame: Frame, y: list[Fraction], fmt: GridFormat, summed: bool, eps_r: Fraction, eps_c: Fraction,
            mu: Fraction, rhos: list, bnorm) -> Growth | None:
    """:func:`growth_certificate` with the norm's numbers given."""
    m = frame.lead
    g = m - mu
    if g <= 0:
        return None
    kappa = 2 * eps_r / g
    nu = m - kappa * eps_c
    s = 2 * eps_c / g
    omega = mu + s * eps_r
    if not (nu > 1 and nu > mu and nu > omega and kappa * (nu - mu) >= eps_r and s * (g - s * eps_r) >= eps_c):
        return None
    z = frame.coords(y)
    if z[0] == 0:
        return None
    sigma = 1 if z[0] > 0 else -1
    at0 = abs(z[0])
    B0 = bnorm(z[1:])
    Q0 = at0 - kappa * B0
    if Q0 <= 0:
        return None
    W0p = max(B0 - s * at0, Fraction(0))
    thr = overflow_threshold(fmt)
    iv = _iv()
    nu_i, om_i, Q0_i, W_i, thr_i = _ivf(iv, nu), _ivf(iv, omega), _ivf(iv, Q0), _ivf(iv, W0p), _ivf(iv, thr)
    signs = np.zeros(frame.n)
    start, sign_from, no_other = 0, 0, True
    for i in range(frame.n):
        x0 = frame.X[i][0]
        rho = rhos[i]
        d = abs(x0) - s * rho
        if d <= 0:
            return None
        signs[i] = 1.0 if sigma * x0 > 0 else -1.0
        d_i, rho_i = _ivf(iv, d), _ivf(iv, rho)

        def lower(j: int, d_i=d_i, rho_i=rho_i):  # this row's bounds, bound now
            return d_i * nu_i ** j * Q0_i - rho_i * om_i ** j * W_i

        # J: L > 0 from here on
        if W0p == 0:
            J = 0
        else:
            J = max(0, math.ceil((_flog(rho * W0p) - _flog(d * Q0)) / _flog(nu / omega)) + 1)
            J = _advance(lambda j: lower(j).a > 0, J)
            if J is None:
                return None
            if summed:
                wrong = rho_i * W_i * (_ivf(iv, s * rho / d) + 1) * (om_i ** J if omega > 1 else iv.mpf(1))
                no_other = no_other and bool(wrong.b <= thr_i.a)
        sign_from = max(sign_from, J)
        j1 = max(J, math.ceil((_flog(2 * thr) - _flog(d * Q0)) / _flog(nu)))
        j1 = _advance(lambda j: lower(j).a > thr_i.b, j1)
        if j1 is None:
            return None
        start = max(start, j1)
    return Growth(start, signs, sign_from, no_other)


#: grid intervals on ``[0, j1]`` for :func:`other_infinities`
GRID = 4096


def other_infinities(frame: Frame, y: list[Fraction], fmt: GridFormat, j1: int, signs: np.ndarray) -> np.ndarray | None:
    """For summed growing terms: per row, does some term ``j < j1`` cast to the *other* infinity ``-s_i inf``
    (True: certainly; False: certainly not)? None when a row cannot be decided.

    The diagonal model: with ``M = D + E`` (``D`` the diagonal of the exact ``M``, ``m = M[0,0]`` its largest entry in
    modulus, ``eps = ||E||_inf / m``), ``y_j = z_j / m^j`` obeys ``||y_j|| <= (1 + eps)^j ||y_0||`` and
    ``y_j - (D / m)^j y_0 = sum_k (D / m)^(j-1-k) (E / m) y_k``, so ``z_j = D^j z_0 + err_j`` with
    ``||err_j||_inf <= m^j j eps (1 + eps)^j ||z_0||_inf``. Entry ``i``:
    ``v_{j,i} = sum_k c_ik D_kk^j + e``, ``c_ik = X_ik z_0k``, ``|e| <= ||X_i||_1 ||err_j||``. On each of ``GRID``
    intervals of ``[0, j1]`` every term is monotone in ``j`` (its modulus, for a negative ``D_kk``), which bounds
    ``-s_i v_{j,i}`` from above over the interval; the other infinity is excluded when every bound stays below the
    overflow threshold, and certain when at a grid point the lower bound exceeds it. Values are computed in float64
    from logarithms and widened by a relative ``1e-9`` (far above their rounding errors) and ``+-inf`` beyond
    ``e^700``."""
    n = frame.n
    M = frame.M
    m = M[0][0]
    if m <= 1 or any(abs(M[k][k]) > m for k in range(n)):
        return None
    eps = max(sum((abs(M[k][l]) for l in range(n) if l != k), Fraction(0)) for k in range(n)) / m
    z0 = frame.coords(y)
    zmax = max(abs(v) for v in z0)
    lnm = math.log1p(float(m - 1))
    eps_f = float(eps) * (1 + 1e-9)
    mu = [float(M[k][k]) for k in range(n)]
    lnmu = [math.log1p(float(abs(M[k][k]) - 1)) if M[k][k] != 0 else -math.inf for k in range(n)]
    grid = sorted({int(round(j1 * g / GRID)) for g in range(GRID + 1)})
    up, dn = 1 + 1e-9, 1 - 1e-9

    def ex(x: float) -> float:
        return math.inf if x > 700 else math.exp(x)

    def pert(i_norm: float, j: int) -> float:
        if j == 0 or eps_f == 0:
            return 0.0
        return i_norm * float(zmax) * ex(j * lnm + math.log(j * eps_f) + j * math.log1p(eps_f)) * up

    def term(w: float, k: int, j: int) -> float:
        """``|w| |D_kk|^j`` (float, not widened)."""
        if w == 0:
            return 0.0
        if lnmu[k] == -math.inf:
            return abs(w) if j == 0 else 0.0
        return ex(math.log(abs(w)) + j * lnmu[k])

    thr = float(overflow_threshold(fmt))
    out = np.zeros(n, dtype=bool)
    for i in range(n):
        xi = sum((abs(v) for v in frame.X[i]), Fraction(0))
        xi_f = float(xi) * up
        w = [float(-int(signs[i]) * frame.X[i][k] * z0[k]) for k in range(n)]
        certain = False
        for j in grid:  # a point where the other infinity certainly occurs
            if j >= j1:
                break
            low = 0.0
            for k in range(n):
                t = term(w[k], k, j)
                sg = (1 if w[k] > 0 else -1) * (1 if mu[k] >= 0 or j % 2 == 0 else -1)
                low += t * dn if sg > 0 else -t * up
            if low - pert(xi_f, j) > thr * up:
                certain = True
                break
        if certain:
            out[i] = True
            continue
        for ja, jb in zip(grid[:-1], grid[1:]):
            high = 0.0
            for k in range(n):
                ta, tb = term(w[k], k, ja), term(w[k], k, jb)
                if mu[k] < 0:
                    high += max(ta, tb) * up
                elif w[k] > 0:
                    high += max(ta, tb) * up
                else:
                    high -= min(ta, tb) * dn
            if not high + pert(xi_f, jb) < thr * dn:
                return None
        out[i] = False
    return out


def _advance(ok, j: int, tries: int = 200) -> int | None:
    """The first ``j, j + step, ...`` (growing steps) with ``ok(j)``, or None after ``tries``."""
    step = 1
    for _ in range(tries):
        if ok(j):
            return j
        j += step
        step = max(step * 2, j // 256 + 1)
    return None


__all__ = ["Growth", "growth_certificate", "other_infinities", "overflow_threshold"]
