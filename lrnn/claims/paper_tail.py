"""Long runs of a dense block's term sequence in float64 with certified error bounds (the paper model).

A column ``v_j = A^j y`` of a dense block is followed as ``vh_{j+1} = fl(A vh_j)`` with a rigorous bound on the error
``e_j = vh_j - v_j`` in the norm of a :class:`~.paper_frame.Frame`: ``e_{j+1} = A e_j + d_j`` with
``d_j = fl(A vh_j) - A vh_j``, ``|d_j| <= gamma_n |A| |vh_j|`` (``gamma_n = n u / (1 - n u)``, recursive summation;
an FMA only lowers the error), so with ``E_j >= ||X^{-1} e_j||_inf``

    E_{j+1} = nM E_j + nX ||gamma_n |A| |vh_j| ||_inf,   |e_{j,i}| <= xr_i E_j,

``nM >= ||M||_inf``, ``nX >= ||X^{-1}||_inf``, ``xr_i >= ||X_i||_1`` (upper bounds of the exact frame's norms); every
bound is computed in float64 and inflated for its own rounding: by ``(1 + 16 u)`` after a fixed number of
operations, by ``(1 + 2 gamma_n) (1 + 16 u)`` after an ``n``-term sum, plus an absolute term for underflow. A term's
cast is taken only when both ends of ``[vh - r, vh + r]`` (``r = xr_i E_j``, widened by one float64 step) cast to
the same value: the cast is monotone, so every value in between casts the same. Otherwise the run stops as *uncertain*.

The casts are summed exactly in a superaccumulator (per row, one int64 bin per exponent: a cast is ``M 2^e`` with
``|M| < 2^p``, at most ``2^39`` terms per bin), the first ``+inf`` / ``-inf`` cast of each row is recorded, and the
first ``hist_cap`` casts are kept.

Two ways a run ends with a certificate:

* ``vanish`` (``||M||_inf <= 1``, so ``||X^{-1} v_j||_inf`` never grows): at term ``j`` with
  ``max_i xr_i (||X^{-1} vh_j||_inf + E_j) < tiny / 2`` every later term casts to 0; with ``norm="group"`` the same
  in the frame's group norm ``max_g ||z_g||_2`` (``gnorm <= 1``; ``xr_i`` the dual norm of ``X_i``, the bound on
  ``||X^{-1} vh||`` from per-group Euclidean lengths, each square root inflated);
* ``signs``: only the infinite casts are wanted (the growth certificate's summed terms, :mod:`.paper_growth`): the run
  stops when every row has seen both infinities or after the requested number of terms; a term whose overflow is
  uncertain stops it as *uncertain*, finite casts need not be certain.

:func:`follow` runs many columns (the same block) in a compiled loop when numba is installed (:data:`AVAILABLE`),
else the same code as plain Python (:func:`follow_reference` always runs it as plain Python, for tests).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .paper_frame import Frame, group_row_up, sqrt_up
from .paper_growth import overflow_threshold
from .precision import GridFormat, round_fraction_to_grid

try:  # pragma: no cover - exercised when numba is installed
    from numba import njit

    AVAILABLE = True
except ImportError:  # pragma: no cover
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        """Stand-in decorator: the functions stay plain Python."""
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

#: status codes of a column's run
RUNNING, VANISHED, DONE, UNCERTAIN = 0, 1, 2, 3
#: exponent bins of the superaccumulator
N_BINS = 320


def _up(x: Fraction) -> float:
    """A float64 upper bound of a non-negative rational."""
    f = float(x)
    return f if Fraction(f) >= x else math.nextafter(f, math.inf)


#: relative widening of an interval end, 2^-50 (above the rounding error of the subtraction that formed it)
_WIDEN = 8.881784197001252e-16
#: exact powers of two 2^k, k = -600 .. 600 (a table: exact scalings without ``ldexp``, which is slow compiled)
_POW2 = np.array([2.0 ** k for k in range(-600, 601)])


@njit(cache=True)
def _cast(x, p, emin, fmax):
    """The dtype cast of a float64 (nearest, ties to the smaller value, beyond ``fmax`` to +-inf); the scalings by
    powers of two are exact for every value of the dtypes' ranges."""
    if x == 0.0:
        return 0.0
    _, e = math.frexp(x)
    ue = max(e - p, emin - p + 1)
    q = x * _POW2[600 - ue]
    r = math.floor(q)
    if q - r > 0.5:
        r += 1.0
    out = r * _POW2[600 + ue]
    if abs(out) > fmax:
        return math.copysign(math.inf, out)
    return out


