"""The regex dialect: parser (pattern -> AST), compiler (AST -> NFA -> minimal DFA).

The dialect (full-match semantics; see ``docs/regex.md`` for the grammar):

* literals; ``\\x`` quotes a punctuation character ``x`` (``\\d``-style escapes are errors);
* ``.`` any symbol; classes ``[abc]``, ranges ``[a-f]``, negated ``[^ab]`` (relative to the alphabet);
* ``(...)`` grouping, ``()`` the empty word, an empty alternative is the empty word too;
* postfix ``*``, ``+``, ``?``, ``{m}``, ``{m,}``, ``{m,n}``, ``{,n}`` (stackable: ``a{2}{3}`` is ``a{6}``);
* prefix complement ``~X`` (binds tighter than concatenation, looser than postfix:
  ``~ab*`` is ``(~a)(b*)`` and ``~a*`` is ``~(a*)``), relative to ``alphabet*``;
* intersection ``&`` (looser than concatenation, tighter than ``|``); union ``|``.

Alphabet: the symbols written in the pattern (literals, class members, range members), sorted,
unless given. With an explicit alphabet that has multi-character symbols, a literal is the
longest alphabet symbol that the pattern text starts with at that point (greedy), and
whitespace between tokens is ignored when no symbol contains whitespace.

Errors: :class:`RegexSyntaxError` (with ``position``) for malformed patterns,
:class:`AlphabetError` (message naming the position) for symbols outside the alphabet or a
missing alphabet, :class:`StateLimitError` past the state guards.

Example:
    >>> d = regex_to_dfa("(a|b)*abb")
    >>> d.n_states, d.accepts("babb"), d.accepts("abab")
    (4, True, False)
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

from .dfa import DFA
from statetrack.errors import AlphabetError, RegexSyntaxError, StateLimitError
from .minimize import minimize, minimize_arrays
from .nfa import MAX_STATES, NFA, VECTOR_THRESHOLD, subset_arrays

#: Characters with a meaning in the dialect (quote them with a backslash to write them literally).
METACHARACTERS = frozenset("\\()[]{}|*+?.&~^$")
#: Largest repetition bound accepted in ``{m,n}``.
MAX_REPEAT: int = 100_000
#: Deepest nesting of groups and complements accepted (the parser recurses on them).
MAX_NESTING: int = 100
#: Deepest AST accepted (the compiler recurses on it; stacked postfix operators count too).
MAX_AST_DEPTH: int = 200
#: Guard on the number of Thompson-NFA states built for one pattern.
MAX_NFA_STATES: int = 1_000_000


# ---------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Eps:
    """The empty word."""

    pos: int


@dataclass(frozen=True)
class Sym:
    """One literal symbol."""

    symbol: str
    pos: int


@dataclass(frozen=True)
class ClassItem:
    """A class member: one symbol (``hi is None``) or a character range ``lo-hi``."""

    lo: str
    hi: str | None
    pos: int


@dataclass(frozen=True)
class Cls:
    """A character class ``[...]`` (``negated`` for ``[^...]``)."""

    items: tuple[ClassItem, ...]
    negated: bool
    pos: int


@dataclass(frozen=True)
class AnySym:
    """``.``: any symbol of the alphabet."""

    pos: int


@dataclass(frozen=True)
class Cat:
    """Concatenation of two or more parts."""

    parts: tuple["Node", ...]


@dataclass(frozen=True)
class Alt:
    """Union of two or more alternatives."""

    parts: tuple["Node", ...]


@dataclass(frozen=True)
class And:
    """Intersection of two or more operands."""

    parts: tuple["Node", ...]
    pos: int


@dataclass(frozen=True)
class Not:
    """Complement relative to ``alphabet*``."""

    child: "Node"
    pos: int


@dataclass(frozen=True)
class Rep:
    """``child{lo,hi}``; ``hi is None`` means unbounded."""

    child: "Node"
    lo: int
    hi: int | None
    pos: int


Node = Union[Eps, Sym, Cls, AnySym, Cat, Alt, And, Not, Rep]


# ---------------------------------------------------------------------- parser


class _Parser:
    """Recursive descent over the pattern text; ``symbols`` (sorted longest first) enable multi-character literals."""

    def __init__(self, pattern: str, symbols: Sequence[str] | None, skip_ws: bool):
        self.p = pattern
        self.i = 0
        self.multi = sorted((s for s in symbols or () if len(s) > 1), key=len, reverse=True)
        self.skip_ws = skip_ws
        self.depth = 0  # open groups and complements (bounded: the compiler recurses on the AST)

    def enter(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.error(f"groups and '~' nested deeper than {MAX_NESTING}", pos)

    def error(self, reason: str, pos: int) -> RegexSyntaxError:
        return RegexSyntaxError(reason, self.p, pos)

    def peek(self) -> str | None:
        if self.skip_ws:
            while self.i < len(self.p) and self.p[self.i].isspace():
                self.i += 1
        return self.p[self.i] if self.i < len(self.p) else None

    def parse(self) -> Node:
        node = self.alt()
        c = self.peek()
        if c is not None:  # only ')' stops alt() early
            raise self.error("unbalanced ')': no '(' to close", self.i)
        return node

    def alt(self) -> Node:
        parts = [self.inter()]
        while self.peek() == "|":
            self.i += 1
            parts.append(self.inter())
        return parts[0] if len(parts) == 1 else Alt(tuple(parts))

    def inter(self) -> Node:
        start = self.i
        first = self.concat()
        parts = [first]
        while self.peek() == "&":
            amp = self.i
            if isinstance(parts[-1], Eps) and parts[-1].pos < 0:
                raise self.error("'&' needs an operand on its left", amp)
            self.i += 1
            nxt = self.concat()
            if isinstance(nxt, Eps) and nxt.pos < 0:
                raise self.error("'&' needs an operand on its right", amp)
            parts.append(nxt)
        return parts[0] if len(parts) == 1 else And(tuple(parts), start)

    def concat(self) -> Node:
        parts: list[Node] = []
        while True:
            c = self.peek()
            if c is None or c in "|)&":
                break
            parts.append(self.factor())
        if not parts:
            return Eps(-1)  # empty operand (pos -1 marks "nothing written")
        return parts[0] if len(parts) == 1 else Cat(tuple(parts))

    def factor(self) -> Node:
        if self.peek() == "~":
            pos = self.i
            self.i += 1
            c = self.peek()
            if c is None or c in "|)&":
                raise self.error("'~' needs an operand", pos)
            self.enter(pos)
            node = Not(self.factor(), pos)
            self.depth -= 1
            return node
        node = self.atom()
        while True:
            c = self.peek()
            if c is None or c not in "*+?{":
                return node
            pos = self.i
            if c == "{":
                lo, hi = self.bounds()
            else:
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            node = Rep(node, lo, hi, pos)

    def number(self) -> int | None:
        j = self.i
        while j < len(self.p) and self.p[j].isdigit() and self.p[j].isascii():
            j += 1
        if j == self.i:
            return None
        v = int(self.p[self.i : j])
        if v > MAX_REPEAT:
            raise self.error(f"repetition bound {v} exceeds the limit {MAX_REPEAT}", self.i)
        self.i = j
        return v

    def bounds(self) -> tuple[int, int | None]:
        open_pos = self.i
        self.i += 1
        lo = self.number()
        if self.i < len(self.p) and self.p[self.i] == ",":
            self.i += 1
            hi = self.number()
            if lo is None and hi is None:
                raise self.error("expected a number in repetition bounds", open_pos + 1)
            lo = 0 if lo is None else lo
        else:
            if lo is None:
                raise self.error("expected a number after '{'", open_pos + 1)
            hi = lo
        if self.i >= len(self.p):
            raise self.error("missing '}' to close repetition bounds", open_pos)
        if self.p[self.i] != "}":
            raise self.error(f"unexpected {self.p[self.i]!r} in repetition bounds", self.i)
        self.i += 1
        if hi is not None and lo > hi:
            raise self.error(f"bad repetition bounds {{{lo},{hi}}}: the lower bound exceeds the upper", open_pos)
        return lo, hi

    def escape(self) -> str:
        pos = self.i
        if pos + 1 >= len(self.p):
            raise self.error("dangling escape: '\\' at the end of the pattern", pos)
        c = self.p[pos + 1]
        if c.isalnum():
            raise self.error(f"unknown escape '\\{c}': a backslash only quotes punctuation", pos)
        self.i += 2
        return c

    def literal(self) -> str:
        """The literal token at the cursor (greedy over multi-character symbols)."""
        for s in self.multi:
            if self.p.startswith(s, self.i):
                self.i += len(s)
                return s
        c = self.p[self.i]
        self.i += 1
        return c

    def atom(self) -> Node:
        c = self.peek()
        pos = self.i
        if c == "(":
            self.i += 1
            self.enter(pos)
            inner = self.alt()
            if self.peek() != ")":
                raise self.error("missing ')' to close '('", pos)
            self.i += 1
            self.depth -= 1
            return Eps(pos) if isinstance(inner, Eps) else inner
        if c == "[":
            return self.char_class()
        if c == ".":
            self.i += 1
            return AnySym(pos)
        if c in ("*", "+", "?", "{"):
            raise self.error(f"nothing to repeat before {c!r}", pos)
        if c in ("]", "}"):
            raise self.error(f"unmatched {c!r} (write \\{c} for the character)", pos)
        if c in ("^", "$"):
            raise self.error(f"anchor {c!r} is not supported: patterns always match whole words (write \\{c})", pos)
        if c == "\\":
            return Sym(self.escape(), pos)
        return Sym(self.literal(), pos)

    def class_symbol(self, open_pos: int) -> str:
        c = self.peek()
        if c is None:
            raise self.error("missing ']' to close the class", open_pos)
        if c == "\\":
            return self.escape()
        if c == "[":
            raise self.error("unescaped '[' inside a class (write \\[)", self.i)
        return self.literal()

    def char_class(self) -> Cls:
        open_pos = self.i
        self.i += 1
        negated = False
        if self.peek() == "^":
            negated = True
            self.i += 1
        items: list[ClassItem] = []
        while True:
            c = self.peek()
            if c is None:
                raise self.error("missing ']' to close the class", open_pos)
            if c == "]":
                self.i += 1
                break
            pos = self.i
            lo = self.class_symbol(open_pos)
            # a range lo-hi, unless '-' is the last character of the class
            if self.peek() == "-" and self.i + 1 < len(self.p) and self.p[self.i + 1] != "]":
                self.i += 1
                hi = self.class_symbol(open_pos)
                if len(lo) != 1 or len(hi) != 1:
                    raise self.error("range endpoints must be single characters", pos)
                if ord(lo) > ord(hi):
                    raise self.error(f"bad range {lo}-{hi}: {lo!r} comes after {hi!r}", pos)
                items.append(ClassItem(lo, hi, pos))
            else:
                items.append(ClassItem(lo, None, pos))
        if not items:
            raise self.error("empty class", open_pos)
        return Cls(tuple(items), negated, open_pos)


def parse_regex(pattern: str, alphabet: Sequence[str] | str | None = None) -> Node:
    """Parse ``pattern`` into an AST (see the node classes of this module).

    ``alphabet`` only matters when it has multi-character symbols (greedy literals,
    whitespace skipped). Raises :class:`RegexSyntaxError` naming the position.
    """
    if not isinstance(pattern, str):
        raise RegexSyntaxError(f"a pattern must be a string, not {type(pattern).__name__}", repr(pattern), 0)
    symbols = _alphabet_tuple(alphabet) if alphabet is not None else None
    multi = symbols is not None and any(len(s) > 1 for s in symbols)
    skip_ws = multi and not any(ch.isspace() for s in symbols for ch in s)
    node = _Parser(pattern, symbols if multi else None, skip_ws).parse()
    depth, pos = _ast_depth(node)
    if depth > MAX_AST_DEPTH:
        raise RegexSyntaxError(f"expression nested deeper than {MAX_AST_DEPTH} levels", pattern, max(pos, 0))
    return Eps(0) if isinstance(node, Eps) else node


def _ast_depth(node: Node) -> tuple[int, int]:
    """Height of the AST and the position of the first node (with a position) found past
    :data:`MAX_AST_DEPTH` along the deepest path (iterative: safe on any depth)."""
    best, best_pos = 0, -1
    stack = [(node, 1, -1)]
    while stack:
        n, d, pos = stack.pop()
        pos = getattr(n, "pos", pos) if getattr(n, "pos", -1) >= 0 else pos
        if d > best:
            best = d
            if d == MAX_AST_DEPTH + 1:
                best_pos = pos
        if isinstance(n, (Cat, Alt, And)):
            stack.extend((p, d + 1, pos) for p in n.parts)
        elif isinstance(n, (Not, Rep)):
            stack.append((n.child, d + 1, pos))
    return best, best_pos


# ---------------------------------------------------------------------- alphabet


def _alphabet_tuple(alphabet: Sequence[str] | str) -> tuple[str, ...]:
    syms = tuple(alphabet) if isinstance(alphabet, str) else tuple(alphabet)
    seen: set[str] = set()
    for s in syms:
        if not isinstance(s, str) or s == "":
            raise AlphabetError(f"alphabet symbols must be non-empty strings, got {s!r}")
        if s in seen:
            raise AlphabetError(f"duplicate symbol {s!r} in the alphabet")
        seen.add(s)
    return syms


def _where(pattern: str, pos: int) -> str:
    return f" at position {pos}\n  {pattern}\n  {' ' * pos}^"


def _walk(node: Node):
    yield node
    if isinstance(node, (Cat, Alt, And)):
        for p in node.parts:
            yield from _walk(p)
    elif isinstance(node, (Not, Rep)):
        yield from _walk(node.child)


def _range_chars(item: ClassItem) -> list[str]:
    return [chr(c) for c in range(ord(item.lo), ord(item.hi) + 1)]


def _resolve_alphabet(node: Node, pattern: str, alphabet: Sequence[str] | str | None) -> tuple[str, ...]:
    """The explicit alphabet (checked against the literals) or the pattern's literal symbols, sorted."""
    literals: list[tuple[str, int]] = []
    ranges: list[ClassItem] = []
    needs: list[tuple[str, int]] = []
    for n in _walk(node):
        if isinstance(n, Sym):
            literals.append((n.symbol, n.pos))
        elif isinstance(n, Cls):
            for it in n.items:
                (ranges.append(it) if it.hi is not None else literals.append((it.lo, it.pos)))
            if n.negated:
                needs.append(("a negated class", n.pos))
        elif isinstance(n, AnySym):
            needs.append(("'.'", n.pos))
        elif isinstance(n, Not):
            needs.append(("'~'", n.pos))
    if alphabet is not None:
        syms = _alphabet_tuple(alphabet)
        known = set(syms)
        for s, pos in literals:
            if s not in known:
                raise AlphabetError(f"symbol {s!r} is not in the alphabet {list(syms)}" + _where(pattern, pos))
        singles = {ord(s) for s in syms if len(s) == 1}
        for n in _walk(node):
            if isinstance(n, Cls) and not n.negated and all(it.hi is not None for it in n.items):
                if not any(ord(it.lo) <= c <= ord(it.hi) for it in n.items for c in singles):
                    raise AlphabetError(f"the class matches no symbol of the alphabet {list(syms)}" + _where(pattern, n.pos))
        return syms
    found = {s for s, _ in literals}
    for it in ranges:
        found.update(_range_chars(it))
    if not found and needs:
        what, pos = min(needs, key=lambda t: t[1])
        raise AlphabetError(f"{what} needs an alphabet: give one explicitly (the pattern has no literal symbols)" + _where(pattern, pos))
    return tuple(sorted(found))


