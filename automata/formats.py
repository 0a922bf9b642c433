"""DFA file formats: DFA JSON, graphviz DOT and JFLAP ``.jff`` (read and write).

Every reader validates its input and raises :class:`DFAFormatError` with a message that
starts with the source (a path, ``JSON text`` or ``DOT text``/``JFF text``) and names the
culprit: the state, the symbol and, for DOT and JFF, the line.

Conventions shared by all formats:

* States and symbols are strings; symbols may have several characters.
* A missing transition goes to an implicit rejecting sink, so a loaded DFA may be
  partial (``delta == -1``); nothing is completed or minimised on load.
* The writers keep the state order, the alphabet order (including symbols that label no
  edge) and the state names, so ``load(save(d)) == d`` structurally for every format.

Formats (details in ``docs/formats.md``):

* **JSON** — ``{"alphabet", "states", "start", "accepting", "transitions"}``.
* **DOT** — one edge per symbol (``label``), accepting states ``shape=doublecircle``, the
  start marked by an edge from an invisible node ``__start0``; the alphabet is kept in the
  graph attribute ``statetrack_alphabet`` (a JSON list). The reader also takes
  pyformlang's dialect (``is_start``/``is_final`` node attributes, ``starting_*`` nodes,
  ``peripheries=2``).
* **JFF** — JFLAP's finite-automaton XML; the alphabet is kept in an XML comment.

Example:
    >>> from statetrack.automata.dfa import DFA
    >>> d = DFA(["a", "bb"], ["p", "q"], 0, [False, True], [[1, -1], [1, 0]])
    >>> dfa_from_dot(dfa_to_dot(d)) == d and dfa_from_jff(dfa_to_jff(d)) == d
    True
"""
from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence
from xml.parsers import expat

import numpy as np

from statetrack.errors import DFAFormatError
from statetrack.fileio import atomic_write_text
from statetrack.untrusted import decode_text, parse_json, read_bytes, short_repr as _short
from .dfa import DFA

FORMATS = ("json", "dot", "jff")
#: deepest nesting of DOT subgraphs (``{ ... }``) accepted by the reader
MAX_DOT_NESTING = 64
#: most edges a DOT file may denote (an edge chain between subgraphs denotes the product of their nodes)
MAX_DOT_EDGES = 1 << 22
_SUFFIXES = {".json": "json", ".dot": "dot", ".gv": "dot", ".jff": "jff"}

__all__ = [
    "FORMATS",
    "dfa_from_json",
    "dfa_from_dot",
    "dfa_from_jff",
    "dfa_to_json_text",
    "dfa_to_dot",
    "dfa_to_jff",
    "dfa_to_text",
    "load_dfa",
    "save_dfa",
    "format_of",
]


# ---------------------------------------------------------------------------- shared
def _build(where: str, alphabet: Sequence[str], states: Sequence[str], start: int,
           accepting: Sequence[int], edges: Mapping[tuple[int, int], int]) -> DFA:
    """Assemble a validated DFA from ids; ``edges`` maps (state id, symbol id) -> target id."""
    delta = np.full((len(states), len(alphabet)), -1, dtype=np.int64)
    for (q, a), t in edges.items():
        delta[q, a] = t
    acc = np.zeros(len(states), dtype=bool)
    acc[list(accepting)] = True
    try:
        return DFA(alphabet, states, start, acc, delta)
    except DFAFormatError as exc:  # pragma: no cover - the readers check everything first
        raise DFAFormatError(f"{where}: {exc}") from None


def _first_duplicate(items: Sequence[str]) -> tuple[str, int, int] | None:
    seen: dict[str, int] = {}
    for i, x in enumerate(items):
        if x in seen:
            return x, seen[x], i
        seen[x] = i
    return None


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The format name for ``path``: ``fmt`` when given, else from the suffix (``.json``,
    ``.dot``/``.gv``, ``.jff``)."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise DFAFormatError(f"unknown DFA format {fmt!r}; choose one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise DFAFormatError(
            f"{os.fspath(path)}: cannot tell the DFA format from the suffix {suffix or '(none)'!r}; "
            f"use .json, .dot, .gv or .jff")
    return _SUFFIXES[suffix]


def _read_text(path: str | os.PathLike) -> str:
    """UTF-8 text of a DFA file (a leading byte-order mark skipped), read within ``FILE_LIMITS["dfa"]`` from a
    regular file only; bad bytes, special files and oversized files are a DFAFormatError."""
    return decode_text(read_bytes(path, "dfa", error=DFAFormatError), os.fspath(path), error=DFAFormatError)


