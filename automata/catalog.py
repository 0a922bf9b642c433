"""The language catalog: named regular languages used across statetrack.

:func:`get_language` turns a name such as ``parity``, ``mod:3``, ``tomita:3``,
``group:S5`` or ``dyck:2:3`` into a complete DFA; :func:`list_languages` lists the
name patterns with one-line descriptions (``statetrack langs``). Precise definitions,
alphabets and sources are in ``docs/catalog.md``.

Every entry is built by :func:`dfa_from_step` from a small step function over readable
state keys; the tests check each one against an independent predicate on all words up to
a length.

Example:
    >>> d = get_language("mod:3")
    >>> d.alphabet, d.accepts("10101"), d.accepts("1001")
    (('0', '1'), True, False)
"""
from __future__ import annotations

import difflib
import functools
from typing import Callable, Hashable, Sequence

import numpy as np

from .dfa import DFA
from statetrack.errors import StatetrackError, StateLimitError
from .groups_catalog import group_dfa, group_generators, group_of

__all__ = [
    "get_language", "list_languages", "dfa_from_step", "group_of", "group_generators", "group_dfa",
    "parity", "mod_count", "mod_sum", "tomita", "flipflop", "modarith", "dyck", "dyck_brackets", "digit_symbols",
]

#: Size guard for catalog constructions (states before minimisation).
MAX_CATALOG_STATES = 200_000

_LANGUAGES: list[tuple[str, str]] = [
    ("parity", "words over {0,1} with an even number of 1s"),
    ("mod:M", "words over {0,1} whose number of 1s is 0 mod M (M >= 1)"),
    ("modsum:M", "words over the digits 0..M-1 whose digit sum is 0 mod M (M >= 1; digits >= 10 are multi-character symbols)"),
    ("tomita:N", "Tomita grammar N = 1..7 over {0,1} (3: no odd block of 1s later followed by an odd block of 0s)"),
    ("flipflop", "flip-flop language (Liu et al. 2023) over {w,r,i,0,1}: instruction-bit pairs, first w, last r, every read returns the last written bit"),
    ("group:NAME", "word problem of a group (Zn, Dn, Sn, An, Q8, products like Z2xZ3) on a standard generating set: accept = identity"),
    ("group:NAME:all", "word problem with every group element as a letter"),
    ("modarith:M", "expressions d (op d)* over digits 0..M-1 and + - * with the usual precedence whose value is 0 mod M"),
    ("dyck:K:D", "balanced brackets of K kinds ( ) [ ] { } < > with nesting depth at most D"),
]


def list_languages() -> list[tuple[str, str]]:
    """``[(pattern, description)]`` for every catalog entry (``M``, ``N``, ``K``, ``D``, ``NAME`` are parameters)."""
    return list(_LANGUAGES)


# ---------------------------------------------------------------------------- builder
def dfa_from_step(
    alphabet: Sequence[str],
    start: Hashable,
    step: Callable[[Hashable, str], Hashable | None],
    accept: Callable[[Hashable], bool],
    name: Callable[[Hashable], str] = str,
    dead: str = "dead",
    max_states: int = MAX_CATALOG_STATES,
) -> DFA:
    """A complete DFA explored breadth-first from ``start``.

    ``step(key, symbol)`` returns the next key, or ``None`` for the rejecting sink (named
    ``dead``, added only when used). States are in BFS order (symbols in alphabet order),
    named ``name(key)``.
    """
    index: dict[Hashable, int] = {start: 0}
    keys: list[Hashable] = [start]
    rows: list[list[int]] = []
    uses_dead = False
    i = 0
    while i < len(keys):
        key = keys[i]
        row = []
        for sym in alphabet:
            nxt = step(key, sym)
            if nxt is None:
                uses_dead = True
                row.append(-1)
                continue
            j = index.get(nxt)
            if j is None:
                if len(keys) >= max_states:
                    raise StateLimitError(f"more than {max_states} states (size guard)")
                j = index[nxt] = len(keys)
                keys.append(nxt)
            row.append(j)
        rows.append(row)
        i += 1
    delta = np.array(rows, dtype=np.int64).reshape(len(keys), len(alphabet))
    names = [name(k) for k in keys]
    acc = [bool(accept(k)) for k in keys]
    if uses_dead:
        sink = dead
        while sink in names:
            sink = "_" + sink
        delta[delta < 0] = len(keys)
        delta = np.vstack([delta, np.full((1, len(alphabet)), len(keys), dtype=np.int64)])
        names.append(sink)
        acc.append(False)
    return DFA(alphabet, names, 0, np.array(acc, dtype=bool), delta)


def digit_symbols(m: int) -> list[str]:
    """The digits ``"0" .. str(m-1)`` (multi-character symbols from 10 on)."""
    return [str(d) for d in range(m)]