# ---------------------------------------------------------------------- compiler


def nfa_state_limit(max_states: int) -> int:
    """Thompson-NFA guard for a given ``max_states``: ``min(MAX_NFA_STATES, 8 * max_states + 1024)``."""
    return min(MAX_NFA_STATES, 8 * max_states + 1024)


def thompson_size(node: Node) -> int:
    """Number of Thompson-NFA states :class:`_Builder` creates for ``node`` (``&``/``~`` operands counted once)."""
    if isinstance(node, (Sym, Cls, AnySym, Eps)):
        return 2
    if isinstance(node, Cat):
        return sum(thompson_size(p) for p in node.parts)
    if isinstance(node, (Alt, And)):
        return 2 + sum(thompson_size(p) for p in node.parts)
    if isinstance(node, Not):
        return 2 + thompson_size(node.child)
    c = thompson_size(node.child)
    return 2 + node.lo * c + (c if node.hi is None else (node.hi - node.lo) * c)


class _Compiler:
    """Thompson construction over *symbol classes*; ``&`` and ``~`` go through minimal DFAs of their operands.

    The alphabet is compressed first: two symbols are in the same class when every
    literal, class and ``.`` of the pattern treats them alike, so the automata are built
    over ``n_classes`` columns (class ``c`` is named after its first symbol, classes are
    ordered by first symbol, which keeps breadth-first orders identical) and expanded to
    the full alphabet at the end.
    """

    def __init__(self, alphabet: tuple[str, ...], max_states: int, pattern: str, node: Node, progress: bool = False):
        self.progress = progress
        self.alphabet = alphabet
        self.index = {a: i for i, a in enumerate(alphabet)}
        self.max_states = max_states
        self.pattern = pattern
        self.dfa_cache: dict[int, DFA] = {}
        self.total_nfa = 0
        self.nfa_limit = nfa_state_limit(max_states)
        estimate = thompson_size(node)
        if estimate > self.nfa_limit:
            raise StateLimitError(
                f"the pattern needs about {estimate} NFA states, more than the limit {self.nfa_limit} "
                "(large repetition bounds?)"
            )
        self.set_cache: dict[int, frozenset[int]] = {}
        self.ids_cache: dict[int, list[int]] = {}
        self.singles = sorted((ord(a), j) for j, a in enumerate(alphabet) if len(a) == 1)
        # class of each symbol: symbols with the same membership in every set of the pattern
        k = len(alphabet)
        member_of: list[list[int]] = [[] for _ in range(k)]
        leaves = [n for n in _walk(node) if isinstance(n, (Sym, Cls))]
        for i, leaf in enumerate(leaves):
            for j in self.symbol_set(leaf):
                member_of[j].append(i)
        classes: dict[tuple[int, ...], int] = {}
        class_of = [classes.setdefault(tuple(m), len(classes)) for m in member_of]
        self.class_of = np.asarray(class_of, dtype=np.int64)
        reps: dict[int, int] = {}
        for j, c in enumerate(class_of):
            reps.setdefault(c, j)
        self.class_names = tuple(alphabet[reps[c]] for c in range(len(classes)))

    # -- symbol sets
    def symbol_set(self, node: Node) -> frozenset[int]:
        """Ids of the alphabet symbols a ``Sym``/``Cls``/``AnySym`` node matches (cached per node)."""
        got = self.set_cache.get(id(node))
        if got is not None:
            return got
        if isinstance(node, Sym):
            got = frozenset((self.index[node.symbol],))
        elif isinstance(node, AnySym):
            got = frozenset(range(len(self.alphabet)))
        else:
            chosen: set[int] = set()
            for it in node.items:
                if it.hi is None:
                    chosen.add(self.index[it.lo])
                else:
                    lo = bisect_left(self.singles, (ord(it.lo), -1))
                    hi = bisect_right(self.singles, (ord(it.hi), len(self.alphabet)))
                    chosen.update(j for _, j in self.singles[lo:hi])
            got = frozenset(set(range(len(self.alphabet))) - chosen if node.negated else chosen)
        self.set_cache[id(node)] = got
        return got

    def symbol_ids(self, node: Node) -> list[int]:
        """Class ids matched by a ``Sym``/``Cls``/``AnySym`` node."""
        got = self.ids_cache.get(id(node))
        if got is None:
            cls = self.class_of
            got = sorted({int(cls[j]) for j in self.symbol_set(node)})
            self.ids_cache[id(node)] = got
        return got

    def expand(self, d: DFA) -> DFA:
        """A DFA over the classes -> the same DFA over the full alphabet, states named ``"0".."n-1"``."""
        delta = d.delta[:, self.class_of] if len(self.alphabet) else np.zeros((d.n_states, 0), np.int64)
        return DFA(self.alphabet, list(map(str, range(d.n_states))), d.start, d.accepting, delta, validate=False)

    # -- NFA building
    def nfa(self, node: Node) -> NFA:
        b = _Builder(self)
        s, f = b.frag(node)
        acc = np.zeros(b.n, dtype=bool)
        acc[f] = True
        return NFA(self.class_names, b.n, b.edges_array(), [s], acc, b.eps_array(), validate=False)

    def minimal_arrays(self, node: Node) -> tuple[np.ndarray, np.ndarray]:
        """Minimal DFA of a node without ``&``/``~`` at its root: ``(delta [n, n_classes], accepting [n])``."""
        delta, acc = subset_arrays(self.nfa(node).remove_epsilon(), self.max_states, VECTOR_THRESHOLD, self.progress)
        delta, acc, _ = minimize_arrays(delta, acc, 0, bfs_ordered=True)
        return delta, acc

    def final(self, node: Node) -> DFA:
        """The minimal DFA of the whole pattern over the full alphabet (one DFA object built)."""
        if isinstance(node, (And, Not)):
            return self.expand(self.dfa(node))
        delta, acc = self.minimal_arrays(node)
        full = delta[:, self.class_of] if len(self.alphabet) else np.zeros((delta.shape[0], 0), np.int64)
        return DFA(self.alphabet, list(map(str, range(full.shape[0]))), 0, acc, full, validate=False)

    def dfa(self, node: Node) -> DFA:
        """Minimal complete DFA of ``node`` over the full alphabet (cached per node object)."""
        key = id(node)
        got = self.dfa_cache.get(key)
        if got is not None:
            return got
        if isinstance(node, And):
            d = self.dfa(node.parts[0])
            for p in node.parts[1:]:
                d = minimize(d.product(self.dfa(p), "and"), self.max_states)
        elif isinstance(node, Not):
            d = self.dfa(node.child).complement()
        else:
            delta, acc = self.minimal_arrays(node)
            d = DFA(self.class_names, list(map(str, range(delta.shape[0]))), 0, acc, delta, validate=False)
        self.dfa_cache[key] = d
        return d


