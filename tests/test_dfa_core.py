"""The DFA value object: boolean algebra, decisions, counting and enumeration against brute force."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.automata.dfa import DFA
from statetrack.errors import AlphabetError, DFAFormatError, StatetrackError


@st.composite
def partial_dfas(draw, alphabet="ab"):
    n = draw(st.integers(1, 5))
    k = len(alphabet)
    delta = np.array(draw(st.lists(st.lists(st.integers(-1, n - 1), min_size=k, max_size=k), min_size=n,
                                   max_size=n)))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return DFA(alphabet, None, draw(st.integers(0, n - 1)), np.array(acc), delta)


def words_upto(alphabet, n):
    for L in range(n + 1):
        yield from itertools.product(alphabet, repeat=L)


@settings(max_examples=60, deadline=None)
@given(partial_dfas(), partial_dfas())
def test_boolean_operations_and_equivalence_match_brute_force(x, y):
    ops = {"and": lambda p, q: p and q, "or": lambda p, q: p or q, "diff": lambda p, q: p and not q,
           "xor": lambda p, q: p != q}
    for name, f in ops.items():
        z = x.product(y, name)
        for w in words_upto("ab", 5):
            assert z.accepts(w) == f(x.accepts(w), y.accepts(w))
    for w in words_upto("ab", 5):
        assert (~x).accepts(w) == (not x.accepts(w))
    res = x.equivalent(y)
    diff = [w for w in words_upto("ab", 8) if x.accepts(w) != y.accepts(w)]
    if not diff:  # 5 + 5 states: a difference would show by length 10; 8 is enough for these sizes in practice
        assert res.equivalent or len(res.counterexample) > 8
    else:
        assert not res.equivalent
        assert res.counterexample == diff[0]  # shortest, then lexicographically least
        assert res.accepted_by == ("left" if x.accepts(diff[0]) else "right")


@settings(max_examples=60, deadline=None)
@given(partial_dfas())
def test_decisions_counting_and_enumeration(x):
    accepted = [w for w in words_upto("ab", 6) if x.accepts(w)]
    assert x.is_empty() == (x.shortest_accepted() is None)
    if accepted:
        assert x.shortest_accepted() == accepted[0]
    for L in range(7):
        assert x.count(L) == sum(1 for w in accepted if len(w) == L)
    assert list(x.words(6)) == accepted
    if x.is_finite():
        assert not any(x.accepts(w) for w in itertools.product("ab", repeat=2 * x.n_states + 1))
    m = x.minimize()
    assert m.is_complete and m.equivalent(x).equivalent
    assert m.is_isomorphic(m.renumber_bfs())
    t = x.trim()
    for w in words_upto("ab", 5):
        assert t.accepts(w) == x.accepts(w)


def test_run_batch_and_trace():
    d = DFA("01", ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    ids = np.array([[1, 1, 0, -1], [0, 1, 0, 1]])
    out = d.run_batch(ids)
    assert out.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0]]
    assert d.trace("110") == [0, 1, 0, 0]
    for bad in (-2, 2):  # only -1 is padding; other ids do not wrap around
        with pytest.raises(AlphabetError, match=rf"ids\[1, 2\] = {bad} is not a symbol id"):
            d.run_batch(np.array([[1, 1, 0], [0, 1, bad]]))
    with pytest.raises(AlphabetError, match=r"\[B, T\]"):
        d.run_batch(np.array([0, 1]))
    with pytest.raises(AlphabetError, match="integers"):
        d.run_batch(np.array([[0.5]]))


def test_accepting_takes_a_mask_or_state_names_never_integers():
    delta = [[0, 1], [1, 0]]
    by_mask = DFA("01", ["e", "o"], 0, [True, False], delta)
    assert DFA("01", ["e", "o"], 0, ["e"], delta) == by_mask
    assert DFA("01", ["e", "o"], 0, np.array([True, False]), delta) == by_mask
    assert DFA("01", None, 0, ["0"], delta).accepting.tolist() == [True, False]
    assert not DFA("01", None, 0, [], delta).accepting.any()
    for ints in ([1, 0], [-1], np.array([1, 0]), [0]):
        with pytest.raises(DFAFormatError, match="boolean mask"):
            DFA("01", ["e", "o"], 0, ints, delta)
    with pytest.raises(DFAFormatError, match="unknown state 'x'"):
        DFA("01", ["e", "o"], 0, ["x"], delta)
    with pytest.raises(DFAFormatError, match="mixes"):
        DFA("01", ["e", "o"], 0, [True, "e"], delta)
    with pytest.raises(DFAFormatError, match="wrong length"):
        DFA("01", ["e", "o"], 0, [True], delta)


def test_count_and_run_refuse_out_of_range_arguments():
    d = DFA("01", ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    assert d.count(0) == 1 and d.count(3) == 4
    for bad in (-1, True, 2.0):
        with pytest.raises(StatetrackError, match="count: length"):
            d.count(bad)
    assert d.run("1", state=1) == 0 and d.run("1", state=-1) == -1
    for bad in (2, -2, True):
        with pytest.raises(DFAFormatError, match="state id"):
            d.run("1", state=bad)


def test_multi_character_symbols_and_errors():
    d = DFA(["push", "pop"], ["0", "1"], 0, [True, False], [[1, -1], [-1, 0]])
    assert d.accepts(["push", "pop"]) and not d.accepts(["push"])
    assert d.tokenize("push pop", sep=" ") == ("push", "pop")
    with pytest.raises(AlphabetError, match="position 1"):
        d.accepts(["push", "peek"])
    with pytest.raises(DFAFormatError, match="duplicate state 'x'"):
        DFA("a", ["x", "x"], 0, [True, False], [[0], [1]])
    with pytest.raises(AlphabetError, match="duplicate symbol"):
        DFA(["a", "a"], None, 0, [True], [[0, 0]])
    with pytest.raises(DFAFormatError, match="unknown id 5"):
        DFA("a", None, 0, [True], [[5]])


def test_sha256_is_stable_and_name_sensitive():
    a = DFA("01", ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    b = DFA("01", ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    c = a.relabel()
    assert a.sha256() == b.sha256() != c.sha256()
    assert a == b and a != c and a.is_isomorphic(c)
