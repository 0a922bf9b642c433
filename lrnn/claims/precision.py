"""Finite-precision models of an affine LRNN recurrence ``H_t = A_t H_{t-1} + B_t`` (``A [..., n, n]``,
``H, B [..., n, d]``), named for what they compute.

* ``paper`` -- the arithmetic of App. B of arXiv 2411.12537 (after Merrill et al. 2024): every product of transitions
  is exact, each term of the closed form is rounded once, the rounded terms are summed exactly and the sum is rounded
  once: for a constant input ``Hhat_k = cast(sum_{i<k} cast(A^i B) + cast(A^k H_0))``. ``Hhat_k`` is *not* a function
  of ``Hhat_{k-1}``; it is implemented in :mod:`.paper_model`, not as a step.
* ``per-step`` and ``float`` -- step models below: ``H_t`` is computed from the stored ``H_{t-1}``.

The step models take ``A``, ``B`` and ``H`` whose entries already lie on the grid of a dtype (``float16``,
``bfloat16`` or ``float32``) and return ``H'`` on that grid.

* ``per-step`` -- exact products rounded after every step (not the paper's model; see above): every product
  ``A[i, j] * H[j, c]`` is computed exactly, each product is rounded to the dtype's grid, the rounded products and
  ``B[i, c]`` are summed exactly and the sum is rounded once more. Rounding is to the nearest grid point, and a tie
  goes to the *smaller* value (towards minus infinity), as in the ``paper`` model's ``cast``. Values beyond the
  largest finite number become +-inf.
  Implementation: products of two grid values are exact in float64 (at most 2 x 24 significand bits); the exact sum
  is the float64 sum whenever a cascade of error-free TwoSum steps reports no rounding error (always the case for
  float16, whose grid values are integer multiples of 2^-24 below 2^16); otherwise that entry is summed again with
  exact rationals (:class:`fractions.Fraction`). :func:`round_to_grid` and :func:`round_fraction_to_grid` do the
  rounding exactly.
* ``float`` -- plain floating-point simulation: ``torch.matmul(A, H) + B`` evaluated by torch in the dtype on the
  CPU (round to nearest, ties to even; torch's CPU matmul accumulates 16-bit inputs in float32 and rounds the
  product once, float32 inputs are summed in float32 in the order and blocking of the BLAS), then ``+ B`` rounded.

When they differ: (1) a product below half a grid step of the sum is rounded on its own in ``per-step`` but merged into
a wider accumulator in ``float``, so a small update ``a*h`` that ``per-step`` keeps can vanish in ``float`` or the other
way round; (2) exact ties go down in ``per-step`` and to the even neighbour in ``float`` (a state sitting on a tie moves
differently, e.g. ``0.5 * 3 * 2^-24`` in float16); (3) ``float`` rounds ``A H`` and then ``+ B`` separately,
``per-step`` rounds the whole sum once. Both are deterministic maps on a finite set of states, so every run on ``1^t`` becomes
eventually periodic in either model; they can settle at different steps and, for matrices with negative entries,
in principle with different periods. The claim checkers report which model they used.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from statetrack.errors import StatetrackError
from statetrack.vocabulary import CLAIM_PRECISIONS

PRECISION_MODELS = CLAIM_PRECISIONS
#: the models that are a step ``H_{t-1} -> H_t`` (:class:`Stepper`)
STEP_MODELS = ("per-step", "float")


@dataclass(frozen=True)
class GridFormat:
    """A binary floating-point grid: ``precision`` significand bits (with the implicit one), smallest normal
    exponent ``emin`` (subnormals below it, spacing ``2^(emin - precision + 1)``), largest finite value ``max``."""

    name: str
    precision: int
    emin: int
    max: float

    @property
    def tiny(self) -> float:
        """The spacing of the subnormal range (the smallest positive value)."""
        return float(np.ldexp(1.0, self.emin - self.precision + 1))


FORMATS = {
    "float16": GridFormat("float16", 11, -14, 65504.0),
    "bfloat16": GridFormat("bfloat16", 8, -126, float(np.ldexp(2.0 - 2.0 ** -7, 127))),
    "float32": GridFormat("float32", 24, -126, float(np.ldexp(2.0 - 2.0 ** -23, 127))),
}
_ALIASES = {"fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp32": "float32", "float": "float32"}


def grid_format(dtype: Any) -> GridFormat:
    """The :class:`GridFormat` of ``float16`` / ``bfloat16`` / ``float32`` (a name or a torch dtype)."""
    key = str(dtype).lower().replace("torch.", "")
    key = _ALIASES.get(key, key)
    if key not in FORMATS:
        raise StatetrackError(f"dtype {dtype!r} is not simulated; choose one of float16, bfloat16, float32")
    return FORMATS[key]


def check_precision_model(name: str) -> str:
    """``name`` if it is one of :data:`PRECISION_MODELS`, else a :class:`StatetrackError` naming ``precision``."""
    if name not in PRECISION_MODELS:
        raise StatetrackError(f"precision: unknown precision model {name!r}; choose one of {', '.join(PRECISION_MODELS)}")
    return name


# ------------------------------------------------------------------------------------------------ rounding
def round_to_grid(x: np.ndarray, fmt: GridFormat) -> np.ndarray:
    """Round float64 values to the grid of ``fmt``: nearest, ties to the smaller value, overflow to +-inf.

    Exact for every finite float64 input (only power-of-two scalings, ``floor`` and comparisons are used).
    NaN stays NaN, +-inf stays +-inf.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _round(np.asarray(x, dtype=np.float64), fmt)


