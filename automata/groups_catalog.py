"""Permutation groups of the language catalog and their word-problem DFAs.

Groups are named ``Zn`` (cyclic), ``Dn`` (dihedral of order 2n), ``Sn`` (symmetric),
``An`` (alternating), ``Q8`` (quaternions) and direct products such as ``Z2xZ3`` or
``S3xZ2xZ2``. Each group is given by a standard generating set of permutations.

Conventions
-----------
* A permutation of degree ``n`` is a tuple ``p`` with ``p[i]`` the image of point ``i``.
* Letters act left to right: reading letter ``x`` in state ``g`` gives ``x ∘ g``
  (``(x ∘ g)[i] = x[g[i]]``), so after reading ``x1 .. xT`` the state is
  ``xT ∘ .. ∘ x1`` — the order in which an LRNN applies ``A(x_t)`` to its state.
* The word-problem DFA has one state per group element, in breadth-first order from the
  identity over the letters (in their order); start = accepting = {identity}.

Generating sets (letters):

========  ==========================================================================
``Zn``    ``a``: i -> i+1 (mod n), n >= 1
``Dn``    ``r``: i -> i+1, ``s``: i -> -i (mod n), on n >= 3 points (order 2n)
``Sn``    ``t`` = (0 1), ``c`` = (0 1 .. n-1), n >= 2
``An``    ``a`` = (0 1 2), ``b`` = (0 1 .. n-1) for odd n, (1 2 .. n-1) for even n, n >= 3
``Q8``    ``i``, ``j``, acting on the 8 elements by right multiplication
product   the letters of factor ``f`` (1-based) get the suffix ``f`` (``a1``, ``a2``)
          and act on that factor's points only
========  ==========================================================================

Element names: ``Zn``: ``e, a, a2, ..``; ``Dn``: ``r^k s^f`` written ``e, r, r2, .., s, rs,
r2s, ..`` (the map i -> (-1)^f i + k); ``Sn``/``An``: cycle notation without spaces such as
``(0,1,2)(3,4)``, identity ``e``; ``Q8``: ``1, -1, i, -i, j, -j, k, -k``; products:
``(x,y)`` from the factors' names.

Example:
    >>> letters, perms, degree = group_generators("S3")
    >>> letters, perms, degree
    (['t', 'c'], [(1, 0, 2), (1, 2, 0)], 3)
    >>> d = group_dfa("S3")
    >>> d.n_states, d.accepts("tt"), d.accepts("ccc"), d.accepts("tc")
    (6, True, True, False)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from .dfa import DFA
from statetrack.errors import StatetrackError, StateLimitError

Perm = tuple[int, ...]

#: Size guard for the closure (S8 has 40,320 elements).
MAX_GROUP_ORDER = 100_000
#: Size guard for ``group:NAME:all`` (the table has order**2 entries; A7 has 2,520 elements).
MAX_ALL_ORDER = 2_520


class GroupSpec(NamedTuple):
    """A group as generator permutations: ``letters[i]`` names ``perms[i]`` (degree ``degree``)."""

    letters: list[str]
    perms: list[Perm]
    degree: int


@dataclass(frozen=True)
class _Factor:
    label: str  # e.g. "S5"
    letters: tuple[str, ...]
    perms: tuple[Perm, ...]
    degree: int
    namer: Callable[[Perm], str]


def cycle_notation(p: Perm) -> str:
    """``(1, 2, 0)`` -> ``"(0,1,2)"``; the identity is ``"e"``. Cycles start at their least point."""
    seen = [False] * len(p)
    parts = []
    for i in range(len(p)):
        if seen[i] or p[i] == i:
            continue
        cyc = []
        j = i
        while not seen[j]:
            seen[j] = True
            cyc.append(j)
            j = p[j]
        parts.append("(" + ",".join(map(str, cyc)) + ")")
    return "".join(parts) or "e"


def _power_name(base: str, k: int) -> str:
    return "e" if k == 0 else base if k == 1 else f"{base}{k}"


def _cyclic(n: int) -> _Factor:
    a = tuple((i + 1) % n for i in range(n))
    return _Factor(f"Z{n}", ("a",), (a,), n, lambda p: _power_name("a", p[0]))


def _dihedral(n: int) -> _Factor:
    r = tuple((i + 1) % n for i in range(n))
    s = tuple((-i) % n for i in range(n))

    def name(p: Perm) -> str:  # p(i) = (-1)^f i + k
        k = p[0]
        f = 0 if p[1] == (k + 1) % n else 1
        if f == 0:
            return _power_name("r", k)
        return "s" if k == 0 else ("rs" if k == 1 else f"r{k}s")

    return _Factor(f"D{n}", ("r", "s"), (r, s), n, name)


def _cycle_perm(n: int, cycle: list[int]) -> Perm:
    p = list(range(n))
    for x, y in zip(cycle, cycle[1:] + cycle[:1]):
        p[x] = y
    return tuple(p)


def _symmetric(n: int) -> _Factor:
    return _Factor(f"S{n}", ("t", "c"), (_cycle_perm(n, [0, 1]), _cycle_perm(n, list(range(n)))), n, cycle_notation)


def _alternating(n: int) -> _Factor:
    long = list(range(n)) if n % 2 else list(range(1, n))
    return _Factor(f"A{n}", ("a", "b"), (_cycle_perm(n, [0, 1, 2]), _cycle_perm(n, long)), n, cycle_notation)


_Q8_NAMES = ("1", "-1", "i", "-i", "j", "-j", "k", "-k")


def _q8_mul(x: int, y: int) -> int:
    """Product of quaternion units by index into ``_Q8_NAMES`` (index = 2 * unit + sign)."""
    ux, sx = divmod(x, 2)
    uy, sy = divmod(y, 2)
    # unit products on {1, i, j, k} = {0, 1, 2, 3}: (unit, sign flip)
    table = {
        (1, 1): (0, 1), (2, 2): (0, 1), (3, 3): (0, 1),
        (1, 2): (3, 0), (2, 3): (1, 0), (3, 1): (2, 0),
        (2, 1): (3, 1), (3, 2): (1, 1), (1, 3): (2, 1),
    }
    if ux == 0:
        u, flip = uy, 0
    elif uy == 0:
        u, flip = ux, 0
    else:
        u, flip = table[ux, uy]
    return 2 * u + (sx ^ sy ^ flip)


def _quaternion() -> _Factor:
    # right multiplication R_h: point g -> g h; R_x ∘ R_g = R_{g x}, the name is R_h(1) = h
    perms = tuple(tuple(_q8_mul(g, h) for g in range(8)) for h in (2, 4))
    return _Factor("Q8", ("i", "j"), perms, 8, lambda p: _Q8_NAMES[p[0]])


_FACTOR_RE = re.compile(r"^([ZDSA])(\d+)$|^(Q8)$")


def _parse_factor(text: str, full: str) -> _Factor:
    m = _FACTOR_RE.match(text.upper())
    if m is None:
        raise StatetrackError(
            f"group {full!r}: unknown factor {text!r}; use Zn, Dn, Sn, An, Q8 or products like Z2xS3")
    if m.group(3):
        return _quaternion()
    kind, n = m.group(1), int(m.group(2))
    lows = {"Z": 1, "D": 3, "S": 2, "A": 3}
    if n < lows[kind]:
        raise StatetrackError(f"group {full!r}: {kind}n needs n >= {lows[kind]}, got {kind}{n}")
    if n > 1000:
        raise StatetrackError(f"group {full!r}: degree {n} is too large (at most 1000 points)")
    return {"Z": _cyclic, "D": _dihedral, "S": _symmetric, "A": _alternating}[kind](n)


def _factors(name: str) -> list[_Factor]:
    name = name.strip()
    if name.lower().startswith("group:"):
        name = name[len("group:"):]
    if not name:
        raise StatetrackError("group name is empty; use e.g. Z6, D4, S5, A5, Q8 or Z2xZ3")
    return [_parse_factor(part, name) for part in re.split(r"[xX\u00d7]", name)]


def _combined(factors: list[_Factor]) -> tuple[GroupSpec, Callable[[Perm], str]]:
    """Generators of the direct product on the disjoint union of the factors' points."""
    if len(factors) == 1:
        f = factors[0]
        return GroupSpec(list(f.letters), list(f.perms), f.degree), f.namer
    degree = sum(f.degree for f in factors)
    letters, perms, offsets = [], [], []
    off = 0
    for idx, f in enumerate(factors, start=1):
        offsets.append(off)
        for letter, p in zip(f.letters, f.perms):
            full = list(range(degree))
            full[off:off + f.degree] = [off + x for x in p]
            letters.append(f"{letter}{idx}")
            perms.append(tuple(full))
        off += f.degree

    def namer(p: Perm) -> str:
        parts = []
        for f, o in zip(factors, offsets):
            parts.append(f.namer(tuple(x - o for x in p[o:o + f.degree])))
        return "(" + ",".join(parts) + ")"

    return GroupSpec(letters, perms, degree), namer


