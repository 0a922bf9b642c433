"""Uniform sampling and enumeration of the words of a regular language, vectorised over a batch.

Method
------
With the continuation counts ``N[t][q]`` of :mod:`statetrack.automata.counting`, a word of
length ``T`` accepted from the start is drawn uniformly by walking forwards: with ``r``
symbols still to emit in state ``q``, symbol ``a`` is chosen with probability
``N[r-1][delta(q, a)] / N[r][q]``. Every accepted word then has probability
``1 / N[T][start]`` (the product telescopes). Symbols that lead to the same successor are
equally likely, so each state's symbols are grouped by successor ("classes"): the walk picks a
class with probability ``size * N[r-1][successor] / N[r][q]``, then a symbol uniformly inside it
(a second uniform, only for classes of several symbols). The per-``(r, q)`` class probabilities
are turned into float64 cumulative tables once (ratios of correctly rounded counts: relative
error a few units of 2**-53 per step), and the whole batch advances one position per numpy
step: a uniform float64 per word and a search in its state's row (one comparison for two
classes, a linear scan up to :data:`LINEAR_SCAN_MAX`, a binary search above). Words of
different lengths share the walk: they are right-aligned, so at every step all active words
have the same number of symbols left.

Reference: :func:`enumerate_words` lists the words exhaustively (lexicographic order); the
tests compare sample frequencies against it with a chi-square test.

Words are arrays of symbol ids (``alphabet`` order): ``[n, T]`` of :func:`symbol_dtype`
(``uint8`` up to 256 symbols) for one length; ``[n, T_max]`` of :func:`padded_dtype` with
``-1`` padding for mixed lengths.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> parity = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    >>> words = sample_accepted(parity, 8, 1000, seed=0)
    >>> words.shape, bool((words.sum(axis=1) % 2 == 0).all())
    ((1000, 8), True)
"""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import numpy as np

from .counting import ZERO_EXPONENT, ScaledCounts, completed_delta, count_table, scaled_count_table, scaled_from_exact
from .dfa import DFA
from statetrack.errors import StatetrackError

#: Cumulative tables for all lengths are kept when they hold at most this many float64 entries.
TABLE_BUDGET = 1 << 22
#: Words walked together (buffers of this size stay in cache).
CHUNK = 32768
#: Alphabets up to this size pick symbols by a linear scan of thresholds, larger ones by binary search.
LINEAR_SCAN_MAX = 12


class SamplingError(StatetrackError, ValueError):
    """A sampling request that cannot be met (no word of the length, bad size)."""


def symbol_dtype(n_symbols: int) -> np.dtype:
    """Smallest unsigned dtype holding the symbol ids ``0..n_symbols-1``."""
    for dt in (np.uint8, np.uint16, np.uint32):
        if n_symbols <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.int64)


def padded_dtype(n_symbols: int) -> np.dtype:
    """Smallest signed dtype holding the symbol ids and the ``-1`` padding."""
    for dt in (np.int8, np.int16, np.int32):
        if n_symbols <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.int64)


