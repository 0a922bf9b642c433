"""The oscillation certificate of the paper model: a summed entry that meets both infinities is NaN for ever.

Setting: a dense block ``A [n, n]`` whose eigenvalues of largest modulus ``rho > 1`` are a complex pair
``rho e^{+-i theta}`` or a single negative real ``-rho`` (``theta = pi``), and a summed column ``y`` (the terms
``cast(A^j B)``). Row ``i`` then behaves like ``v_{j,i} ~ a_i rho^j cos(theta j + phi_i)``: its amplitude grows
past the overflow threshold while its sign keeps turning, so some term casts to ``+inf`` and another to ``-inf``,
and from the later of the two on the exact sum of the casts of that row is NaN (IEEE: ``+inf + -inf``), whatever the
other terms are. The same holds for the layer's entry: ``Hhat = cast(sum + other terms)`` is NaN.

Only the *verification* matters for soundness: candidate indices ``j`` (one per row and sign) come from numpy's
eigen-decomposition (``j0``: where the amplitude passes ``8 thr``; then the nearest ``j >= j0`` whose phase is
``0`` / ``pi``), and each candidate is checked by evaluating ``A^j y`` with 256-bit interval arithmetic (``A^j`` by
repeated squaring, outward rounding; :func:`~.paper_tail._iv_power_apply`): a row's ``+inf`` is certain when the
interval's lower end exceeds the threshold ``thr`` (largest finite value plus half its spacing), its ``-inf`` when the
upper end is below ``-thr``. A candidate that fails is retried one turn later, then the certificate is refused.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .paper_growth import overflow_threshold
from .paper_tail import _iv_fraction, _iv_power_apply
from .precision import GridFormat

#: indices beyond this are not tried (the interval powers stay cheap: about 2 log2(j) products)
MAX_INDEX = 10 ** 15
#: candidate indices tried per row and sign (one turn apart)
TRIES = 3


def _candidates(A: np.ndarray, y: np.ndarray, thr: float) -> list[tuple[int, int, int]] | None:
    """``(row, sign, j)`` guesses from the float64 eigen-decomposition, or None when the dominant eigenvalues are
    not a complex pair / a negative real of modulus > 1 (or a row has no component on them)."""
    w, V = np.linalg.eig(A)
    try:
        c = np.linalg.solve(V, y.astype(complex))
    except np.linalg.LinAlgError:
        return None
    mod = np.abs(w)
    rho = float(mod.max())
    if not rho > 1.0:
        return None
    dom = np.flatnonzero(mod >= rho * (1 - 1e-13))
    k = int(dom[0])
    if len(dom) == 2 and abs(w[dom[0]] - np.conj(w[dom[1]])) <= 1e-12 * rho and abs(w[k].imag) > 0:
        k = int(dom[0] if w[dom[0]].imag > 0 else dom[1])
        coef = 2 * c[k] * V[:, k]  # v_{j,i} ~ Re(coef_i lambda^j)
    elif len(dom) == 1 and w[k].real < 0 and w[k].imag == 0:
        coef = c[k] * V[:, k]
    else:
        return None
    theta = float(np.angle(w[k]))  # in (0, pi]
    lnrho = math.log(rho)
    if theta <= 0 or lnrho <= 0:
        return None
    turn = 2 * math.pi / theta
    out = []
    for i in range(A.shape[0]):
        amp = abs(coef[i])
        if amp == 0:
            return None
        phi = float(np.angle(coef[i]))
        j0 = max(0, math.ceil(math.log(8 * thr / amp) / lnrho))
        for sign, alpha in ((1, 0.0), (-1, math.pi)):
            d = (alpha - phi - math.fmod(theta * j0, 2 * math.pi)) % (2 * math.pi)
            j = j0 + int(round(d / theta))
            for t in range(TRIES):
                out.append((i, sign, j + int(round(t * turn))))
    return out


def both_infinities(A: np.ndarray, y: list[Fraction], fmt: GridFormat) -> int | None:
    """An index ``J`` such that every row of ``A^j y`` has a term ``j < J`` cast to ``+inf`` and one cast to
    ``-inf`` (each certified with intervals), or None (see the module docstring)."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    thr = overflow_threshold(fmt)
    cands = _candidates(A, np.array([float(v) for v in y]), float(thr))
    if cands is None:
        return None
    found: dict[tuple[int, int], int] = {}
    checked: dict[int, list] = {}
    for i, sign, j in cands:
        if (i, sign) in found or j > MAX_INDEX or j < 0:
            continue
        if j not in checked:
            checked[j] = [_iv_fraction(x) for x in _iv_power_apply(A, y, j)]
        lo, hi = checked[j][i]
        if (sign > 0 and lo > thr) or (sign < 0 and hi < -thr):
            found[(i, sign)] = j
        for r, (lo_r, hi_r) in enumerate(checked[j]):  # the same term may settle other rows too
            if lo_r > thr:
                found.setdefault((r, 1), j)
            elif hi_r < -thr:
                found.setdefault((r, -1), j)
    if len(found) < 2 * n:
        return None
    return max(found.values()) + 1


__all__ = ["both_infinities", "MAX_INDEX"]
