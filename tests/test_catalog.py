"""The language catalog against independent predicates, and the group constructions against matrix products."""
from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.automata import catalog, groups_catalog
from statetrack.automata.catalog import get_language, list_languages
from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError, StateLimitError
from statetrack.automata.groups_catalog import group_dfa, group_elements, group_generators, group_of


def assert_matches(d: DFA, predicate, max_len: int) -> int:
    """Compare ``d`` with ``predicate(word tuple)`` on every word up to ``max_len``; returns #accepted."""
    accepted = 0
    k = d.n_symbols
    for length in range(max_len + 1):
        ids = np.array(list(itertools.product(range(k), repeat=length)), dtype=np.int64).reshape(k**length, length)
        finals = d.run_batch(ids)[:, -1] if length else np.array([d.start])
        got = d.accepting[finals] & (finals >= 0)
        for row, g in zip(ids, got):
            w = d.decode(row)
            assert bool(g) == bool(predicate(w)), f"word {w!r}: DFA says {bool(g)}"
        accepted += int(got.sum())
    return accepted


# ---------------------------------------------------------------------------- Tomita
def blocks(w: str) -> list[tuple[str, int]]:
    return [(c, len(list(g))) for c, g in itertools.groupby(w)]


def tomita3_predicate(w: str) -> bool:
    """No odd-length block of 1s that is later followed by an odd-length block of 0s (Weiss et al. 2018)."""
    seen_odd_ones = False
    for c, n in blocks(w):
        if c == "1" and n % 2:
            seen_odd_ones = True
        if c == "0" and n % 2 and seen_odd_ones:
            return False
    return True


