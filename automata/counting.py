"""Counting words of a regular language, exactly or in an extended-range float form.

Conventions
-----------
For a DFA with ``n`` states (made complete first: a missing transition goes to a
rejecting sink appended as state ``n``), the *continuation table* is

    N[t][q] = number of words w of length t with delta*(q, w) accepting,

so ``N[t][start]`` counts the accepted words of length ``t``. It obeys
``N[0][q] = [q accepting]`` and ``N[t][q] = sum_a N[t-1][delta(q, a)]``.
The *forward table* ``F[t][q]`` counts the words of length ``t`` that lead from the
start to ``q``; ``sum_q F[t][q] * [q accepting] = N[t][start]``.

Two representations:

* **exact** (:func:`count_table`): Python integers, no rounding; ``t * n * k`` big-integer
  additions, each of ``O(t)`` bits.
* **scaled float** (:class:`ScaledCounts`, :func:`scaled_count_table`): each count as
  ``mantissa * 2**exponent`` with a float64 mantissa in ``[0.5, 1)`` (or 0) and an int64
  exponent, i.e. a log-space count (``log2 N = exponent + log2 mantissa``) that never
  overflows or underflows. It is either rounded from the exact integers (relative error
  at most 2**-53 per entry) or computed directly in floats (the *log-space mode*: fast on
  long words and large automata; each step adds at most about ``k`` roundings, so the
  relative error after ``t`` steps is below ``(k + 1) * t * 2**-53``, e.g. ~2e-13 at
  ``t = 1000, k = 2``). Counts below 2**53 are exact in both forms, and a count is zero
  in the float form exactly when it is zero.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> parity = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    >>> count_table(parity, 3)[3]
    [4, 4]
    >>> scaled_count_table(parity, 3, exact=False).to_int(3, 0)
    4
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .dfa import DFA

#: Exponent stored for a zero count (far below any real exponent).
ZERO_EXPONENT = -(1 << 40)


def completed_delta(dfa: DFA) -> tuple[np.ndarray, np.ndarray]:
    """``(delta, accepting)`` of the DFA with a rejecting sink appended when a transition is missing.

    ``delta`` is int64 ``[n', k]`` with no ``-1`` (``n' = n`` or ``n + 1``); state ids ``< n``
    are those of ``dfa``.
    """
    if dfa.is_complete:
        return dfa.delta, dfa.accepting
    n, k = dfa.delta.shape
    d = np.vstack([dfa.delta, np.full((1, k), n, dtype=np.int64)])
    d[d < 0] = n
    return d, np.append(dfa.accepting, False)


def count_table(dfa: DFA, max_length: int) -> list[list[int]]:
    """Exact continuation counts ``N[t][q]`` for ``t = 0..max_length`` (Python ints).

    Returns a list of ``max_length + 1`` lists of length ``n_states`` (ids of ``dfa``; a
    missing transition counts as a dead end).
    """
    _check_length(max_length)
    delta, acc = completed_delta(dfa)
    n = dfa.n_states
    cur = np.array([int(x) for x in acc], dtype=object)
    out = [cur[:n].tolist()]
    for _ in range(max_length):
        cur = cur[delta].sum(axis=1)  # object arrays: exact big-integer sums
        out.append(cur[:n].tolist())
    return out


def forward_table(dfa: DFA, max_length: int) -> list[list[int]]:
    """Exact forward counts ``F[t][q]``: words of length ``t`` leading from the start to ``q``.

    Returns ``max_length + 1`` lists of length ``n_states`` (words that take a missing
    transition are not counted anywhere).
    """
    _check_length(max_length)
    delta, _ = completed_delta(dfa)
    n_full, k = delta.shape
    cur = np.zeros(n_full, dtype=object)
    cur[:] = 0
    cur[dfa.start] = 1
    out = [cur[: dfa.n_states].tolist()]
    flat_targets = delta.ravel()
    for _ in range(max_length):
        nxt = np.zeros(n_full, dtype=object)
        nxt[:] = 0
        np.add.at(nxt, flat_targets, np.repeat(cur, k))
        cur = nxt
        out.append(cur[: dfa.n_states].tolist())
    return out


def count_words(dfa: DFA, lengths: Iterable[int]) -> dict[int, int]:
    """Exact number of accepted words of each length: ``{length: count}``."""
    lengths = sorted(set(int(t) for t in lengths))
    if not lengths:
        return {}
    table = count_table(dfa, lengths[-1])
    return {t: table[t][dfa.start] for t in lengths}


@dataclass(frozen=True)
class ScaledCounts:
    """Continuation counts ``N[t][q] = mantissa[t, q] * 2**exponent[t, q]``.

    ``mantissa`` float64 ``[T+1, n']`` in ``[0.5, 1)`` or 0; ``exponent`` int64 ``[T+1, n']``
    (:data:`ZERO_EXPONENT` where the count is 0). ``n'`` includes the appended sink when the
    DFA was partial (see :func:`completed_delta`). ``exact`` says whether the figures were
    rounded from exact integers (True) or computed in floats (False).
    """

    mantissa: np.ndarray
    exponent: np.ndarray
    exact: bool

    @property
    def max_length(self) -> int:
        return self.mantissa.shape[0] - 1

    def log(self) -> np.ndarray:
        """Natural logarithm of the counts, float64 ``[T+1, n']`` (``-inf`` for 0)."""
        with np.errstate(divide="ignore"):
            out = np.log(self.mantissa) + self.exponent.astype(np.float64) * math.log(2.0)
        return np.where(self.mantissa > 0, out, -np.inf)

    def positive(self) -> np.ndarray:
        """Bool ``[T+1, n']``: the count is nonzero (exact in both modes)."""
        return self.mantissa > 0

    def to_int(self, t: int, q: int) -> int:
        """The count ``N[t][q]`` as an integer (exact when below 2**53 or when ``exact``
        was set and the count was representable; otherwise the rounded value)."""
        m = float(self.mantissa[t, q])
        if m == 0.0:
            return 0
        e = int(self.exponent[t, q])
        num, den = m.as_integer_ratio()
        return (num << e) // den if e >= 0 else num // (den << -e)


def _split_int(x: int) -> tuple[float, int]:
    """Correctly rounded ``(mantissa in [0.5, 1), exponent)`` of a non-negative integer."""
    if x == 0:
        return 0.0, ZERO_EXPONENT
    b = x.bit_length()
    if b <= 1000:
        return math.frexp(float(x))
    s = b - 64
    m, e = math.frexp(x / (1 << s))  # int / int true division is correctly rounded
    return m, e + s


def scaled_from_exact(table: list[list[int]], sink: bool) -> ScaledCounts:
    """Round an exact :func:`count_table` to :class:`ScaledCounts` (a zero column appended for
    the sink when ``sink``)."""
    rows = len(table)
    n = len(table[0]) + (1 if sink else 0)
    mant = np.zeros((rows, n), dtype=np.float64)
    expo = np.full((rows, n), ZERO_EXPONENT, dtype=np.int64)
    for t, row in enumerate(table):
        for q, x in enumerate(row):
            if x:
                mant[t, q], expo[t, q] = _split_int(x)
    return ScaledCounts(mant, expo, True)


def _scaled_sum(mant: np.ndarray, expo: np.ndarray, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Sum scaled numbers along ``axis``: returns ``(mantissa, exponent)`` renormalised."""
    top = expo.max(axis=axis, keepdims=True)
    shift = np.clip(expo - top, -1100, 0).astype(np.int32)
    s = np.ldexp(mant, shift).sum(axis=axis)
    m, e = np.frexp(s)
    top = np.squeeze(top, axis=axis)
    e = np.where(m > 0, top + e, ZERO_EXPONENT).astype(np.int64)
    return m, e


def scaled_count_table(dfa: DFA, max_length: int, exact: bool | None = None) -> ScaledCounts:
    """Continuation counts for ``t = 0..max_length`` as :class:`ScaledCounts`.

    ``exact=True`` computes Python integers and rounds them (error <= 2**-53 relative per
    entry); ``exact=False`` is the log-space float mode (see the module docstring);
    ``None`` picks exact when ``max_length * n * k <= 2e6`` (about a second at most).
    """
    _check_length(max_length)
    delta, acc = completed_delta(dfa)
    n_full, k = delta.shape
    if exact is None:
        exact = max_length * n_full * k <= 2_000_000
    if exact:
        return scaled_from_exact(count_table(dfa, max_length), sink=n_full > dfa.n_states)
    mant = np.zeros((max_length + 1, n_full), dtype=np.float64)
    expo = np.full((max_length + 1, n_full), ZERO_EXPONENT, dtype=np.int64)
    mant[0, acc] = 0.5
    expo[0, acc] = 1
    for t in range(1, max_length + 1):
        mant[t], expo[t] = _scaled_sum(mant[t - 1][delta], expo[t - 1][delta])
    return ScaledCounts(mant, expo, False)


def _check_length(t: int) -> None:
    if int(t) != t or t < 0:
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"a word length must be a non-negative integer, got {t!r}")