def group_generators(name: str) -> GroupSpec:
    """``(letters, perms, degree)`` of a catalog group, e.g. ``group_generators("S5")``.

    Accepts ``NAME``, ``group:NAME`` and ``NAME:all`` (then every element is a letter,
    named as in :func:`group_elements`).
    """
    base, all_letters = _split_all(name)
    spec, _ = _combined(_factors(base))
    if not all_letters:
        return spec
    perms, names, _, _ = _closure(base)
    return GroupSpec(names, perms, spec.degree)


#: The description of a catalog group used by other parts (same as :func:`group_generators`).
group_of = group_generators


def _split_all(name: str) -> tuple[str, bool]:
    name = name.strip()
    if name.lower().startswith("group:"):
        name = name[len("group:"):]
    if name.endswith(":all"):
        return name[: -len(":all")], True
    if ":" in name:
        raise StatetrackError(f"group {name!r}: the only option after the group name is ':all'")
    return name, False


def _closure(name: str) -> tuple[list[Perm], list[str], np.ndarray, list[tuple[int, int]]]:
    """Breadth-first closure from the identity.

    Returns (elements, names, delta [N, n_letters] with delta[g, x] = index of x ∘ g,
    tree) where ``tree[h] = (parent, letter)`` with ``h = letter ∘ parent`` (root: (-1, -1)).
    """
    spec, namer = _combined(_factors(name))
    ident = tuple(range(spec.degree))
    index = {ident: 0}
    elems = [ident]
    tree = [(-1, -1)]
    rows: list[list[int]] = []
    i = 0
    while i < len(elems):
        g = elems[i]
        row = []
        for x_id, x in enumerate(spec.perms):
            h = tuple(x[j] for j in g)
            k = index.get(h)
            if k is None:
                if len(elems) >= MAX_GROUP_ORDER:
                    raise StateLimitError(f"group {name!r} has more than {MAX_GROUP_ORDER} elements (size guard)")
                k = index[h] = len(elems)
                elems.append(h)
                tree.append((i, x_id))
            row.append(k)
        rows.append(row)
        i += 1
    names = [namer(p) for p in elems]
    assert len(set(names)) == len(names), "element names must be unique"
    return elems, names, np.array(rows, dtype=np.int64).reshape(len(elems), len(spec.perms)), tree