TOMITA = {
    1: lambda w: set(w) <= {"1"},
    2: lambda w: w == "10" * (len(w) // 2),
    3: tomita3_predicate,
    4: lambda w: "000" not in w,
    5: lambda w: w.count("0") % 2 == 0 and w.count("1") % 2 == 0,
    6: lambda w: (w.count("0") - w.count("1")) % 3 == 0,
    7: lambda w: re.fullmatch("0*1*0*1*", w) is not None,
}
TOMITA_MIN_STATES = {1: 2, 2: 3, 3: 5, 4: 4, 5: 4, 6: 3, 7: 5}


@pytest.mark.parametrize("n", range(1, 8))
def test_tomita_matches_predicate_up_to_length_12(n):
    d = get_language(f"tomita:{n}")
    assert d.alphabet == ("0", "1") and d.is_complete
    assert_matches(d, lambda w: TOMITA[n]("".join(w)), 12)
    assert d.minimize().n_states == TOMITA_MIN_STATES[n]


def test_tomita3_pinned_reading():
    d = get_language("tomita:3")
    # "1 00 11 0": the odd 1-block is later followed by an odd 0-block (not adjacent) -> rejected
    assert not d.accepts("100110")
    assert not d.accepts("10") and not d.accepts("1000") and not d.accepts("01110")
    assert d.accepts("100") and d.accepts("1100") and d.accepts("0") and d.accepts("") and d.accepts("10011")


# ---------------------------------------------------------------------------- counting languages
def test_parity_and_mod():
    assert_matches(get_language("parity"), lambda w: w.count("1") % 2 == 0, 10)
    for m in (1, 2, 3, 5):
        d = get_language(f"mod:{m}")
        assert d.n_states == m
        assert_matches(d, lambda w, m=m: w.count("1") % m == 0, 9)


def test_modsum():
    for m, n in ((1, 4), (3, 7), (10, 3)):
        d = get_language(f"modsum:{m}")
        assert d.alphabet == tuple(str(i) for i in range(m))
        assert_matches(d, lambda w, m=m: sum(int(s) for s in w) % m == 0, n)
    d = get_language("modsum:12")  # digits 10 and 11 are multi-character symbols
    assert d.alphabet[10:] == ("10", "11")
    assert d.accepts(["11", "1"]) and d.accepts(["10", "2"]) and not d.accepts(["1", "0"])


# ---------------------------------------------------------------------------- flip-flop
def flipflop_predicate(w: tuple[str, ...]) -> bool:
    if len(w) < 2 or len(w) % 2:
        return False
    pairs = [(w[i], w[i + 1]) for i in range(0, len(w), 2)]
    if any(x not in ("w", "r", "i") or b not in ("0", "1") for x, b in pairs):
        return False
    if pairs[0][0] != "w" or pairs[-1][0] != "r":
        return False
    memory = None
    for x, b in pairs:
        if x == "w":
            memory = b
        elif x == "r" and b != memory:
            return False
    return True


def test_flipflop_exhaustive_and_long():
    d = get_language("flipflop")
    assert d.alphabet == ("w", "r", "i", "0", "1")
    assert assert_matches(d, flipflop_predicate, 6) > 0
    assert d.accepts("w1i0r1") and not d.accepts("w1i0r0") and not d.accepts("w1r1i0")
    assert d.accepts("w0r0w1i1i0r1r1") and not d.accepts("r0") and not d.accepts("")


@settings(max_examples=80)
@given(st.lists(st.tuples(st.sampled_from("wri"), st.sampled_from("01")), min_size=1, max_size=30))
def test_flipflop_random_pair_sequences(pairs):
    w = tuple(s for p in pairs for s in p)
    assert get_language("flipflop").accepts(w) == flipflop_predicate(w)


# ---------------------------------------------------------------------------- modular arithmetic
def modarith_predicate(m: int):
    digits = {str(i) for i in range(m)}

    def pred(w: tuple[str, ...]) -> bool:
        if len(w) % 2 == 0:
            return False
        if any(s not in digits for s in w[0::2]) or any(s not in "+-*" for s in w[1::2]):
            return False
        return eval(" ".join(w)) % m == 0  # Python: * before + and -, left to right

    return pred


@pytest.mark.parametrize("m, n", [(1, 5), (3, 6), (5, 5)])
def test_modarith_exhaustive(m, n):
    assert_matches(get_language(f"modarith:{m}"), modarith_predicate(m), n)


@settings(max_examples=60)
@given(st.sampled_from([2, 5, 7, 12]), st.data())
def test_modarith_random_long_expressions(m, data):
    k = data.draw(st.integers(0, 12))
    digits = [str(data.draw(st.integers(0, m - 1))) for _ in range(k + 1)]
    ops = [data.draw(st.sampled_from("+-*")) for _ in range(k)]
    w = tuple(x for pair in itertools.zip_longest(digits, ops) for x in pair if x is not None)
    assert get_language(f"modarith:{m}").accepts(w) == modarith_predicate(m)(w)


# ---------------------------------------------------------------------------- Dyck
def dyck_predicate(k: int, depth: int):
    pairs = catalog.dyck_brackets(k)

    def pred(w) -> bool:
        stack = []
        for s in w:
            opens = [i for i, (o, _) in enumerate(pairs) if o == s]
            if opens:
                stack.append(opens[0])
                if len(stack) > depth:
                    return False
            elif not stack or pairs[stack.pop()][1] != s:
                return False
        return not stack

    return pred


@pytest.mark.parametrize("k, depth, n", [(1, 3, 10), (2, 2, 8), (3, 1, 5), (2, 0, 3)])
def test_dyck_exhaustive(k, depth, n):
    d = get_language(f"dyck:{k}:{depth}")
    assert assert_matches(d, dyck_predicate(k, depth), n) >= 1


def test_dyck_many_kinds_use_numbered_brackets():
    d = get_language("dyck:5:2")
    assert d.alphabet[:2] == ("(1", ")1") and len(d.alphabet) == 10
    assert d.accepts(["(5", "(1", ")1", ")5"]) and not d.accepts(["(5", ")4"])
    assert not d.accepts(["(1", "(1", "(1", ")1", ")1", ")1"])


# ---------------------------------------------------------------------------- groups
GROUP_ORDERS = {"Z1": 1, "Z6": 6, "D4": 8, "D5": 10, "S3": 6, "S5": 120, "A4": 12, "A5": 60, "A6": 360,
                "S6": 720, "Q8": 8, "Z2xZ3": 6, "S3xZ2": 12, "Z2xZ2xZ2": 8}


def perm_matrix(p) -> np.ndarray:
    m = np.zeros((len(p), len(p)), dtype=np.int64)
    m[list(p), list(range(len(p)))] = 1  # e_i -> e_{p[i]}
    return m


@pytest.mark.parametrize("name, order", GROUP_ORDERS.items())
def test_group_order_names_and_layout(name, order):
    from sympy.combinatorics import Permutation, PermutationGroup

    letters, perms, degree = group_of(name)
    assert PermutationGroup([Permutation(list(p)) for p in perms]).order() == order  # independent closure
    d = get_language(f"group:{name}")
    assert d.n_states == order and d.alphabet == tuple(letters)
    assert d.start == 0 and d.accepting.tolist() == [True] + [False] * (order - 1)
    assert len(set(d.states)) == order
    assert d.renumber_bfs().states == d.states  # BFS order from the identity
    elems, names = group_elements(name)
    assert names == list(d.states) and elems[0] == tuple(range(degree))


@pytest.mark.parametrize("name", ["Z6", "D4", "S4", "A5", "Q8", "S3xZ2", "Z2xZ3"])
def test_group_word_problem_against_matrix_products(name):
    letters, perms, degree = group_generators(name)
    d = group_dfa(name)
    rng = np.random.default_rng(0)
    mats = [perm_matrix(p) for p in perms]
    elems, _ = group_elements(name)
    for _ in range(150):
        word = rng.integers(0, len(letters), size=int(rng.integers(0, 12))).tolist()
        h = np.eye(degree, dtype=np.int64)
        for x in word:  # the LRNN order: H_t = A(x_t) H_{t-1}
            h = mats[x] @ h
        q = d.run([letters[x] for x in word])
        assert np.array_equal(perm_matrix(elems[q]), h)
        assert d.accepts([letters[x] for x in word]) == np.array_equal(h, np.eye(degree))


def test_generating_sets_are_the_documented_ones():
    assert group_generators("S5") == (["t", "c"], [(1, 0, 2, 3, 4), (1, 2, 3, 4, 0)], 5)
    assert group_generators("A5").perms == [(1, 2, 0, 3, 4), (1, 2, 3, 4, 0)]
    assert group_generators("A6").perms == [(1, 2, 0, 3, 4, 5), (0, 2, 3, 4, 5, 1)]
    assert group_generators("D4").letters == ["r", "s"] and group_generators("Z7").letters == ["a"]
    assert group_generators("Z2xZ3") == (["a1", "a2"], [(1, 0, 2, 3, 4), (0, 1, 3, 4, 2)], 5)
    d = get_language("group:D4")
    # the state after x1..xT is xT ∘ .. ∘ x1, and r^k s is the map i -> k - i
    assert d.states[d.run("rrrs")] == "rs" and d.states[d.run("sr")] == "rs" and d.states[d.run("srrr")] == "r3s"


def test_q8_is_the_quaternion_group():
    one = np.eye(2, dtype=complex)
    i = np.array([[1j, 0], [0, -1j]])
    j = np.array([[0, 1], [-1, 0]], dtype=complex)
    named = {"1": one, "-1": -one, "i": i, "-i": -i, "j": j, "-j": -j, "k": i @ j, "-k": -(i @ j)}
    d = get_language("group:Q8")
    rng = np.random.default_rng(1)
    for _ in range(200):
        word = rng.choice(["i", "j"], size=int(rng.integers(0, 10))).tolist()
        prod = one
        for x in word:
            prod = prod @ named[x]  # state after x1..xn = x1 x2 .. xn
        assert np.allclose(named[d.states[d.run(word)]], prod)


def test_group_all_letters():
    d = get_language("group:S4:all")
    assert d.n_states == 24 and d.alphabet == d.states
    letters, perms, degree = group_of("S4:all")
    assert letters == list(d.alphabet)
    elems = group_elements("S4")[0]
    for a, p in zip(letters, perms):
        for b, r in zip(letters, perms):
            q = d.run([a, b])  # reading a then b: the state is b ∘ a
            assert elems[q] == tuple(r[x] for x in p)
    assert d.accepts(["(0,1,2)", "(0,2,1)"]) and not d.accepts(["(0,1,2)"])
    assert get_language("group:S6:all").n_states == 720


# ---------------------------------------------------------------------------- names and errors
def test_every_listed_pattern_resolves():
    examples = {"parity": "parity", "mod:M": "mod:4", "modsum:M": "modsum:3", "tomita:N": "tomita:2",
                "flipflop": "flipflop", "group:NAME": "group:A5", "group:NAME:all": "group:Z3:all",
                "modarith:M": "modarith:3", "dyck:K:D": "dyck:2:2"}
    names = [n for n, _ in list_languages()]
    assert names == list(examples)
    for pattern, example in examples.items():
        assert get_language(example).n_states >= 1, pattern
    assert all(desc for _, desc in list_languages())


@pytest.mark.parametrize("name, needle", [
    ("mod:0", "'mod:0': M must be between 1"),
    ("mod:x", "'mod:x': M must be an integer"),
    ("mod", "expected 'mod:M'"),
    ("partiy", "did you mean 'parity'"),
    ("tomita:8", "N must be between 1 and 7"),
    ("dyck:2", "expected 'dyck:K:D'"),
    ("group:S1", "Sn needs n >= 2"),
    ("group:D2", "Dn needs n >= 3"),
    ("group:Foo", "unknown factor 'Foo'"),
    ("group:S5:al", "expected 'group:NAME' or 'group:NAME:all'"),
    ("modsum:0", "M must be between 1"),
])
def test_bad_names_and_parameters(name, needle):
    with pytest.raises(StatetrackError) as e:
        get_language(name)
    assert needle in str(e.value)


def test_size_guards(monkeypatch):
    with pytest.raises(StateLimitError, match="':all'"):
        get_language("group:S7:all")
    monkeypatch.setattr(groups_catalog, "MAX_GROUP_ORDER", 100)
    with pytest.raises(StateLimitError, match="more than 100 elements"):
        group_dfa("S5")
    with pytest.raises(StateLimitError):
        catalog.dyck(10, 6)


def test_doctests():
    import doctest

    for mod in (catalog, groups_catalog):
        assert doctest.testmod(mod).failed == 0
    from statetrack.automata import formats

    assert doctest.testmod(formats).failed == 0