@njit(cache=True)
def _sum_up(n):
    """A float64 factor ``f`` with ``f fl(s) >= s`` for every sum ``s`` of ``n`` products of non-negative float64
    values summed recursively (``s <= fl(s) / (1 - gamma_n)``, ``gamma_n = n u / (1 - n u)``, and
    ``1 / (1 - g) <= 1 + 2 g`` for ``g <= 1/2``), with room for the rounding of ``f`` and of ``f fl(s)``; no
    underflow (callers add an absolute term for it)."""
    u = 2.0 ** -53
    gam = n * u / (1.0 - n * u)
    return (1.0 + 2.0 * gam) * (1.0 + 16.0 * u)


@njit(cache=True)
def _abs_dot_up(a, v, f):
    """``f sum_k a[k] |v[k]|`` in float64 (``a >= 0``; ``f`` from :func:`_sum_up`: an upper bound of the exact
    sum)."""
    s = 0.0
    for k in range(v.shape[0]):
        s += a[k] * abs(v[k])
    return s * f


def _follow(A, absA, xinv_abs, xr, nX, nM, gid, V0, E0, steps, signs_only, can_vanish, p, emin, fmax, thr,
            half_tiny, hist_cap, status, stop, bins, first_pos, first_neg, hist):
    """The loop of :func:`follow` (arrays are filled in place; see the module docstring)."""
    C, n = V0.shape
    u = 2.0 ** -53
    gam = n * u / (1.0 - n * u)
    infl = 1.0 + 16.0 * u  # a fixed number of float64 operations
    sup = _sum_up(n)  # an n-term sum
    b0 = emin - 2 * p + 2
    for c in range(C):
        v = V0[c].copy()
        w = np.empty(n)
        cw = np.empty(n)
        E = E0[c]
        both = 0
        stop[c] = steps
        for j in range(steps):
            if can_vanish:  # zb >= ||X^-1 v|| in the frame's norm: max over groups of the Euclidean length
                gsq = np.zeros(n)
                for i in range(n):
                    s = _abs_dot_up(xinv_abs[i], v, sup)
                    gsq[gid[i]] += s * s
                zb = 0.0
                for g in range(n):
                    zb = max(zb, math.sqrt(gsq[g]))
                zb = (zb * infl + 1e-160) * infl + E  # 1e-160: above what the squares can lose to underflow
                ok = True
                for i in range(n):
                    if xr[i] * zb * infl >= half_tiny:
                        ok = False
                        break
                if ok:
                    status[c] = VANISHED
                    stop[c] = j
                    break
            bad = False
            for i in range(n):  # every row's cast first: a term is taken whole or not at all
                r = xr[i] * E * infl + 1e-300
                lo = v[i] - r
                lo = lo - (abs(lo) * _WIDEN + 5e-324)  # below the exact v - r despite the rounding
                hi = v[i] + r
                hi = hi + (abs(hi) * _WIDEN + 5e-324)
                if signs_only:
                    if lo > thr:
                        cw[i] = np.inf
                    elif hi < -thr:
                        cw[i] = -np.inf
                    elif hi <= thr and lo > -thr:
                        cw[i] = 0.0
                    else:
                        bad = True
                        break
                else:
                    cw[i] = _cast(lo, p, emin, fmax)
                    if cw[i] != _cast(hi, p, emin, fmax):
                        bad = True
                        break
            if not bad:
                for i in range(n):
                    cv = cw[i]
                    if j < hist_cap:
                        hist[c, j, i] = cv
                    if cv == np.inf:
                        if first_pos[c, i] < 0:
                            first_pos[c, i] = j
                            if first_neg[c, i] >= 0:
                                both += 1
                    elif cv == -np.inf:
                        if first_neg[c, i] < 0:
                            first_neg[c, i] = j
                            if first_pos[c, i] >= 0:
                                both += 1
                    elif cv != 0.0 and not signs_only:
                        fr, e = math.frexp(cv)
                        bins[c, i, e - p - b0] += np.int64(fr * _POW2[600 + p])
            if bad:
                status[c] = UNCERTAIN
                stop[c] = j
                break
            if signs_only and both == n:
                status[c] = DONE
                stop[c] = j + 1
                break
            dmax = 0.0
            for i in range(n):
                s = 0.0
                for k in range(n):
                    s += A[i, k] * v[k]
                w[i] = s
                dmax = max(dmax, _abs_dot_up(absA[i], v, sup))
            E = (nM * E + nX * (gam * dmax * infl)) * infl + 1e-300
            for i in range(n):
                v[i] = w[i]
            if not (E < 1e300):
                status[c] = UNCERTAIN
                stop[c] = j + 1
                break