def as_rng(seed: "int | np.random.Generator | None") -> np.random.Generator:
    """A numpy Generator from a seed (or the Generator itself)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def row_keys(words: np.ndarray) -> list[bytes]:
    """Hashable keys of the rows of a ``[n, T]`` word array (same dtype gives the same keys)."""
    words = np.ascontiguousarray(words)
    return [r.tobytes() for r in words]


def universal_dfa(alphabet: Iterable[str]) -> DFA:
    """One accepting state looping on every symbol: the language of all words."""
    alphabet = tuple(alphabet)
    return DFA(alphabet, ["all"], 0, [True], np.zeros((1, len(alphabet)), dtype=np.int64))


class WordSampler:
    """Uniform sampler and enumerator of the words a DFA accepts, for lengths ``0..max_length``.

    Args:
        dfa: any DFA (missing transitions are a rejecting sink).
        max_length: the longest length that will be asked for.
        exact: counts from Python integers (True), the log-space float mode (False), or
            chosen by size (None, see :func:`~statetrack.automata.counting.scaled_count_table`).

    ``count(t)`` is the number of accepted words of length ``t`` (exact integers in exact
    mode; in float mode exact below 2**53, rounded above).
    """

    def __init__(self, dfa: DFA, max_length: int, *, exact: bool | None = None):
        self.dfa = dfa
        self.delta, self.accepting = completed_delta(dfa)
        n_full, k = self.delta.shape
        if exact is None:
            exact = max_length * n_full * k <= 2_000_000
        if exact:
            table = count_table(dfa, max_length)
            self._exact_counts: list[int] | None = [row[dfa.start] for row in table]
            self.counts: ScaledCounts = scaled_from_exact(table, sink=n_full > dfa.n_states)
        else:
            self._exact_counts = None
            self.counts = scaled_count_table(dfa, max_length, exact=False)
        self.k = k
        self.max_length = int(max_length)
        self.dtype = symbol_dtype(k)
        self._build_classes()
        self._cum_all: np.ndarray | None = None
        if max_length * n_full * self._M <= TABLE_BUDGET and max_length > 0:
            self._cum_all = self._cum_block(1, max_length + 1)
        self._cache: tuple[int, np.ndarray] | None = None

    def _build_classes(self) -> None:
        """Group each state's symbols by successor ("classes"): symbols with the same successor
        are equally likely, so the walk picks a class, then a symbol uniformly inside it.

        Per state ``q`` and class ``c < M`` (padded classes have size 0):
        ``_succ[q, c]`` successor, ``_size[q, c]`` number of symbols, ``_first[q*M + c]`` offset of
        its symbols in ``_syms``; classes are ordered by their smallest symbol.
        """
        n_full, k = self.delta.shape
        groups: list[list[list[int]]] = []
        for q in range(n_full):
            by_succ: dict[int, list[int]] = {}
            for a, t in enumerate(self.delta[q].tolist()):
                by_succ.setdefault(t, []).append(a)
            groups.append(list(by_succ.values()))
        M = max(1, max(len(g) for g in groups))  # an empty alphabet still gets one (empty) class
        succ = np.zeros((n_full, M), dtype=np.int64)
        size = np.zeros((n_full, M), dtype=np.int64)
        first = np.zeros((n_full, M), dtype=np.intp)
        syms: list[int] = []
        for q, g in enumerate(groups):
            for c, members in enumerate(g):
                succ[q, c] = self.delta[q, members[0]]
                size[q, c] = len(members)
                first[q, c] = len(syms)
                syms.extend(members)
        self._M = M
        self._succ, self._size = succ, size
        self._first = first.ravel()
        self._size_flat = size.ravel().astype(np.float64)
        self._size_int = size.ravel().astype(np.intp)
        self._syms = np.asarray(syms, dtype=np.intp)
        self._first_sym = self._syms[np.minimum(self._first, len(syms) - 1)]  # the symbol of a one-symbol class
        self._multi = size.ravel() > 1
        self._next_offset = (succ * M).ravel().astype(np.intp)  # q*M + c -> successor*M
        # every class a single symbol, in symbol order: the class id is the symbol id
        self._identity = M == k and bool((size == 1).all()) and bool((succ == self.delta).all())

    @property
    def exact(self) -> bool:
        return self._exact_counts is not None

    def count(self, length: int) -> int:
        """Number of accepted words of ``length``."""
        self._check(length)
        if self._exact_counts is not None:
            return self._exact_counts[length]
        return self.counts.to_int(length, self.dfa.start)

    def log_count(self, length: int) -> float:
        """Natural log of :meth:`count` (``-inf`` for 0)."""
        self._check(length)
        return float(self.counts.log()[length, self.dfa.start])

    def has_words(self, length: int) -> bool:
        """True when some word of ``length`` is accepted (exact in both modes)."""
        self._check(length)
        return bool(self.counts.mantissa[length, self.dfa.start] > 0)

    # ------------------------------------------------------------------ tables
    def _cum_block(self, r_lo: int, r_hi: int) -> np.ndarray:
        """Cumulative class tables for remaining lengths ``r_lo <= r < r_hi``: ``[R, n' * M]``.

        Row ``q`` of level ``r`` holds ``cum[c] = P(class <= c)`` with
        ``P(class c) = size[q, c] * N[r-1][succ[q, c]] / N[r][q]``; entries from the last class of
        positive probability on are 2.0, so the first ``c`` with ``u < cum[c]`` (``u`` in
        [0, 1)) is never a zero-probability class.
        """
        M = self._M
        mant = self.counts.mantissa[r_lo - 1 : r_hi - 1][:, self._succ] * self._size  # [R, n', M]
        expo = self.counts.exponent[r_lo - 1 : r_hi - 1][:, self._succ]
        expo = np.where(mant > 0, expo, ZERO_EXPONENT)
        top = expo.max(axis=-1, keepdims=True)
        w = np.ldexp(mant, np.clip(expo - top, -1100, 0).astype(np.int32))
        cum = np.cumsum(w, axis=-1)
        total = cum[..., -1:]
        with np.errstate(invalid="ignore", divide="ignore"):
            cum = np.where(total > 0, cum / total, 2.0)
        last = M - 1 - np.argmax((w > 0)[..., ::-1], axis=-1)
        cum[np.arange(M) >= last[..., None]] = 2.0
        return cum.reshape(cum.shape[0], -1)

    def _cum(self, r: int) -> np.ndarray:
        if self._cum_all is not None:
            return self._cum_all[r - 1]
        if self._cache is None or self._cache[0] != r:
            self._cache = (r, self._cum_block(r, r + 1)[0])
        return self._cache[1]

    # ------------------------------------------------------------------ sampling
    def _check(self, length: int) -> None:
        if int(length) != length or length < 0:
            raise SamplingError(f"a word length must be a non-negative integer, got {length!r}")
        if length > self.max_length:
            raise SamplingError(f"length {length} exceeds this sampler's max_length {self.max_length}")

    def _walk_chunks(self, lengths_desc: np.ndarray, rng: np.random.Generator) -> Iterator[tuple[int, int, np.ndarray]]:
        """Right-aligned uniform walk of ``lengths_desc`` (sorted descending), :data:`CHUNK` words
        at a time (cache-sized work arrays): yields ``(c0, c1, symbols [T_c, c1 - c0])`` where
        ``T_c = lengths_desc[c0]`` and word ``i`` occupies the last ``lengths_desc[i]`` rows.

        The yielded array is a reused buffer: copy it before resuming the iterator.
        """
        B = lengths_desc.size
        if B == 0:
            return
        neg = -lengths_desc
        store = np.empty((int(lengths_desc[0]), min(B, CHUNK)), dtype=self.dtype)  # one buffer, faulted in once
        for c0 in range(0, B, CHUNK):
            c1 = min(B, c0 + CHUNK)
            buf = store[: int(lengths_desc[c0]), : c1 - c0]
            self._walk_chunk(neg[c0:c1], buf, rng)
            yield c0, c1, buf

    def _walk_chunk(self, neg: np.ndarray, out: np.ndarray, rng: np.random.Generator) -> None:
        """Walk one chunk (``neg`` = minus the lengths, ascending) into ``out`` ``[T_c, m]``
        (rows a word does not reach are left as they are)."""
        M, size = self._M, neg.size
        t_c = out.shape[0]
        off = np.full(size, self.dfa.start * M, dtype=np.intp)  # q * M of each word
        u = np.empty(size)
        nxt = self._next_offset
        remaining = np.arange(t_c, 0, -1)
        active = np.searchsorted(neg, -remaining, side="right").tolist()  # words with length >= r
        for r, m in zip(remaining.tolist(), active):  # r symbols left, m words active
            cum = self._cum(r)
            o, uu = off[:m], u[:m]
            rng.random(out=uu)
            row = out[t_c - r, :m]
            if M == 2:  # one threshold per state: the hot path
                hit = uu >= cum.take(o)
                if self._identity:
                    row[:] = hit
                kk = o + hit  # flat class index q*M + c
            else:
                if M == 1:
                    kk = np.zeros(m, dtype=np.intp)
                elif M <= LINEAR_SCAN_MAX:
                    # class = number of cumulative thresholds <= u (cum[.., j] read through a view)
                    kk = (uu >= cum.take(o)).astype(np.intp)
                    for j in range(1, M - 1):
                        kk += uu >= cum[j:].take(o)
                else:
                    kk = self._binary_search(cum, o, uu)
                if self._identity:
                    row[:] = kk
                kk += o  # flat class index q*M + c
            if not self._identity:
                multi = self._multi.take(kk)
                n_multi = int(np.count_nonzero(multi))
                if n_multi == m:  # every word is in a class of several symbols
                    row[:] = self._syms.take(self._first.take(kk) + self._inner(kk, rng))
                else:
                    row[:] = self._first_sym.take(kk)
                    if n_multi:  # a uniform symbol inside classes of several symbols
                        idx = np.flatnonzero(multi)
                        kj = kk[idx]
                        row[idx] = self._syms.take(self._first.take(kj) + self._inner(kj, rng))
            if m == size:
                off = nxt.take(kk)
            else:
                off[:m] = nxt.take(kk)

    def _inner(self, flat_class: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A uniform position inside each given class (``floor(u * size)``, clipped because
        ``u * size`` may round up to ``size``)."""
        width = self._size_flat.take(flat_class)
        inner = (rng.random(flat_class.size) * width).astype(np.intp)
        return np.minimum(inner, self._size_int.take(flat_class) - 1, out=inner)

    def _binary_search(self, cum: np.ndarray, off: np.ndarray, u: np.ndarray) -> np.ndarray:
        """First ``c`` with ``u < cum[off + c]`` (exists: the last positive entry is 2.0)."""
        M = self._M
        lo = np.zeros(off.size, dtype=np.intp)
        hi = np.full(off.size, M - 1, dtype=np.intp)
        for _ in range(math.ceil(math.log2(M))):
            mid = (lo + hi) >> 1
            left = u < cum[off + mid]
            hi = np.where(left, mid, hi)
            lo = np.where(left, lo, mid + 1)
        return lo

    def sample(self, length: int, n: int, seed: "int | np.random.Generator | None" = None) -> np.ndarray:
        """``n`` independent uniform accepted words of ``length``: ``[n, length]`` of :attr:`dtype`.

        Raises :class:`SamplingError` when no word of that length is accepted.
        """
        self._check(length)
        if n < 0:
            raise SamplingError(f"the number of words must be >= 0, got {n}")
        if n and not self.has_words(length):
            raise SamplingError(f"no word of length {length} is in the language")
        out = np.empty((n, length), dtype=self.dtype)
        for c0, c1, buf in self._walk_chunks(np.full(n, length, dtype=np.int64), as_rng(seed)):
            _transpose_into(out[c0:c1], buf)
        return out

    def sample_lengths(self, lengths: "np.ndarray | Iterable[int]", seed: "int | np.random.Generator | None" = None) -> np.ndarray:
        """One uniform accepted word per entry of ``lengths``: ``[B, max(lengths)]`` of
        :func:`padded_dtype`, padded with -1, rows in the order of ``lengths``."""
        lengths = np.asarray(list(lengths) if not isinstance(lengths, np.ndarray) else lengths, dtype=np.int64)
        for t in np.unique(lengths):
            self._check(int(t))
            if not self.has_words(int(t)):
                raise SamplingError(f"no word of length {int(t)} is in the language")
        order = np.argsort(-lengths, kind="stable")
        sorted_len = lengths[order]
        out = np.full((lengths.size, int(sorted_len[0]) if lengths.size else 0), -1, dtype=padded_dtype(self.k))
        for c0, c1, buf in self._walk_chunks(sorted_len, as_rng(seed)):
            t_c = buf.shape[0]
            part = sorted_len[c0:c1]
            for t in np.unique(part):
                cols = np.flatnonzero(part == t)
                out[order[c0 + cols], :t] = buf[t_c - t :, cols].T
        return out

    def enumerate(self, length: int, limit: int | None = None) -> np.ndarray:
        """All accepted words of ``length`` in lexicographic order: ``[count, length]``.

        Raises :class:`SamplingError` when there are more than ``limit`` words.
        """
        self._check(length)
        if limit is not None and self.count(length) > limit:
            raise SamplingError(f"{self.count(length)} words of length {length} exceed the enumeration limit {limit}")
        return enumerate_words(self.dfa, length, self.counts)

    def sample_distinct(
        self,
        length: int,
        n: int,
        seed: "int | np.random.Generator | None" = None,
        exclude: "set[bytes] | None" = None,
    ) -> np.ndarray:
        """Up to ``n`` distinct accepted words of ``length`` not in ``exclude``, uniformly at random.

        The result (``[m, length]``, ``m = min(n, available)``) is a uniformly random subset in
        random order. ``exclude`` holds :func:`row_keys` of words of this length (this
        sampler's dtype). When the pool is small compared with the request it is enumerated
        exhaustively; otherwise i.i.d. draws are de-duplicated in draw order (which gives the
        same distribution).
        """
        self._check(length)
        rng = as_rng(seed)
        exclude = exclude or set()
        if n <= 0 or not self.has_words(length):
            return np.zeros((0, length), dtype=self.dtype)
        pool = self.count(length)
        if pool <= 4096 or pool <= 2 * (n + len(exclude)):
            words = self.enumerate(length)
            if exclude:
                keep = np.fromiter((k not in exclude for k in row_keys(words)), dtype=bool, count=len(words))
                words = words[keep]
            pick = rng.permutation(len(words))[:n]
            return words[pick]
        seen: dict[bytes, int] = {}
        chunks: list[np.ndarray] = []
        got = 0
        while got < n:
            draw = self.sample(length, (n - got) + (n - got) // 4 + 8, rng)
            keys = row_keys(draw)
            keep = []
            for i, key in enumerate(keys):
                if key not in seen and key not in exclude:
                    seen[key] = 1
                    keep.append(i)
                    got += 1
                    if got == n:
                        break
            chunks.append(draw[keep])
        return np.concatenate(chunks, axis=0)


def _transpose_into(dst: np.ndarray, src: np.ndarray, tile: int = 128) -> None:
    """``dst[:] = src.T`` by square tiles (several times faster than one strided copy for bytes)."""
    rows, cols = src.shape
    for i0 in range(0, rows, tile):
        for j0 in range(0, cols, tile):
            dst[j0 : j0 + tile, i0 : i0 + tile] = src[i0 : i0 + tile, j0 : j0 + tile].T


def enumerate_words(dfa: DFA, length: int, counts: ScaledCounts | None = None) -> np.ndarray:
    """Reference enumeration: all words of ``length`` accepted by ``dfa``, lexicographic
    (symbol ids in alphabet order): ``[count, length]`` of :func:`symbol_dtype`.

    Prefixes that cannot be completed are pruned (with ``counts``, or computed here), so the
    work is proportional to the output.
    """
    delta, _ = completed_delta(dfa)
    if counts is None or counts.max_length < length:
        counts = scaled_count_table(dfa, length)
    live = counts.positive()
    k = delta.shape[1]
    dt = symbol_dtype(k)
    states = np.array([dfa.start], dtype=np.int64)
    if not live[length, dfa.start]:
        return np.zeros((0, length), dtype=dt)
    levels: list[tuple[np.ndarray, np.ndarray]] = []  # per position: (parent row, symbol)
    for t in range(length):
        nxt = delta[states]  # [m, k]
        keep = live[length - t - 1][nxt]
        parent, sym = np.nonzero(keep)  # row-major: parents in order, then symbols: lexicographic
        levels.append((parent, sym))
        states = nxt[parent, sym]
    out = np.empty((states.size, length), dtype=dt)
    row = np.arange(states.size)
    for t in range(length - 1, -1, -1):  # follow the parent links back
        parent, sym = levels[t]
        out[:, t] = sym[row]
        row = parent[row]
    return out


def sample_accepted(dfa: DFA, length: int, n: int, *, seed: "int | np.random.Generator | None" = None,
                    exact: bool | None = None) -> np.ndarray:
    """``n`` uniform accepted words of ``length`` (i.i.d.): ``[n, length]`` symbol ids."""
    return WordSampler(dfa, length, exact=exact).sample(length, n, seed)


def sample_rejected(dfa: DFA, length: int, n: int, *, seed: "int | np.random.Generator | None" = None,
                    exact: bool | None = None) -> np.ndarray:
    """``n`` uniform rejected words of ``length`` (i.i.d., through the complement DFA)."""
    return WordSampler(dfa.complement(), length, exact=exact).sample(length, n, seed)


def words_to_lists(dfa: DFA, words: np.ndarray) -> list:
    """Symbol-id rows (``-1`` padding dropped) -> strings when symbols are single characters,
    else lists of symbols."""
    alpha = dfa.alphabet
    out = []
    single = dfa.single_char
    for row in np.asarray(words):
        syms = [alpha[i] for i in row.tolist() if i >= 0]
        out.append("".join(syms) if single else syms)
    return out
