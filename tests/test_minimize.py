"""Minimisation (Moore in numpy / in Python, Hopcroft) and the subset construction (fast paths vs references)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import statetrack.automata.minimize as mz
import statetrack.automata.nfa as nfa_mod
from statetrack.automata.dfa import DFA
from statetrack.errors import StateLimitError
from statetrack.automata.minimize import minimize, refine_hopcroft, refine_moore
from statetrack.automata.nfa import NFA, determinize_reference
from statetrack.automata.regex import _Compiler, parse_regex, regex_to_dfa

ENGINES = ["moore", "moore-small", "hopcroft", "auto"]


@st.composite
def dfas(draw, max_states: int = 12, max_symbols: int = 3) -> DFA:
    n = draw(st.integers(1, max_states))
    k = draw(st.integers(1, max_symbols))
    delta = draw(st.lists(st.integers(-1, n - 1), min_size=n * k, max_size=n * k))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    start = draw(st.integers(0, n - 1))
    return DFA([chr(ord("a") + i) for i in range(k)], [f"s{i}" for i in range(n)], start, np.array(acc), np.array(delta).reshape(n, k))


@st.composite
def nfas(draw, max_states: int = 8, max_symbols: int = 2) -> NFA:
    n = draw(st.integers(1, max_states))
    k = draw(st.integers(1, max_symbols))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, k - 1), st.integers(0, n - 1)), max_size=3 * n))
    eps = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=n))
    starts = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return NFA([chr(ord("a") + i) for i in range(k)], n, edges, starts, acc, eps)


def nerode_classes(d: DFA) -> list[int]:
    """Table-filling reference: class id per state of a complete DFA (pairs marked until stable)."""
    n, k = d.n_states, d.n_symbols
    mark = [[bool(d.accepting[p]) != bool(d.accepting[q]) for q in range(n)] for p in range(n)]
    changed = True
    while changed:
        changed = False
        for p in range(n):
            for q in range(n):
                if not mark[p][q] and any(mark[int(d.delta[p, a])][int(d.delta[q, a])] for a in range(k)):
                    mark[p][q] = True
                    changed = True
    cls, out = {}, []
    for p in range(n):
        rep = next(q for q in range(n) if not mark[p][q])
        out.append(cls.setdefault(rep, len(cls)))
    return out


def words(alphabet, max_len):
    for n in range(max_len + 1):
        yield from itertools.product(alphabet, repeat=n)


# ---------------------------------------------------------------------- minimisation

@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(dfas())
def test_minimize_engines_agree_with_table_filling(d):
    results = [minimize(d, engine=e) for e in ENGINES]
    m = results[0]
    for r in results[1:]:
        assert r == m
    ref = d.complete()
    ref = ref.restrict(ref.reachable_states())
    assert m.n_states == len(set(nerode_classes(ref)))
    assert m.is_complete and m.start == 0 and m.alphabet == d.alphabet
    assert m == m.renumber_bfs()  # states in BFS order
    assert d.equivalent(m).equivalent
    assert minimize(m) == m  # idempotent, names kept


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(dfas())
def test_blocks_are_named_after_their_first_member_in_bfs_order(d):
    c = d.complete()
    bfs = c.renumber_bfs()  # reachable part, BFS order, names kept
    cls = nerode_classes(bfs)
    expected = []
    for q in range(bfs.n_states):
        if cls[q] not in {cls[p] for p in range(q)}:
            expected.append(bfs.states[q])
    assert list(minimize(d).states) == expected


def test_partial_dfa_is_completed_with_a_sink():
    d = DFA(["a", "b"], ["x", "y"], 0, [False, True], [[1, -1], [-1, -1]])
    m = minimize(d)
    assert m.states == ("x", "y", "sink") and m.is_complete
    d2 = DFA(["a"], ["sink", "y"], 0, [False, True], [[1], [-1]])
    assert minimize(d2).states == ("sink", "y", "_sink")


def test_distinguishable_states_keep_their_names():
    d = DFA(["1"], ["even", "odd"], 0, [True, False], [[1], [0]])
    assert minimize(d) == d


def test_minimize_state_limit():
    d = regex_to_dfa("(a|b)*a(a|b){6}")
    with pytest.raises(StateLimitError, match="max_states=100"):
        minimize(d, max_states=100)


def test_numpy_moore_on_a_large_random_dfa_matches_hopcroft():
    rng = np.random.default_rng(0)
    n, k = 3000, 3
    delta = rng.integers(0, n, size=(n, k))
    acc = rng.random(n) < 0.3
    d = DFA(["a", "b", "c"], None, 0, acc, delta)
    assert delta.size > mz.SMALL_MOORE  # auto takes the numpy path
    m = minimize(d, engine="moore")
    assert m == minimize(d, engine="hopcroft") == minimize(d)


def test_deep_chain_hands_over_to_hopcroft(monkeypatch):
    d = regex_to_dfa("a{300}|a{150}b")  # distinguishing suffixes up to length 300
    monkeypatch.setattr(mz, "MOORE_ROUNDS", 5)
    assert minimize(d) == minimize(d, engine="moore") == d
    block, nb, stable = refine_moore(d.delta, d.accepting, max_rounds=5)
    assert not stable
    full, nb_full = refine_hopcroft(d.delta, d.accepting, initial=block)
    assert nb_full == d.n_states


def test_signature_ids_compress_before_overflow():
    rng = np.random.default_rng(1)
    cols = [rng.integers(0, 2**40, 500) for _ in range(3)]
    cols[1][:250] = cols[1][250:]  # repeated rows
    cols[0][:250] = cols[0][250:]
    cols[2][:250] = cols[2][250:]
    ids, u = mz._signature_ids(cols, [2**40] * 3)
    rows = list(zip(*(c.tolist() for c in cols)))
    assert u == len(set(rows))
    seen = {}
    for r, i in zip(rows, ids.tolist()):
        assert seen.setdefault(r, i) == i


# ---------------------------------------------------------------------- subset construction

def _all_paths(nfa: NFA, monkeypatch) -> list[DFA]:
    out = [
        determinize_reference(nfa).minimize().relabel(""),
        nfa.determinize(vector_threshold=10**9).minimize().relabel(""),  # plain-Python layers
        nfa.determinize(vector_threshold=0).minimize().relabel(""),  # numpy byte tables
    ]
    with monkeypatch.context() as mp:
        mp.setattr(nfa_mod, "TABLE_BYTES", 0)  # numpy sparse expansion
        out.append(nfa.determinize(vector_threshold=0).minimize().relabel(""))
    return out


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(nfas())
def test_subset_construction_paths_agree_with_reference(monkeypatch, nfa):
    results = _all_paths(nfa, monkeypatch)
    for r in results[1:]:
        assert r == results[0]
    d = results[0]
    for w in words(nfa.alphabet, 4):
        assert d.accepts(w) == nfa.accepts(w)


@pytest.mark.parametrize("pattern", ["(a{70}|b)*", "(a|b)*a(a|b){3}c{70}", "((a|b){40}c)*"])
def test_subset_construction_with_multiword_bitsets(monkeypatch, pattern):
    node = parse_regex(pattern)
    nfa = _Compiler(("a", "b", "c"), 10**6, pattern, node).nfa(node)
    assert nfa.remove_epsilon().n_states > 64  # more than one uint64 word per subset
    results = _all_paths(nfa, monkeypatch)
    for r in results[1:]:
        assert r == results[0]
    assert results[0] == regex_to_dfa(pattern, "abc")


def test_subset_construction_state_limit():
    nfa = NFA.from_dfa(regex_to_dfa("(a|b){8}a(a|b)*")).reversed()  # reversal blows up: 2^9 subsets
    with pytest.raises(StateLimitError, match="max_states=50"):
        nfa.determinize(max_states=50)


def test_determinize_is_complete_and_breadth_first():
    nfa = NFA.from_dfa(regex_to_dfa("(a|b)*abb")).reversed()
    d = nfa.determinize()
    assert d.is_complete and d.states == tuple(str(i) for i in range(d.n_states))
    assert d == d.renumber_bfs().relabel("")


def test_from_dfa_round_trip():
    d = regex_to_dfa("(ab|ba)*(a|b)?")
    assert NFA.from_dfa(d).determinize().minimize().relabel("") == d


@pytest.mark.parametrize("pattern", ["(a|b)*abb", "a(a|b)*", "(ab|ba)*a?", "a{2,4}b", "~(.*aa.*)&.*b"])
def test_reverse_accepts_reversed_words(pattern):
    d = regex_to_dfa(pattern, "ab")
    r = d.reverse()
    for w in words("ab", 7):
        assert r.accepts(w) == d.accepts(w[::-1])
    partial = d.trim()  # a partial DFA reverses too
    r2 = partial.reverse()
    assert r2.minimize().relabel("") == r.minimize().relabel("")


@pytest.mark.parametrize("k", [2, 5, 9])
def test_reverse_of_the_blowup_family_is_small(k):
    d = regex_to_dfa(f"(a|b)*a(a|b){{{k}}}")
    assert d.reverse().minimize().n_states == k + 3


def test_epsilon_removal_keeps_the_language():
    node = parse_regex("(a|()|b*)*c?(a&a)")
    nfa = _Compiler(("a", "b", "c"), 1000, "x", node).nfa(node)
    e = nfa.remove_epsilon()
    assert e.eps.size == 0
    for w in words("abc", 4):
        assert e.accepts(w) == nfa.accepts(w)