_follow_compiled = njit(cache=True)(_follow) if AVAILABLE else _follow


@dataclass
class TailRun:
    """Per column (``C`` columns of one block, ``n`` rows): ``status`` (:data:`RUNNING` = budget spent,
    :data:`VANISHED`, :data:`DONE`, :data:`UNCERTAIN`), ``stop`` (terms taken: the vanishing / stopping index),
    exact ``sums`` of the casts of terms ``< stop`` (per row, in units of the dtype's ``tiny``), ``first_pos`` /
    ``first_neg`` (first term with a +inf / -inf cast per row, -1 if none) and ``hist [C, hist_cap, n]``."""

    status: np.ndarray
    stop: np.ndarray
    sums: list
    first_pos: np.ndarray
    first_neg: np.ndarray
    hist: np.ndarray


def follow(frame: Frame, A: np.ndarray, ys: list[list[Fraction]], fmt: GridFormat, steps: int, *,
           signs_only: bool = False, hist_cap: int = 0, compiled: bool = True, norm: str = "inf") -> TailRun:
    """Follow ``A^j y`` for each exact column ``y`` of ``ys`` for at most ``steps`` terms (see the module
    docstring). Where the float64 bound leaves a cast uncertain at term ``j``, ``v_j`` and ``v_{j+1}`` are recomputed
    from ``y`` with :mod:`mpmath` interval arithmetic (``A^j`` by repeated squaring, 256 bits, outward rounding); if
    that decides the cast, the run restarts from ``v_{j+1}`` with the interval's radius as its initial error, else
    the column stops as :data:`UNCERTAIN`. ``compiled=False`` runs the same loop as plain Python (the reference).
    ``norm``: the frame norm of the error bound, ``"inf"`` (``||M||_inf``) or ``"group"`` (``gnorm``, for complex
    pairs: ``||.||_G``, rows weighted by the dual norm ``sum_g ||X_i,g||_2``, ``nX >= ||X^{-1}||_{inf -> G}``)."""
    A = np.asarray(A, dtype=np.float64)
    n = A.shape[0]
    C = len(ys)
    consts = _constants(frame, fmt, norm)
    status = np.zeros(C, dtype=np.int64)
    stop = np.zeros(C, dtype=np.int64)
    sums = [[0] * n for _ in range(C)]
    first_pos = np.full((C, n), -1, dtype=np.int64)
    first_neg = np.full((C, n), -1, dtype=np.int64)
    hist = np.zeros((C, max(hist_cap, 1), n), dtype=np.float64)
    starts = [[float(v) for v in y] for y in ys]
    errs = [consts["nX"] * max((abs(Fraction(float(v)) - v) for v in y), default=Fraction(0)) for y in ys]
    offset = [0] * C
    todo = list(range(C))
    for _ in range(MAX_RESTARTS):
        if not todo:
            break
        groups: dict[int, list[int]] = {}
        for c in todo:  # columns restarted at the same term share a run
            groups.setdefault(offset[c], []).append(c)
        done_segs = []
        for o, cs in groups.items():
            seg = _segment(A, consts, [starts[c] for c in cs], [errs[c] for c in cs], steps - o, fmt, signs_only,
                           max(0, hist_cap - o), compiled)
            done_segs.extend((k, c, seg) for k, c in enumerate(cs))
        nxt = []
        for k, c, seg in done_segs:
            o, st = offset[c], int(seg.stop[k])
            sums[c] = [x + y for x, y in zip(sums[c], seg.sums[k])]
            for first, fseg in ((first_pos, seg.first_pos), (first_neg, seg.first_neg)):
                hit = (fseg[k] >= 0) & (first[c] < 0)
                first[c][hit] = o + fseg[k][hit]
            h = min(st, max(0, hist_cap - o))
            hist[c, o:o + h] = seg.hist[k, :h]
            status[c], stop[c] = seg.status[k], o + st
            if seg.status[k] != UNCERTAIN:
                continue
            j = o + st  # the uncertain term: decide it with intervals, then restart after it
            casts = _interval_casts(A, ys[c], j, fmt, signs_only)
            if casts is None:
                continue
            for i, cv in enumerate(casts):
                if cv == math.inf and first_pos[c, i] < 0:
                    first_pos[c, i] = j
                elif cv == -math.inf and first_neg[c, i] < 0:
                    first_neg[c, i] = j
                elif math.isfinite(cv) and cv != 0.0 and not signs_only:
                    sums[c][i] += int(Fraction(cv) / Fraction(fmt.tiny))
            if j < hist_cap:
                hist[c, j] = casts
            if signs_only and all(first_pos[c] >= 0) and all(first_neg[c] >= 0):
                status[c], stop[c] = DONE, j + 1
                continue
            status[c], stop[c] = RUNNING, j + 1
            if j + 1 >= steps:
                continue
            mid, rad = _interval_term(A, ys[c], j + 1)
            starts[c], errs[c], offset[c] = mid, consts["nX"] * rad, j + 1
            nxt.append(c)
        todo = nxt
    return TailRun(status, stop, sums, first_pos, first_neg, hist[:, :hist_cap])


