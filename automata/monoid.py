"""Transition monoids and syntactic monoids of DFAs.

Conventions
-----------
* Transformations act on the **right**: an element ``t`` is an array over the ``n`` states with
  ``t[q] = q . w`` (the state reached from ``q`` after reading a representative word ``w``).
* The product ``s . t`` ("first s, then t") is ``t[s]`` (fancy indexing); the generator of symbol
  ``a`` is the column ``delta[:, a]`` of the complete DFA.
* ``Monoid.elements`` is ``[size, n]`` (uint8 for ``n <= 256``, else uint16/int32) in breadth-first
  (shortlex) order of the shortest representative words; element 0 is the identity (empty word).
* ``Monoid.right[i, a]`` = index of ``elements[i] . a``; ``Monoid.left[i, a]`` = index of
  ``a . elements[i]`` (the right and left Cayley graphs).

Closure algorithm (:func:`closure`): a breadth-first search numbering new elements in order of
(parent, letter). It starts on byte strings (``t . a`` is ``t.translate(table_a)``, membership a
dict), which has the least overhead, and for up to 15 states hands over to a vectorised BFS once
``_SMALL`` elements are known: each transformation is an integer in base ``n`` and the frontier is
multiplied by every generator at once; membership uses a dense direct-address table when ``n**n``
is small (``n <= 8``) and a sorted code array with :func:`numpy.searchsorted` otherwise.
:func:`closure_reference` is the plain set-of-tuples closure the tests compare against.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> d = DFA(["a"], None, 0, [True, False, False], [[1], [2], [0]])   # counting mod 3
    >>> m = transition_monoid(d)
    >>> m.size, m.word(2), m.index_period(1)
    (3, ('a', 'a'), (1, 3))
"""
from __future__ import annotations

from math import gcd
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from statetrack.errors import StateLimitError, StatetrackError

if TYPE_CHECKING:  # pragma: no cover
    from .dfa import DFA
    from .green import GreenStructure
    from .groups import MaximalSubgroup

DEFAULT_MAX_ELEMENTS = 1_000_000
_SMALL = 1024  # the BFS runs on byte strings up to this size, then continues vectorised
_DENSE_LIMIT = 1 << 25  # direct-address table for n**n codes up to this size (int32 entries: 128 MiB)
_CHUNK = 1 << 18  # frontier rows composed per step (bounds temporary memory)


def _row_dtype(n: int) -> np.dtype:
    if n <= 256:
        return np.dtype(np.uint8)
    if n <= 65536:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


