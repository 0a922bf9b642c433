"""Interval vectors in float64 with a safety margin on every operation, for sound bounds in real arithmetic.

An :class:`Interval` holds ``lo <= hi`` (numpy arrays of one shape). Every operation widens its result outward by
``REL`` times the magnitude plus ``ABS``: float64 rounding errors of these few operations are below 1e-15 relative,
so the margin covers them many times over, and the bounds hold for the exact real-valued functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: relative and absolute outward margin applied after every operation
REL = 1e-12
ABS = 1e-300
#: a lower bound of min_x x * sigmoid(x) (the true minimum is -0.27846... at x = -1.27846...)
SILU_MIN = -0.2785
SILU_ARGMIN = -1.2784645


def widen(lo: np.ndarray, hi: np.ndarray, rel: float = REL) -> tuple[np.ndarray, np.ndarray]:
    m = np.maximum(np.abs(lo), np.abs(hi)) * rel + ABS
    return lo - m, hi + m


@dataclass
class Interval:
    """Componentwise bounds ``lo <= x <= hi`` (float64 arrays)."""

    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def point(cls, x: np.ndarray, rel: float = REL) -> "Interval":
        """A computed float64 value, widened to cover the error of computing it (``rel`` relative)."""
        x = np.asarray(x, dtype=np.float64)
        return cls(*widen(x.copy(), x.copy(), rel))

    @classmethod
    def around(cls, centre: np.ndarray, radius: np.ndarray) -> "Interval":
        return cls(*widen(centre - radius, centre + radius))

    @property
    def centre(self) -> np.ndarray:
        return (self.lo + self.hi) / 2

    @property
    def radius(self) -> np.ndarray:
        return (self.hi - self.lo) / 2

    def __add__(self, other: "Interval | np.ndarray") -> "Interval":
        if isinstance(other, Interval):
            return Interval(*widen(self.lo + other.lo, self.hi + other.hi))
        return Interval(*widen(self.lo + other, self.hi + other))

    def __mul__(self, other: "Interval | np.ndarray") -> "Interval":
        if not isinstance(other, Interval):
            other = Interval(np.asarray(other, dtype=np.float64), np.asarray(other, dtype=np.float64))
        p = np.stack(np.broadcast_arrays(self.lo * other.lo, self.lo * other.hi, self.hi * other.lo,
                                         self.hi * other.hi))
        return Interval(*widen(p.min(0), p.max(0)))

    def linear(self, weight: np.ndarray, bias: np.ndarray | None = None) -> "Interval":
        """``x @ weight.T + bias`` for ``x`` in the interval (``weight [out, in]``, as ``nn.Linear``)."""
        c, r = self.centre, self.radius
        out_c = c @ weight.T + (0.0 if bias is None else bias)
        out_r = r @ np.abs(weight).T
        mag = np.abs(c) @ np.abs(weight).T + out_r
        return Interval(out_c - out_r - REL * mag - ABS, out_c + out_r + REL * mag + ABS)

    def silu(self) -> "Interval":
        """``x * sigmoid(x)``: decreasing below ``SILU_ARGMIN``, increasing above."""
        s = lambda x: x / (1.0 + np.exp(-x))  # noqa: E731
        slo, shi = s(self.lo), s(self.hi)
        lo = np.where(self.hi <= SILU_ARGMIN, shi, np.where(self.lo >= SILU_ARGMIN, slo, SILU_MIN))
        hi = np.maximum(slo, shi)
        return Interval(*widen(lo, hi, 1e-9))

    def rms_norm(self, weight: np.ndarray, eps: "float | np.ndarray", eps_hi: "np.ndarray | None" = None
                 ) -> "Interval":
        """``x / sqrt(mean(x^2) + eps) * weight`` over the last axis (``eps`` a number or an array broadcast
        against ``x``'s leading axes with a trailing 1; with ``eps_hi``, for every eps between the two: ``|y_i|``
        decreases with eps, so the hull of the two ends bounds it).

        ``y_i = x_i / sqrt((x_i^2 + sum_{j != i} x_j^2) / n + eps)`` increases with ``x_i`` and, for ``x_i > 0``,
        decreases with every ``x_j^2`` (increases for ``x_i < 0``); its extremes over the box are therefore at
        ``x_i = hi_i`` / ``lo_i`` with the other squares at their least or largest. Every ``|y_i| < sqrt(n)`` (as
        ``x_i^2 <= n mean(x^2)``), which bounds rows with an unbounded entry too."""
        n = self.lo.shape[-1]
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            out = self._rms_norm(n, weight, eps)
            if eps_hi is None:
                return out
            other = self._rms_norm(n, weight, eps_hi)
        return Interval(np.minimum(out.lo, other.lo), np.maximum(out.hi, other.hi))

    def _rms_norm(self, n: int, weight: np.ndarray, eps: "float | np.ndarray") -> "Interval":
        sq_hi = np.maximum(self.lo ** 2, self.hi ** 2)
        sq_lo = np.where((self.lo <= 0) & (self.hi >= 0), 0.0, np.minimum(self.lo ** 2, self.hi ** 2))
        rest_lo = np.maximum(sq_lo.sum(-1, keepdims=True) - sq_lo, 0.0) * (1 - 1e-12)
        rest_hi = (sq_hi.sum(-1, keepdims=True) - sq_hi) * (1 + 1e-12)

        def y(x: np.ndarray, rest: np.ndarray) -> np.ndarray:
            return x / np.sqrt((x ** 2 + rest) / n + eps)

        up = np.where(self.hi >= 0, y(self.hi, rest_lo), y(self.hi, rest_hi))
        down = np.where(self.lo <= 0, y(self.lo, rest_lo), y(self.lo, rest_hi))
        lo, hi = widen(down, up, 1e-10)
        # |y_i| < sqrt(n) always (x_i^2 <= n mean(x^2)); a row with an unbounded entry is only known to that extent
        bound = np.sqrt(n) * (1 + 1e-12)
        unknown = ~np.all(np.isfinite(self.lo) & np.isfinite(self.hi), axis=-1, keepdims=True)
        lo = np.where(unknown | np.isnan(lo), -bound, np.maximum(lo, -bound))
        hi = np.where(unknown | np.isnan(hi), bound, np.minimum(hi, bound))
        return Interval(lo, hi) * weight