#: the most interval restarts of one call of :func:`follow`
MAX_RESTARTS = 64
_IV_PREC = 256


def _constants(frame: Frame, fmt: GridFormat, norm: str = "inf") -> dict:
    """The frame's norms as float64 upper bounds, and the dtype's numbers, for the compiled loop (``norm``: see
    :func:`follow`); ``gid``: each frame coordinate's group (``inf``: its own)."""
    thr = overflow_threshold(fmt)
    if Fraction(float(thr)) != thr:
        raise AssertionError("the overflow threshold is not a float64 value")
    n = frame.n
    rows = [sum((abs(v) for v in row), Fraction(0)) for row in frame.Xinv]
    out = {"xinv_abs": np.array([[_up(abs(v)) for v in row] for row in frame.Xinv], dtype=np.float64),
           "thr": float(thr)}
    if norm == "inf":
        out.update(xr=np.array([_up(sum((abs(v) for v in row), Fraction(0))) for row in frame.X], dtype=np.float64),
                   nX=Fraction(_up(max(rows))), nM=_up(frame.norm), can_vanish=frame.norm <= 1,
                   gid=np.arange(n, dtype=np.int64))
    elif norm == "group":
        gid = np.zeros(n, dtype=np.int64)
        for g, members in enumerate(frame.groups):
            gid[list(members)] = g
        nX = max(sqrt_up(sum((rows[k] * rows[k] for k in members), Fraction(0))) for members in frame.groups)
        out.update(xr=np.array([_up(group_row_up(list(row), frame.groups)) for row in frame.X], dtype=np.float64),
                   nX=Fraction(_up(nX)), nM=_up(frame.gnorm), can_vanish=frame.gnorm <= 1, gid=gid)
    else:
        raise ValueError(f"unknown frame norm {norm!r}")
    return out


def _segment(A: np.ndarray, k: dict, starts: list, errs: list, steps: int, fmt: GridFormat, signs_only: bool,
             cap: int, compiled: bool) -> TailRun:
    """One run of the loop for several columns from float64 starts with initial error bounds ``errs``
    (``>= ||X^{-1} e_0||_inf``), at most ``steps`` terms, the first ``cap`` casts kept."""
    n, C = A.shape[0], len(starts)
    V0 = np.array(starts, dtype=np.float64).reshape(C, n)
    E0 = np.array([_up(e * Fraction(1 + 2 ** -40)) for e in errs], dtype=np.float64)
    p, emin, fmax = int(fmt.precision), int(fmt.emin), float(fmt.max)
    status = np.zeros(C, dtype=np.int64)
    stop = np.zeros(C, dtype=np.int64)
    bins = np.zeros((C, n, N_BINS), dtype=np.int64)
    first_pos = np.full((C, n), -1, dtype=np.int64)
    first_neg = np.full((C, n), -1, dtype=np.int64)
    hist = np.zeros((C, max(cap, 1), n), dtype=np.float64)
    run = _follow_compiled if compiled else _follow
    run(A, np.abs(A), k["xinv_abs"], k["xr"], _up(k["nX"]), k["nM"], k["gid"], V0, E0, int(steps), bool(signs_only),
        k["can_vanish"], p, emin, fmax, k["thr"], fmt.tiny / 2, int(cap), status, stop, bins, first_pos, first_neg,
        hist)
    b0 = emin - 2 * p + 2
    t_exp = emin - p + 1
    sums = []
    for c in range(C):
        row_sums = []
        for i in range(n):
            tot = Fraction(0)
            for idx in np.flatnonzero(bins[c, i]).tolist():
                tot += Fraction(int(bins[c, i, idx])) * Fraction(2) ** (idx + b0 - t_exp)
            if tot.denominator != 1:
                raise AssertionError("a cast is not a multiple of the smallest value")
            row_sums.append(int(tot))
        sums.append(row_sums)
    return TailRun(status, stop, sums, first_pos, first_neg, hist)


