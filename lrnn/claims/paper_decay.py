"""The analytic decay certificate of the paper model: a contracting dense block's terms vanish from a computed index.

Setting: a dense block ``A [n, n]``, a :class:`~.paper_frame.Frame` (``M = X^{-1} A X`` exact) and a column ``y``;
the terms are ``v_j = A^j y`` and ``z_j = X^{-1} v_j = M^j z_0``. For a norm ``||.||`` on the frame coordinates with
``||M|| <= q < 1`` (either ``||.||_inf``, bound ``Frame.norm``, or the group norm ``||.||_G``, bound
``Frame.gnorm``: see :mod:`.paper_frame`) and row weights ``xr_i`` with ``|x . z| <= xr_i ||z||`` for ``x`` the row
``X_i`` (``||X_i||_1`` for ``inf``; ``sum_g ||X_i,g||_2`` for ``G``), every term satisfies

    |v_{j,i}| = |X_i z_j| <= xr_i q^j ||z_0||.

Hence, with ``R = max_i xr_i ||z_0||`` (an exact upper bound):

* no cast is ever infinite when ``R < thr`` (the largest finite value plus half its spacing);
* every cast from ``K`` on is 0 when ``R q^K < tiny / 2`` (a value below half the smallest positive one casts to 0,
  for either sign). ``K`` is found from ``ln(tiny / (2 R)) / ln q`` and checked with :mod:`mpmath` interval
  arithmetic (outward rounding), so it is a certified upper bound of the least such index.

No term before ``K`` is visited: where ``K`` is around ``10^10`` (float32 blocks whose eigenvalues are ``1 - 1e-9``) this
replaces the float64 run. The price: the exact *sum* of the casts before ``K`` is not computed, so a summed column
(``cast(A^j B)``) certifies that the sum is constant from ``K`` on without giving its value
(:class:`~.paper_model.LayerSettling` counts such entries in ``unknown_entries``). A column that is not summed
(``cast(A^m Z_i)``) is fully known from ``K`` on: every cast is 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .paper_frame import Frame, group_norm_up, group_row_up
from .paper_growth import _iv, _ivf, overflow_threshold
from .precision import GridFormat

#: indices beyond this are not certified (far past any run; guards the interval arithmetic's exponent range)
MAX_INDEX = 10 ** 18


@dataclass(frozen=True)
class Decay:
    """Every cast ``cast(A^j y)`` of the column is finite, and 0 for ``j >= start``; ``norm``: ``"inf"`` or ``"group"``
    (the norm that certified it), ``rate``: its bound ``q < 1`` of ``||M||``."""

    start: int
    norm: str
    rate: Fraction


def _norms(frame: Frame) -> list[tuple[str, Fraction]]:
    out = []
    if frame.norm < 1:
        out.append(("inf", frame.norm))
    if frame.gnorm is not None and frame.gnorm < 1 and frame.groups:
        out.append(("group", frame.gnorm))
    return out


def _size(frame: Frame, z: list[Fraction], kind: str) -> Fraction:
    """``R = max_i xr_i ||z||`` in the norm ``kind`` (an exact upper bound)."""
    if kind == "inf":
        zn = max((abs(v) for v in z), default=Fraction(0))
        xr = max(sum((abs(v) for v in row), Fraction(0)) for row in frame.X)
    else:
        zn = group_norm_up(z, frame.groups)
        xr = max(group_row_up(list(row), frame.groups) for row in frame.X)
    return xr * zn


def _vanish_index(R: Fraction, q: Fraction, half_tiny: Fraction) -> int | None:
    """The least ``K`` found (an upper bound of the least one) with ``R q^K < half_tiny``, checked with intervals."""
    if R < half_tiny:
        return 0
    if q == 0:
        return 1
    lnq = math.log1p(float(q - 1))  # estimates (accurate near q = 1): the check below decides
    if not lnq < 0:  # q within float64 rounding of 1: far beyond MAX_INDEX
        return None
    guess = (math.log(half_tiny.numerator) - math.log(half_tiny.denominator)
             - math.log(R.numerator) + math.log(R.denominator)) / lnq
    if not math.isfinite(guess) or guess > MAX_INDEX:
        return None
    K = max(1, math.ceil(guess * (1 + 1e-12)) + 1)
    iv = _iv()
    Ri, qi, ht = (_ivf(iv, x) for x in (R, q, half_tiny))
    for _ in range(64):
        if K > MAX_INDEX:
            return None
        if (Ri * qi ** K).b < ht.a:
            return K
        K += max(1, K // 1000)
    return None


def decay_certificate(frame: Frame, y: list[Fraction], fmt: GridFormat) -> Decay | None:
    """The certificate of the module docstring for ``A^j y`` (``y``: exact column), or None when no norm of the frame
    contracts (``||M|| < 1``) or a cast could be infinite. Of the two norms, the one giving the smaller ``K``."""
    z = frame.coords(y)
    thr = overflow_threshold(fmt)
    half_tiny = Fraction(fmt.tiny) / 2
    best: Decay | None = None
    for kind, q in _norms(frame):
        R = _size(frame, z, kind)
        if R >= thr:
            continue
        K = _vanish_index(R, q, half_tiny)
        if K is not None and (best is None or K < best.start):
            best = Decay(K, kind, q)
    return best


__all__ = ["Decay", "decay_certificate", "MAX_INDEX"]
