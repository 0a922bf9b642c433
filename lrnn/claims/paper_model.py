"""The ``paper`` precision model (App. B of arXiv 2411.12537, after Merrill et al. 2024), computed exactly.

For a layer ``H_t = A_t H_{t-1} + B_t`` (``A_t [N, N]``, ``H_t, B_t [N, D]``, every entry a value of the dtype) the
model's state after ``t`` tokens is the closed form with each term cast once and the cast terms summed exactly::

    Hhat_t = cast( sum_{i=1..t} cast(A_t ... A_{i+1} B_i) + cast(A_t ... A_1 H_0) )

``cast`` is the nearest value of the dtype, a tie going to the smaller value, entrywise (the dtypes here are real;
a complex entry would be cast on its real and imaginary parts); values beyond the largest finite number become +-inf
(a tie at the overflow threshold goes to the smaller value), and the exact sum follows IEEE rules for infinite terms
(+inf and -inf give NaN). ``Hhat_t`` is *not* a function of ``Hhat_{t-1}``: the model is not a step map.

**Exactness.** Every dtype value is a dyadic rational ``M 2^e``; products and sums of dyadic rationals are computed
exactly with Python integers (:class:`Dyadic`), every cast decision is made on the exact value (:func:`cast_int`).

**A constant input after a prefix.** On ``1^t`` a layer's input is constant from some token on (after a short
convolution's warm-up, or once the layer below has settled to a constant output): ``A_t = A``, ``B_t = B`` for
``t > T0``. For ``t = T0 + m`` the closed form splits into

    Hhat_{T0+m} = cast( sum_{j<m} cast(A^j B) + sum_{i=0..T0} cast(A^m Z_i) ),
    Z_0 = A_{T0} ... A_1 H_0,  Z_i = A_{T0} ... A_{i+1} B_i,

(for ``T0 = 0``: ``cast(sum_{j<k} cast(A^j B) + cast(A^k H_0))``, the paper's formula). All term sequences are
``A^m Y`` for a fixed column ``Y``.

**Settling, with a proof.** The analysis runs per *block* (a set of coordinates closed under ``A``: the connected
components of ``A``'s non-zero pattern, e.g. one per head, or one per coordinate of a diagonal ``A``) and per column
``y`` of ``Y = [B | Z_0 | ... | Z_T0]``; ``A^m y`` restricted to a block depends only on that block. A column-block
``v_m = A_b^m y_b`` is certified, from ``m0`` on, when

* (repeat) ``v_{m0 + p} = v_{m0}`` exactly: then ``v`` and its cast are periodic with period ``p`` from ``m0``; or
* (vanish) ``||A_b^q||_inf <= 1`` for some ``q <= 8`` (computed exactly) and ``|v_{m0 + r}| < tiny / 2`` entrywise for
  ``r < q`` (``tiny``: the smallest positive value): by induction every later entry stays below ``tiny / 2``, so its
  cast is 0 (period 1).

Once every column-block is certified, every cast term is periodic with period ``P`` (the lcm) from ``M0`` (the max).
The partial sums then satisfy ``S_{M0 + kP + s} = S_{M0 + s} + k D`` with ``D`` the exact sum of the cast terms of
one period. An entry with ``D = 0`` is periodic. An entry with ``D != 0`` grows linearly and its cast is +-inf from an
exactly computed ``k`` on (then constant). Hence ``Hhat`` is eventually periodic, from a certified step, with a
certified period (reduced to the least one over an exact window).

**Dense blocks** whose terms neither repeat nor vanish within the exact budget (``deltanet``'s rounded
``I - beta k k^T``: eigenvalues slightly above or below 1; ``deltaproduct``'s products: also near-1 complex pairs)
get more certificates, all on an exact change of basis built from 192-bit eigenvectors (:mod:`.paper_frame`, with
the ``inf``-norm and a group norm in which a complex pair acts as a scaled rotation): *growth*
(:mod:`.paper_growth`: a dominant real eigenvalue above 1 makes every cast ``s_i inf`` from a certified step, the
summed terms' earlier infinities bounded away or followed); *oscillation* (:mod:`.paper_oscillate`: a dominant
complex pair or negative eigenvalue of modulus above 1 makes a summed column meet both infinities, certified with
intervals, so its entries are NaN); *vanish* after a certified float64 run (:mod:`.paper_tail`: a frame norm of
``M`` at most 1 and a bound below ``tiny / 2``; the casts are certain or recomputed with interval arithmetic, summed
exactly); and *analytic decay* (:mod:`.paper_decay`: a contracting frame norm gives, without visiting the terms, the
index from which every cast is 0 -- the sum of a summed column before it is then not computed, and its entries are
reported in :attr:`LayerSettling.unknown_entries`: constant from the settle bound on, value unknown). A growth,
oscillation or decay certificate that starts within ``GROWTH_EXACT_EXTEND`` terms is completed exactly (every term
visited); one that starts far ahead does not compute the finite part of the sum before it (growth, oscillation:
every entry holds an infinity or NaN by then), so :meth:`LayerSettling.state` refuses lengths between the kept
history and the certificate's start (the model runner then leaves the run undecided). When some
column-block still has no certificate, the layer is *undecided* and the reason names the block and its eigenvalues:
nothing is claimed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Sequence

import numpy as np

from .paper_decay import decay_certificate
from .paper_frame import Frame, build_frame
from .paper_growth import growth_certificate, other_infinities, overflow_threshold
from .paper_oscillate import both_infinities
from .paper_tail import UNCERTAIN, VANISHED, follow, vanish_steps_estimate
from .precision import GridFormat, round_to_grid

#: the largest ``q`` tried for the vanishing certificate ``||A^q||_inf <= 1``
MAX_POWER = 8


# ------------------------------------------------------------------------------------------------ exact values
def _to_int_exp(x: float) -> tuple[int, int]:
    """A finite float as ``(M, e)`` with ``x = M 2^e``."""
    num, den = float(x).as_integer_ratio()
    return num, -(den.bit_length() - 1)


@dataclass(frozen=True)
class Dyadic:
    """An exact dyadic matrix ``ints 2^exp``: ``ints`` an object array of Python ints (any shape)."""

    ints: np.ndarray
    exp: int

    @staticmethod
    def from_floats(x: np.ndarray) -> "Dyadic":
        """Finite float64 values (a dtype's values) exactly."""
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("Dyadic values must be finite")
        pairs = [_to_int_exp(v) for v in x.reshape(-1)]
        e = min((p[1] for p in pairs if p[0]), default=0)
        ints = np.array([m << (pe - e) if m else 0 for m, pe in pairs], dtype=object).reshape(x.shape)
        return Dyadic(ints, e).normalised()

    def normalised(self) -> "Dyadic":
        """The same values with the common power of two moved into ``exp`` (a canonical form)."""
        nz = [int(v) for v in self.ints.reshape(-1) if v]
        if not nz:
            return Dyadic(np.zeros(self.ints.shape, dtype=object), 0)
        tz = min((v & -v).bit_length() - 1 for v in nz)
        if tz == 0:
            return self
        return Dyadic(np.array([int(v) >> tz for v in self.ints.reshape(-1)], dtype=object).reshape(self.ints.shape),
                      self.exp + tz)

    def key(self) -> tuple:
        """A hashable canonical key (equal values <=> equal keys)."""
        d = self.normalised()
        return d.exp, tuple(int(v) for v in d.ints.reshape(-1))

    def __matmul__(self, other: "Dyadic") -> "Dyadic":
        return Dyadic(np.dot(self.ints, other.ints), self.exp + other.exp).normalised()

    def max_abs_below(self, bound: Fraction) -> bool:
        """Is every ``|entry| < bound``?"""
        m = max((abs(int(v)) for v in self.ints.reshape(-1)), default=0)
        return Fraction(m) * Fraction(2) ** self.exp < bound

    def fractions(self) -> np.ndarray:
        """The values as an object array of :class:`Fraction`."""
        s = Fraction(2) ** self.exp
        return np.array([Fraction(int(v)) * s for v in self.ints.reshape(-1)], dtype=object).reshape(self.ints.shape)


def cast_int(m: int, e: int, fmt: GridFormat) -> float:
    """``cast(m 2^e)``: the nearest value of ``fmt``, a tie to the smaller value, +-inf beyond the largest finite."""
    if m == 0:
        return 0.0
    a = abs(m)
    E = a.bit_length() - 1 + e  # 2^E <= |x| < 2^(E + 1)
    if E > math.frexp(fmt.max)[1] - 1:  # |x| >= 2^(emax + 1), above the overflow threshold (and maybe float64's)
        return math.inf if m > 0 else -math.inf
    ue = max(E - fmt.precision + 1, fmt.emin - fmt.precision + 1)
    shift = ue - e
    if shift <= 0:
        r = a << -shift
    else:
        r = a >> shift
        rem = a - (r << shift)
        half = 1 << (shift - 1)
        if rem > half or (rem == half and m < 0):  # a tie goes to the smaller value: down for x > 0, up in |x| else
            r += 1
    out = math.ldexp(float(r), ue) if r.bit_length() <= fmt.precision + 1 else math.inf
    if out > fmt.max:
        out = math.inf
    return out if m > 0 else -out


def cast_fraction(x: Fraction, fmt: GridFormat) -> float:
    """:func:`cast_int` of an exact dyadic :class:`Fraction`."""
    den = x.denominator
    if den & (den - 1):
        raise ValueError("cast_fraction expects a dyadic rational")
    return cast_int(x.numerator, -(den.bit_length() - 1), fmt)


def cast_dyadic(d: Dyadic, fmt: GridFormat) -> np.ndarray:
    """Entrywise :func:`cast_int` of a :class:`Dyadic` (float64 array)."""
    return np.array([cast_int(int(v), d.exp, fmt) for v in d.ints.reshape(-1)],
                    dtype=np.float64).reshape(d.ints.shape)


class ExactSum:
    """Entrywise exact sums of dtype values (float64 arrays, +-inf allowed) with IEEE rules for infinities."""

    def __init__(self, shape: tuple) -> None:
        self.finite = np.full(shape, Fraction(0), dtype=object)
        self.pos = np.zeros(shape, dtype=bool)
        self.neg = np.zeros(shape, dtype=bool)
        self.nan = np.zeros(shape, dtype=bool)

    def copy(self) -> "ExactSum":
        out = ExactSum(self.finite.shape)
        out.finite, out.pos, out.neg, out.nan = self.finite.copy(), self.pos.copy(), self.neg.copy(), self.nan.copy()
        return out

    def add(self, x: np.ndarray, times: int = 1) -> "ExactSum":
        """Add ``times`` copies of ``x`` (``times >= 0``) in place."""
        x = np.asarray(x, dtype=np.float64)
        if times == 0:
            return self
        self.nan |= np.isnan(x)
        self.pos |= x == np.inf
        self.neg |= x == -np.inf
        fin = np.isfinite(x)
        for idx in zip(*np.nonzero(fin & (x != 0))):
            self.finite[idx] += Fraction(float(x[idx])) * times
        return self

    def add_sum(self, other: "ExactSum", times: int = 1) -> "ExactSum":
        if times == 0:
            return self
        self.finite = self.finite + other.finite * times
        self.pos |= other.pos
        self.neg |= other.neg
        self.nan |= other.nan
        return self

    def cast(self, fmt: GridFormat) -> np.ndarray:
        """``cast`` of the exact sums (float64 array)."""
        out = np.array([cast_fraction(v, fmt) for v in self.finite.reshape(-1)],
                       dtype=np.float64).reshape(self.finite.shape)
        out[self.pos] = np.inf
        out[self.neg] = -np.inf
        out[(self.pos & self.neg) | self.nan] = np.nan
        return out


# ------------------------------------------------------------------------------------------------ the reference
def paper_states_bruteforce(As: Sequence[np.ndarray], Bs: Sequence[np.ndarray], H0: np.ndarray,
                            fmt: GridFormat) -> list[np.ndarray]:
    """``Hhat_1 .. Hhat_T`` straight from the definition (``T = len(As)``), every product and sum with
    :class:`Fraction`: ``O(T^2)`` products, the plain reference the fast analysis is tested against."""
    out = []
    for t in range(1, len(As) + 1):
        acc = ExactSum(np.shape(H0))
        for i in range(0, t + 1):
            v = Dyadic.from_floats(H0 if i == 0 else Bs[i - 1]).fractions()
            for j in range(i + 1, t + 1):
                v = np.dot(Dyadic.from_floats(As[j - 1]).fractions(), v)
            acc.add(np.array([cast_fraction(Fraction(x), fmt) for x in v.reshape(-1)]).reshape(v.shape))
        out.append(acc.cast(fmt))
    return out


# ------------------------------------------------------------------------------------------------ the analysis
def blocks_of(A: np.ndarray) -> list[np.ndarray]:
    """Coordinate sets closed under ``A [N, N]`` (connected components of its non-zero pattern), sorted."""
    N = A.shape[0]
    parent = list(range(N))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(*np.nonzero(A)):
        a, b = find(int(i)), find(int(j))
        if a != b:
            parent[a] = b
    groups: dict[int, list[int]] = {}
    for i in range(N):
        groups.setdefault(find(i), []).append(i)
    return [np.array(g) for g in sorted(groups.values())]


def _vanish_power(Ab: Dyadic) -> int | None:
    """The least ``q <= MAX_POWER`` with ``||A_b^q||_inf <= 1`` (exact), or None."""
    P = Ab
    for q in range(1, MAX_POWER + 1):
        rows = [sum(abs(int(v)) for v in row) for row in P.ints]
        if Fraction(max(rows, default=0)) * Fraction(2) ** P.exp <= 1:
            return q
        P = P @ Ab
    return None


@dataclass
class _Column:
    """One column-block ``v_m = A_b^m y_b`` being followed, and its certificate once found."""

    block: int
    col: int
    v: Dyadic
    seen: dict
    recent: list  # the last q vectors' "below tiny/2" flags
    start: int | None = None
    period: int | None = None
    how: str | None = None


@dataclass
class LayerSettling:
    """The paper model's answer for one layer with a constant input after a prefix of ``prefix`` tokens.

    ``decided``: every term sequence got a certificate within ``max_steps``; then ``Hhat_t`` is periodic with least
    period ``period`` for every ``t >= settle_step`` (a certified bound: the least such step may be smaller) and
    :meth:`state` gives ``Hhat_t`` for any ``t >= settle_step``. ``reason`` says why a layer is undecided.
    ``certificates`` counts the column-blocks certified by an exact repeat and by vanishing.
    """

    decided: bool
    prefix: int
    settle_step: int | None = None
    period: int | None = None
    reason: str | None = None
    certificates: dict | None = None
    overflow_entries: int = 0
    _window: list | None = None  # Hhat at settle_step .. settle_step + period - 1
    _hhat: Callable[[int], np.ndarray] | None = None  # m -> Hhat_{prefix + m}, any m >= 0
    #: ``[N, D]`` entries whose eventual (constant) value is not computed (analytic decay of a summed column), or None
    unknown: np.ndarray | None = None

    @property
    def unknown_entries(self) -> int:
        """How many entries of ``Hhat`` are certified constant from the settle bound on without a computed value."""
        return 0 if self.unknown is None else int(self.unknown.sum())

    def state(self, t: int) -> np.ndarray:
        """``Hhat_t`` for any ``t >= prefix`` of a decided layer (float64 array of dtype values, +-inf / NaN
        possible); beyond the settle step from the periodic window, before it from the exact closed form. Refused
        from the settle step on when some entry's value is not computed (:attr:`unknown_entries`)."""
        if not self.decided or t < self.prefix:
            raise ValueError(f"state({t}): only lengths >= the prefix {self.prefix} of a decided layer")
        if t >= self.settle_step:
            if self.unknown_entries:
                raise ValueError(f"state({t}): {self.unknown_entries} entries are certified constant from "
                                 f"{self.settle_step} on, but their value is not computed (analytic decay)")
            return self._window[(t - self.settle_step) % self.period]
        return self._hhat(t - self.prefix)

    def to_json(self) -> dict:
        return {"decided": self.decided, "prefix": self.prefix, "settle_step": self.settle_step,
                "period": self.period, "reason": self.reason, "certificates": self.certificates,
                "overflow_entries": self.overflow_entries, "unknown_entries": self.unknown_entries}


#: exact steps every term sequence is followed before scalar blocks move to certified float64 bounds
EXACT_SCALAR_STEPS = 64
#: exact steps of a dense block's term sequence before the growth certificate is tried (then the rest of the budget)
EXACT_DENSE_STEPS = 64
#: a growth, oscillation or analytic-decay certificate that starts at most this many terms ahead is completed
#: exactly (every term visited: full history, early states available)
GROWTH_EXACT_EXTEND = 256
#: the most terms a dense block's column is followed in float64 with certified bounds (decay, or the infinities of
#: a growing sum before its sign is certain)
DENSE_FLOAT_STEPS = 1 << 24
#: precision (bits) of the eigenvectors of a dense block's frame (M is then block diagonal: off-block entries
#: below 2^-150 of the largest, the bound the tests check)
FRAME_BITS = 192
#: early states (before the settle bound) are kept for at most this many terms
HISTORY_CAP = 4096
#: the kinds of non-finite casts, and "no such cast yet"
BAD_KINDS = ("pos", "neg", "nan")
NEVER = np.iinfo(np.int64).max


def _bad_masks(c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``c == +inf``, ``c == -inf``, ``isnan(c)`` (the order of :data:`BAD_KINDS`)."""
    return c == np.inf, c == -np.inf, np.isnan(c)


def _grid_units(x: np.ndarray, fmt: GridFormat) -> list[int]:
    """Finite dtype values as exact integer multiples of ``fmt.tiny`` (every grid value is one)."""
    return [int(v) for v in np.ldexp(x, fmt.precision - 1 - fmt.emin)]


class _Series:
    """The casts ``c(m)`` of one column-block, ``m = 0, 1, ...``: the first ``HISTORY_CAP`` kept, exact running sums
    of all (integer multiples of ``tiny`` and flags for infinite / NaN casts), and after the certificate the period."""

    def __init__(self, rows: int, fmt: GridFormat, cap: int = HISTORY_CAP) -> None:
        self.fmt, self.cap = fmt, cap
        self.hist: list[np.ndarray] = []
        self.count = 0
        self.total = [0] * rows  # exact sum of all casts so far, in units of tiny
        # per kind ("pos" / "neg" / "nan") and row: the first m with such a cast (NEVER if none yet)
        self.first_bad: dict[str, np.ndarray] = {k: np.full(rows, NEVER, dtype=np.int64) for k in BAD_KINDS}
        self.start: int | None = None
        self.period: int | None = None
        self.cycle: list[np.ndarray] = []
        self.sum_before_start: list[int] | None = None
        self.cycle_sums: list[list[int]] = []  # cumulative sums inside one period, in units of tiny
        self.unknown = False  # the analytic decay certificate: the sum of the casts before ``start`` not computed

    def push(self, c: np.ndarray) -> None:
        if self.count < self.cap:
            self.hist.append(c)
        fin = np.isfinite(c)
        for name, mask in zip(BAD_KINDS, _bad_masks(c)):
            fb = self.first_bad[name]
            fb[mask & (fb == NEVER)] = self.count
        units = _grid_units(np.where(fin, c, 0.0), self.fmt)
        self.total = [t + u for t, u in zip(self.total, units)]
        self.count += 1

    def push_many(self, cs: np.ndarray) -> None:
        """:meth:`push` for ``cs [n, rows]`` (one row per term), in bulk."""
        keep = max(0, min(len(cs), self.cap - self.count))
        self.hist.extend(np.array(r) for r in cs[:keep])
        for name, mask in zip(BAD_KINDS, _bad_masks(cs)):
            fb = self.first_bad[name]
            hit = mask.any(0) & (fb == NEVER)
            fb[hit] = self.count + np.argmax(mask, axis=0)[hit]
        units = np.ldexp(np.where(np.isfinite(cs), cs, 0.0), self.fmt.precision - 1 - self.fmt.emin)
        self.total = [t + sum(map(int, units[:, r])) for r, t in enumerate(self.total)]
        self.count += len(cs)

    def absorb(self, hist: np.ndarray, count: int, sums: list[int], first_pos: np.ndarray,
               first_neg: np.ndarray) -> None:
        """Take ``count`` more terms followed elsewhere: their casts' exact sums (units of tiny), the first +inf /
        -inf per row (offsets, -1 if none) and the first ones' casts ``hist [<= count, rows]``."""
        keep = max(0, min(len(hist), self.cap - self.count))
        self.hist.extend(np.array(r) for r in hist[:keep])
        for name, first in (("pos", first_pos), ("neg", first_neg)):
            fb = self.first_bad[name]
            hit = (first >= 0) & (fb == NEVER)
            fb[hit] = self.count + first[hit]
        self.total = [t + int(u) for t, u in zip(self.total, sums)]
        self.count += count

    def certify(self, start: int, period: int, cycle: list[np.ndarray], sum_before_start: list[int]) -> None:
        self.start, self.period, self.cycle, self.sum_before_start = start, period, cycle, sum_before_start
        acc = [0] * len(sum_before_start)
        self.cycle_sums = [list(acc)]
        for c in cycle:
            acc = [t + u for t, u in zip(acc, _grid_units(np.where(np.isfinite(c), c, 0.0), self.fmt))]
            self.cycle_sums.append(list(acc))

    def cast_at(self, m: int) -> np.ndarray:
        if m >= self.start:
            return self.cycle[(m - self.start) % self.period]
        if m < len(self.hist):
            return self.hist[m]
        raise ValueError(f"term {m} before the certificate (from term {self.start}) was not visited or not kept "
                         f"(terms 0..{len(self.hist) - 1} are)")

    def sum_before(self, n: int) -> tuple[list[int], list[set]]:
        """Exact ``sum_{m<n} c(m)`` (units of tiny) and, per row, the infinite / NaN kinds it contains."""
        bad = [{k for k in BAD_KINDS if int(self.first_bad[k][r]) < n} for r in range(len(self.total))]
        if self.start is not None:
            for k, firsts in self._cycle_bad().items():
                for r, j in enumerate(firsts.tolist()):
                    if j != NEVER and n > self.start + j:
                        bad[r].add(k)
        if self.start is not None and n >= self.start:
            if self.unknown:
                raise ValueError(f"the sum of the casts before term {n} is not computed (analytic decay)")
            k, r = divmod(n - self.start, self.period)
            full = self.cycle_sums[-1]
            return [b + k * f + p for b, f, p in zip(self.sum_before_start, full, self.cycle_sums[r])], bad
        if n <= len(self.hist):
            acc = [0] * len(self.total)
            for c in self.hist[:n]:
                acc = [t + u for t, u in zip(acc, _grid_units(np.where(np.isfinite(c), c, 0.0), self.fmt))]
            return acc, bad
        raise ValueError(f"the sum of the terms before {n} (the certificate starts at {self.start}) is not computed: "
                         f"terms {len(self.hist)}..{n - 1} were not visited or not kept")

    def _cycle_bad(self) -> dict[str, np.ndarray]:
        """Per kind and row: the first offset in the cycle with such a cast (NEVER if none)."""
        out = {k: np.full(len(self.total), NEVER, dtype=np.int64) for k in BAD_KINDS}
        for j, c in enumerate(self.cycle):
            for name, mask in zip(BAD_KINDS, _bad_masks(np.asarray(c))):
                fb = out[name]
                fb[mask & (fb == NEVER)] = j
        return out


def settle_constant_input(A: np.ndarray, B: np.ndarray, Z: np.ndarray, fmt: GridFormat, prefix: int = 0,
                          max_steps: int = 4096, float_steps: int = 1 << 18) -> LayerSettling:
    """Eventual behaviour of ``Hhat_{prefix + m}`` (see the module docstring): constant ``A [N, N]``, ``B [N, D]``
    and the prefix columns ``Z [T0 + 1, N, D]`` (``Z[0] = A_{T0} ... A_1 H_0``, ``Z[i] = A_{T0} ... A_{i+1} B_i``), all
    exact dtype values / dyadic rationals as float64 (``Z`` may also be a list of :class:`Dyadic`).

    Every column-block is followed exactly for ``max_steps`` terms (scalar blocks: ``EXACT_SCALAR_STEPS``); a scalar
    block ``v_{m+1} = a v_m`` with ``|a| <= 1`` still open then continues in float64 with a rigorous error bound
    ``e_{m+1} = |a| e_m + |fl(a v) - a v|`` (the product's rounding error computed exactly by Dekker's TwoProduct;
    ``e`` stays 0 while every product is exact, e.g. for ``a`` a power of two), for at most ``float_steps`` terms: its
    cast is taken only when ``[v - e, v + e]`` casts to one value (else the layer is undecided), and it vanishes when
    ``|v| + e < tiny / 2``."""
    N, D = B.shape
    Zd = [z if isinstance(z, Dyadic) else Dyadic.from_floats(z) for z in Z]
    Y = [Dyadic.from_floats(B)] + Zd  # term families: 0 -> A^j B, 1 + i -> A^m Z_i
    Ad = Dyadic.from_floats(A)
    blocks = blocks_of(A)
    half_tiny = Fraction(fmt.tiny) / 2
    cols: list[_Column] = []
    series: list[_Series] = []
    qs = []
    for b, rows in enumerate(blocks):
        Ab = Dyadic(Ad.ints[np.ix_(rows, rows)], Ad.exp).normalised()
        qs.append((Ab, _vanish_power(Ab)))
        for f, y in enumerate(Y):
            for c in range(D):
                v = Dyadic(y.ints[rows, c], y.exp).normalised()
                cols.append(_Column(b, f * D + c, v, {}, []))
                series.append(_Series(len(rows), fmt, max(HISTORY_CAP, max_steps + 2 + GROWTH_EXACT_EXTEND)))

    def certify(i: int, start: int, period: int, how: str, cycle: list[np.ndarray]) -> None:
        sr = series[i]
        before, _ = sr.sum_before(start) if start <= len(sr.hist) else (None, None)
        if before is None:  # a vanishing certificate found late: all casts from start on are 0
            before = sr.total
        sr.certify(start, period, cycle, before)
        cols[i].start, cols[i].period, cols[i].how = start, period, how

    def undecided(why: str) -> LayerSettling:
        return LayerSettling(False, prefix, reason=why)

    def run_exact(i: int, limit: int) -> None:
        """Follow column-block ``i`` exactly while its next term index is ``<= limit`` and it has no certificate."""
        col, sr = cols[i], series[i]
        Ab, q = qs[col.block]
        while col.start is None and sr.count <= limit:
            m = sr.count
            key = col.v.key()
            c = cast_dyadic(col.v, fmt)
            sr.push(c)
            col.recent.append(col.v.max_abs_below(half_tiny))
            if key in col.seen:
                st = col.seen[key]
                certify(i, st, m - st, "repeat", sr.hist[st:m])
            elif q is not None and len(col.recent) >= q and all(col.recent[-q:]):
                certify(i, m - q + 1, 1, "vanish", [np.zeros_like(c)])
            else:
                col.seen[key] = m
                col.v = Ab @ col.v

    def extend_exact(i: int, upto: int) -> None:
        """Push the exact casts of column-block ``i`` up to term ``upto - 1`` (no certificate is looked for)."""
        col, sr = cols[i], series[i]
        Ab, _ = qs[col.block]
        while sr.count < upto:
            sr.push(cast_dyadic(col.v, fmt))
            col.v = Ab @ col.v

    frames: dict[int, Frame | None] = {}

    def frame_of(b: int) -> Frame | None:
        if b not in frames:
            rows = blocks[b]
            frames[b] = build_frame(A[np.ix_(rows, rows)], FRAME_BITS)
        return frames[b]

    def try_growth(i: int) -> bool:
        """The growth certificate (:mod:`.paper_growth`) for the terms from the current one on; for summed terms
        (``A^j B``) whose bound leaves an overflow of the other sign possible, the terms up to the certified sign
        change are followed in float64 with certified bounds (:mod:`.paper_tail`) to see which infinities occur."""
        col, sr = cols[i], series[i]
        fr = frame_of(col.block)
        summed = col.col // D == 0
        y = list(col.v.fractions().reshape(-1))
        g = None if fr is None else growth_certificate(fr, y, fmt, summed)
        if g is None:
            return False
        j1 = sr.count + g.start  # every cast from term j1 on is signs * inf
        seen: list = []
        if summed and not g.no_other_inf and j1 + 1 - sr.count > GROWTH_EXACT_EXTEND:
            other = other_infinities(fr, y, fmt, g.start, g.signs) if g.sign_from > DENSE_FLOAT_STEPS else None
            if other is not None:  # the diagonal model decides (the first such term is somewhere before j1)
                first = np.where(other, g.start, -1)
                seen = [("pos", np.where(g.signs < 0, first, -1)), ("neg", np.where(g.signs > 0, first, -1))]
            elif g.sign_from > DENSE_FLOAT_STEPS:
                return False
            else:
                rows = blocks[col.block]
                tr = follow(fr, A[np.ix_(rows, rows)], [y], fmt, g.sign_from, signs_only=True)
                if tr.status[0] == UNCERTAIN:
                    return False
                seen = [("pos", tr.first_pos[0]), ("neg", tr.first_neg[0])]
        if j1 + 1 - sr.count <= GROWTH_EXACT_EXTEND:  # close: keep every term exact (early states stay available)
            extend_exact(i, j1 + 1)
            certify(i, j1 + 1, 1, "growth", [g.signs * np.inf])
            return True
        for name, sign in (("pos", 1.0), ("neg", -1.0)):
            fb = sr.first_bad[name]
            hit = g.signs == sign
            fb[hit] = np.minimum(fb[hit], j1)
        for name, first in seen:  # infinities met before the sign is certain
            fb = sr.first_bad[name]
            hit = first >= 0
            fb[hit] = np.minimum(fb[hit], sr.count + first[hit])
        # the finite part of the sum before j1 + 1 is not computed: every row holds an infinite term by then, so
        # the cast of every sum that contains it ignores it; states before j1 + 1 beyond the history are refused
        sr.certify(j1 + 1, 1, [g.signs * np.inf], list(sr.total))
        col.start, col.period, col.how = j1 + 1, 1, "growth"
        return True

    def is_scalar(i: int) -> bool:
        return len(blocks[cols[i].block]) == 1

    for i in range(len(cols)):  # phase 1: exact, short
        run_exact(i, min(max_steps, EXACT_SCALAR_STEPS if is_scalar(i) else EXACT_DENSE_STEPS))
    open_cols = [i for i in range(len(cols)) if cols[i].start is None]
    for i in open_cols:  # phase 2: growth, then exact up to the budget, then growth again
        if is_scalar(i) and qs[cols[i].block][1] is not None:
            continue  # |a| <= 1: the float64 phase below
        if not try_growth(i):
            run_exact(i, max_steps)
            if cols[i].start is None:
                try_growth(i)
    open_cols = [i for i in range(len(cols)) if cols[i].start is None]
    for i in open_cols:  # phase 2b: a summed column whose rows all meet both infinities (oscillation)
        if is_scalar(i) or cols[i].col // D != 0 or cols[i].start is not None:
            continue
        b, c = cols[i].block, cols[i].col
        rows = blocks[b]
        J = both_infinities(A[np.ix_(rows, rows)], list(cols[i].v.fractions().reshape(-1)), fmt)
        if J is None:
            continue
        # every row of this column has a +inf and a -inf cast among the terms < count + J, so its sum is NaN in
        # every row from sum_before(count + J) on. The other term sequences of the same entries cannot change a NaN:
        # they are closed there with 0. Certificates that end close are completed exactly (early states stay
        # available); else the terms before count + J are not visited, their finite part is not computed, and the
        # NaN is recorded as met at term count + J - 1 (states before count + J beyond the history are refused).
        sr = series[i]
        start = sr.count + J
        mates = [k for k in open_cols
                 if k != i and cols[k].start is None and cols[k].block == b and cols[k].col % D == c]
        if J <= GROWTH_EXACT_EXTEND:
            for k in [i] + mates:
                extend_exact(k, start)
        fb = sr.first_bad["nan"]
        fb[:] = np.minimum(fb, start - 1)
        sr.certify(start, 1, [np.full(len(rows), np.nan)], [0] * len(sr.total))
        cols[i].start, cols[i].period, cols[i].how = start, 1, "oscillation"
        for k in mates:
            series[k].certify(start, 1, [np.zeros(len(rows))], [0] * len(sr.total))
            cols[k].start, cols[k].period, cols[k].how = start, 1, "nan-dominated"
    open_cols = [i for i in range(len(cols)) if cols[i].start is None]
    for b in sorted({cols[i].block for i in open_cols if not is_scalar(i)}):  # phase 3: certified float64 decay
        fr = frame_of(b)
        mine = [i for i in open_cols if cols[i].block == b]
        if fr is None:
            continue
        ys = [list(cols[i].v.fractions().reshape(-1)) for i in mine]
        est = {kind: vanish_steps_estimate(fr, ys, fmt, kind) for kind in ("inf", "group") if kind == "inf" or fr.groups}
        kind = min(est, key=est.get)  # the frame norm that contracts fastest (inf when neither contracts)
        if est[kind] > DENSE_FLOAT_STEPS:
            continue
        rows = blocks[b]
        cap = max(0, max(series[i].cap - series[i].count for i in mine))
        tr = follow(fr, A[np.ix_(rows, rows)], ys, fmt, DENSE_FLOAT_STEPS, hist_cap=cap, norm=kind)
        for k, i in enumerate(mine):
            if tr.status[k] != VANISHED:
                continue
            sr = series[i]
            stop = int(tr.stop[k])
            sr.absorb(tr.hist[k, :stop], stop, tr.sums[k], tr.first_pos[k], tr.first_neg[k])
            certify(i, sr.count, 1, "vanish", [np.zeros(len(rows))])
    open_cols = [i for i in range(len(cols)) if cols[i].start is None]
    for i in open_cols:  # phase 4: analytic decay (no term visited; a summed column's sum is not computed)
        fr = None if is_scalar(i) else frame_of(cols[i].block)
        dec = None if fr is None else decay_certificate(fr, list(cols[i].v.fractions().reshape(-1)), fmt)
        if dec is None:
            continue
        sr = series[i]
        if dec.start <= GROWTH_EXACT_EXTEND:  # close: the terms up to it exactly (sum and early states known)
            extend_exact(i, sr.count + dec.start)
            certify(i, sr.count, 1, "decay", [np.zeros(len(blocks[cols[i].block]))])
            continue
        sr.unknown = cols[i].col // D == 0  # the sum before the (far) start is not computed
        sr.certify(sr.count + dec.start, 1, [np.zeros(len(blocks[cols[i].block]))],
                   [0] * len(sr.total) if sr.unknown else list(sr.total))
        cols[i].start, cols[i].period, cols[i].how = sr.start, 1, "decay"
    open_cols = [i for i in range(len(cols)) if cols[i].start is None]
    dense_open = [i for i in open_cols if not is_scalar(i) or qs[cols[i].block][1] is None]
    if dense_open:
        return undecided(_no_certificate(dense_open, cols, blocks, frame_of, len(cols), max_steps))
    if open_cols:  # scalar blocks with |a| <= 1: certified float64 bounds
        why = _float_scalars([cols[i] for i in open_cols], [series[i] for i in open_cols], Ad, blocks, fmt,
                             float_steps)
        if why:
            return undecided(why)
        for i in open_cols:
            cols[i].start, cols[i].period, cols[i].how = series[i].start, 1, "vanish"
    return _assemble(cols, series, blocks, N, D, len(Y), fmt, prefix)


def _no_certificate(open_cols: list, cols: list, blocks: list, frame_of: Callable, total: int, max_steps: int) -> str:
    """The reason of an undecided layer: how many term sequences lack a certificate and, per block, its spectrum."""
    parts = []
    for b in sorted({cols[i].block for i in open_cols}):
        fr = frame_of(b)
        spec = "defective (no eigenvector basis)" if fr is None else f"eigenvalues {fr.spectrum_text()}"
        parts.append(f"block {b} ({len(blocks[b])} coordinates): {spec}")
    return (f"{len(open_cols)} of {total} term sequences have no certificate within {max_steps} exact steps (no "
            f"exact repeat, no certified vanishing, no certified growth to +-inf): " + "; ".join(parts))


def _float_scalars(cols: list, series: list, Ad: Dyadic, blocks: list, fmt: GridFormat, steps: int) -> str | None:
    """Continue scalar column-blocks in float64 with rigorous error bounds (see :func:`settle_constant_input`);
    certify each when it vanishes; a cast the bound leaves uncertain (an exact tie, say) is decided on the exact value
    ``a^j v_0``. Returns the reason when the budget runs out."""
    u = 2.0 ** -53
    a = np.array([float(Fraction(int(Ad.ints[blocks[c.block][0], blocks[c.block][0]])) * Fraction(2) ** Ad.exp)
                  for c in cols])
    exact = [c.v.fractions()[0] for c in cols]
    a_exact = [Fraction(float(x)) for x in a]
    v = np.array([float(x) for x in exact])
    err = np.array([0.0 if Fraction(float(x)) == x else abs(float(x)) * u * (1 + 4 * u) + 2.0 ** -1074
                    for x in exact])
    half = fmt.tiny / 2
    live = np.ones(len(cols), dtype=bool)
    m0 = series[0].count
    buf: list[np.ndarray] = []  # casts of every float column per step (0 once a column has vanished)
    vanished_at = np.full(len(cols), -1)

    def flush(upto: int) -> None:
        """Hand the buffered casts of steps ``< upto`` to the series, certifying the columns that vanished."""
        if not buf:
            return
        block = np.stack(buf)  # [steps, columns]
        first = upto - len(buf)
        for i, sr in enumerate(series):
            if sr.start is not None:
                continue
            end = len(buf) if vanished_at[i] < 0 else vanished_at[i] - first + 1
            sr.push_many(block[:end, i:i + 1])
            if vanished_at[i] >= 0:
                sr.certify(int(vanished_at[i]), 1, [np.zeros(1)], list(sr.total))
        buf.clear()

    with np.errstate(over="ignore", invalid="ignore"):
        for m in range(m0, m0 + steps):
            if not live.any():
                flush(m)
                return None
            if len(buf) >= 4096:
                flush(m)
            lo = np.where(err > 0, np.nextafter(v - err, -np.inf), v)
            hi = np.where(err > 0, np.nextafter(v + err, np.inf), v)
            clo, chi = round_to_grid(lo, fmt), round_to_grid(hi, fmt)
            for i in np.flatnonzero((clo != chi) & live).tolist():  # uncertain: the exact value decides
                x = a_exact[i] ** (m - m0) * exact[i]
                clo[i] = cast_fraction(x, fmt)
                v[i] = float(x)
                err[i] = 0.0 if Fraction(v[i]) == x else abs(v[i]) * u * (1 + 4 * u) + 2.0 ** -1074
                lo[i] = hi[i] = v[i]
                if err[i] > 0:
                    lo[i], hi[i] = np.nextafter(v[i] - err[i], -np.inf), np.nextafter(v[i] + err[i], np.inf)
            buf.append(np.where(live, clo, 0.0))
            gone = live & (np.maximum(np.abs(lo), np.abs(hi)) < half)
            vanished_at[gone] = m
            live &= ~gone
            nv, perr = _two_product(a, v)  # nv + perr = a v exactly (no float64 underflow at these magnitudes)
            err = np.where((err == 0) & (perr == 0), 0.0, (np.abs(a) * err + np.abs(perr)) * (1 + 4 * u) + 2.0 ** -1074)
            v = nv
    flush(m0 + steps)
    return f"{int(live.sum())} scalar term sequences do not vanish within {steps} float64 steps"


def _two_product(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dekker's error-free product: ``p = fl(a b)`` and ``e`` with ``a b = p + e`` exactly (no over/underflow)."""
    p = a * b
    split = 134217729.0  # 2^27 + 1
    t = split * a
    ah = t - (t - a)
    al = a - ah
    t = split * b
    bh = t - (t - b)
    bl = b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _assemble(cols: list, series: list, blocks: list, N: int, D: int, F: int, fmt: GridFormat,
              prefix: int) -> LayerSettling:
    """Periodic casts per column-block -> the layer's eventual ``Hhat`` (see the module docstring)."""
    M0 = max(c.start for c in cols)
    P = 1
    for c in cols:
        P = math.lcm(P, c.period)
    unit = Fraction(fmt.tiny)

    # entries whose sum holds a column certified by analytic decay: constant from M0 on, value not computed
    unknown = np.zeros((N, D), dtype=bool)
    for i, c in enumerate(cols):
        if series[i].unknown:
            unknown[blocks[c.block], c.col % D] = True
    for i, c in enumerate(cols):  # such an entry must be constant: every term sequence in it of period 1, zero drift
        rows, col = blocks[c.block], c.col % D
        summed = c.col // D == 0  # a summed sequence must end in 0 (else it drifts); another may be constant
        if unknown[rows, col].any() and (c.period != 1 or (summed and any(np.any(x != 0) for x in series[i].cycle))):
            return LayerSettling(False, prefix, reason=(
                "a term sequence certified by analytic decay shares an entry with one that is not eventually "
                "0 (the value of the sum is not computed, so its eventual behaviour is not certified)"))

    def value(mm: int) -> ExactSum:
        """The exact value inside the final cast for ``m = mm``: sum_{j<mm} cast(A^j B) + sum_i cast(A^mm Z_i);
        for ``mm >= M0`` entries in ``unknown`` hold 0 in place of their (not computed) value."""
        out = ExactSum((N, D))
        for i, c in enumerate(cols):
            rows, col = blocks[c.block], c.col % D
            if c.col // D == 0:
                if series[i].unknown and mm >= series[i].start:
                    continue
                sums, bad = series[i].sum_before(mm)
                for r, sv in zip(rows, sums):
                    out.finite[r, col] += sv * unit
                for r, kinds in zip(rows, bad):
                    out.pos[r, col] |= "pos" in kinds
                    out.neg[r, col] |= "neg" in kinds
                    out.nan[r, col] |= "nan" in kinds
            else:
                x = np.zeros((N, D))
                x[rows, col] = series[i].cast_at(mm)
                out.add(np.where(np.isnan(x) | np.isinf(x), x, 0.0))
                for r, xv in zip(rows, series[i].cast_at(mm)):
                    if np.isfinite(xv) and xv:
                        out.finite[r, col] += Fraction(float(xv))
        return out

    base = [value(M0 + s) for s in range(P)]
    drift = ExactSum((N, D))
    for i, c in enumerate(cols):
        if c.col // D == 0:
            rows, col = blocks[c.block], c.col % D
            full = series[i].cycle_sums[-1]
            for r, f in zip(rows, full):
                drift.finite[r, col] += f * unit * (P // c.period)
            for x in series[i].cycle:
                drift.add(_place(x, rows, col, N, D, only_bad=True))
    thr = overflow_threshold(fmt)
    K, over = 0, 0
    for idx in np.ndindex(N, D):
        d = drift.finite[idx]
        if unknown[idx]:
            continue  # zero drift (checked above)
        if d == 0 or drift.pos[idx] or drift.neg[idx] or drift.nan[idx]:
            continue
        over += 1
        for V in base:
            if V.pos[idx] or V.neg[idx] or V.nan[idx]:
                continue
            b = V.finite[idx]
            k = math.floor((thr - b) / d) + 1 if d > 0 else math.ceil((-thr - b) / d)
            K = max(K, k)

    first_unknown = min((series[i].start for i in range(len(cols)) if series[i].unknown), default=None)

    def hhat(mm: int) -> np.ndarray:
        if first_unknown is not None and mm >= first_unknown:
            raise ValueError(f"Hhat at term {mm}: some entries' values are not computed (analytic decay)")
        if mm >= M0:
            k, r = divmod(mm - M0, P)
            return base[r].copy().add_sum(drift, k).cast(fmt)
        return value(mm).cast(fmt)

    window = [base[s].copy().add_sum(drift, K).cast(fmt) for s in range(P)]  # Hhat at M0 + K P + s
    known = ~unknown  # unknown entries are constant: the least period is that of the others
    period = P
    for d in sorted(x for x in range(1, P + 1) if P % x == 0):
        if all(np.array_equal(window[s][known], window[(s + d) % P][known], equal_nan=True) for s in range(P)):
            period = d
            break
    certs = {how: sum(c.how == how for c in cols)
             for how in ("repeat", "vanish", "growth", "decay", "oscillation", "nan-dominated")}
    return LayerSettling(True, prefix, prefix + M0 + K * P, period, None, certs, over, window[:period], hhat,
                         unknown if unknown.any() else None)


def _place(x: np.ndarray, rows: np.ndarray, col: int, N: int, D: int, only_bad: bool = False) -> np.ndarray:
    out = np.zeros((N, D))
    out[rows, col] = x
    return np.where(np.isfinite(out), 0.0, out) if only_bad else out


def prefix_columns(As: Sequence[np.ndarray], Bs: Sequence[np.ndarray], H0: np.ndarray) -> list[Dyadic]:
    """``Z_0 = A_{T0} ... A_1 H_0`` and ``Z_i = A_{T0} ... A_{i+1} B_i`` (``T0 = len(As)``), exactly, with ``O(T0)``
    products (right to left: ``Q_{T0} = I``, ``Q_{i-1} = Q_i A_i``)."""
    T0 = len(As)
    N = np.shape(H0)[0]
    Q = Dyadic(np.array([[1 if i == j else 0 for j in range(N)] for i in range(N)], dtype=object), 0)
    Z: list[Dyadic | None] = [None] * (T0 + 1)
    for i in range(T0, 0, -1):
        Z[i] = Q @ Dyadic.from_floats(Bs[i - 1])
        Q = Q @ Dyadic.from_floats(As[i - 1])
    Z[0] = Q @ Dyadic.from_floats(H0)
    return Z  # type: ignore[return-value]


def paper_layer(As: Sequence[np.ndarray], Bs: Sequence[np.ndarray], H0: np.ndarray, A: np.ndarray, B: np.ndarray,
                fmt: GridFormat, max_steps: int = 4096) -> LayerSettling:
    """A layer whose transitions are ``As[t-1], Bs[t-1]`` for ``t <= T0 = len(As)`` and ``A, B`` after: its
    :class:`LayerSettling` in the paper model."""
    return settle_constant_input(A, B, prefix_columns(As, Bs, H0), fmt, len(As), max_steps)


def prefix_states(As: Sequence[np.ndarray], Bs: Sequence[np.ndarray], H0: np.ndarray,
                  fmt: GridFormat) -> list[np.ndarray]:
    """``Hhat_1 .. Hhat_T0`` of arbitrary transitions (``T0 = len(As)``), exactly: every ``A_t ... A_{i+1} B_i`` is
    kept as a :class:`Dyadic` and multiplied by each new ``A_t`` (``O(T0^2)`` products: meant for short prefixes)."""
    terms = [Dyadic.from_floats(H0)]
    out = []
    for A, B in zip(As, Bs):
        Ad = Dyadic.from_floats(A)
        terms = [Ad @ v for v in terms] + [Dyadic.from_floats(B)]
        acc = ExactSum(np.shape(H0))
        for v in terms:
            acc.add(cast_dyadic(v, fmt))
        out.append(acc.cast(fmt))
    return out


__all__ = ["Dyadic", "cast_int", "cast_fraction", "cast_dyadic", "ExactSum", "paper_states_bruteforce", "blocks_of",
           "LayerSettling", "settle_constant_input", "prefix_columns", "paper_layer", "prefix_states", "MAX_POWER"]