def _round(x: np.ndarray, fmt: GridFormat) -> np.ndarray:
    """:func:`round_to_grid` without the floating-point error state (callers set it)."""
    _, e = np.frexp(x)  # x = m 2^e, 0.5 <= |m| < 1: the leading bit has weight 2^(e - 1)
    ue = np.maximum(e - fmt.precision, fmt.emin - fmt.precision + 1)  # exponent of the grid spacing at x
    q = np.ldexp(x, -ue)
    r = np.floor(q)
    r += (q - r) > 0.5  # a tie (q - r == 0.5) keeps floor: the smaller neighbour
    out = np.ldexp(r, ue)
    big = np.abs(out) > fmt.max
    if big.any():
        out = np.where(big, np.copysign(np.inf, out), out)
    return out


def round_fraction_to_grid(x: Fraction, fmt: GridFormat) -> float:
    """:func:`round_to_grid` for an exact rational (used when a float64 sum was not exact)."""
    if x == 0:
        return 0.0
    ax = abs(x)
    e = ax.numerator.bit_length() - ax.denominator.bit_length()  # 2^e <= |x| < 2^(e + 2)
    while Fraction(2) ** e > ax:
        e -= 1
    while Fraction(2) ** (e + 1) <= ax:
        e += 1
    ue = max(e - fmt.precision + 1, fmt.emin - fmt.precision + 1)  # here 2^e <= |x| < 2^(e+1)
    q = x / Fraction(2) ** ue
    r = q.numerator // q.denominator  # floor
    if q - r > Fraction(1, 2):
        r += 1
    out = float(Fraction(r) * Fraction(2) ** ue)
    return float(np.copysign(np.inf, out)) if abs(out) > fmt.max else out


def to_grid(x: Any, dtype: Any, model: str) -> np.ndarray:
    """Values (array-like, float64) put on the dtype's grid the way ``model`` stores weights: ``paper`` and
    ``per-step`` round nearest with ties to the smaller value, ``float`` casts through torch (nearest, ties to even; torch casts float64
    to float16 / bfloat16 through float32, so a value within 2^-29 relative of a tie can be rounded twice)."""
    fmt = grid_format(dtype)
    x = np.asarray(x, dtype=np.float64)
    if check_precision_model(model) in ("paper", "per-step"):
        return round_to_grid(x, fmt)
    import torch

    return torch.from_numpy(x).to(getattr(torch, fmt.name)).to(torch.float64).numpy()


