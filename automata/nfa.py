"""Nondeterministic automata and the subset construction.

Conventions
-----------
* An :class:`NFA` has ``n_states`` states numbered ``0..n-1``, an ``alphabet`` tuple of
  symbols, labelled edges ``edges [E, 3]`` int64 rows ``(src, symbol id, dst)``,
  epsilon edges ``eps [E', 2]`` rows ``(src, dst)``, a start set ``starts`` (int64 ids)
  and a bool mask ``accepting [n_states]``.
* A *subset* of NFA states is a packed bitset: ``W = ceil(n / 64)`` uint64 words, state
  ``q`` is bit ``q % 64`` of word ``q // 64`` (little-endian bit order). The plain
  reference represents the same subset as one Python ``int`` (bit ``q``).

Subset construction (:meth:`NFA.determinize`, :func:`subset_arrays`) works breadth-first,
one layer at a time, over classes of symbols with identical columns. Small frontiers
advance in plain Python on ``int`` bitsets; large frontiers advance all at once with numpy
(a byte-indexed table of successor masks per symbol class, or, when that table would be
too large, a sparse expansion of set bits). Subsets are deduplicated through a dictionary
keyed by the bitset as an ``int``; once a layer goes to numpy with one-word subsets (at
most 64 NFA states), a sorted ``uint64`` key array with vectorised lookup and insert takes
over. Ids are assigned in order of first occurrence (frontier order, then symbol order),
so every path yields the same breadth-first numbering. The result is complete: the empty
subset is the rejecting sink. :func:`determinize_reference` is the plain
one-subset-at-a-time construction the fast paths are tested against.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> d = DFA.from_regex("(a|b)*a(a|b)")
    >>> d.reverse().minimize().n_states
    4
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import repeat
from typing import Iterable, Sequence

import numpy as np

from .dfa import DFA
from statetrack.errors import AlphabetError, StateLimitError
from .graphs import strongly_connected

#: Default guard on the number of subset-construction states.
MAX_STATES: int = 1 << 22
#: Frontiers with at least this many subsets advance with numpy; smaller ones in Python.
VECTOR_THRESHOLD: int = 48
#: Largest byte table (bytes, all symbol classes together) the numpy step may build.
TABLE_BYTES: int = 32 << 20
#: Graphs with at most this many edges are searched in plain Python (linear in the edges, whatever the depth;
#: numpy's per-layer costs dominate on deep graphs).
SMALL_GRAPH: int = 1 << 18


class NFA:
    """A nondeterministic finite automaton with optional epsilon edges (immutable by convention)."""

    __slots__ = ("alphabet", "n_states", "edges", "eps", "starts", "accepting")

    def __init__(
        self,
        alphabet: Sequence[str],
        n_states: int,
        edges: np.ndarray | Sequence[Sequence[int]],
        starts: Iterable[int],
        accepting: np.ndarray | Sequence[bool],
        eps: np.ndarray | Sequence[Sequence[int]] | None = None,
        *,
        validate: bool = True,
    ):
        self.alphabet: tuple[str, ...] = tuple(alphabet)
        self.n_states = int(n_states)
        self.edges = np.asarray(edges, dtype=np.int64).reshape(-1, 3)
        self.eps = np.zeros((0, 2), dtype=np.int64) if eps is None else np.asarray(eps, dtype=np.int64).reshape(-1, 2)
        self.starts = np.asarray(list(starts), dtype=np.int64)
        self.accepting = np.asarray(accepting, dtype=bool).reshape(self.n_states)
        if not validate:  # internal constructions: sorted unique starts, ids in range
            return
        self.starts = np.unique(self.starts)
        n, k = self.n_states, len(self.alphabet)
        if self.edges.size and (self.edges[:, [0, 2]].min() < 0 or self.edges[:, [0, 2]].max() >= n):
            raise ValueError("NFA edge endpoint out of range")
        if self.edges.size and (self.edges[:, 1].min() < 0 or self.edges[:, 1].max() >= k):
            raise ValueError("NFA edge symbol out of range")
        if self.eps.size and (self.eps.min() < 0 or self.eps.max() >= n):
            raise ValueError("NFA epsilon edge endpoint out of range")
        if self.starts.size and (self.starts.min() < 0 or self.starts.max() >= n):
            raise ValueError("NFA start state out of range")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_dfa(cls, dfa: DFA) -> "NFA":
        """The DFA seen as an NFA (missing transitions simply absent)."""
        q, a = np.nonzero(dfa.delta >= 0)
        edges = np.stack([q, a, dfa.delta[q, a]], axis=1)
        return cls(dfa.alphabet, dfa.n_states, edges, [dfa.start], dfa.accepting)

    def reversed(self) -> "NFA":
        """The NFA of the reversed language: edges flipped, start and accepting sets swapped."""
        acc = np.zeros(self.n_states, dtype=bool)
        acc[self.starts] = True
        return NFA(self.alphabet, self.n_states, self.edges[:, ::-1], np.flatnonzero(self.accepting), acc, self.eps[:, ::-1])

    # ------------------------------------------------------------------ semantics
    def _closure_int(self, s: int, eps_adj: list[list[int]]) -> int:
        stack = [q for q in range(self.n_states) if s >> q & 1]
        while stack:
            q = stack.pop()
            for t in eps_adj[q]:
                if not s >> t & 1:
                    s |= 1 << t
                    stack.append(t)
        return s

    def accepts(self, word: "str | Sequence[str]") -> bool:
        """Membership by direct simulation of state sets (the plain semantics)."""
        index = {a: i for i, a in enumerate(self.alphabet)}
        eps_adj: list[list[int]] = [[] for _ in range(self.n_states)]
        for p, q in self.eps.tolist():
            eps_adj[p].append(q)
        moves: dict[tuple[int, int], list[int]] = {}
        for p, a, q in self.edges.tolist():
            moves.setdefault((p, a), []).append(q)
        cur = self._closure_int(sum(1 << int(q) for q in self.starts), eps_adj)
        for i, sym in enumerate(word):
            if sym not in index:
                raise AlphabetError(f"symbol {sym!r} at position {i} is not in the alphabet {list(self.alphabet)}")
            a = index[sym]
            nxt = 0
            for q in range(self.n_states):
                if cur >> q & 1:
                    for t in moves.get((q, a), ()):
                        nxt |= 1 << t
            cur = self._closure_int(nxt, eps_adj)
        return any(cur >> q & 1 and self.accepting[q] for q in range(self.n_states))

    # ------------------------------------------------------------------ epsilon removal
    def remove_epsilon(self) -> "NFA":
        """An equivalent NFA without epsilon edges, trimmed to useful states.

        Keeps the *important* states (those with a labelled edge out, and accepting
        ones); ``p -a-> closure(t)`` for every labelled edge ``p -a-> t``; the start set
        is the closure of the starts. States that are unreachable or cannot reach an
        accepting state are dropped (the start set may become empty: empty language).
        """
        n = self.n_states
        if self.eps.size == 0:
            return self._trim()
        important = np.zeros(n, dtype=bool)
        important[self.edges[:, 0]] = True
        important |= self.accepting
        clo = _eps_closures(n, self.eps, important)  # closure of each state, important states only
        rows: list[tuple[int, int, int]] = []
        for p, a, t in self.edges.tolist():
            rows.extend((p, a, q) for q in clo[t])
        start: set[int] = set()
        for s in self.starts.tolist():
            start.update(clo[s])
        starts = sorted(start)
        return NFA(self.alphabet, n, np.array(rows, dtype=np.int64).reshape(-1, 3), starts, self.accepting, validate=False)._trim()

    def _trim(self) -> "NFA":
        """Drop states not reachable from the starts or not co-reachable to acceptance; renumber compactly."""
        n = self.n_states
        src, dst = self.edges[:, 0], self.edges[:, 2]
        if self.eps.size:
            src = np.concatenate([src, self.eps[:, 0]])
            dst = np.concatenate([dst, self.eps[:, 1]])
        fwd = _reach(n, src, dst, self.starts)
        bwd = _reach(n, dst, src, np.flatnonzero(self.accepting))
        keep = fwd & bwd
        if keep.all():
            return self
        new = np.full(n, -1, dtype=np.int64)
        idx = np.flatnonzero(keep)
        new[idx] = np.arange(idx.size)
        e = self.edges[keep[self.edges[:, 0]] & keep[self.edges[:, 2]]]
        e = np.stack([new[e[:, 0]], e[:, 1], new[e[:, 2]]], axis=1) if e.size else np.zeros((0, 3), np.int64)
        ep = self.eps[keep[self.eps[:, 0]] & keep[self.eps[:, 1]]] if self.eps.size else self.eps
        ep = new[ep] if ep.size else np.zeros((0, 2), np.int64)
        return NFA(self.alphabet, idx.size, e, new[self.starts[keep[self.starts]]], self.accepting[idx], ep, validate=False)

    # ------------------------------------------------------------------ determinisation
    def determinize(
        self, max_states: int | None = None, *, vector_threshold: int | None = None, progress: bool = False
    ) -> DFA:
        """Complete DFA of the reachable subsets (breadth-first ids, states named ``"0".."n-1"``).

        ``max_states`` (default :data:`MAX_STATES`) guards the number of subsets: past it a
        :class:`StateLimitError` is raised. ``vector_threshold`` (default
        :data:`VECTOR_THRESHOLD`) is the frontier size from which a layer advances with
        numpy (0: always numpy; tests use it). ``progress`` shows a tqdm bar. Callers
        minimise the result.
        """
        limit = MAX_STATES if max_states is None else int(max_states)
        thr = VECTOR_THRESHOLD if vector_threshold is None else int(vector_threshold)
        delta, acc = subset_arrays(self.remove_epsilon(), limit, thr, progress)
        return DFA(self.alphabet, list(map(str, range(delta.shape[0]))), 0, acc, delta, validate=False)


@dataclass
class _Classes:
    """Symbols grouped by identical columns: ``of_symbol [k]`` class id per symbol; classes ordered by first symbol."""

    of_symbol: np.ndarray
    n: int


def _symbol_classes(nfa: NFA) -> _Classes:
    k = len(nfa.alphabet)
    cols: dict[tuple, int] = {}
    per_sym: list[list[tuple[int, int]]] = [[] for _ in range(k)]
    for p, a, q in sorted(map(tuple, nfa.edges.tolist())):
        per_sym[a].append((p, q))
    of = np.empty(k, dtype=np.int64)
    for a in range(k):
        of[a] = cols.setdefault(tuple(per_sym[a]), len(cols))
    return _Classes(of, len(cols))


def _eps_closures(n: int, eps: np.ndarray, keep: np.ndarray) -> list[frozenset[int]]:
    """Epsilon closure of every state, restricted to the states of bool mask ``keep``.

    Computed once per strongly connected component of the epsilon graph, in reverse
    topological order (a component's closure is its kept members plus its successors'
    closures); memory is the total size of the closures.
    """
    edges = np.asarray(eps, dtype=np.int64).reshape(-1, 2)
    # Tarjan numbers the components in reverse topological order (sinks first)
    comp = strongly_connected(n, edges[:, 0], edges[:, 1]).tolist()
    n_comp = max(comp) + 1 if n else 0
    members: list[list[int]] = [[] for _ in range(n_comp)]
    succ_comps: list[set[int]] = [set() for _ in range(n_comp)]
    kl = keep.tolist()
    for q in range(n):
        if kl[q]:
            members[comp[q]].append(q)
    for p, t in edges.tolist():
        if comp[t] != comp[p]:
            succ_comps[comp[p]].add(comp[t])
    clo_c: list[frozenset[int]] = []
    for c in range(n_comp):  # successors have smaller numbers: already done
        succ = succ_comps[c]
        if not succ:
            clo_c.append(frozenset(members[c]))
        elif len(succ) == 1 and not members[c]:
            clo_c.append(clo_c[next(iter(succ))])
        else:
            s = set(members[c])
            for d in succ:
                s.update(clo_c[d])
            clo_c.append(frozenset(s))
    return [clo_c[comp[q]] for q in range(n)]


def _reach(n: int, src: np.ndarray, dst: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Bool mask of nodes reachable from ``seeds`` along edges ``src[i] -> dst[i]``."""
    seen = np.zeros(n, dtype=bool)
    if n == 0 or len(seeds) == 0:
        return seen
    if src.size <= SMALL_GRAPH:  # plain Python is faster on small graphs
        adj: list[list[int]] = [[] for _ in range(n)]
        for p, q in zip(src.tolist(), dst.tolist()):
            adj[p].append(q)
        mark = [False] * n
        stack = [int(q) for q in seeds]
        for q in stack:
            mark[q] = True
        while stack:
            for t in adj[stack.pop()]:
                if not mark[t]:
                    mark[t] = True
                    stack.append(t)
        return np.array(mark, dtype=bool)
    order = np.argsort(src, kind="stable")
    s_sorted, d_sorted = src[order], dst[order]
    ptr = np.searchsorted(s_sorted, np.arange(n + 1))
    frontier = np.unique(np.asarray(seeds, dtype=np.int64))
    seen[frontier] = True
    while frontier.size:
        lo, hi = ptr[frontier], ptr[frontier + 1]
        cnt = hi - lo
        if cnt.sum() == 0:
            break
        idx = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(cnt.sum())
        nxt = np.unique(d_sorted[idx])
        nxt = nxt[~seen[nxt]]
        seen[nxt] = True
        frontier = nxt
    return seen