# ---------------------------------------------------------------------------- entries
def parity() -> DFA:
    """Even number of 1s over {0,1}; states ``even``, ``odd``."""
    return dfa_from_step("01", 0, lambda k, s: k ^ (s == "1"), lambda k: k == 0, lambda k: ("even", "odd")[k])


def mod_count(m: int) -> DFA:
    """Number of 1s = 0 mod ``m`` over {0,1}; state ``k`` = count mod m."""
    return dfa_from_step("01", 0, lambda k, s: (k + (s == "1")) % m, lambda k: k == 0)


def mod_sum(m: int) -> DFA:
    """Sum of the digits 0..m-1 = 0 mod ``m``; state ``k`` = sum mod m."""
    return dfa_from_step(digit_symbols(m), 0, lambda k, s: (k + int(s)) % m, lambda k: k == 0)


def _tomita_steps() -> dict[int, tuple[Hashable, Callable, Callable, Callable]]:
    """Tomita 1..7 as (start, step, accept, name) over {0,1}."""

    def t3(k: str, s: str) -> str | None:
        # c0/c1: no odd 1-block has been closed by a 0 yet; current 1-run even/odd.
        # p1/p0: an odd 1-block is closed; current 0-run odd / even (or inside 1s).
        table = {("c0", "0"): "c0", ("c0", "1"): "c1", ("c1", "0"): "p1", ("c1", "1"): "c0",
                 ("p1", "0"): "p0", ("p1", "1"): None, ("p0", "0"): "p1", ("p0", "1"): "p0"}
        return table[k, s]

    def t7(k: int, s: str) -> int | None:
        want = "0101"[k]  # phase k reads `want`; the other symbol moves to the next phase
        if s == want:
            return k
        return k + 1 if k < 3 else None

    return {
        1: ("ok", lambda k, s: k if s == "1" else None, lambda k: True, str),
        2: (0, lambda k, s: (1 if s == "1" else None) if k == 0 else (0 if s == "0" else None),
            lambda k: k == 0, lambda k: ("even", "after1")[k]),
        3: ("c0", t3, lambda k: k != "p1", str),
        4: (0, lambda k, s: 0 if s == "1" else (k + 1 if k < 2 else None), lambda k: True, lambda k: f"z{k}"),
        5: ((0, 0), lambda k, s: (k[0] ^ (s == "0"), k[1] ^ (s == "1")), lambda k: k == (0, 0),
            lambda k: f"{k[0]}{k[1]}"),
        6: (0, lambda k, s: (k + (1 if s == "0" else -1)) % 3, lambda k: k == 0, lambda k: f"d{k}"),
        7: (0, t7, lambda k: True, lambda k: f"phase{k}"),
    }


def tomita(n: int) -> DFA:
    """Tomita grammar ``n`` (1..7) over {0,1}; see ``docs/catalog.md`` for the definitions."""
    start, step, accept, name = _tomita_steps()[n]
    return dfa_from_step("01", start, step, accept, name)


def flipflop() -> DFA:
    """The flip-flop language of Liu et al. (2023), "Exposing Attention Glitches with Flip-Flop Language Modeling".

    Alphabet ``w r i 0 1``. A word is a sequence of pairs ``x b`` (instruction ``x`` in
    {w, r, i}, bit ``b``); the first instruction is ``w``, the last is ``r``, and every
    ``r b`` has ``b`` equal to the bit of the latest ``w``.
    """

    def step(k: tuple, s: str):
        stage, last, instr = k
        if stage == "instr":  # expecting an instruction
            if s not in "wri" or (last is None and s != "w"):
                return None
            return ("bit", last, s)
        if s not in "01":  # expecting the bit of `instr`
            return None
        if instr == "w":
            return ("instr", s, "w")
        if instr == "r" and s != last:
            return None
        return ("instr", last, instr)

    def name(k: tuple) -> str:
        stage, last, instr = k
        if last is None:
            return "start" if stage == "instr" else "w?"
        return f"mem{last}:{instr}" + ("?" if stage == "bit" else "")

    return dfa_from_step("wri01", ("instr", None, None), step, lambda k: k[0] == "instr" and k[2] == "r", name)


def modarith(m: int) -> DFA:
    """Arithmetic mod ``m`` without brackets: ``d (op d)*`` with digits 0..m-1 and ``+ - *``.

    ``*`` binds tighter than ``+``/``-`` (left to right). Accept when the value is 0 mod m.
    State keys: ``("E", s, sign)`` expects a digit starting a new term; ``("M", s, p)``
    expects a digit multiplying the current term ``p``; ``("V", s, p)`` follows a digit
    (value ``s + p``).
    """
    digits = digit_symbols(m)

    def step(k: tuple, sym: str):
        kind = k[0]
        if sym in ("+", "-", "*"):
            if kind != "V":
                return None
            _, s, p = k
            if sym == "*":
                return ("M", s, p)
            return ("E", (s + p) % m, 1 if sym == "+" else -1)
        if kind == "V":  # two digits in a row: numbers are single digit symbols
            return None
        return ("V", k[1], (k[2] * int(sym)) % m)  # k[2] is the sign (E) or the term so far (M)

    def name(k: tuple) -> str:
        if k[0] == "E":
            return f"E{k[1]}{'+' if k[2] > 0 else '-'}"
        return f"{k[0]}{k[1]},{k[2]}"

    return dfa_from_step(digits + ["+", "-", "*"], ("E", 0, 1), step,
                         lambda k: k[0] == "V" and (k[1] + k[2]) % m == 0, name)


