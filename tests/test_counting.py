"""Exact and log-space counting against brute force."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from strategies import dfas
from statetrack.automata.counting import (
    count_table,
    count_words,
    forward_table,
    scaled_count_table,
)
from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError


def brute_counts(d: DFA, t: int) -> list[int]:
    """Accepted continuations of length t from every state, by listing all words."""
    out = []
    for q in range(d.n_states):
        c = 0
        for w in itertools.product(d.alphabet, repeat=t):
            r = d.run(w, state=q)
            c += r >= 0 and bool(d.accepting[r])
        out.append(c)
    return out


@settings(max_examples=40)
@given(dfas(), st.integers(0, 6))
def test_count_table_matches_brute_force(d, t):
    table = count_table(d, t)
    assert table[t] == brute_counts(d, t)
    assert count_words(d, [t]) == {t: d.count(t)}


@settings(max_examples=30)
@given(dfas(), st.integers(0, 6))
def test_forward_table_matches_brute_force(d, t):
    fwd = forward_table(d, t)[t]
    expect = [0] * d.n_states
    for w in itertools.product(d.alphabet, repeat=t):
        r = d.run(w)
        if r >= 0:
            expect[r] += 1
    assert fwd == expect
    assert sum(c for q, c in enumerate(fwd) if d.accepting[q]) == count_table(d, t)[t][d.start]


@settings(max_examples=25)
@given(dfas(max_states=6, max_symbols=4))
def test_float_mode_close_to_exact(d):
    exact = scaled_count_table(d, 300, exact=True)
    approx = scaled_count_table(d, 300, exact=False)
    assert (exact.positive() == approx.positive()).all()  # zero exactly when zero
    pos = exact.positive()
    assert np.abs(exact.log()[pos] - approx.log()[pos]).max(initial=0.0) < 1e-11
    table = count_table(d, 300)
    for t in (0, 5, 17, 40):  # counts below 2**53 are exact in both forms
        for q in range(d.n_states):
            if table[t][q] < 2**53:
                assert approx.to_int(t, q) == table[t][q] == exact.to_int(t, q)


def test_huge_counts_keep_relative_precision():
    parity = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    s = scaled_count_table(parity, 3000, exact=False)
    assert s.to_int(3000, 0) == 2**2999  # powers of two are exact in the scaled form
    assert s.log()[3000, 0] == pytest.approx(2999 * np.log(2.0), rel=1e-15)


def test_negative_length_is_an_error():
    d = DFA(["a"], None, 0, [True], [[0]])
    with pytest.raises(StatetrackError, match="non-negative"):
        count_table(d, -1)