# ---------------------------------------------------------------------- subset construction


class _Stepper:
    """Successor subsets of a whole frontier, per symbol class.

    ``masks[c][q]``: Python-int bitset of the successors of NFA state ``q`` on class ``c``.
    The numpy path uses either byte tables ``tables [m, n_bytes, 256, W]`` (OR of the
    successor masks of the states whose bits form that byte) or, when those would be
    larger than :data:`TABLE_BYTES`, a sparse expansion over CSR edge lists.
    """

    def __init__(self, nfa: NFA, classes: _Classes):
        n, m = nfa.n_states, classes.n
        self.n, self.m = n, m
        self.W = max(1, (n + 63) // 64)
        rep = np.full(m, -1, dtype=np.int64)  # a representative symbol per class
        for a in range(len(classes.of_symbol) - 1, -1, -1):
            rep[classes.of_symbol[a]] = a
        self.masks: list[list[int]] = [[0] * n for _ in range(m)]
        sym_to_class = classes.of_symbol
        e = nfa.edges
        keep = rep[sym_to_class[e[:, 1]]] == e[:, 1] if e.size else np.zeros(0, bool)
        e = e[keep]
        for p, a, q in e.tolist():
            self.masks[int(sym_to_class[a])][p] |= 1 << q
        self.edges = e
        self.classes = sym_to_class
        n_bytes = (n + 7) // 8
        self.n_bytes = n_bytes
        self.use_table = m * n_bytes * 256 * self.W * 8 <= TABLE_BYTES
        self.tables: np.ndarray | None = None
        self.csr: list[tuple[np.ndarray, np.ndarray]] = []
        self.sparse: list[list[tuple[int, int]]] | None = None  # per state: (class, successor mask) pairs

    def _build_tables(self) -> None:
        m, W, nb = self.m, self.W, self.n_bytes
        succ = np.zeros((m, nb * 8, W), dtype=np.uint64)
        for c in range(m):
            for q, mask in enumerate(self.masks[c]):
                if mask:
                    succ[c, q] = np.frombuffer(mask.to_bytes(8 * W, "little"), dtype=np.uint64)
        v = np.arange(256, dtype=np.uint16)
        tables = np.zeros((m, nb, 256, W), dtype=np.uint64)
        for b in range(8):
            has = ((v >> b) & 1).astype(bool)
            tables[:, :, has, :] |= succ[:, b::8, None, :]
        self.tables = tables

    def _build_csr(self) -> None:
        n = self.n
        for c in range(self.m):
            e = self.edges[self.classes[self.edges[:, 1]] == c] if self.edges.size else self.edges
            order = np.lexsort((e[:, 2], e[:, 0])) if e.size else np.zeros(0, np.int64)
            e = e[order]
            ptr = np.searchsorted(e[:, 0], np.arange(n + 1)) if e.size else np.zeros(n + 1, np.int64)
            self.csr.append((ptr, e[:, 2].copy()))

    def step_python(self, s: int) -> list[int]:
        """Successor bitsets of one subset, one per class."""
        if self.sparse is None:
            self.sparse = [[(c, self.masks[c][q]) for c in range(self.m) if self.masks[c][q]] for q in range(self.n)]
        out = [0] * self.m
        sparse = self.sparse
        x = s
        while x:
            low = x & -x
            for c, mk in sparse[low.bit_length() - 1]:
                out[c] |= mk
            x ^= low
        return out

    def step_numpy(self, rows: np.ndarray) -> np.ndarray:
        """``rows [F, W]`` uint64 -> successors ``[F, m, W]``."""
        if self.use_table:
            if self.tables is None:
                self._build_tables()
            by = rows.view(np.uint8)[:, : self.n_bytes]  # [F, n_bytes] little-endian bytes
            out = np.zeros((rows.shape[0], self.m, self.W), dtype=np.uint64)
            for j in range(self.n_bytes):
                out |= self.tables[:, j, by[:, j], :].transpose(1, 0, 2)
            return out
        if not self.csr:
            self._build_csr()
        F = rows.shape[0]
        out = np.zeros((F, self.m, self.W), dtype=np.uint64)
        chunk = max(1, (8 << 20) // max(self.n, 1))
        for lo in range(0, F, chunk):
            part = rows[lo : lo + chunk]
            bits = np.unpackbits(part.view(np.uint8), axis=1, bitorder="little")[:, : self.n]
            r, q = np.nonzero(bits)
            for c, (ptr, dst) in enumerate(self.csr):
                cnt = ptr[q + 1] - ptr[q]
                total = int(cnt.sum())
                dense = np.zeros((part.shape[0], self.W * 64), dtype=bool)
                if total:
                    starts = np.repeat(ptr[q] - np.cumsum(cnt) + cnt, cnt) + np.arange(total)
                    dense[np.repeat(r, cnt), dst[starts]] = True
                out[lo : lo + part.shape[0], c] = np.packbits(dense, axis=1, bitorder="little").view(np.uint64)
        return out


def _int_to_row(s: int, W: int) -> np.ndarray:
    return np.frombuffer(s.to_bytes(8 * W, "little"), dtype=np.uint64)


def _rows_to_ints(rows: np.ndarray) -> list[int]:
    """``[R, W]`` uint64 -> Python ints (bit q of the int = state q)."""
    if rows.shape[1] == 1:
        return rows[:, 0].tolist()
    data = np.ascontiguousarray(rows).tobytes()
    w = rows.shape[1] * 8
    return [int.from_bytes(data[i : i + w], "little") for i in range(0, len(data), w)]


def _unique_rows_first(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``rows [R, W]`` in order of first occurrence: ``(first [U], inverse [R])``.

    ``first[u]`` is the row index where distinct row ``u`` first occurs; ``inverse[r]`` the
    distinct id of row ``r`` (ids numbered by first occurrence).
    """
    if rows.shape[1] == 1:
        _, first, inv = np.unique(rows[:, 0], return_index=True, return_inverse=True)
    else:
        v = np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1] * 8))).ravel()
        _, first, inv = np.unique(v, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return first[order], rank[inv.reshape(-1)]


class _SortedStore:
    """Known one-word subsets as a sorted uint64 key array with their ids (vectorised lookup and insert)."""

    def __init__(self, index: dict[int, int]):
        keys = np.fromiter(index.keys(), dtype=np.uint64, count=len(index))
        ids = np.fromiter(index.values(), dtype=np.int64, count=len(index))
        order = np.argsort(keys)
        self.keys, self.ids = keys[order], ids[order]

    def lookup(self, q: np.ndarray) -> np.ndarray:
        """Ids of the keys ``q`` (-1 where unknown)."""
        pos = np.searchsorted(self.keys, q)
        pos_c = np.minimum(pos, self.keys.size - 1)
        hit = self.keys[pos_c] == q
        return np.where(hit, self.ids[pos_c], -1)

    def insert(self, new_keys: np.ndarray, first_id: int) -> None:
        """Add distinct unknown keys with ids ``first_id, first_id + 1, ...`` (in the given order)."""
        ids = np.arange(first_id, first_id + new_keys.size, dtype=np.int64)
        order = np.argsort(new_keys)
        k, i = new_keys[order], ids[order]
        pos = np.searchsorted(self.keys, k)
        self.keys = np.insert(self.keys, pos, k)
        self.ids = np.insert(self.ids, pos, i)


def subset_arrays(nfa: NFA, limit: int, threshold: int, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Subset construction of an epsilon-free NFA: ``(delta [S, k] int64, accepting [S] bool)``.

    ``progress=True`` shows a tqdm bar of the subsets found (one update per layer).

    Subsets get ids in breadth-first order (symbols in alphabet order), the start set is
    id 0, the empty subset (if reachable) is the rejecting sink.
    """
    if nfa.eps.size:
        raise ValueError("subset_arrays needs an epsilon-free NFA (call remove_epsilon)")
    classes = _symbol_classes(nfa)
    st = _Stepper(nfa, classes)
    W, m = st.W, st.m
    acc_int = sum(1 << int(q) for q in np.flatnonzero(nfa.accepting))
    acc_row = _int_to_row(acc_int, W)
    start = sum(1 << int(q) for q in nfa.starts)
    index: dict[int, int] = {start: 0}
    n_total = 1
    delta_parts: list[np.ndarray] = []  # class-successor ids, blocks of rows in state order
    acc_parts: list[np.ndarray] = [np.array([start & acc_int != 0])]
    frontier: list[int] = [start]
    frontier_rows: np.ndarray | None = None
    store: _SortedStore | None = None
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(desc="subset construction", unit=" states", leave=False)
    while frontier:
        if (len(frontier) < threshold and store is None) or m == 0:
            new: list[int] = []
            block = np.empty((len(frontier), m), dtype=np.int64)
            for r, s in enumerate(frontier):
                for c, t in enumerate(st.step_python(s)):
                    j = index.get(t)
                    if j is None:
                        j = index[t] = n_total + len(new)
                        new.append(t)
                    block[r, c] = j
            n_total += len(new)
            delta_parts.append(block)
            acc_parts.append(np.fromiter(((t & acc_int) != 0 for t in new), dtype=bool, count=len(new)))
            frontier, frontier_rows = new, None
        else:
            rows = frontier_rows if frontier_rows is not None else np.stack([_int_to_row(s, W) for s in frontier])
            succ = st.step_numpy(rows).reshape(-1, W)
            if W == 1:  # one word per subset: a sorted key array replaces the dictionary from now on
                if store is None:
                    store = _SortedStore(index)
                ids = store.lookup(succ[:, 0])
            else:
                keys = _rows_to_ints(succ)
                ids = np.fromiter(map(index.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
            miss = np.flatnonzero(ids < 0)
            if miss.size:
                first, inv = _unique_rows_first(succ[miss])
                ids[miss] = n_total + inv
                new_pos = miss[first]
                frontier_rows = succ[new_pos]
                if store is not None:
                    store.insert(frontier_rows[:, 0], n_total)
                    new = [0] * new_pos.size  # placeholders: the rows travel in frontier_rows
                else:
                    new = [keys[i] for i in new_pos.tolist()]
                    index.update(zip(new, range(n_total, n_total + len(new))))
                n_total += new_pos.size
                acc_parts.append((frontier_rows & acc_row).any(axis=1))
            else:
                new, frontier_rows = [], None
            delta_parts.append(ids.reshape(-1, m))
            frontier = new
        if bar is not None:
            bar.update(n_total - bar.n)
        if n_total > limit:
            if bar is not None:
                bar.close()
            raise StateLimitError(
                f"subset construction exceeded max_states={limit} (at least {n_total} subsets); "
                "raise max_states or simplify the pattern"
            )
    if bar is not None:
        bar.close()
    accepting = np.concatenate(acc_parts)
    if m == 0:  # empty alphabet
        return np.zeros((n_total, 0), dtype=np.int64), accepting
    return np.concatenate(delta_parts, axis=0)[:, classes.of_symbol], accepting


def determinize_reference(nfa: NFA) -> DFA:
    """Plain subset construction (one subset at a time, Python sets; breadth-first; complete).

    The reference the layered, vectorised :meth:`NFA.determinize` is tested against.
    """
    eps_adj: dict[int, list[int]] = {}
    for p, q in nfa.eps.tolist():
        eps_adj.setdefault(p, []).append(q)
    moves: dict[tuple[int, int], list[int]] = {}
    for p, a, q in nfa.edges.tolist():
        moves.setdefault((p, a), []).append(q)

    def closure(s: set[int]) -> frozenset[int]:
        stack, seen = list(s), set(s)
        while stack:
            for t in eps_adj.get(stack.pop(), ()):
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        return frozenset(seen)

    k = len(nfa.alphabet)
    start = closure(set(nfa.starts.tolist()))
    index = {start: 0}
    order = [start]
    rows = []
    queue = deque([start])
    while queue:
        s = queue.popleft()
        row = []
        for a in range(k):
            t = closure({q for p in s for q in moves.get((p, a), ())})
            if t not in index:
                index[t] = len(order)
                order.append(t)
                queue.append(t)
            row.append(index[t])
        rows.append(row)
    acc = [any(nfa.accepting[q] for q in s) for s in order]
    delta = np.array(rows, dtype=np.int64).reshape(len(order), k)
    return DFA(nfa.alphabet, [str(i) for i in range(len(order))], 0, np.array(acc, dtype=bool), delta)