def load_dfa(path: str | os.PathLike) -> DFA:
    """Read a DFA file, the format chosen by its suffix (``.json``, ``.dot``/``.gv``, ``.jff``)."""
    fmt = format_of(path)
    where = os.fspath(path)
    if fmt == "jff":  # bytes: expat honours the XML declaration's encoding
        return dfa_from_jff(read_bytes(path, "dfa", error=DFAFormatError), where=where)
    text = _read_text(path)
    if fmt == "json":
        return _dfa_from_json_text(text, where)
    return dfa_from_dot(text, where=where)


def save_dfa(dfa: DFA, path: str | os.PathLike, fmt: str | None = None) -> None:
    """Write ``dfa`` atomically to ``path`` as ``fmt`` (``json|dot|jff``; default: from the suffix)."""
    atomic_write_text(path, dfa_to_text(dfa, format_of(path, fmt)))


def dfa_to_text(dfa: DFA, fmt: str) -> str:
    """The text of ``dfa`` in format ``fmt`` (``json|dot|jff``)."""
    if fmt not in FORMATS:
        raise DFAFormatError(f"unknown DFA format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return dfa_to_json_text(dfa)
    if fmt == "dot":
        return dfa_to_dot(dfa)
    return dfa_to_jff(dfa)


# ---------------------------------------------------------------------------- JSON
class _Obj(dict):
    """A JSON object that remembers keys given twice: ``dups`` = [(key, first, later)]."""

    dups: list[tuple[str, Any, Any]]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Obj:
    obj = _Obj()
    obj.dups = []
    for k, v in pairs:
        if k in obj:
            obj.dups.append((k, obj[k], v))
        obj[k] = v
    return obj


def _dfa_from_json_text(text: str, where: str) -> DFA:
    data = parse_json(text, where, error=DFAFormatError, object_pairs_hook=_pairs_hook)
    return _dfa_from_mapping(data, where)


def dfa_from_json(obj: "Mapping | str | os.PathLike") -> DFA:
    """Read the DFA JSON format from a dict, a JSON text (a string starting with ``{`` or ``[``) or a path.

    Missing transitions go to an implicit rejecting sink (the DFA stays partial).
    Raises :class:`DFAFormatError` naming the culprit (and line/column for syntax errors).
    """
    if isinstance(obj, Mapping):
        return _dfa_from_mapping(obj, "DFA JSON")
    if isinstance(obj, str) and obj.lstrip()[:1] in ("{", "["):
        return _dfa_from_json_text(obj, "JSON text")
    if isinstance(obj, (str, os.PathLike)):
        return _dfa_from_json_text(_read_text(obj), os.fspath(obj))
    raise DFAFormatError(f"DFA JSON: expected a dict, a JSON text or a path, got {type(obj).__name__}")


def _dfa_from_mapping(data: Any, where: str) -> DFA:
    def fail(msg: str) -> DFAFormatError:
        return DFAFormatError(f"{where}: {msg}")

    if not isinstance(data, Mapping):
        raise fail("the top level must be a JSON object")
    for k, _, _ in getattr(data, "dups", ()):
        raise fail(f"key {k!r} given twice at the top level")
    for key in ("alphabet", "states", "start", "accepting", "transitions"):
        if key not in data:
            raise fail(f"missing {key!r}" + (" (the start state)" if key == "start" else ""))

    def str_list(key: str) -> list[str]:
        v = data[key]
        if not isinstance(v, list):
            raise fail(f"{key!r} must be a list of strings, got {type(v).__name__}")
        for i, x in enumerate(v):
            if not isinstance(x, str):
                raise fail(f"{key!r}[{i}] must be a string, got {_short(x)}")
        return v

    alphabet = str_list("alphabet")
    if "" in alphabet:
        raise fail(f"'alphabet'[{alphabet.index('')}] is the empty string, which is not a symbol")
    dup = _first_duplicate(alphabet)
    if dup:
        raise fail(f"duplicate symbol {dup[0]!r} in 'alphabet' (positions {dup[1]} and {dup[2]})")
    states = str_list("states")
    if not states:
        raise fail("'states' is empty; a DFA needs at least one state")
    dup = _first_duplicate(states)
    if dup:
        raise fail(f"duplicate state {dup[0]!r} in 'states' (positions {dup[1]} and {dup[2]})")
    sid = {s: i for i, s in enumerate(states)}
    aid = {a: i for i, a in enumerate(alphabet)}

    start = data["start"]
    if not isinstance(start, str):
        raise fail(f"'start' must be a state name (string), got {_short(start)}")
    if start not in sid:
        raise fail(f"'start': unknown state {start!r}")
    accepting = []
    for q in str_list("accepting"):
        if q not in sid:
            raise fail(f"'accepting': unknown state {q!r}")
        accepting.append(sid[q])

    trans = data["transitions"]
    if not isinstance(trans, Mapping):
        raise fail(f"'transitions' must be an object {{state: {{symbol: state}}}}, got {type(trans).__name__}")
    for k, _, _ in getattr(trans, "dups", ()):
        raise fail(f"'transitions': state {k!r} given twice")
    edges: dict[tuple[int, int], int] = {}
    for q, row in trans.items():
        if q not in sid:
            raise fail(f"'transitions': unknown state {q!r}")
        if not isinstance(row, Mapping):
            raise fail(f"transitions of state {q!r} must be an object {{symbol: state}}")
        for a, t1, t2 in getattr(row, "dups", ()):
            if t1 != t2:
                raise fail(f"non-determinism: transitions of state {q!r}, symbol {a!r} go to {t1!r} and to {t2!r}")
        for a, t in row.items():
            place = f"transitions of state {q!r}, symbol {a!r}"
            if a not in aid:
                raise fail(f"{place}: unknown symbol {a!r} (alphabet {alphabet})")
            if isinstance(t, list):
                for x in t:
                    if not isinstance(x, str):
                        raise fail(f"{place}: the targets must be state names (strings), got {_short(x)}")
                targets = list(dict.fromkeys(t))
                if len(targets) > 1:
                    raise fail(f"non-determinism: {place} go to {len(targets)} states {targets}")
                if not targets:
                    continue  # an empty list: no transition (implicit sink)
                t = targets[0]
            if not isinstance(t, str):
                raise fail(f"{place}: the target must be a state name (string), got {_short(t)}")
            if t not in sid:
                raise fail(f"{place}: unknown target state {t!r}")
            edges[sid[q], aid[a]] = sid[t]
    return _build(where, alphabet, states, sid[start], accepting, edges)


def dfa_to_json_text(dfa: DFA) -> str:
    """The DFA JSON text (indented, trailing newline)."""
    return json.dumps(dfa.to_json(), indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------- DOT
_DOT_KEYWORDS = {"strict", "graph", "digraph", "subgraph", "node", "edge"}
_DOT_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\f\v]+)|(?P<nl>\n)
    |(?P<lcomment>//[^\n]*)|(?P<bcomment>/\*.*?\*/)
    |(?P<arrow>->|--)|(?P<punct>[{}\[\];,=:+])
    |(?P<quoted>"[^"\\]*(?:\\.[^"\\]*)*")
    |(?P<numeral>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))
    |(?P<ident>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)
    |(?P<html><)""",
    re.VERBOSE | re.DOTALL,
)


@dataclass
class _Tok:
    kind: str  # "id" | "punct" | "arrow" | "end"
    value: str
    line: int
    keyword: bool = False  # an unquoted keyword such as ``node``
    quoted: bool = False
    parts: list[str] | None = None  # pieces of a ``"a" + "b"`` concatenation, joined once at the end


def _dot_unquote(body: str) -> str:
    """Inside a quoted DOT string: ``\\"`` -> ``"``, ``\\\\`` -> ``\\``, backslash-newline removed."""
    return re.sub(r'\\(\n|"|\\)', lambda m: "" if m.group(1) == "\n" else m.group(1), body)


def _dot_tokens(text: str, where: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos, line, n = 0, 1, len(text)
    at_line_start = True
    while pos < n:
        if at_line_start and text[pos] == "#":  # C-preprocessor output lines are ignored
            end = text.find("\n", pos)
            pos = n if end < 0 else end
            continue
        m = _DOT_TOKEN.match(text, pos)
        if m is None:
            raise DFAFormatError(f"{where}: line {line}: unexpected character {text[pos]!r}")
        kind = m.lastgroup
        val = m.group()
        start_line = line
        if kind == "html":  # <...> with nested angle brackets
            depth, j = 0, pos
            while j < n:
                depth += {"<": 1, ">": -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            if depth:
                raise DFAFormatError(f"{where}: line {line}: unterminated HTML string")
            val = text[pos:j]
            toks.append(_Tok("id", val[1:-1], start_line))
            pos = j
        else:
            pos = m.end()
            if kind == "quoted":
                tok = _Tok("id", _dot_unquote(val[1:-1]), start_line, quoted=True)
                if len(toks) >= 2 and toks[-1].value == "+" and toks[-1].kind == "punct" and toks[-2].quoted:
                    toks.pop()  # "a" + "b" concatenates (joined at the end: repeated += would be quadratic)
                    if toks[-1].parts is None:
                        toks[-1].parts = [toks[-1].value]
                    toks[-1].parts.append(tok.value)
                else:
                    toks.append(tok)
            elif kind in ("numeral", "ident"):
                toks.append(_Tok("id", val, start_line, keyword=kind == "ident" and val.lower() in _DOT_KEYWORDS))
            elif kind in ("punct", "arrow"):
                toks.append(_Tok(kind, val, start_line))
        line += val.count("\n")
        at_line_start = kind == "nl" or (at_line_start and kind == "ws")
    toks.append(_Tok("end", "", line))
    for t in toks:
        if t.parts is not None:
            t.value, t.parts = "".join(t.parts), None
    return toks


@dataclass
class _DotNode:
    name: str
    line: int
    attrs: dict[str, str] = field(default_factory=dict)


@dataclass
class _DotEdge:
    src: str
    dst: str
    line: int
    attrs: dict[str, str]


class _DotParser:
    """Recursive-descent parser of the DOT language (graphs, subgraphs, default attributes, edge chains)."""

    def __init__(self, text: str, where: str):
        self.where = where
        self.toks = _dot_tokens(text, where)
        self.i = 0
        self.nodes: dict[str, _DotNode] = {}
        self.edges: list[_DotEdge] = []
        self.graph_attrs: dict[str, str] = {}
        self.depth = 0  # current subgraph nesting

    # -- token helpers
    def peek(self, k: int = 0) -> _Tok:
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self) -> _Tok:
        t = self.peek()
        self.i += 1
        return t

    def fail(self, msg: str, tok: _Tok | None = None) -> DFAFormatError:
        tok = tok or self.peek()
        return DFAFormatError(f"{self.where}: line {tok.line}: {msg}")

    def is_kw(self, tok: _Tok, word: str) -> bool:
        return tok.kind == "id" and tok.keyword and tok.value.lower() == word

    def expect(self, kind: str, value: str | None = None) -> _Tok:
        t = self.next()
        if t.kind != kind or (value is not None and t.value != value):
            want = value or kind
            got = t.value or ("end of input" if t.kind == "end" else t.kind)
            raise self.fail(f"expected {want!r}, found {got!r}", t)
        return t

    # -- grammar
    def parse(self) -> None:
        t = self.peek()
        if self.is_kw(t, "strict"):
            self.next()
            t = self.peek()
        if self.is_kw(t, "graph"):
            raise self.fail("an undirected 'graph' cannot be a DFA; use 'digraph'", t)
        if not self.is_kw(t, "digraph"):
            raise self.fail(f"expected 'digraph', found {t.value or t.kind!r}", t)
        self.next()
        if self.peek().kind == "id" and not self.peek().keyword:
            self.next()
        self.expect("punct", "{")
        self.stmt_list({}, {}, top=True)
        self.expect("punct", "}")
        if self.peek().kind != "end":
            raise self.fail(f"unexpected {self.peek().value!r} after the graph")

    def stmt_list(self, node_defaults: dict, edge_defaults: dict, top: bool) -> list[str]:
        """Parse statements until ``}``; returns the nodes mentioned (for subgraph edge ends)."""
        mentioned: list[str] = []
        while not (self.peek().kind == "punct" and self.peek().value == "}"):
            if self.peek().kind == "end":
                raise self.fail("missing '}' at the end of the graph")
            mentioned += self.stmt(node_defaults, edge_defaults, top)
            if self.peek().kind == "punct" and self.peek().value == ";":
                self.next()
        return mentioned

    def stmt(self, node_defaults: dict, edge_defaults: dict, top: bool) -> list[str]:
        t = self.peek()
        if t.kind == "id" and t.keyword and t.value.lower() in ("graph", "node", "edge"):
            self.next()
            attrs = self.attr_list(required=True)
            kind = t.value.lower()
            if kind == "node":
                node_defaults.update(attrs)
            elif kind == "edge":
                edge_defaults.update(attrs)
            elif top:
                self.graph_attrs.update(attrs)
            return []
        if t.kind == "id" and self.peek(1).kind == "punct" and self.peek(1).value == "=" and not t.keyword:
            self.next()
            self.next()
            value = self.expect("id")
            if top:
                self.graph_attrs[t.value] = value.value
            return []
        # node statement or edge chain
        first_line = t.line
        ends = [self.endpoint(node_defaults, edge_defaults)]
        is_edge = False
        while self.peek().kind == "arrow":
            arrow = self.next()
            if arrow.value == "--":
                raise self.fail("undirected edge '--' in a DFA; use '->'", arrow)
            is_edge = True
            ends.append(self.endpoint(node_defaults, edge_defaults))
        attrs = self.attr_list(required=False)
        if not is_edge:
            names, is_node = ends[0]
            if is_node:
                self.nodes[names[0]].attrs.update(attrs)
            return names
        edge_attrs = {**edge_defaults, **attrs}
        total = len(self.edges) + sum(len(a[0]) * len(b[0]) for a, b in zip(ends, ends[1:]))
        if total > MAX_DOT_EDGES:
            raise self.fail(f"the graph denotes more than {MAX_DOT_EDGES} edges (MAX_DOT_EDGES)", t)
        for (srcs, _), (dsts, _) in zip(ends, ends[1:]):
            for s in srcs:
                for d in dsts:
                    self.edges.append(_DotEdge(s, d, first_line, dict(edge_attrs)))
        return [n for names, _ in ends for n in names]

    def endpoint(self, node_defaults: dict, edge_defaults: dict) -> tuple[list[str], bool]:
        """A node id (with optional port) or a subgraph; returns (node names, is a single node)."""
        t = self.peek()
        if self.is_kw(t, "subgraph") or (t.kind == "punct" and t.value == "{"):
            if self.is_kw(t, "subgraph"):
                self.next()
                if self.peek().kind == "id" and not self.peek().keyword:
                    self.next()
            brace = self.expect("punct", "{")
            if self.depth >= MAX_DOT_NESTING:
                raise self.fail(f"subgraphs nested more than {MAX_DOT_NESTING} deep (MAX_DOT_NESTING)", brace)
            self.depth += 1
            names = self.stmt_list(dict(node_defaults), dict(edge_defaults), top=False)
            self.depth -= 1
            self.expect("punct", "}")
            return names, False
        if t.kind != "id" or t.keyword:
            raise self.fail(f"expected a node name, found {t.value or t.kind!r}", t)
        self.next()
        if self.peek().kind == "punct" and self.peek().value == ":":  # port, ignored
            self.next()
            self.expect("id")
            if self.peek().kind == "punct" and self.peek().value == ":":
                self.next()
                self.expect("id")
        if t.value not in self.nodes:
            self.nodes[t.value] = _DotNode(t.value, t.line, dict(node_defaults))
        return [t.value], True

    def attr_list(self, required: bool) -> dict[str, str]:
        attrs: dict[str, str] = {}
        if required and not (self.peek().kind == "punct" and self.peek().value == "["):
            raise self.fail("expected '[' and an attribute list")
        while self.peek().kind == "punct" and self.peek().value == "[":
            self.next()
            while not (self.peek().kind == "punct" and self.peek().value == "]"):
                key = self.expect("id")
                value = "true"
                if self.peek().kind == "punct" and self.peek().value == "=":
                    self.next()
                    value = self.expect("id").value
                attrs[key.value] = value
                if self.peek().kind == "punct" and self.peek().value in ",;":
                    self.next()
            self.next()
        return attrs


def _truthy(v: str | None) -> bool:
    return v is not None and v.strip().lower() in ("true", "1", "yes")


_MARKER_SHAPES = {"none", "point", "plaintext", "plain"}


def dfa_from_dot(text: str, where: str = "DOT text") -> DFA:
    """Read a DFA from graphviz DOT (this project's dialect, the common dialect, pyformlang's).

    * States are the node ids, in order of first mention; a node's ``label`` is ignored.
    * Start: the target of an unlabelled edge from a *marker* node (name starting with
      ``__start`` or ``starting_``, or ``shape`` none/point/plaintext/plain, or
      ``style=invis``; no incoming edges), or a node with ``is_start=True``. Exactly one.
    * Accepting: ``shape=doublecircle``, ``peripheries>=2`` or ``is_final=True``.
    * Each edge's ``label`` is one symbol. The alphabet is the graph attribute
      ``statetrack_alphabet`` (a JSON list) when present, else the sorted edge labels.
    """
    p = _DotParser(text, where)
    p.parse()

    def fail(msg: str, line: int | None = None) -> DFAFormatError:
        return DFAFormatError(f"{where}: " + (f"line {line}: " if line is not None else "") + msg)

    incoming = {e.dst for e in p.edges}
    out_edges: dict[str, list[_DotEdge]] = {}
    for e in p.edges:
        out_edges.setdefault(e.src, []).append(e)

    def is_marker(node: _DotNode) -> bool:
        looks = (node.name.startswith(("__start", "starting_"))
                 or node.attrs.get("shape", "").lower() in _MARKER_SHAPES
                 or "invis" in node.attrs.get("style", "").lower())
        outs = out_edges.get(node.name, [])
        return looks and node.name not in incoming and bool(outs) and all("label" not in e.attrs for e in outs)

    markers = {n.name for n in p.nodes.values() if is_marker(n)}
    states = [n for n in p.nodes if n not in markers]
    if not states:
        raise fail("the graph has no states")
    sid = {s: i for i, s in enumerate(states)}

    starts: dict[str, int] = {}  # start state -> line that marks it
    for m in markers:
        for e in out_edges[m]:
            starts.setdefault(e.dst, e.line)
    for s in states:
        if _truthy(p.nodes[s].attrs.get("is_start")):
            starts.setdefault(s, p.nodes[s].line)
    if not starts:
        raise fail("no start state: add an invisible node and an edge from it, e.g. "
                   "'__start0 [shape=none, label=\"\"]; __start0 -> q0;'")
    if len(starts) > 1:
        named = ", ".join(f"{s!r} (line {ln})" for s, ln in starts.items())
        raise fail(f"several start states: {named}; a DFA has exactly one")
    start = next(iter(starts))

    accepting = []
    for s in states:
        a = p.nodes[s].attrs
        periph = a.get("peripheries", "1")
        try:
            double = int(float(periph)) >= 2
        except ValueError:
            raise fail(f"state {s!r}: peripheries={periph!r} is not a number", p.nodes[s].line) from None
        if a.get("shape", "").lower() == "doublecircle" or double or _truthy(a.get("is_final")):
            accepting.append(sid[s])

    real_edges = [e for e in p.edges if e.src not in markers]
    for e in real_edges:
        if "label" not in e.attrs:
            raise fail(f"edge {e.src!r} -> {e.dst!r} has no label (its symbol)", e.line)
        if e.attrs["label"] == "":
            raise fail(f"edge {e.src!r} -> {e.dst!r} has an empty label; the empty string is not a symbol", e.line)
        if e.attrs["label"] == "\u025b":
            raise fail(f"edge {e.src!r} -> {e.dst!r} is an epsilon edge; a DFA has none", e.line)
    if "statetrack_alphabet" in p.graph_attrs:
        alphabet = parse_json(p.graph_attrs["statetrack_alphabet"], f"{where}: graph attribute statetrack_alphabet",
                              error=DFAFormatError)
        if not isinstance(alphabet, list) or not all(isinstance(a, str) and a for a in alphabet):
            raise fail("graph attribute statetrack_alphabet must be a JSON list of non-empty strings")
        dup = _first_duplicate(alphabet)
        if dup:
            raise fail(f"duplicate symbol {dup[0]!r} in the graph attribute statetrack_alphabet")
    else:
        alphabet = sorted({e.attrs["label"] for e in real_edges})
    aid = {a: i for i, a in enumerate(alphabet)}

    edges: dict[tuple[int, int], int] = {}
    edge_line: dict[tuple[int, int], int] = {}
    for e in real_edges:
        sym = e.attrs["label"]
        if sym not in aid:
            raise fail(f"edge {e.src!r} -> {e.dst!r}: unknown symbol {sym!r} (alphabet {alphabet})", e.line)
        if e.dst in markers:
            raise fail(f"edge {e.src!r} -> {e.dst!r} goes into the start marker {e.dst!r}", e.line)
        key = (sid[e.src], aid[sym])
        if key in edges and edges[key] != sid[e.dst]:
            raise fail(f"non-determinism: state {e.src!r} has two edges on symbol {sym!r}: to "
                       f"{states[edges[key]]!r} (line {edge_line[key]}) and to {e.dst!r} (line {e.line})", e.line)
        edges[key] = sid[e.dst]
        edge_line.setdefault(key, e.line)
    return _build(where, alphabet, states, sid[start], accepting, edges)


def _dot_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dfa_to_dot(dfa: DFA, name: str = "DFA") -> str:
    """Graphviz DOT text of ``dfa`` (states in order, one edge per symbol, start marked by ``__start0``)."""
    marker = "__start0"
    k = 0
    while marker in dfa.states:
        k += 1
        marker = f"__start{k}"
    lines = [
        f"digraph {_dot_quote(name)} {{",
        "  rankdir=LR;",
        f"  statetrack_alphabet={_dot_quote(json.dumps(list(dfa.alphabet), ensure_ascii=False))};",
        "  node [shape=circle];",
        f'  {marker} [shape=none, label="", width=0, height=0];',
    ]
    for q, s in enumerate(dfa.states):
        lines.append(f"  {_dot_quote(s)}" + (" [shape=doublecircle];" if dfa.accepting[q] else ";"))
    lines.append(f"  {marker} -> {_dot_quote(dfa.states[dfa.start])};")
    for q, s in enumerate(dfa.states):
        for a, sym in enumerate(dfa.alphabet):
            t = int(dfa.delta[q, a])
            if t >= 0:
                lines.append(f"  {_dot_quote(s)} -> {_dot_quote(dfa.states[t])} [label={_dot_quote(sym)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- JFLAP
@dataclass
class _XNode:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list["_XNode"] = field(default_factory=list)
    text: str = ""

    def child(self, tag: str) -> "_XNode | None":
        return next((c for c in self.children if c.tag == tag), None)


_ALPHABET_COMMENT = "statetrack alphabet:"


def _parse_xml(text: str | bytes, where: str) -> tuple[_XNode, list[str]]:
    """A tiny XML tree with line numbers (expat), plus the comments."""
    parser = expat.ParserCreate()
    root = _XNode("#document", {}, 1)
    stack = [root]
    comments: list[str] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = _XNode(tag, attrs, parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    texts: dict[int, list[str]] = {}  # id(node) -> character data pieces (joined once: += would be quadratic)

    def end(tag: str) -> None:
        node = stack.pop()
        if id(node) in texts:
            node.text = "".join(texts.pop(id(node)))

    def chars(data: str) -> None:
        texts.setdefault(id(stack[-1]), []).append(data)

    def no_dtd(*_: Any) -> None:
        raise DFAFormatError(f"{where}: line {parser.CurrentLineNumber}: a document type declaration (DTD); "
                             "statetrack reads XML without DTDs or entity declarations")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.CommentHandler = comments.append
    parser.StartDoctypeDeclHandler = no_dtd
    parser.EntityDeclHandler = no_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(text, True)
    except DFAFormatError:
        raise
    except expat.ExpatError as exc:
        raise DFAFormatError(f"{where}: XML syntax error at line {exc.lineno}, column {exc.offset + 1}: "
                             f"{expat.ErrorString(exc.code)}") from None
    except (LookupError, ValueError) as exc:  # the XML declaration names an encoding Python cannot decode here
        raise DFAFormatError(f"{where}: unsupported XML encoding ({exc}); use UTF-8") from None
    if id(root) in texts:
        root.text = "".join(texts.pop(id(root)))
    return root, comments


def dfa_from_jff(text: str | bytes, where: str = "JFF text") -> DFA:
    """Read a JFLAP finite automaton (``.jff``; JFLAP 6 and 7 layouts) from XML text or bytes.

    States are named by their ``name`` attribute (``q<id>`` when absent); ``<initial/>``
    marks the start, ``<final/>`` the accepting states; each ``<transition>`` reads one
    symbol. The alphabet comes from the ``statetrack alphabet:`` comment when present,
    else it is the sorted set of symbols read.
    """
    root, comments = _parse_xml(text, where)

    def fail(msg: str, line: int | None = None) -> DFAFormatError:
        return DFAFormatError(f"{where}: " + (f"line {line}: " if line is not None else "") + msg)

    structure = root.child("structure")
    if structure is None:
        raise fail("no <structure> element: not a JFLAP file")
    typ = structure.child("type")
    if typ is None or typ.text.strip() != "fa":
        got = typ.text.strip() if typ is not None else "missing"
        raise fail(f"JFLAP <type> is {got!r}; only finite automata ('fa') can be read",
                   typ.line if typ is not None else structure.line)
    body = structure.child("automaton") or structure

    ids: dict[str, int] = {}  # JFLAP id -> our state id
    states: list[str] = []
    state_line: list[int] = []
    start: int | None = None
    accepting: list[int] = []
    for st in (c for c in body.children if c.tag == "state"):
        jid = st.attrs.get("id")
        if jid is None:
            raise fail("<state> without an id attribute", st.line)
        if jid in ids:
            raise fail(f"duplicate state id {jid!r} (first at line {state_line[ids[jid]]})", st.line)
        name = st.attrs.get("name", f"q{jid}")
        if name in states:
            raise fail(f"duplicate state {name!r} (first at line {state_line[states.index(name)]})", st.line)
        q = len(states)
        ids[jid] = q
        states.append(name)
        state_line.append(st.line)
        if st.child("initial") is not None:
            if start is not None:
                raise fail(f"several start states: {states[start]!r} (line {state_line[start]}) and {name!r}", st.line)
            start = q
        if st.child("final") is not None:
            accepting.append(q)
    if not states:
        raise fail("the automaton has no states")
    if start is None:
        raise fail("no start state: mark one state with <initial/>")

    trans: list[tuple[int, str, int, int]] = []  # (from, symbol, to, line)
    for tr in (c for c in body.children if c.tag == "transition"):
        ends = []
        for tag in ("from", "to"):
            el = tr.child(tag)
            if el is None:
                raise fail(f"<transition> without <{tag}>", tr.line)
            jid = el.text.strip()
            if jid not in ids:
                raise fail(f"transition {tag} unknown state id {jid!r}", el.line)
            ends.append(ids[jid])
        read = tr.child("read")
        sym = read.text if read is not None else ""
        if sym == "":
            raise fail(f"transition {states[ends[0]]!r} -> {states[ends[1]]!r} reads the empty word "
                       "(a lambda transition); a DFA has none", tr.line)
        trans.append((ends[0], sym, ends[1], tr.line))

    alphabet: list[str] | None = None
    for c in comments:
        c = c.strip()
        if c.startswith(_ALPHABET_COMMENT):
            alphabet = parse_json(c[len(_ALPHABET_COMMENT):], f"{where}: the '{_ALPHABET_COMMENT}' comment",
                                  error=DFAFormatError)
            if not isinstance(alphabet, list) or not all(isinstance(a, str) and a for a in alphabet):
                raise fail(f"the '{_ALPHABET_COMMENT}' comment must be a JSON list of non-empty strings")
            dup = _first_duplicate(alphabet)
            if dup:
                raise fail(f"duplicate symbol {dup[0]!r} in the '{_ALPHABET_COMMENT}' comment")
    if alphabet is None:
        alphabet = sorted({sym for _, sym, _, _ in trans})
    aid = {a: i for i, a in enumerate(alphabet)}

    edges: dict[tuple[int, int], int] = {}
    edge_line: dict[tuple[int, int], int] = {}
    for q, sym, t, line in trans:
        if sym not in aid:
            raise fail(f"transition {states[q]!r} -> {states[t]!r}: unknown symbol {sym!r} (alphabet {alphabet})", line)
        key = (q, aid[sym])
        if key in edges and edges[key] != t:
            raise fail(f"non-determinism: state {states[q]!r} has two transitions on symbol {sym!r}: to "
                       f"{states[edges[key]]!r} (line {edge_line[key]}) and to {states[t]!r} (line {line})", line)
        edges[key] = t
        edge_line.setdefault(key, line)
    return _build(where, alphabet, states, start, accepting, edges)


def _xml_escape(s: str) -> str:
    """Escape text content (``&``, ``<``, ``>``); xml.sax.saxutils would import urllib, too slow for the CLI."""
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml_attr(s: str) -> str:
    """A double-quoted XML attribute value (whitespace other than space kept through character references)."""
    s = _xml_escape(s).replace('"', "&quot;")
    return '"' + s.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;") + '"'


def dfa_to_jff(dfa: DFA) -> str:
    """JFLAP ``.jff`` XML of ``dfa`` (states laid out on a circle; alphabet kept in a comment)."""
    # "--" may not occur in an XML comment; "\u002d" is the same JSON string.
    alpha = json.dumps(list(dfa.alphabet), ensure_ascii=False).replace("-", "\\u002d")
    n = dfa.n_states
    radius = max(100.0, 40.0 * n / math.pi)
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        "<!--Created with statetrack.-->",
        "<structure>",
        "\t<type>fa</type>",
        f"\t<!--{_ALPHABET_COMMENT} {alpha}-->",
        "\t<automaton>",
    ]
    for q, name in enumerate(dfa.states):
        ang = 2 * math.pi * q / n
        out.append(f"\t\t<state id=\"{q}\" name={_xml_attr(name)}>")
        out.append(f"\t\t\t<x>{radius * (1 + math.cos(ang)) + 50:.1f}</x>")
        out.append(f"\t\t\t<y>{radius * (1 + math.sin(ang)) + 50:.1f}</y>")
        if q == dfa.start:
            out.append("\t\t\t<initial/>")
        if dfa.accepting[q]:
            out.append("\t\t\t<final/>")
        out.append("\t\t</state>")
    for q in range(n):
        for a, sym in enumerate(dfa.alphabet):
            t = int(dfa.delta[q, a])
            if t >= 0:
                out.append(f"\t\t<transition>\n\t\t\t<from>{q}</from>\n\t\t\t<to>{t}</to>\n"
                           f"\t\t\t<read>{_xml_escape(sym)}</read>\n\t\t</transition>")
    out += ["\t</automaton>", "</structure>"]
    return "\n".join(out) + "\n"