class _Builder:
    """Accumulates NFA states and edges for one Thompson construction."""

    def __init__(self, comp: _Compiler):
        self.c = comp
        self.n = 0
        self.edges: list[tuple[int, int, int]] = []
        self.eps: list[tuple[int, int]] = []

    def new(self) -> int:
        self.n += 1
        self.c.total_nfa += 1
        if self.c.total_nfa > self.c.nfa_limit:
            raise StateLimitError(f"the pattern needs more than {self.c.nfa_limit} NFA states (large repetition bounds?)")
        return self.n - 1

    def edges_array(self) -> np.ndarray:
        return np.array(self.edges, dtype=np.int64).reshape(-1, 3)

    def eps_array(self) -> np.ndarray:
        return np.array(self.eps, dtype=np.int64).reshape(-1, 2)

    def frag(self, node: Node) -> tuple[int, int]:
        """Build ``node``; returns its (entry, exit) states."""
        if isinstance(node, (Sym, Cls, AnySym)):
            s, f = self.new(), self.new()
            self.edges.extend((s, a, f) for a in self.c.symbol_ids(node))
            return s, f
        if isinstance(node, Eps):
            s, f = self.new(), self.new()
            self.eps.append((s, f))
            return s, f
        if isinstance(node, Cat):
            s, f = self.frag(node.parts[0])
            for p in node.parts[1:]:
                s2, f2 = self.frag(p)
                self.eps.append((f, s2))
                f = f2
            return s, f
        if isinstance(node, Alt):
            s, f = self.new(), self.new()
            for p in node.parts:
                s2, f2 = self.frag(p)
                self.eps.append((s, s2))
                self.eps.append((f2, f))
            return s, f
        if isinstance(node, Rep):
            return self.repeat(node)
        if isinstance(node, (And, Not)):
            return self.embed(self.c.dfa(node))
        raise TypeError(f"unknown regex node {node!r}")  # pragma: no cover

    def repeat(self, node: Rep) -> tuple[int, int]:
        s = f = self.new()
        for _ in range(node.lo):
            s2, f2 = self.frag(node.child)
            self.eps.append((f, s2))
            f = f2
        if node.hi is None:  # Kleene star of one more copy
            hub = self.new()
            self.eps.append((f, hub))
            s2, f2 = self.frag(node.child)
            self.eps.append((hub, s2))
            self.eps.append((f2, hub))
            return s, hub
        end = self.new()
        for _ in range(node.hi - node.lo):  # optional copies: X? X? ... (same language as nesting)
            self.eps.append((f, end))
            s2, f2 = self.frag(node.child)
            self.eps.append((f, s2))
            f = f2
        self.eps.append((f, end))
        return s, end

    def embed(self, dfa: DFA) -> tuple[int, int]:
        """Copy the useful part of a DFA in as a fragment."""
        s, f = self.new(), self.new()
        useful = dfa.reachable_states() & dfa.coreachable_states()
        if not useful[dfa.start]:
            return s, f  # empty language: no path from s to f
        ids = {}
        for q in np.flatnonzero(useful).tolist():
            ids[q] = self.new()
        self.eps.append((s, ids[dfa.start]))
        for q, nq in ids.items():
            if dfa.accepting[q]:
                self.eps.append((nq, f))
            for a, t in enumerate(dfa.delta[q].tolist()):
                if t in ids:
                    self.edges.append((nq, a, ids[t]))
        return s, f


def regex_to_dfa(
    pattern: str, alphabet: Sequence[str] | str | None = None, max_states: int | None = None, *, progress: bool = False
) -> DFA:
    """Minimal complete DFA of ``pattern`` (full match), states ``"0".."n-1"`` in breadth-first order.

    ``alphabet``: a sequence of symbols (kept in its order) or a string of one-character
    symbols; default: the pattern's literal symbols, sorted. ``max_states`` (default
    :data:`statetrack.automata.nfa.MAX_STATES`) guards subset construction and minimisation
    (and, scaled, the Thompson NFA). ``progress`` shows a tqdm bar during subset construction.
    """
    node = parse_regex(pattern, alphabet)
    syms = _resolve_alphabet(node, pattern, alphabet)
    limit = MAX_STATES if max_states is None else int(max_states)
    comp = _Compiler(syms, limit, pattern, node, progress)
    return comp.final(node)
