"""Compiled kernels of the ``per-step`` precision model: the step, runs of steps, Brent's cycle detection.

These are the fast path of :func:`statetrack.lrnn.claims.precision.per_step` (the plain numpy reference, which
``tests/test_fast_settle.py`` compares them with on fresh random inputs, ties, subnormals and overflow). They compute
exactly the same map: ``H'[h, i, c] = round( sum_j round(A[h, i, j] H[h, j, c]) + B[h, i, c] )`` with the sum taken
exactly and ``round`` = nearest point of the dtype's grid, ties to the smaller value, overflow to +-inf, ``-0`` to
``+0``. How it stays exact without rationals:

* a product of two grid values is exact in float64; it is rounded to float32 by the hardware cast, and a tie (the
  only case where the hardware's ties-to-even can differ) is detected exactly: ``d = x - r`` is exact (Sterbenz) and
  ``x`` is a tie iff ``2 d`` equals the gap to the neighbouring grid point; float16 / bfloat16 round by scaling
  (``frexp``, ``ldexp``, ``floor``), as the reference does;
* the ``n + 1`` terms are summed with Knuth's TwoSum; when no partial sum rounded (the common case) the float64 sum is
  exact; otherwise the terms are kept as a non-overlapping expansion (Shewchuk), a candidate grid point is taken from
  the float64 sum and moved to its neighbour while the exact sign of ``x - midpoint`` says so.

States are compared by their bits (int64 views): NaN equals NaN, as the reference's byte keys do.

The kernels need numba (the ``fast`` extra, part of ``dev``); :data:`AVAILABLE` says whether it is installed.
Without it the claims fall back to the reference runner (same answers, slower).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

try:  # pragma: no cover - exercised when numba is installed (CI installs it)
    import numba
    from numba import njit, prange

    AVAILABLE = True
except ImportError:  # pragma: no cover
    numba = None
    AVAILABLE = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        """Stand-in decorator: the functions stay plain Python (callers check :data:`AVAILABLE`)."""
        if args and callable(args[0]):
            return args[0]
        return lambda f: f

    prange = range  # type: ignore[assignment]


def grid_params(fmt) -> tuple[int, int, float, bool]:
    """``(precision, emin, max, is_float32)`` of a :class:`~statetrack.lrnn.claims.precision.GridFormat`."""
    return int(fmt.precision), int(fmt.emin), float(fmt.max), fmt.name == "float32"


# ------------------------------------------------------------------------------------------------ rounding
@njit(cache=True, inline="always")
def _round_scaled(x, p, emin, fmax):
    """Round a float64 to the grid (nearest, ties to the smaller value, overflow to +-inf, -0 to +0)."""
    if x == 0.0:
        return 0.0
    if x != x or math.isinf(x):
        return x
    _, e = math.frexp(x)
    ue = max(e - p, emin - p + 1)
    q = math.ldexp(x, -ue)
    r = np.floor(q)
    if q - r > 0.5:
        r += 1.0
    out = math.ldexp(r, ue)
    if abs(out) > fmax:
        out = math.copysign(math.inf, out)
    return out


_F32_MIN_NORMAL = 2.0 ** -126
_SPLIT_25 = 2.0 ** 28 + 1.0  # Veltkamp's constant: splits a float64 into its leading 25 bits


@njit(cache=True, inline="always")
def _round32(x, fmax):
    """Round a float64 to the float32 grid (ties to the smaller value): the hardware cast, and where ``x`` has exactly
    25 significant bits (a tie; Veltkamp's split tells) the smaller neighbour. Outside the normal range of float32
    (zero, subnormal, overflow, inf, NaN) :func:`_round32_edge` decides."""
    ax = abs(x)
    if ax >= _F32_MIN_NORMAL and ax <= fmax:
        r = np.float64(np.float32(x))
        if r == x:
            return r
        c = x * _SPLIT_25
        hi = c - (c - x)  # x rounded to 25 bits
        if hi == x:  # 25 bits but not 24: the midpoint of r and x + (x - r)
            return min(r, x + (x - r))
        return r
    return _round32_edge(x, fmax)


@njit(cache=True)
def _round32_edge(x, fmax):
    """:func:`_round32` outside the normal float32 range, with an exact tie test against the neighbour."""
    if x == 0.0:
        return 0.0
    if x != x or math.isinf(x):
        return x
    r32 = np.float32(x)
    r = np.float64(r32)
    if r == x:
        return r + 0.0
    if math.isinf(r):  # beyond the largest float32 (hardware): nearest is +-max unless past the half-way point
        half = math.ldexp(1.0, 103)
        if x > 0.0:
            return fmax if x <= fmax + half else math.inf
        return -fmax if x > -(fmax + half) else -math.inf
    d = x - r  # exact (Sterbenz)
    nb32 = np.nextafter(r32, np.float32(math.inf) if d > 0.0 else np.float32(-math.inf))
    nb = np.float64(nb32)
    if math.isinf(nb):  # r is +-max and x lies toward the overflow side: not a tie with a finite neighbour
        gap = math.ldexp(1.0, 104) if d > 0.0 else -math.ldexp(1.0, 104)
        if 2.0 * d == gap:
            return min(r, math.copysign(math.inf, r)) + 0.0
        return r + 0.0
    if 2.0 * d == nb - r:  # x is the midpoint of r and nb: the smaller one
        return min(r, nb) + 0.0
    return r + 0.0


@njit(cache=True, inline="always")
def _round(x, p, emin, fmax, f32):
    if f32:
        return _round32(x, fmax)
    return _round_scaled(x, p, emin, fmax)


# ------------------------------------------------------------------------------------------------ exact sums
@njit(cache=True)
def _step_away(a, p, emin):
    """``|r| = a >= 0``: the grid step from ``a`` away from zero."""
    if a == 0.0:
        return math.ldexp(1.0, emin - p + 1)
    m, e = math.frexp(a)
    return math.ldexp(1.0, max(e - p, emin - p + 1))


@njit(cache=True)
def _step_toward(a, p, emin):
    """``|r| = a > 0``: the grid step from ``a`` toward zero (finer below a power of two)."""
    m, e = math.frexp(a)
    if m == 0.5:
        return math.ldexp(1.0, max(e - 1 - p, emin - p + 1))
    return math.ldexp(1.0, max(e - p, emin - p + 1))


@njit(cache=True)
def _grid_up(r, p, emin):
    """The next grid point above the grid value ``r`` (on the grid without an upper bound)."""
    if r >= 0.0:
        return r + _step_away(r, p, emin)
    return r + _step_toward(-r, p, emin)


@njit(cache=True)
def _grid_down(r, p, emin):
    """The next grid point below the grid value ``r``."""
    if r > 0.0:
        return r - _step_toward(r, p, emin)
    return r - _step_away(-r, p, emin)


@njit(cache=True)
def _grow(exp, n, b):
    """Add ``b`` to the non-overlapping expansion ``exp[:n]`` (increasing magnitude), in place; returns the new length."""
    q = b
    for i in range(n):
        s = q + exp[i]
        bb = s - q
        err = (q - (s - bb)) + (exp[i] - bb)
        exp[i] = err
        q = s
    exp[n] = q
    return n + 1


@njit(cache=True)
def _sign_minus(exp, n, m, work):
    """The exact sign of ``sum(exp[:n]) - m``."""
    for i in range(n):
        work[i] = exp[i]
    k = _grow(work, n, -m)
    for i in range(k - 1, -1, -1):
        if work[i] != 0.0:
            return 1 if work[i] > 0.0 else -1
    return 0


@njit(cache=True)
def _exact_round_sum(terms, m, p, emin, fmax, f32, exp, work):
    """``round(sum(terms[:m]))`` with the sum exact; ``exp``, ``work``: scratch of length ``>= 2 m + 2``."""
    s = terms[0]
    exact = True
    for j in range(1, m):
        t = terms[j]
        s2 = s + t
        bb = s2 - s
        err = (s - (s2 - bb)) + (t - bb)
        if err != 0.0:
            exact = False
        s = s2
    if exact or not math.isfinite(s):
        return _round(s, p, emin, fmax, f32)
    n = 0
    for j in range(m):
        n = _grow(exp, n, terms[j])
    y = 0.0
    for i in range(n):
        y += exp[i]
    r = _round_scaled(y, p, emin, math.inf)  # a grid point within a step or two of the exact sum (no overflow yet)
    for _ in range(8):
        up = _grid_up(r, p, emin)
        if _sign_minus(exp, n, 0.5 * (r + up), work) > 0:
            r = up
            continue
        down = _grid_down(r, p, emin)
        if _sign_minus(exp, n, 0.5 * (r + down), work) <= 0:  # at or below the lower midpoint: ties go down
            r = down
            continue
        break
    if abs(r) > fmax:
        r = math.copysign(math.inf, r)
    return r + 0.0


# ------------------------------------------------------------------------------------------------ the step
@njit(cache=True, inline="always")
def _step(A, B, S, out, p, emin, fmax, f32, terms, exp, work):
    """``out = per-step(A [H, K, K], S [H, K, V], B [H, K, V])``."""
    if f32:
        _step32(A, B, S, out, fmax, terms, exp, work)
        return
    Hn, K, V = S.shape
    for h in range(Hn):
        for i in range(K):
            for c in range(V):
                for j in range(K):
                    terms[j] = _round(A[h, i, j] * S[h, j, c], p, emin, fmax, f32)
                terms[K] = B[h, i, c]
                out[h, i, c] = _exact_round_sum(terms, K + 1, p, emin, fmax, f32, exp, work)


@njit(cache=True, inline="always")
def _step32(A, B, S, out, fmax, terms, exp, work):
    """:func:`_step` for float32 with the common case inline: products rounded by :func:`_round32`, summed with
    TwoSum; only a sum that rounded goes to :func:`_exact_round_sum`."""
    Hn, K, V = S.shape
    for h in range(Hn):
        for i in range(K):
            for c in range(V):
                s = B[h, i, c]
                terms[K] = s
                exact = True
                for j in range(K):
                    a = A[h, i, j]
                    x = S[h, j, c]
                    if a == 0.0 and math.isfinite(x):  # an exact zero term (diagonal transitions: most of them)
                        terms[j] = 0.0
                        continue
                    t = _round32(a * x, fmax)
                    terms[j] = t
                    s2 = s + t
                    bb = s2 - s
                    if (s - (s2 - bb)) + (t - bb) != 0.0:
                        exact = False
                    s = s2
                if exact or not math.isfinite(s):
                    out[h, i, c] = _round32(s, fmax)
                else:
                    out[h, i, c] = _exact_round_sum(terms, K + 1, 24, -126, fmax, True, exp, work)


@njit(cache=True)
def _scratch(K):
    return np.empty(K + 1), np.empty(2 * K + 4), np.empty(2 * K + 4)


@njit(cache=True)
def step(A, B, S, p, emin, fmax, f32):
    """One step: ``A [H, K, K]``, ``B, S [H, K, V]`` float64 grid values -> the next state ``[H, K, V]``."""
    terms, exp, work = _scratch(S.shape[1])
    out = np.empty_like(S)
    _step(A, B, S, out, p, emin, fmax, f32, terms, exp, work)
    return out


@njit(cache=True)
def run_sequence(A_all, B_all, wids, S0, keep, p, emin, fmax, f32):
    """Step ``S0`` through the transitions ``A_all[wids[t]]``, ``B_all[wids[t]]`` for ``t = 0 .. T-1``.

    ``A_all [W, H, K, K]``, ``B_all [W, H, K, V]``, ``wids [T]`` (int64), ``S0 [H, K, V]``. Returns the final state
    and, when ``keep``, every state ``[T, H, K, V]`` (the state after step ``t`` at index ``t``; else ``[0, ...]``).
    """
    terms, exp, work = _scratch(S0.shape[1])
    T = wids.shape[0]
    states = np.empty((T if keep else 0,) + S0.shape)
    cur = S0.copy()
    nxt = np.empty_like(S0)
    for t in range(T):
        w = wids[t]
        _step(A_all[w], B_all[w], cur, nxt, p, emin, fmax, f32, terms, exp, work)
        cur, nxt = nxt, cur
        if keep:
            states[t] = cur
    return cur, states


@njit(cache=True)
def _same_bits(a, b):
    fa = a.reshape(-1).view(np.int64)
    fb = b.reshape(-1).view(np.int64)
    for i in range(fa.shape[0]):
        if fa[i] != fb[i]:
            return False
    return True


@njit(cache=True)
def _apply_cycle(A_cyc, B_cyc, cur, nxt, p, emin, fmax, f32, terms, exp, work):
    """Apply the ``q`` transitions of one input period in order; the result ends in ``cur`` (buffers swapped)."""
    for j in range(A_cyc.shape[0]):
        _step(A_cyc[j], B_cyc[j], cur, nxt, p, emin, fmax, f32, terms, exp, work)
        tmp = cur
        cur = nxt
        nxt = tmp
    return cur, nxt


@njit(cache=True)
def brent(A_cyc, B_cyc, x0, max_steps, p, emin, fmax, f32):
    """Cycle detection on ``F`` = the ``q`` steps ``A_cyc [q, H, K, K]``, ``B_cyc [q, H, K, V]`` in order, from
    ``x0 [H, K, V]``: ``(mu, lam, x_mu, x_prev)`` with ``x_mu = F^mu(x0)`` the first point of the cycle, ``lam`` its
    length (in applications of ``F``) and ``x_prev = F^(mu - 1)(x0)`` (``x0`` when ``mu = 0``), or ``(-1, -1, x0,
    x0)`` when more than ``max_steps`` single steps would be needed.

    Brent's algorithm with a finer schedule: the tortoise waits at ``x_s`` while the hare runs ``power`` steps ahead,
    ``power`` growing by 1/16 at each move (not doubling), so the cycle is seen about ``mu / 16`` applications after
    the run enters it (Brent's doubling costs up to ``2 mu``). The tortoise's stops are kept as checkpoints: ``mu`` is
    then found from the first checkpoint already on the cycle (binary search, ``lam`` applications per test) and a
    lockstep of ``x`` and ``F^lam x`` from the checkpoint before it, instead of a second run from ``x0``.
    """
    terms, exp, work = _scratch(x0.shape[1])
    q = A_cyc.shape[0]
    budget = max(1, max_steps // max(q, 1))
    cap = 4096
    ck = np.empty((cap,) + x0.shape)
    ck_pos = np.empty(cap, dtype=np.int64)
    tort = x0.copy()
    ck[0] = tort
    ck_pos[0] = 0
    n_ck = 1
    hare = x0.copy()
    buf = np.empty_like(x0)
    power = 1
    lam = 0
    n = 0  # the hare's index
    while True:
        hare, buf = _apply_cycle(A_cyc, B_cyc, hare, buf, p, emin, fmax, f32, terms, exp, work)
        n += 1
        lam += 1
        if _same_bits(tort, hare):
            break
        if n > budget:
            return -1, -1, x0.copy(), x0.copy()
        if lam == power:
            tort[:] = hare
            if n_ck == cap:  # keep the latest stop in the last slot (the search below needs it)
                n_ck -= 1
            ck[n_ck] = hare
            ck_pos[n_ck] = n
            n_ck += 1
            power = max(power + 1, power + power // 16)
            lam = 0
    # lam is the cycle length; find the first checkpoint on the cycle (F^lam(c) == c), by binary search
    probe = np.empty_like(x0)
    lo = 0
    hi = n_ck - 1  # the last checkpoint is the tortoise, on the cycle
    while lo < hi:
        mid = (lo + hi) // 2
        probe[:] = ck[mid]
        for _ in range(lam):
            probe, buf = _apply_cycle(A_cyc, B_cyc, probe, buf, p, emin, fmax, f32, terms, exp, work)
        if _same_bits(probe, ck[mid]):
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return 0, lam, x0.copy(), x0.copy()
    # mu lies in (ck_pos[lo - 1], ck_pos[lo]]: step x and F^lam x from the checkpoint before together
    a = ck[lo - 1].copy()
    b = ck[lo - 1].copy()
    for _ in range(lam):
        b, buf = _apply_cycle(A_cyc, B_cyc, b, buf, p, emin, fmax, f32, terms, exp, work)
    mu = ck_pos[lo - 1]
    buf2 = np.empty_like(x0)
    prev = a.copy()
    while not _same_bits(a, b):
        prev[:] = a
        a, buf2 = _apply_cycle(A_cyc, B_cyc, a, buf2, p, emin, fmax, f32, terms, exp, work)
        b, buf = _apply_cycle(A_cyc, B_cyc, b, buf, p, emin, fmax, f32, terms, exp, work)
        mu += 1
    return mu, lam, a.copy(), prev


@njit(cache=True, parallel=True)
def brent_batch(A_cyc, B_cyc, x0, max_steps, p, emin, fmax, f32):
    """:func:`brent` for ``M`` independent maps at once (parallel over members): ``A_cyc [M, q, H, K, K]``,
    ``B_cyc [M, q, H, K, V]``, ``x0 [M, H, K, V]`` -> ``mu [M]``, ``lam [M]`` (``-1`` where over budget),
    ``x_mu [M, H, K, V]``, ``x_prev [M, H, K, V]``."""
    M = x0.shape[0]
    mu = np.empty(M, dtype=np.int64)
    lam = np.empty(M, dtype=np.int64)
    x_mu = np.empty_like(x0)
    x_prev = np.empty_like(x0)
    for i in prange(M):
        a, b, xm, xp = brent(A_cyc[i], B_cyc[i], x0[i], max_steps, p, emin, fmax, f32)
        mu[i] = a
        lam[i] = b
        x_mu[i] = xm
        x_prev[i] = xp
    return mu, lam, x_mu, x_prev


@njit(cache=True, parallel=True)
def advance_batch(A_cyc, B_cyc, x, n, p, emin, fmax, f32):
    """``F_i^(n[i])(x[i])`` for ``M`` maps (parallel): shapes as in :func:`brent_batch`, ``n [M]``."""
    M = x.shape[0]
    out = np.empty_like(x)
    for i in prange(M):
        terms, exp, work = _scratch(x.shape[2])
        cur = x[i].copy()
        buf = np.empty_like(cur)
        for _ in range(n[i]):
            cur, buf = _apply_cycle(A_cyc[i], B_cyc[i], cur, buf, p, emin, fmax, f32, terms, exp, work)
        out[i] = cur
    return out


@njit(cache=True, inline="always")
def _scalar_step(a, b, x, p, emin, fmax, f32, terms, exp, work):
    """The per-step map of one entry under a diagonal transition: ``round(round(a x) + b)`` (exact sum)."""
    t = 0.0 if (a == 0.0 and math.isfinite(x)) else _round(a * x, p, emin, fmax, f32)
    s = t + b
    bb = s - t
    if (t - (s - bb)) + (b - bb) == 0.0 or not math.isfinite(s):
        return _round(s, p, emin, fmax, f32)
    terms[0] = t
    terms[1] = b
    return _exact_round_sum(terms, 2, p, emin, fmax, f32, exp, work)


@njit(cache=True, inline="always")
def _scalar_cycle(a_cyc, b_cyc, x, p, emin, fmax, f32, terms, exp, work):
    for j in range(a_cyc.shape[0]):
        x = _scalar_step(a_cyc[j], b_cyc[j], x, p, emin, fmax, f32, terms, exp, work)
    return x


@njit(cache=True, inline="always")
def _same_scalar(x, y):
    return x == y or (x != x and y != y)


@njit(cache=True)
def brent_scalar(a_cyc, b_cyc, x0, max_steps, p, emin, fmax, f32):
    """:func:`brent` for one entry under diagonal transitions (``a_cyc, b_cyc [q]`` floats, ``x0`` a float): the
    same schedule and checkpoints on scalars, with no arrays in the loop. Returns ``(mu, lam, x_mu, x_prev)``.
    (NaN equals NaN; ``-0`` never occurs, every rounding maps it to ``+0``.)"""
    terms, exp, work = _scratch(2)
    q = a_cyc.shape[0]
    budget = max(1, max_steps // max(q, 1))
    cap = 4096
    ck = np.empty(cap)
    ck_pos = np.empty(cap, dtype=np.int64)
    ck[0] = x0
    ck_pos[0] = 0
    n_ck = 1
    tort = x0
    hare = x0
    power = 1
    lam = 0
    n = 0
    while True:
        hare = _scalar_cycle(a_cyc, b_cyc, hare, p, emin, fmax, f32, terms, exp, work)
        n += 1
        lam += 1
        if _same_scalar(tort, hare):
            break
        if n > budget:
            return -1, -1, x0, x0
        if lam == power:
            tort = hare
            if n_ck == cap:
                n_ck -= 1
            ck[n_ck] = hare
            ck_pos[n_ck] = n
            n_ck += 1
            power = max(power + 1, power + power // 16)
            lam = 0
    lo = 0
    hi = n_ck - 1
    while lo < hi:
        mid = (lo + hi) // 2
        y = ck[mid]
        for _ in range(lam):
            y = _scalar_cycle(a_cyc, b_cyc, y, p, emin, fmax, f32, terms, exp, work)
        if _same_scalar(y, ck[mid]):
            hi = mid
        else:
            lo = mid + 1
    if lo == 0:
        return 0, lam, x0, x0
    u = ck[lo - 1]
    v = u
    for _ in range(lam):
        v = _scalar_cycle(a_cyc, b_cyc, v, p, emin, fmax, f32, terms, exp, work)
    mu = ck_pos[lo - 1]
    prev = u
    while not _same_scalar(u, v):
        prev = u
        u = _scalar_cycle(a_cyc, b_cyc, u, p, emin, fmax, f32, terms, exp, work)
        v = _scalar_cycle(a_cyc, b_cyc, v, p, emin, fmax, f32, terms, exp, work)
        mu += 1
    return mu, lam, u, prev


@njit(cache=True, parallel=True)
def brent_scalar_batch(a_cyc, b_cyc, x0, max_steps, p, emin, fmax, f32):
    """:func:`brent_scalar` for ``M`` entries (parallel): ``a_cyc, b_cyc [M, q]``, ``x0 [M]`` -> ``mu, lam, x_mu,
    x_prev [M]``."""
    M = x0.shape[0]
    mu = np.empty(M, dtype=np.int64)
    lam = np.empty(M, dtype=np.int64)
    x_mu = np.empty(M)
    x_prev = np.empty(M)
    for i in prange(M):
        a, b, xm, xp = brent_scalar(a_cyc[i], b_cyc[i], x0[i], max_steps, p, emin, fmax, f32)
        mu[i] = a
        lam[i] = b
        x_mu[i] = xm
        x_prev[i] = xp
    return mu, lam, x_mu, x_prev


@njit(cache=True, parallel=True)
def advance_scalar_batch(a_cyc, b_cyc, x, n, p, emin, fmax, f32):
    """:func:`advance_batch` for entries under diagonal transitions: ``a_cyc, b_cyc [M, q]``, ``x, n [M]``."""
    M = x.shape[0]
    out = np.empty(M)
    for i in prange(M):
        terms, exp, work = _scratch(2)
        y = x[i]
        for _ in range(n[i]):
            y = _scalar_cycle(a_cyc[i], b_cyc[i], y, p, emin, fmax, f32, terms, exp, work)
        out[i] = y
    return out


@contextlib.contextmanager
def one_member_per_task():
    """Hand :func:`brent_batch`'s members to the threads one at a time (members take very different times; numba's
    default splits the range into one equal chunk per thread)."""
    old = numba.get_parallel_chunksize()
    numba.set_parallel_chunksize(1)
    try:
        yield
    finally:
        numba.set_parallel_chunksize(old)


__all__ = ["AVAILABLE", "one_member_per_task", "advance_batch", "brent_scalar", "brent_scalar_batch",
           "advance_scalar_batch", "grid_params", "step", "run_sequence", "brent", "brent_batch"]
