"""The DFA value object: validated, immutable, array-backed.

Conventions
-----------
* ``alphabet``: tuple of symbols (strings, possibly longer than one character);
  symbol ``a`` has id ``alphabet.index(a)``.
* ``states``: tuple of state names (strings); state ``q`` has id ``states.index(q)``.
* ``delta``: int64 array ``[n_states, n_symbols]``; ``delta[q, a]`` is the successor
  id, or ``-1`` for a missing transition (an implicit rejecting sink).
* ``accepting``: bool array ``[n_states]``. The constructor takes a boolean mask (a bool array or a list of
  Python bools) or a list of state names; a list of integers is refused, since ``[1, 0]`` could mean a mask or
  state ids.
* ``start``: the start state id.

A *word* is either a string (when every symbol has one character: each character
is a symbol) or a sequence of symbols.

Example:
    >>> d = DFA.from_json({"alphabet": ["0", "1"], "states": ["e", "o"], "start": "e",
    ...     "accepting": ["e"], "transitions": {"e": {"0": "e", "1": "o"}, "o": {"0": "o", "1": "e"}}})
    >>> d.accepts("0110"), d.accepts("01")
    (True, False)
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from statetrack.errors import AlphabetError, DFAFormatError
from statetrack.untrusted import expect_int


@dataclass(frozen=True)
class Equivalence:
    """Result of a language-equivalence check.

    ``counterexample`` is a shortest word (tuple of symbols) in exactly one of the two
    languages, or ``None`` when they are equal; ``accepted_by`` says which side
    (``"left"`` or ``"right"``) accepts it. Truthiness is ``equivalent``.
    """

    equivalent: bool
    counterexample: tuple[str, ...] | None = None
    accepted_by: str | None = None

    def __bool__(self) -> bool:
        return self.equivalent


class DFA:
    """A deterministic finite automaton (possibly partial).

    Construct with :meth:`from_json`, :meth:`from_regex`, :meth:`load`, or directly
    from arrays (validated unless ``validate=False``).
    """

    __slots__ = ("alphabet", "states", "start", "accepting", "delta", "_sym_index", "_hash")

    def __init__(
        self,
        alphabet: Sequence[str],
        states: Sequence[str] | None,
        start: int,
        accepting: Sequence[bool] | np.ndarray | Iterable[str],
        delta: np.ndarray | Sequence[Sequence[int]],
        *,
        validate: bool = True,
    ):
        alphabet = tuple(str(a) for a in alphabet)
        delta = np.asarray(delta, dtype=np.int64)
        if delta.ndim != 2:
            delta = delta.reshape(-1, len(alphabet))
        n = delta.shape[0]
        if states is None:
            states = tuple(str(i) for i in range(n))
        if validate or not isinstance(states, tuple):
            states = tuple(str(s) for s in states)
        acc = _accepting_mask(accepting, states, n)
        if validate:
            if len(set(alphabet)) != len(alphabet):
                dup = next(a for a in alphabet if alphabet.count(a) > 1)
                raise AlphabetError(f"duplicate symbol {dup!r} in the alphabet")
            if any(a == "" for a in alphabet):
                raise AlphabetError("the empty string is not a symbol")
            if len(set(states)) != len(states):
                dup = next(s for s in states if states.count(s) > 1)
                raise DFAFormatError(f"duplicate state {dup!r}")
            if n == 0:
                raise DFAFormatError("a DFA needs at least one state")
            if len(states) != n:
                raise DFAFormatError(f"{len(states)} state names for {n} transition rows")
            if delta.shape[1] != len(alphabet):
                raise DFAFormatError(f"transition table has {delta.shape[1]} columns for {len(alphabet)} symbols")
            if acc.shape != (n,):
                raise DFAFormatError("accepting mask has the wrong length")
            if not (0 <= int(start) < n):
                raise DFAFormatError(f"start state id {start} out of range")
            bad = (delta < -1) | (delta >= n)
            if bad.any():
                q, a = map(int, np.argwhere(bad)[0])
                raise DFAFormatError(f"transition from state {states[q]!r} on {alphabet[a]!r} goes to unknown id {int(delta[q, a])}")
        delta = np.ascontiguousarray(delta)
        delta.setflags(write=False)
        acc = np.ascontiguousarray(acc, dtype=bool)
        acc.setflags(write=False)
        self.alphabet: tuple[str, ...] = alphabet
        self.states: tuple[str, ...] = states
        self.start: int = int(start)
        self.accepting: np.ndarray = acc
        self.delta: np.ndarray = delta
        self._sym_index = {a: i for i, a in enumerate(alphabet)}
        self._hash = None

    # ------------------------------------------------------------------ basics
    @property
    def n_states(self) -> int:
        return self.delta.shape[0]

    @property
    def n_symbols(self) -> int:
        return len(self.alphabet)

    @property
    def is_complete(self) -> bool:
        """True when no transition is missing."""
        return bool((self.delta >= 0).all())

    @property
    def single_char(self) -> bool:
        """True when every symbol is one character (words can be plain strings)."""
        return all(len(a) == 1 for a in self.alphabet)

    def symbol_id(self, symbol: str) -> int:
        try:
            return self._sym_index[symbol]
        except KeyError:
            raise AlphabetError(f"symbol {symbol!r} is not in the alphabet {list(self.alphabet)}") from None

    def tokenize(self, word: "str | Sequence[str]", sep: str | None = None) -> tuple[str, ...]:
        """Split a word into symbols and check each is in the alphabet.

        A string is split into characters (or on ``sep`` when given); a sequence is taken
        as symbols. Raises :class:`AlphabetError` naming the symbol and its position.
        """
        if isinstance(word, str):
            if sep is not None:
                syms = tuple(s for s in word.split(sep) if s != "") if word else ()
            else:
                syms = tuple(word)
        else:
            syms = tuple(word)
        for i, s in enumerate(syms):
            if s not in self._sym_index:
                raise AlphabetError(f"symbol {s!r} at position {i} is not in the alphabet {list(self.alphabet)}")
        return syms

    def encode(self, word: "str | Sequence[str]", sep: str | None = None) -> np.ndarray:
        """Word -> int64 array of symbol ids."""
        return np.fromiter((self._sym_index[s] for s in self.tokenize(word, sep)), dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> tuple[str, ...]:
        """Array of symbol ids -> tuple of symbols."""
        return tuple(self.alphabet[int(i)] for i in ids)

    def word_str(self, word: Sequence[str]) -> str:
        """Render a word for display: concatenated when symbols are single characters, else space-separated."""
        return "".join(word) if self.single_char else " ".join(word)

    def run(self, word: "str | Sequence[str]", state: int | None = None) -> int:
        """The state id reached after reading ``word`` from ``state`` (default: the start; -1 once a missing
        transition was taken)."""
        q = self.start if state is None else state
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not -1 <= q < self.n_states:
            raise DFAFormatError(f"run: state must be a state id in [0, {self.n_states}) or -1, got {q!r}")
        d = self.delta
        for s in self.tokenize(word):
            if q < 0:
                return -1
            q = int(d[q, self._sym_index[s]])
        return q

    def trace(self, word: "str | Sequence[str]") -> list[int]:
        """State ids after each prefix, including the empty prefix (length ``len(word) + 1``)."""
        q = self.start
        out = [q]
        for s in self.tokenize(word):
            q = int(self.delta[q, self._sym_index[s]]) if q >= 0 else -1
            out.append(q)
        return out

    def accepts(self, word: "str | Sequence[str]") -> bool:
        """Membership of ``word``."""
        q = self.run(word)
        return q >= 0 and bool(self.accepting[q])

    def run_batch(self, ids: np.ndarray) -> np.ndarray:
        """Vectorised run: ``ids [B, T]`` symbol ids (``-1`` = padding, state unchanged) -> states ``[B, T]``.

        Missing transitions give -1 and stay -1. Ids below -1 or from ``n_symbols`` up raise :class:`AlphabetError`.
        """
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise AlphabetError(f"run_batch: ids must be a [B, T] array, got shape {ids.shape}")
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise AlphabetError(f"run_batch: ids must be integers, got dtype {ids.dtype}")
        ids = ids.astype(np.int64, copy=False)
        bad = (ids < -1) | (ids >= self.n_symbols)
        if bad.any():
            b, t = (int(x) for x in np.argwhere(bad)[0])
            raise AlphabetError(f"run_batch: ids[{b}, {t}] = {int(ids[b, t])} is not a symbol id in "
                                f"[0, {self.n_symbols}) nor the padding -1")
        B, T = ids.shape
        d = self.delta
        q = np.full(B, self.start, dtype=np.int64)
        out = np.empty((B, T), dtype=np.int64)
        for t in range(T):
            a = ids[:, t]
            live = (q >= 0) & (a >= 0)
            nq = q.copy()
            nq[live] = d[q[live], a[live]]
            q = nq
            out[:, t] = q
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_json(cls, obj: "Mapping | str | os.PathLike") -> "DFA":
        """Read the DFA JSON format (a dict, a JSON string, or a path)."""
        from .formats import dfa_from_json

        return dfa_from_json(obj)

    @classmethod
    def from_regex(cls, pattern: str, alphabet: "Sequence[str] | str | None" = None, *, max_states: int | None = None) -> "DFA":
        """Minimal complete DFA of ``pattern`` (full-match semantics) over ``alphabet``.

        ``alphabet`` defaults to the literal symbols of the pattern; a string is split into characters.
        """
        from .regex import regex_to_dfa

        return regex_to_dfa(pattern, alphabet=alphabet, max_states=max_states)

    @classmethod
    def load(cls, path: "str | os.PathLike") -> "DFA":
        """Read a DFA file by suffix: ``.json``, ``.dot``/``.gv``, ``.jff``."""
        from .formats import load_dfa

        return load_dfa(path)

    def save(self, path: "str | os.PathLike", fmt: str | None = None) -> None:
        """Write atomically in the format given by ``fmt`` or the suffix."""
        from .formats import save_dfa

        save_dfa(self, path, fmt)

    def to_json(self) -> dict:
        """The DFA JSON object of the design (missing transitions omitted)."""
        trans: dict[str, dict[str, str]] = {}
        for q, name in enumerate(self.states):
            row = {}
            for a, sym in enumerate(self.alphabet):
                t = int(self.delta[q, a])
                if t >= 0:
                    row[sym] = self.states[t]
            trans[name] = row
        return {
            "alphabet": list(self.alphabet),
            "states": list(self.states),
            "start": self.states[self.start],
            "accepting": [self.states[q] for q in range(self.n_states) if self.accepting[q]],
            "transitions": trans,
        }

    def to_json_str(self) -> str:
        """Canonical JSON text (sorted keys, compact) used for hashing."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def sha256(self) -> str:
        """SHA-256 of :meth:`to_json_str` (the ``dfa_sha256`` of compiled models)."""
        if self._hash is None:
            self._hash = hashlib.sha256(self.to_json_str().encode()).hexdigest()
        return self._hash

    # ------------------------------------------------------------------ structure
    def with_names(self, states: Sequence[str]) -> "DFA":
        return DFA(self.alphabet, states, self.start, self.accepting, self.delta)

    def complete(self, sink_name: str = "sink") -> "DFA":
        """An equivalent complete DFA (adds a rejecting sink only if a transition is missing)."""
        if self.is_complete:
            return self
        name = sink_name
        while name in self.states:
            name = "_" + name
        n = self.n_states
        d = np.vstack([self.delta, np.full((1, self.n_symbols), n, dtype=np.int64)])
        d[d < 0] = n
        return DFA(self.alphabet, self.states + (name,), self.start, np.append(self.accepting, False), d)

    def with_alphabet(self, alphabet: Sequence[str]) -> "DFA":
        """The same language over a larger alphabet (new symbols go to the implicit sink)."""
        alphabet = tuple(alphabet)
        missing = [a for a in self.alphabet if a not in alphabet]
        if missing:
            raise AlphabetError(f"symbol {missing[0]!r} of the DFA is not in the new alphabet")
        d = np.full((self.n_states, len(alphabet)), -1, dtype=np.int64)
        for j, a in enumerate(alphabet):
            if a in self._sym_index:
                d[:, j] = self.delta[:, self._sym_index[a]]
        return DFA(alphabet, self.states, self.start, self.accepting, d)

    def reachable_states(self) -> np.ndarray:
        """Bool mask of the states reachable from the start."""
        seen = np.zeros(self.n_states, dtype=bool)
        seen[self.start] = True
        frontier = np.array([self.start])
        while frontier.size:
            nxt = self.delta[frontier].ravel()
            nxt = np.unique(nxt[nxt >= 0])
            nxt = nxt[~seen[nxt]]
            seen[nxt] = True
            frontier = nxt
        return seen

    def coreachable_states(self) -> np.ndarray:
        """Bool mask of the states from which an accepting state can be reached."""
        good = self.accepting.copy()
        while True:
            d = self.delta
            succ_good = np.where(d >= 0, good[np.maximum(d, 0)], False).any(axis=1)
            new = good | succ_good
            if (new == good).all():
                return good
            good = new

    def restrict(self, keep: np.ndarray) -> "DFA":
        """Sub-DFA on the states of bool mask ``keep`` (must include the start); other targets become missing."""
        keep = np.asarray(keep, dtype=bool)
        if not keep[self.start]:
            keep = keep.copy()
            keep[self.start] = True
        new_id = np.full(self.n_states + 1, -1, dtype=np.int64)
        idx = np.flatnonzero(keep)
        new_id[idx] = np.arange(idx.size)
        d = self.delta[idx]
        d = new_id[np.where(d >= 0, d, self.n_states)]
        return DFA(self.alphabet, [self.states[i] for i in idx], int(new_id[self.start]), self.accepting[idx], d)

    def trim(self) -> "DFA":
        """Remove unreachable and dead states (the result may be partial)."""
        return self.restrict(self.reachable_states() & (self.coreachable_states() | (np.arange(self.n_states) == self.start)))

    def renumber_bfs(self) -> "DFA":
        """Reachable part with states numbered in breadth-first order (symbols in alphabet order); names kept."""
        order = [self.start]
        pos = {self.start: 0}
        i = 0
        while i < len(order):
            q = order[i]
            i += 1
            for a in range(self.n_symbols):
                t = int(self.delta[q, a])
                if t >= 0 and t not in pos:
                    pos[t] = len(order)
                    order.append(t)
        perm = np.array(order, dtype=np.int64)
        new_id = np.full(self.n_states + 1, -1, dtype=np.int64)
        new_id[perm] = np.arange(perm.size)
        d = self.delta[perm]
        d = new_id[np.where(d >= 0, d, self.n_states)]
        return DFA(self.alphabet, [self.states[q] for q in perm], 0, self.accepting[perm], d)

    def minimize(self) -> "DFA":
        """The minimal complete DFA of the same language.

        States are in breadth-first order from the start (symbols in alphabet order), each named after the
        first of its original members in that order; a missing transition becomes a rejecting sink.
        """
        from .minimize import minimize

        return minimize(self)

    def is_isomorphic(self, other: "DFA") -> bool:
        """Same alphabet and the same transition structure up to renaming of states."""
        if self.alphabet != other.alphabet:
            return False
        a, b = self.renumber_bfs(), other.renumber_bfs()
        return a.n_states == b.n_states and bool((a.delta == b.delta).all()) and bool((a.accepting == b.accepting).all())

    def relabel(self, prefix: str = "q") -> "DFA":
        """Same DFA with states named ``prefix0, prefix1, ...``."""
        return DFA(self.alphabet, [f"{prefix}{i}" for i in range(self.n_states)], self.start, self.accepting, self.delta)

    # ------------------------------------------------------------------ boolean algebra
    def _aligned(self, other: "DFA") -> tuple["DFA", "DFA"]:
        if self.alphabet == other.alphabet:
            return self.complete(), other.complete()
        alpha = list(self.alphabet) + [a for a in other.alphabet if a not in self._sym_index]
        return self.with_alphabet(alpha).complete(), other.with_alphabet(alpha).complete()

    def product(self, other: "DFA", op: str) -> "DFA":
        """Product automaton (reachable pairs) with acceptance ``op`` in ``and|or|diff|xor``.

        Alphabets are united (a symbol missing from one side sends that side to its sink).
        """
        a, b = self._aligned(other)
        k = a.n_symbols
        nb = b.n_states
        start = a.start * nb + b.start
        index = {start: 0}
        order = [start]
        rows: list[np.ndarray] = []
        i = 0
        while i < len(order):
            p = order[i]
            i += 1
            qa, qb = divmod(p, nb)
            succ = a.delta[qa] * nb + b.delta[qb]
            row = np.empty(k, dtype=np.int64)
            for s in range(k):
                t = int(succ[s])
                j = index.get(t)
                if j is None:
                    j = index[t] = len(order)
                    order.append(t)
                row[s] = j
            rows.append(row)
        pairs = np.array(order, dtype=np.int64)
        fa, fb = a.accepting[pairs // nb], b.accepting[pairs % nb]
        acc = {"and": fa & fb, "or": fa | fb, "diff": fa & ~fb, "xor": fa ^ fb}[op]
        names = [f"({a.states[p // nb]},{b.states[p % nb]})" for p in pairs]
        return DFA(a.alphabet, names, 0, acc, np.vstack(rows))

    def __and__(self, other: "DFA") -> "DFA":
        return self.product(other, "and")

    def __or__(self, other: "DFA") -> "DFA":
        return self.product(other, "or")

    def __sub__(self, other: "DFA") -> "DFA":
        return self.product(other, "diff")

    def __xor__(self, other: "DFA") -> "DFA":
        return self.product(other, "xor")

    def complement(self) -> "DFA":
        """Complement relative to ``alphabet*``."""
        c = self.complete()
        return DFA(c.alphabet, c.states, c.start, ~c.accepting, c.delta)

    def __invert__(self) -> "DFA":
        return self.complement()

    def reverse(self) -> "DFA":
        """A DFA (by subset construction) of the reversed language."""
        from .nfa import NFA

        return NFA.from_dfa(self).reversed().determinize()

    # ------------------------------------------------------------------ decisions
    def shortest_accepted(self) -> tuple[str, ...] | None:
        """A shortest accepted word (length-lexicographically least), or None if the language is empty."""
        prev: dict[int, tuple[int, int]] = {self.start: (-1, -1)}
        queue = deque([self.start])
        while queue:
            q = queue.popleft()
            if self.accepting[q]:
                word = []
                while prev[q][0] >= 0:
                    p, a = prev[q]
                    word.append(self.alphabet[a])
                    q = p
                return tuple(reversed(word))
            for a in range(self.n_symbols):
                t = int(self.delta[q, a])
                if t >= 0 and t not in prev:
                    prev[t] = (q, a)
                    queue.append(t)
        return None

    def is_empty(self) -> bool:
        """True when no word is accepted."""
        return self.shortest_accepted() is None

    def is_finite(self) -> bool:
        """True when the language is finite (no cycle through a live, reachable state)."""
        live = self.reachable_states() & self.coreachable_states()
        idx = np.flatnonzero(live)
        if idx.size == 0:
            return True
        sub = self.delta[idx]
        new_id = np.full(self.n_states + 1, -1, dtype=np.int64)
        new_id[idx] = np.arange(idx.size)
        sub = new_id[np.where(sub >= 0, sub, self.n_states)]
        # Kahn's algorithm: the live part is acyclic iff every node can be removed.
        indeg = np.zeros(idx.size, dtype=np.int64)
        edges = sub[sub >= 0]
        np.add.at(indeg, edges, 1)
        stack = list(np.flatnonzero(indeg == 0))
        removed = 0
        while stack:
            q = stack.pop()
            removed += 1
            for t in sub[q]:
                if t >= 0:
                    indeg[t] -= 1
                    if indeg[t] == 0:
                        stack.append(int(t))
        return removed == idx.size

    def equivalent(self, other: "DFA") -> Equivalence:
        """Language equivalence with a shortest (then lexicographically least) counterexample.

        A breadth-first search over pairs of states, frontier by frontier with numpy, that stops at the
        first pair whose acceptance differs; symbols are explored in alphabet order, so the first such pair
        is reached by the length-lexicographically least distinguishing word.
        """
        a, b = self._aligned(other)
        if (a.start == b.start and a.delta.shape == b.delta.shape and bool((a.delta == b.delta).all())
                and bool((a.accepting == b.accepting).all())):
            return Equivalence(True)  # the same automaton up to state names
        nb = b.n_states
        k = a.n_symbols
        start = a.start * nb + b.start
        differs = lambda codes: a.accepting[codes // nb] != b.accepting[codes % nb]  # noqa: E731
        parent: dict[int, tuple[int, int]] = {start: (-1, -1)}
        hit = start if bool(differs(np.array([start]))[0]) else -1
        frontier = np.array([start], dtype=np.int64)
        while hit < 0 and frontier.size:
            # successors in (parent order, symbol order): the discovery order of length-lex BFS
            succ = (a.delta[frontier // nb] * nb + b.delta[frontier % nb]).ravel()
            src = np.repeat(frontier, k)
            sym = np.tile(np.arange(k), frontier.size)
            uniq, first = np.unique(succ, return_index=True)
            order = np.sort(first)
            new_codes = []
            for i in order:
                c = int(succ[i])
                if c not in parent:
                    parent[c] = (int(src[i]), int(sym[i]))
                    new_codes.append(c)
            frontier = np.array(new_codes, dtype=np.int64)
            if frontier.size:
                bad = np.flatnonzero(differs(frontier))
                if bad.size:
                    hit = int(frontier[bad[0]])
        if hit < 0:
            return Equivalence(True)
        word = []
        c = hit
        while parent[c][0] >= 0:
            c, s = parent[c]
            word.append(a.alphabet[s])
        w = tuple(reversed(word))
        side = "left" if bool(a.accepting[hit // nb]) else "right"
        return Equivalence(False, w, side)

    def __eq__(self, other: object) -> bool:  # structural equality (same arrays and names)
        if not isinstance(other, DFA):
            return NotImplemented
        return (
            self.alphabet == other.alphabet
            and self.states == other.states
            and self.start == other.start
            and bool((self.accepting == other.accepting).all())
            and self.delta.shape == other.delta.shape
            and bool((self.delta == other.delta).all())
        )

    def __hash__(self) -> int:
        return hash(self.sha256())

    # ------------------------------------------------------------------ counting and enumeration
    def count(self, length: int) -> int:
        """Exact number of accepted words of ``length`` (Python integers); ``length`` must be a non-negative int."""
        length = expect_int("count: length", length, 0)
        vec = [0] * self.n_states
        vec[self.start] = 1
        d = self.delta
        for _ in range(length):
            nxt = [0] * self.n_states
            for q, c in enumerate(vec):
                if c:
                    for t in d[q]:
                        if t >= 0:
                            nxt[t] += c
            vec = nxt
        return sum(c for q, c in enumerate(vec) if self.accepting[q])

    def words(self, max_length: int | None = None) -> Iterator[tuple[str, ...]]:
        """Accepted words in length-lexicographic order (symbols in alphabet order), up to ``max_length``."""
        live = self.coreachable_states()
        if not live[self.start]:
            return
        length = 0
        layer: list[tuple[int, tuple[int, ...]]] = [(self.start, ())]
        while layer and (max_length is None or length <= max_length):
            for q, w in layer:
                if self.accepting[q]:
                    yield self.decode(w)
            nxt = []
            for q, w in layer:
                for a in range(self.n_symbols):
                    t = int(self.delta[q, a])
                    if t >= 0 and live[t]:
                        nxt.append((t, w + (a,)))
            layer = nxt
            length += 1

    # ------------------------------------------------------------------ display
    def to_networkx(self):
        """A ``networkx.MultiDiGraph`` with node attributes ``accepting``/``start`` and edge attribute ``symbol``."""
        import networkx as nx

        g = nx.MultiDiGraph()
        for q, name in enumerate(self.states):
            g.add_node(name, accepting=bool(self.accepting[q]), start=(q == self.start))
        for q in range(self.n_states):
            for a in range(self.n_symbols):
                t = int(self.delta[q, a])
                if t >= 0:
                    g.add_edge(self.states[q], self.states[t], symbol=self.alphabet[a])
        return g

    def __repr__(self) -> str:
        return f"DFA(states={self.n_states}, alphabet={list(self.alphabet)}, start={self.states[self.start]!r}, accepting={int(self.accepting.sum())})"


def _accepting_mask(accepting: "Sequence[bool] | np.ndarray | Iterable[str]", states: Sequence[str],
                    n: int) -> np.ndarray:
    """The accepting mask ``[n]`` from a boolean mask or from state names; integers are refused."""
    if isinstance(accepting, np.ndarray):
        if accepting.dtype == np.bool_:
            return accepting
        if accepting.size == 0:
            return np.zeros(n, dtype=bool)
        raise DFAFormatError(f"accepting: a {accepting.dtype} array is ambiguous; pass a boolean mask of length {n} "
                             "(e.g. ids == 0) or a list of state names")
    items = list(accepting)
    if all(isinstance(x, (bool, np.bool_)) for x in items) and items:
        return np.array(items, dtype=bool)
    if all(isinstance(x, str) for x in items):
        index = {name: q for q, name in enumerate(states)}
        acc = np.zeros(n, dtype=bool)
        for name in items:
            if name not in index:
                raise DFAFormatError(f"accepting: unknown state {name!r}")
            acc[index[name]] = True
        return acc
    bad = next((x for x in items if not isinstance(x, (str, bool, np.bool_))), None)
    if bad is None:
        raise DFAFormatError("accepting: mixes booleans and state names; pass one or the other")
    if isinstance(bad, (int, np.integer)):
        raise DFAFormatError(f"accepting: integers such as {bad!r} are ambiguous (a 0/1 mask or state ids?); pass "
                             "a boolean mask such as [True, False] or a list of state names such as ['0']")
    raise DFAFormatError(f"accepting: expected a boolean mask or a list of state names, found {type(bad).__name__} "
                         f"{bad!r}")