_BRACKETS = [("(", ")"), ("[", "]"), ("{", "}"), ("<", ">")]


def dyck_brackets(k: int) -> list[tuple[str, str]]:
    """The ``k`` bracket pairs: ``() [] {} <>`` for k <= 4, else ``(1 )1 .. (k )k``."""
    if k <= len(_BRACKETS):
        return _BRACKETS[:k]
    return [(f"({i}", f"){i}") for i in range(1, k + 1)]


def dyck(k: int, depth: int) -> DFA:
    """Balanced words over ``k`` bracket kinds with nesting depth at most ``depth``.

    States are the open brackets on the stack (``empty`` for none) plus ``dead``.
    """
    pairs = dyck_brackets(k)
    alphabet = [x for pair in pairs for x in pair]
    opener = {o: i for i, (o, _) in enumerate(pairs)}
    closer = {c: i for i, (_, c) in enumerate(pairs)}

    def step(stack: tuple, s: str):
        if s in opener:
            return stack + (opener[s],) if len(stack) < depth else None
        if stack and stack[-1] == closer[s]:
            return stack[:-1]
        return None

    n_states = sum(k ** d for d in range(depth + 1))
    if n_states > MAX_CATALOG_STATES:
        raise StateLimitError(f"dyck:{k}:{depth} needs {n_states} states; at most {MAX_CATALOG_STATES} (size guard)")
    return dfa_from_step(alphabet, (), step, lambda st: st == (),
                         lambda st: "".join(pairs[i][0] for i in st) or "empty")


# ---------------------------------------------------------------------------- names
def _int_param(full: str, text: str, what: str, lo: int, hi: int) -> int:
    try:
        v = int(text)
    except ValueError:
        raise StatetrackError(f"language {full!r}: {what} must be an integer, got {text!r}") from None
    if not lo <= v <= hi:
        raise StatetrackError(f"language {full!r}: {what} must be between {lo} and {hi}, got {v}")
    return v


def _arity(full: str, parts: list[str], n: int, usage: str) -> None:
    if len(parts) - 1 != n:
        raise StatetrackError(f"language {full!r}: expected {usage}")


def get_language(name: str) -> DFA:
    """The complete DFA of the catalog language ``name`` (e.g. ``mod:3``, ``group:S5``, ``dyck:2:3``).

    Raises :class:`StatetrackError` for an unknown name (listing close names) or a bad
    parameter (naming it).
    """
    return _get_language(name.strip())


@functools.lru_cache(maxsize=64)
def _get_language(full: str) -> DFA:
    parts = full.split(":")
    head = parts[0].lower()
    if head == "parity":
        _arity(full, parts, 0, "'parity' without parameters")
        return parity()
    if head == "mod":
        _arity(full, parts, 1, "'mod:M', e.g. mod:3")
        return mod_count(_int_param(full, parts[1], "M", 1, 100_000))
    if head == "modsum":
        _arity(full, parts, 1, "'modsum:M', e.g. modsum:5")
        return mod_sum(_int_param(full, parts[1], "M", 1, 1000))
    if head == "tomita":
        _arity(full, parts, 1, "'tomita:N' with N in 1..7")
        return tomita(_int_param(full, parts[1], "N", 1, 7))
    if head == "flipflop":
        _arity(full, parts, 0, "'flipflop' without parameters")
        return flipflop()
    if head == "modarith":
        _arity(full, parts, 1, "'modarith:M', e.g. modarith:5")
        return modarith(_int_param(full, parts[1], "M", 1, 100))
    if head == "dyck":
        _arity(full, parts, 2, "'dyck:K:D', e.g. dyck:2:3")
        return dyck(_int_param(full, parts[1], "K", 1, 1000), _int_param(full, parts[2], "D", 0, 1000))
    if head == "group":
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "all"):
            raise StatetrackError(f"language {full!r}: expected 'group:NAME' or 'group:NAME:all', e.g. group:S5")
        return group_dfa(":".join(parts[1:]))
    heads = [p.split(":")[0] for p, _ in _LANGUAGES]
    close = difflib.get_close_matches(head, heads, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in dict.fromkeys(close))}?" if close else ""
    raise StatetrackError(
        f"unknown language {full!r}{hint} (catalog: {', '.join(p for p, _ in _LANGUAGES)}; see `statetrack langs`)")