def _iv_power_apply(A: np.ndarray, y: list[Fraction], j: int):
    """``A^j y`` as mpmath intervals (a list), ``A^j`` by repeated squaring."""
    from mpmath import iv

    iv.prec = _IV_PREC
    n = A.shape[0]
    M = [[iv.mpf(float(A[r, c])) for c in range(n)] for r in range(n)]
    v = [iv.mpf(x.numerator) / iv.mpf(x.denominator) for x in y]
    while j:
        if j & 1:
            v = [sum((M[r][c] * v[c] for c in range(n)), iv.mpf(0)) for r in range(n)]
        j >>= 1
        if j:
            M = [[sum((M[r][k] * M[k][c] for k in range(n)), iv.mpf(0)) for c in range(n)] for r in range(n)]
    return v


def _iv_fraction(x) -> tuple[Fraction, Fraction]:
    """The endpoints of an mpmath interval as exact rationals (from its raw ``(sign, man, exp, bc)`` tuples)."""

    def fr(t) -> Fraction:
        sign, man, exp, _ = t
        if not man and exp:  # an infinite / NaN endpoint: never produced by the finite products here
            raise ValueError("an interval endpoint is not finite")
        return (-1) ** sign * Fraction(int(man)) * Fraction(2) ** int(exp)
    lo, hi = x._mpi_
    return fr(lo), fr(hi)


def _interval_casts(A: np.ndarray, y: list[Fraction], j: int, fmt: GridFormat, signs_only: bool) -> list | None:
    """The casts of ``v_j`` decided on a 256-bit interval enclosure, or None when an interval still straddles a
    rounding boundary (signs only: an overflow boundary)."""
    thr = overflow_threshold(fmt)
    out = []
    for x in _iv_power_apply(A, y, j):
        lo, hi = _iv_fraction(x)
        if signs_only:
            if lo > thr:
                out.append(math.inf)
            elif hi <= -thr:
                out.append(-math.inf)
            elif hi <= thr and lo > -thr:
                out.append(0.0)
            else:
                return None
            continue
        a, b = round_fraction_to_grid(lo, fmt), round_fraction_to_grid(hi, fmt)
        if a != b:
            return None
        out.append(a)
    return out


def _interval_term(A: np.ndarray, y: list[Fraction], j: int) -> tuple[list[float], Fraction]:
    """A float64 start for ``v_j`` and an exact bound on its error (from the interval enclosure)."""
    mid, rad = [], Fraction(0)
    for x in _iv_power_apply(A, y, j):
        lo, hi = _iv_fraction(x)
        m = float((lo + hi) / 2)
        mid.append(m)
        rad = max(rad, abs(Fraction(m) - lo), abs(hi - Fraction(m)))
    return mid, rad


def follow_reference(frame: Frame, A: np.ndarray, ys: list[list[Fraction]], fmt: GridFormat, steps: int,
                     **kw) -> TailRun:
    """:func:`follow` as plain Python (the loop uncompiled)."""
    return follow(frame, A, ys, fmt, steps, compiled=False, **kw)


def vanish_steps_estimate(frame: Frame, ys: list[list[Fraction]], fmt: GridFormat, norm: str = "inf") -> float:
    """About how many terms the vanishing test needs (``ln(size / (tiny / 2)) / -ln ||M||``; inf when
    ``||M|| >= 1``, in the frame norm ``norm``): used to skip runs that cannot end within the budget."""
    nm = float(frame.norm if norm == "inf" else frame.gnorm)
    if nm >= 1.0:
        return math.inf
    xr = max(float(sum((abs(v) for v in row), Fraction(0))) for row in frame.X)
    size = max((abs(float(v)) for y in ys for v in frame.coords(y)), default=0.0) * xr
    if size == 0.0:
        return 0.0
    return max(0.0, math.log(size / (fmt.tiny / 2)) / -math.log(nm)) if nm > 0 else 1.0


__all__ = ["follow", "follow_reference", "vanish_steps_estimate", "TailRun", "AVAILABLE", "RUNNING", "VANISHED",
           "DONE", "UNCERTAIN"]