class _Lookup:
    """Maps transformations to element indices; built during the closure.

    ``kind`` is ``"dense"`` (a direct-address int32 table over all ``n**n`` codes), ``"sorted"``
    (sorted int64 codes searched with :func:`numpy.searchsorted`) or ``"bytes"`` (a dict of row bytes,
    for ``n >= 16`` where base-n codes overflow int64).
    """

    def __init__(self, n: int, kind: str | None = None):
        self.n = n
        auto = "dense" if n ** n <= _DENSE_LIMIT else ("sorted" if n <= 15 else "bytes")
        if kind is None:
            kind = auto
        if kind not in ("dense", "sorted", "bytes"):
            raise StatetrackError(f"lookup must be 'dense', 'sorted' or 'bytes', got {kind!r}")
        if (kind == "dense" and auto != "dense") or (kind == "sorted" and n > 15):
            raise StatetrackError(f"lookup {kind!r} is not possible for {n} points")
        self.kind = kind
        self._dense_from = 0 if n ** n <= 1 << 20 else 1 << 15
        if self.kind != "bytes":
            self.powers = (np.int64(n) ** np.arange(n, dtype=np.int64)).astype(np.int64)
        if self.kind == "dense":
            # the direct-address table is allocated once the monoid is big enough to pay for it
            self.table = None
            self.codes = np.empty(0, dtype=np.int64)
            self.idx = np.empty(0, dtype=np.int64)
        elif self.kind == "sorted":
            self.codes = np.empty(0, dtype=np.int64)
            self.idx = np.empty(0, dtype=np.int64)
        else:
            self.dict: dict[bytes, int] = {}

    # codes -------------------------------------------------------------
    def encode(self, rows: np.ndarray) -> np.ndarray:
        """``rows [F, n]`` -> int64 codes ``[F]`` (base-n digits, state 0 least significant)."""
        codes = np.zeros(rows.shape[0], dtype=np.int64)
        for q in range(self.n):
            codes += rows[:, q].astype(np.int64) * self.powers[q]
        return codes

    def _maybe_densify(self) -> None:
        # big tables (n = 8: 16.7M entries) are allocated only once 2^15 elements are known
        if self.kind == "dense" and self.table is None and self.codes.size >= self._dense_from:
            self.table = np.full(self.n ** self.n, -1, dtype=np.int32)
            self.table[self.codes] = self.idx
            self.codes = self.idx = None

    def find_codes(self, codes: np.ndarray) -> np.ndarray:
        """Indices of the transformations with these codes (-1 where unknown)."""
        if self.kind == "dense" and self.table is not None:
            return self.table[codes].astype(np.int64)
        if self.codes.size == 0:
            return np.full(codes.size, -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.codes, codes), self.codes.size - 1)
        return np.where(self.codes[pos] == codes, self.idx[pos], -1)

    def add_codes(self, codes: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
        """Register unknown codes (first occurrences win) as ``base, base + 1, ...``.

        Returns ``(first, idx)``: positions (into ``codes``) of the new ones, and the index of every code.
        """
        self._maybe_densify()
        if self.kind == "dense" and self.table is not None:
            idx = self.table[codes]
            fresh = np.flatnonzero(idx < 0)
            c = codes[fresh]
            marks = -2 - np.arange(c.size, dtype=np.int32)
            self.table[c[::-1]] = marks[::-1]  # the first occurrence of each code writes last
            first = fresh[self.table[c] == marks]
            self.table[codes[first]] = base + np.arange(first.size, dtype=np.int32)
            idx[fresh] = self.table[c]
            return first, idx
        # sorted path: one sort of the candidates, one search with sorted needles (fast), one merge
        u, first_pos, inv = np.unique(codes, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        if self.codes.size:
            pos = np.searchsorted(self.codes, u)
            pos_c = np.minimum(pos, self.codes.size - 1)
            hit = self.codes[pos_c] == u
            idx_u = np.where(hit, self.idx[pos_c], -1)
        else:
            pos = np.zeros(u.size, dtype=np.intp)
            hit = np.zeros(u.size, dtype=bool)
            idx_u = np.full(u.size, -1, dtype=np.int64)
        new = np.flatnonzero(~hit)
        by_first = new[np.argsort(first_pos[new], kind="stable")]  # new codes in order of first occurrence
        idx_u[by_first] = base + np.arange(by_first.size, dtype=np.int64)
        self.codes = np.insert(self.codes, pos[new], u[new])
        self.idx = np.insert(self.idx, pos[new], idx_u[new])
        return first_pos[by_first], idx_u[inv]

    # rows --------------------------------------------------------------
    def find(self, rows: np.ndarray) -> np.ndarray:
        """Indices of ``rows [F, n]`` (-1 where unknown)."""
        if self.kind != "bytes":
            return self.find_codes(self.encode(rows))
        return np.array([self.dict.get(r.tobytes(), -1) for r in rows], dtype=np.int64)

    def add_rows(self, rows: np.ndarray, base: int) -> np.ndarray:
        """Row version of :meth:`add_codes`."""
        if self.kind != "bytes":
            return self.add_codes(self.encode(rows), base)[0]
        out = []
        for i, r in enumerate(rows):
            key = r.tobytes()
            if key not in self.dict:
                self.dict[key] = base + len(out)
                out.append(i)
        return np.array(out, dtype=np.int64)


class _CodeAction:
    """Right multiplication by generators directly on base-n codes.

    ``t . a`` applies ``a`` to every digit of ``t``, so with the code split into chunks of ``h``
    digits, ``code(t . a) = sum_j table[a, j][chunk_j(code(t))]`` (tables of ``n**h <= 2**16`` entries).
    ``decode`` turns codes back into rows with per-chunk digit tables.
    """

    def __init__(self, gens: np.ndarray, n: int):
        h = 1
        while h < n and n ** (h + 1) <= 1 << 12:  # small tables: cheap to build, cache resident
            h += 1
        self.n, self.h = n, h
        self.n_chunks = -(-n // h)
        self.radix = n ** h
        v = np.arange(self.radix, dtype=np.int64)
        digits = np.stack([(v // n ** i) % n for i in range(h)], axis=1)  # [radix, h]
        self.digits = digits.astype(_row_dtype(n))
        k = gens.shape[0]
        self.tables = np.zeros((k, self.n_chunks, self.radix), dtype=np.int64)
        for j in range(self.n_chunks):
            width = min(h, n - j * h)
            for i in range(width):
                weight = np.int64(n) ** (j * h + i)
                self.tables[:, j, :] += gens[:, digits[:, i]].astype(np.int64) * weight

    def chunks(self, codes: np.ndarray) -> list[np.ndarray]:
        out, rest = [], codes
        for _ in range(self.n_chunks - 1):
            rest, low = np.divmod(rest, self.radix)
            out.append(low)
        out.append(rest)
        return out

    def step(self, chunks: list[np.ndarray], a: int) -> np.ndarray:
        tab = self.tables[a]
        res = tab[0][chunks[0]]
        for j in range(1, self.n_chunks):
            res += tab[j][chunks[j]]
        return res

    def decode_into(self, codes: np.ndarray, out: np.ndarray) -> None:
        """Write the rows of ``codes [F]`` into ``out [F, n]`` (directly as machine words when they align)."""
        d = self.digits
        width = d.shape[1] * d.itemsize
        if (width in (1, 2, 4, 8) and self.n == self.h * self.n_chunks and out.flags.c_contiguous
                and out.dtype == d.dtype):
            word = np.dtype(f"u{width}")
            flat = d.view(word).reshape(-1)
            view = out.view(word).reshape(codes.size, self.n_chunks)
            for j, c in enumerate(self.chunks(codes)):
                view[:, j] = flat[c]
        else:
            out[:] = self.decode(codes)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """int64 codes ``[F]`` -> rows ``[F, n]``."""
        chunks = self.chunks(codes)
        d = self.digits
        width = d.shape[1] * d.itemsize
        if width in (1, 2, 4, 8) and d.flags.c_contiguous:
            # gather whole digit rows as single machine words, then reinterpret the bytes
            word = np.dtype(f"u{width}")
            flat = d.view(word).reshape(-1)
            out = np.empty((codes.size, self.n_chunks), dtype=word)
            for j, c in enumerate(chunks):
                out[:, j] = flat[c]
            return out.view(d.dtype).reshape(codes.size, -1)[:, :self.n]
        return np.concatenate([d[c] for c in chunks], axis=1)[:, :self.n]


class Monoid:
    """A transformation monoid with its BFS tree and Cayley graphs.

    Attributes:
        alphabet: the generator names (the DFA's symbols), ``k`` of them.
        generators: ``[k, n]`` transformations of the symbols.
        elements: ``[size, n]`` transformations, identity first, in shortlex order of representatives.
        parent, letter: ``[size]`` BFS tree: ``elements[i] = elements[parent[i]] . generators[letter[i]]``
            (``parent[0] = letter[0] = -1``).
        states: names of the ``n`` states acted on (may be ``None``).
    """

    def __init__(self, alphabet: Sequence[str], generators: np.ndarray, elements: np.ndarray, parent: np.ndarray,
                 letter: np.ndarray, right: np.ndarray, lookup: _Lookup, states: Sequence[str] | None = None):
        self.alphabet = tuple(alphabet)
        self.generators = generators
        self.elements = elements
        self.parent = parent
        self.letter = letter
        self.states = tuple(states) if states is not None else None
        self._right = right
        self._left: np.ndarray | None = None
        self._lookup = lookup
        self._green: GreenStructure | None = None
        self._groups: list[MaximalSubgroup] | None = None

    # ----------------------------------------------------------------- basics
    @property
    def size(self) -> int:
        return int(self.elements.shape[0])

    def __len__(self) -> int:
        return self.size

    @property
    def degree(self) -> int:
        """Number of points (states) acted on."""
        return int(self.elements.shape[1])

    @property
    def identity(self) -> int:
        """Index of the identity (always 0)."""
        return 0

    def __repr__(self) -> str:
        return f"Monoid(size={self.size}, degree={self.degree}, generators={list(self.alphabet)})"

    def index_of(self, t: Sequence[int] | np.ndarray) -> int:
        """Index of transformation ``t`` (length ``n``), or -1 when it is not in the monoid."""
        row = np.asarray(t).astype(self.elements.dtype).reshape(1, -1)
        if row.shape[1] != self.degree:
            raise StatetrackError(f"a transformation of this monoid has {self.degree} points, got {row.shape[1]}")
        return int(self._lookup.find(row)[0])

    def word_ids(self, i: int) -> list[int]:
        """Symbol ids of the shortest (shortlex least) representative word of element ``i``."""
        out = []
        while i > 0:
            out.append(int(self.letter[i]))
            i = int(self.parent[i])
        return out[::-1]

    def word(self, i: int) -> tuple[str, ...]:
        """Shortest (shortlex least) representative word of element ``i`` as symbols."""
        return tuple(self.alphabet[a] for a in self.word_ids(i))

    def word_lengths(self) -> np.ndarray:
        """``[size]`` lengths of the representative words."""
        length = np.zeros(self.size, dtype=np.int64)
        for i in range(1, self.size):  # parents precede children (BFS order)
            length[i] = length[self.parent[i]] + 1
        return length

    def element_of_word(self, word: Sequence[str] | Sequence[int]) -> int:
        """Index of the element a word (symbols or symbol ids) represents."""
        i = 0
        for s in word:
            a = s if isinstance(s, (int, np.integer)) else self.alphabet.index(s)
            i = int(self.right[i, a])
        return i

    def multiply(self, i: int, j: int) -> int:
        """Index of ``elements[i] . elements[j]`` (first i, then j)."""
        return self.index_of(self.elements[j][self.elements[i]])

    # ----------------------------------------------------------------- Cayley graphs
    @property
    def right(self) -> np.ndarray:
        """Right Cayley graph ``[size, k]`` int32: ``right[i, a]`` = index of ``elements[i] . a``."""
        return self._right

    @property
    def left(self) -> np.ndarray:
        """Left Cayley graph ``[size, k]`` int32: ``left[i, a]`` = index of ``a . elements[i]``."""
        if self._left is None:
            k = len(self.alphabet)
            left = np.empty((self.size, k), dtype=np.int32)
            for a in range(k):
                g = self.generators[a].astype(np.intp)
                for s in range(0, self.size, _CHUNK):
                    left[s:s + _CHUNK, a] = self._lookup.find(self.elements[s:s + _CHUNK][:, g])
            self._left = left
        return self._left

    def cayley_graph(self, side: str = "right"):
        """The Cayley graph as a ``networkx.MultiDiGraph`` (nodes = indices, edge attribute ``symbol``)."""
        import networkx as nx

        if side not in ("right", "left"):
            raise StatetrackError(f"side must be 'right' or 'left', got {side!r}")
        arr = self.right if side == "right" else self.left
        g = nx.MultiDiGraph()
        g.add_nodes_from(range(self.size))
        for a, sym in enumerate(self.alphabet):
            g.add_edges_from(((i, int(j), {"symbol": sym}) for i, j in enumerate(arr[:, a])))
        return g

    # ----------------------------------------------------------------- element properties
    def idempotents(self) -> np.ndarray:
        """Bool mask ``[size]`` of the idempotents (``t . t == t``, i.e. ``t[t] == t``)."""
        out = np.empty(self.size, dtype=bool)
        for s in range(0, self.size, _CHUNK):
            e = self.elements[s:s + _CHUNK].astype(np.intp)
            out[s:s + _CHUNK] = (np.take_along_axis(e, e, axis=1) == e).all(axis=1)
        return out

    def ranks(self) -> np.ndarray:
        """``[size]`` image sizes."""
        out = np.empty(self.size, dtype=np.int64)
        for s in range(0, self.size, _CHUNK):
            e = np.sort(self.elements[s:s + _CHUNK], axis=1)
            out[s:s + _CHUNK] = 1 + (np.diff(e.astype(np.int64), axis=1) != 0).sum(axis=1)
        return out

    def index_period(self, i: int) -> tuple[int, int]:
        """Index ``m >= 1`` and period ``p >= 1`` of element ``i``: least with ``t**(m+p) == t**m``.

        From the functional graph of ``t``: the period is the lcm of its cycle lengths and the index
        is the longest tail into a cycle (at least 1).
        """
        return transformation_index_period(self.elements[i])

    def is_group(self) -> bool:
        """True when the monoid is a group (every generator is a permutation)."""
        return bool(all(np.unique(g).size == self.degree for g in self.generators))

    # ----------------------------------------------------------------- structure
    def green(self) -> "GreenStructure":
        """Green's R, L, H, D (= J) classes (computed once; see :mod:`statetrack.automata.green`)."""
        if self._green is None:
            from .green import green_structure

            self._green = green_structure(self)
        return self._green

    def maximal_subgroups(self) -> "list[MaximalSubgroup]":
        """One maximal subgroup per regular D-class (see :mod:`statetrack.automata.groups`)."""
        if self._groups is None:
            from .groups import maximal_subgroups

            self._groups = maximal_subgroups(self)
        return self._groups

    def is_aperiodic(self) -> bool:
        """True when every H-class is trivial (the language is star-free)."""
        return self.green().is_aperiodic()


def transformation_index_period(t: np.ndarray) -> tuple[int, int]:
    """Index (>= 1) and period of the transformation ``t`` (functional graph of ``q -> t[q]``)."""
    t = np.asarray(t, dtype=np.int64)
    # The images of t, t**2, ... shrink until they stabilise at step = the longest tail; the
    # stable image is the set of points on cycles.
    cur_img = np.arange(t.size)
    tail = 0
    while True:
        nxt_img = np.unique(t[cur_img])
        if nxt_img.size == cur_img.size:
            break
        cur_img = nxt_img
        tail += 1
    period = 1
    on_cycle = cur_img
    seen = np.zeros(t.size, dtype=bool)
    for q in on_cycle:
        if seen[q]:
            continue
        length = 0
        p = int(q)
        while not seen[p]:
            seen[p] = True
            p = int(t[p])
            length += 1
        period = period * length // gcd(period, length)
    return max(1, tail), period


def _complete_generators(dfa: "DFA") -> tuple[np.ndarray, tuple[str, ...]]:
    d = dfa.complete()
    return np.ascontiguousarray(d.delta.T.astype(_row_dtype(d.n_states))), d.states


def transition_monoid(dfa: "DFA", max_elements: int = DEFAULT_MAX_ELEMENTS, progress: bool = False) -> Monoid:
    """Transition monoid of ``dfa`` (completed with a sink when partial), including the identity.

    Raises :class:`StateLimitError` when the closure exceeds ``max_elements`` (the message gives the
    size reached). ``progress`` shows a tqdm bar over the BFS levels.
    """
    gens, states = _complete_generators(dfa)
    return closure(gens, dfa.alphabet, max_elements=max_elements, states=states, progress=progress)


def closure(generators: np.ndarray, alphabet: Sequence[str] | None = None, *, max_elements: int = DEFAULT_MAX_ELEMENTS,
            states: Sequence[str] | None = None, progress: bool = False, lookup: str | None = None) -> Monoid:
    """The monoid generated by ``generators [k, n]`` (transformations of ``n`` points) and the identity.

    ``lookup`` forces the method: ``"translate"`` (byte strings, ``n <= 256``), ``"dense"``,
    ``"sorted"`` (vectorised code BFS) or ``"bytes"`` (vectorised row BFS). By default the BFS starts
    with ``"translate"`` (less call overhead) and, for up to 15 states, hands its state over to the
    fastest vectorised lookup once ``_SMALL`` elements are known. All give identical results (element
    order included; the tests check it).
    """
    gens = np.asarray(generators)
    if gens.ndim != 2:
        raise StatetrackError(f"generators must be a [k, n] array, got shape {gens.shape}")
    k, n = gens.shape
    if n == 0:
        raise StatetrackError("a transformation monoid needs at least one point")
    if gens.size and (gens.min() < 0 or gens.max() >= n):
        raise StatetrackError(f"generator entries must lie in [0, {n})")
    if alphabet is None:
        alphabet = tuple(str(a) for a in range(k))
    if len(alphabet) != k:
        raise StatetrackError(f"{len(alphabet)} generator names for {k} generators")
    if lookup == "translate" and n > 256:
        raise StatetrackError(f"lookup 'translate' needs at most 256 points, got {n}")
    dt = _row_dtype(n)
    gens = gens.astype(dt)
    if lookup == "translate" or (lookup is None and n <= 256):
        limit = None if (lookup == "translate" or n > 15) else _SMALL
        done, state = _closure_translate(gens, max_elements, limit)
        if done is not None:
            elements, parent, letter, right, known = done
            table = _Lookup(n, "bytes")
            table.dict = known
            return Monoid(alphabet, gens, elements, parent, letter, right, table, states)
    else:
        state = None
    table = _Lookup(n, lookup)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(desc="monoid closure", unit="elt")
    try:
        if table.kind == "bytes":
            elements, parent, letter, right = _closure_rows(gens, table, max_elements, bar)
        else:
            elements, parent, letter, right = _closure_codes(gens, table, max_elements, bar, state)
    finally:
        if bar is not None:
            bar.close()
    return Monoid(alphabet, gens, elements, parent, letter, right, table, states)


def _closure_translate(gens: np.ndarray, max_elements: int, limit: int | None):
    """BFS on byte strings: ``t . a`` is ``t.translate(table_a)`` (one C call), membership a dict.

    Returns ``((elements, parent, letter, right, dict), None)``, or, once more than ``limit``
    elements are known, ``(None, state)`` with the BFS state for :func:`_closure_codes` to continue
    from (elements found so far, their tree, the right Cayley rows of the first ``i`` elements).
    Same element order as the vectorised BFS: new elements in order of (parent, letter).
    """
    k, n = gens.shape
    tables = [bytes(g.tolist() + list(range(n, 256))) for g in gens]
    ident = bytes(range(n))
    known = {ident: 0}
    elems, parent, letter, right = [ident], [-1], [-1], []
    i = 0
    while i < len(elems):
        t = elems[i]
        for a in range(k):
            u = t.translate(tables[a])
            j = known.get(u)
            if j is None:
                j = known[u] = len(elems)
                elems.append(u)
                parent.append(i)
                letter.append(a)
                if j + 1 > max_elements:
                    raise StateLimitError(f"transition monoid exceeds max_elements={max_elements}: {j + 1} "
                                          f"elements reached")
            right.append(j)
        i += 1
        if limit is not None and len(elems) > limit:
            rows = np.frombuffer(b"".join(elems), dtype=np.uint8).reshape(len(elems), n)
            return None, (rows, parent, letter, right, i)
    size = len(elems)
    elements = np.frombuffer(b"".join(elems), dtype=np.uint8).reshape(size, n).copy()
    return (elements, np.asarray(parent, dtype=np.int32), np.asarray(letter, dtype=np.int16),
            np.asarray(right, dtype=np.int32).reshape(size, k), known), None


def _limit_error(max_elements: int, size: int, level: int) -> StateLimitError:
    return StateLimitError(f"transition monoid exceeds max_elements={max_elements}: {size} elements reached "
                           f"with words of length <= {level}")


def _closure_codes(gens: np.ndarray, lookup: _Lookup, max_elements: int, bar, state=None) -> tuple[np.ndarray, ...]:
    """BFS in code space (``n <= 15``): frontier codes are multiplied by every generator at once.

    ``state`` continues a BFS started by :func:`_closure_translate`. Per-chunk results are kept as
    lists of blocks and concatenated once at the end.
    """
    k, n = gens.shape
    act = _CodeAction(gens, n)
    if state is None:
        ident = lookup.encode(np.arange(n).reshape(1, n))
        lookup.add_codes(ident, 0)
        codes, parents, letters, rights = [ident], [np.array([-1], np.int64)], [np.array([-1], np.int64)], []
        size, start = 1, 0
        frontier = [ident]
    else:  # elements [0, start) are expanded; [start, size) form the frontier, in order
        rows, par, let, right_flat, start = state
        known = lookup.encode(rows)
        lookup.add_codes(known, 0)
        size = known.size
        codes, parents, letters = [known], [np.asarray(par, np.int64)], [np.asarray(let, np.int64)]
        rights = [np.asarray(right_flat, dtype=np.int32).reshape(start, k)]
        frontier = [known[start:]]
    level = 0
    while frontier and k:
        level += 1
        new_c = []
        for block in frontier:
            for s in range(0, block.size, _CHUNK):
                ch = act.chunks(block[s:s + _CHUNK])
                F = ch[0].size
                cand = np.empty((F, k), dtype=np.int64)
                for a in range(k):
                    cand[:, a] = act.step(ch, a)
                flat = cand.reshape(-1)  # (parent, letter) order: first occurrences are shortlex least
                first, idx = lookup.add_codes(flat, size)
                if first.size:
                    new_c.append(flat[first])
                    parent, let = np.divmod(first, k)
                    parents.append(start + parent)
                    letters.append(let)
                    size += first.size
                    if size > max_elements:
                        raise _limit_error(max_elements, size, level)
                rights.append(idx.astype(np.int32, copy=False).reshape(F, k))
                start += F
        codes.extend(new_c)
        frontier = new_c
        if bar is not None:
            bar.update(sum(c.size for c in new_c))
    elements = np.empty((size, n), dtype=gens.dtype)
    pos = 0
    for block in codes:
        for s in range(0, block.size, _CHUNK):
            part = block[s:s + _CHUNK]
            act.decode_into(part, elements[pos:pos + part.size])
            pos += part.size
    right = np.concatenate(rights) if rights else np.zeros((size, k), np.int32)
    return (elements, np.concatenate(parents).astype(np.int32), np.concatenate(letters).astype(np.int16),
            right.reshape(size, k))


def _closure_rows(gens: np.ndarray, lookup: _Lookup, max_elements: int, bar) -> tuple[np.ndarray, ...]:
    """BFS on rows (``n >= 16``): frontier ``[F, n]`` composed with every generator by fancy indexing."""
    k, n = gens.shape
    dt = gens.dtype
    gidx = gens.T.astype(np.intp)  # [n, k]: gidx[q, a] = a(q)
    ident = np.arange(n, dtype=dt).reshape(1, n)
    lookup.add_rows(ident, 0)
    blocks, parents, letters, rights = [ident], [np.array([-1], np.int64)], [np.array([-1], np.int64)], []
    size, start, level = 1, 0, 0
    frontier = ident
    while frontier.shape[0] and k:
        level += 1
        new_b, new_p, new_l, lvl_right = [], [], [], []
        for s in range(0, frontier.shape[0], _CHUNK):
            rows = frontier[s:s + _CHUNK]
            F = rows.shape[0]
            cand = gidx[rows.astype(np.intp)].transpose(0, 2, 1).reshape(F * k, n).astype(dt)
            first = lookup.add_rows(cand, size)
            if first.size:
                new_b.append(cand[first])
                new_p.append(start + s + first // k)
                new_l.append(first % k)
                size += first.size
                if size > max_elements:
                    raise _limit_error(max_elements, size, level)
            lvl_right.append(lookup.find(cand).astype(np.int32).reshape(F, k))
        rights.append(np.concatenate(lvl_right))
        start += frontier.shape[0]
        frontier = np.concatenate(new_b) if new_b else np.empty((0, n), dt)
        if frontier.shape[0]:
            blocks.append(frontier)
            parents.append(np.concatenate(new_p))
            letters.append(np.concatenate(new_l))
        if bar is not None:
            bar.update(frontier.shape[0])
    right = np.concatenate(rights) if rights else np.zeros((size, k), np.int32)
    return (np.concatenate(blocks), np.concatenate(parents).astype(np.int32),
            np.concatenate(letters).astype(np.int16), right.reshape(size, k))


def closure_reference(generators: np.ndarray) -> set[tuple[int, ...]]:
    """Plain reference: the set of transformations (tuples) generated by ``generators`` and the identity."""
    gens = [tuple(int(x) for x in g) for g in np.asarray(generators)]
    n = np.asarray(generators).shape[1]
    ident = tuple(range(n))
    seen = {ident}
    stack = [ident]
    while stack:
        t = stack.pop()
        for g in gens:
            u = tuple(g[q] for q in t)
            if u not in seen:
                seen.add(u)
                stack.append(u)
    return seen


def minimal_complete_dfa(dfa: "DFA") -> "DFA":
    """The minimal complete DFA of ``dfa``'s language (:meth:`DFA.minimize`)."""
    return dfa.minimize()


def moore_minimize(dfa: "DFA") -> "DFA":
    """Moore's partition refinement on the reachable part of the completed DFA (states in BFS order).

    A plain, independent minimiser kept as a cross-check of :mod:`statetrack.automata.minimize` in the tests.
    """
    from .dfa import DFA

    d = dfa.complete()
    d = d.restrict(d.reachable_states())
    cls = d.accepting.astype(np.int64)
    count = np.unique(cls).size
    while True:
        sig = np.column_stack([cls, cls[d.delta]])
        _, new = np.unique(sig, axis=0, return_inverse=True)
        cls = new.reshape(-1)
        c = int(cls.max()) + 1
        if c == count:
            break
        count = c
    delta = np.zeros((count, d.n_symbols), dtype=np.int64)
    delta[cls] = cls[d.delta]
    acc = np.zeros(count, dtype=bool)
    acc[cls] = d.accepting
    return DFA(d.alphabet, None, int(cls[d.start]), acc, delta).renumber_bfs().relabel("")


def syntactic_monoid(dfa: "DFA", max_elements: int = DEFAULT_MAX_ELEMENTS, progress: bool = False) -> Monoid:
    """Syntactic monoid of the language of ``dfa``: the transition monoid of its minimal complete DFA."""
    return transition_monoid(minimal_complete_dfa(dfa), max_elements=max_elements, progress=progress)


def iter_words(m: Monoid) -> Iterator[tuple[int, tuple[str, ...]]]:
    """``(index, representative word)`` for every element, in order."""
    for i in range(m.size):
        yield i, m.word(i)