# ------------------------------------------------------------------------------------------------ the step
def _two_sum(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Knuth's error-free TwoSum: ``s = fl(a + b)``, ``e = (a + b) - s`` exactly."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def exact_sum_rounded(terms: np.ndarray, fmt: GridFormat) -> np.ndarray:
    """``round(sum(terms, axis=-1))`` with the sum taken exactly; ``terms [..., m]`` float64.

    A TwoSum cascade gives the float64 sum ``s`` and its exact errors ``e_k`` (``x = s + sum e_k``). Entries with all
    ``e_k = 0`` are exact. Otherwise ``x`` lies in ``[lo, hi]`` around ``y = s + sum e_k`` (float64) with a generous
    bound of the float64 errors; rounding is monotone, so ``round(lo) == round(hi)`` decides ``round(x)``. The rare
    entries where it does not are summed again with exact rationals.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        return _exact_sum_rounded(terms, fmt)


def _exact_sum_rounded(terms: np.ndarray, fmt: GridFormat) -> np.ndarray:
    m = terms.shape[-1]
    if fmt.name == "float16" and m <= 1 << 13:
        # float16 grid values are integer multiples of 2^-24 below 2^16: every partial sum of up to 2^13 of them is
        # an integer multiple of 2^-24 below 2^29, exact in float64
        return _round(terms.sum(-1), fmt)
    s = terms[..., 0].copy()
    err = np.zeros_like(s)
    abs_err = np.zeros_like(s)
    for j in range(1, m):
        s, e = _two_sum(s, terms[..., j])
        err += e
        abs_err += np.abs(e)
    out = _round(s, fmt)
    inexact = (abs_err != 0) & np.isfinite(abs_err) & np.isfinite(s)
    if not inexact.any():
        return out
    u = 2.0 ** -53
    y = s + err
    r = 4.0 * (2 * m * u * abs_err + u * np.abs(y)) + 4 * 2.0 ** -1074
    lo, hi = _round(y - r, fmt), _round(y + r, fmt)
    out = np.where(inexact, lo, out)
    for idx in zip(*np.nonzero(inexact & (lo != hi))):
        out[idx] = round_fraction_to_grid(sum((Fraction(float(v)) for v in terms[idx]), Fraction(0)), fmt)
    return out


def per_step(A: np.ndarray, H: np.ndarray, B: np.ndarray, fmt: GridFormat) -> np.ndarray:
    """One step of the ``per-step`` model: ``A [..., n, n]``, ``H, B [..., n, d]`` (float64 grid values) -> ``[..., n, d]``.

    ``H'[i, c] = round( sum_j round(A[i, j] H[j, c]) + B[i, c] )`` with an exact sum.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        prods = A[..., :, None, :] * np.swapaxes(H, -1, -2)[..., None, :, :]  # [..., n(i), d(c), n(j)], exact
        terms = np.concatenate([_round(prods, fmt), B[..., None]], axis=-1)  # [..., n, d, n + 1]
        return _exact_sum_rounded(terms, fmt)


class Stepper:
    """The step ``H -> A H + B`` of a step model (``per-step`` or ``float``) in one dtype, on float64 numpy arrays
    of grid values."""

    def __init__(self, dtype: Any, model: str = "per-step"):
        self.fmt = grid_format(dtype)
        self.model = check_precision_model(model)
        if self.model not in STEP_MODELS:
            raise StatetrackError(f"precision: the {model!r} model is not a step H_(t-1) -> H_t; step models are "
                                  f"{', '.join(STEP_MODELS)} (the paper model lives in claims.paper_model)")
        if self.model == "float":
            import torch

            self._torch = torch
            self._dt = getattr(torch, self.fmt.name)

    def grid(self, x: Any) -> np.ndarray:
        """Weights (A, B, h0) put on the grid as this model stores them."""
        return to_grid(x, self.fmt.name, self.model)

    def __call__(self, A: np.ndarray, H: np.ndarray, B: np.ndarray) -> np.ndarray:
        if self.model == "per-step":
            return per_step(A, H, B, self.fmt)
        t = self._torch
        At, Ht, Bt = (t.from_numpy(np.ascontiguousarray(x)).to(self._dt) for x in (A, H, B))
        return (t.matmul(At, Ht) + Bt).to(t.float64).numpy() + 0.0  # + 0.0: one zero (-0.0 -> +0.0), one key


__all__ = ["PRECISION_MODELS", "GridFormat", "FORMATS", "grid_format", "round_to_grid", "round_fraction_to_grid",
           "to_grid", "exact_sum_rounded", "per_step", "Stepper", "check_precision_model", "STEP_MODELS"]