def group_elements(name: str) -> tuple[list[Perm], list[str]]:
    """The elements of a catalog group in BFS order from the identity, and their names."""
    elems, names, _, _ = _closure(_split_all(name)[0])
    return elems, names


def group_order(name: str) -> int:
    """Number of elements of a catalog group."""
    return len(group_elements(name)[0])


def group_dfa(name: str, all_letters: bool = False) -> DFA:
    """The word-problem DFA of a catalog group (accept = the product is the identity).

    ``name`` may end in ``:all`` (or pass ``all_letters=True``): every element is a letter.
    """
    base, flag = _split_all(name)
    all_letters = all_letters or flag
    elems, names, delta, tree = _closure(base)
    spec, _ = _combined(_factors(base))
    n = len(elems)
    accepting = np.zeros(n, dtype=bool)
    accepting[0] = True
    if not all_letters:
        return DFA(spec.letters, names, 0, accepting, delta)
    if n > MAX_ALL_ORDER:
        raise StateLimitError(f"group:{base}:all has {n} elements; at most {MAX_ALL_ORDER} for ':all' (size guard)")
    # column h: h ∘ g = x ∘ (parent ∘ g), so delta_all[:, h] = delta[delta_all[:, parent], x]
    full = np.empty((n, n), dtype=np.int64)
    full[:, 0] = np.arange(n)
    for h in range(1, n):  # BFS order: the parent's column is already filled
        parent, x = tree[h]
        full[:, h] = delta[full[:, parent], x]
    return DFA(names, names, 0, accepting, full)
