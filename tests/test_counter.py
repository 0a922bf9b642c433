"""Saturating counters in one layer (constructions/counter.py): recognised, proved, exact in bfloat16 on the kernels,
and the size classify reports is the model compile builds."""
from __future__ import annotations

import numpy as np
import pytest

import statetrack
from statetrack.automata.dfa import DFA
from statetrack.constructions import ConstructionNotApplicable, compile_language, prove
from statetrack.constructions.counter import compile_counter, counter_size, letter_kinds
from statetrack.constructions.sizing import classify_language
from statetrack.lrnn.verify_numeric import run_numeric


def updown(n: int, accept) -> DFA:
    """A counter over ``n`` states with increment ``u``, decrement ``d`` (both saturating) and reset ``r``."""
    delta = [[min(i + 1, n - 1), max(i - 1, 0), 0] for i in range(n)]
    return DFA(["u", "d", "r"], [f"c{i}" for i in range(n)], 0, [bool(accept(i)) for i in range(n)], delta)


def random_counter(rng: np.random.Generator) -> DFA:
    """A counter DFA with shuffled state ids, random letters (identity / inc / dec / reset) and acceptance."""
    n = int(rng.integers(3, 9))
    order = rng.permutation(n)  # order[i]: the state id of chain position i
    kinds = ["inc"] + [str(rng.choice(["identity", "inc", "dec", "reset"])) for _ in range(int(rng.integers(0, 3)))]
    delta = np.zeros((n, len(kinds)), dtype=np.int64)
    for a, kind in enumerate(kinds):
        r = int(rng.integers(n))
        for i in range(n):
            j = {"identity": i, "inc": min(i + 1, n - 1), "dec": max(i - 1, 0), "reset": r}[kind]
            delta[order[i], a] = order[j]
    acc = rng.integers(0, 2, size=n).astype(bool)
    acc[order[0]] = not acc[order[-1]]  # keep the two ends apart so the chain survives minimisation
    return DFA([f"x{a}" for a in range(len(kinds))], None, int(order[0]), acc, delta)


LANGUAGES = {
    "at least 3 a": lambda: statetrack.language(regex="(b*a){3}(a|b)*"),
    "exactly 2 a": lambda: statetrack.language(regex="b*ab*ab*"),
    "at most 2 a": lambda: statetrack.language(regex="b*(ab*)?(ab*)?"),
    "up/down counter with reset": lambda: updown(5, lambda i: i >= 3),
}


@pytest.mark.parametrize("name", sorted(LANGUAGES))
def test_counters_compile_to_one_exact_layer(name):
    dfa = LANGUAGES[name]()
    model, rep = compile_language(dfa)
    assert rep["construction"] == "counter" and rep["layers"] == 1, rep
    assert prove(model).proved
    res = run_numeric(model, "bfloat16", max_len=300, samples=8, kernel="all")
    assert res.errors == 0 and res.max_drift == 0.0, res.to_json()  # integer keys, 0/1 states: bit-exact
    size = counter_size(model.dfa())
    assert (size["state_size"], size["factors_per_token"]) == (rep["dims"][0], rep["factors"][0])


def test_random_counters_are_proved():
    rng = np.random.default_rng(7)
    built = 0
    for _ in range(25):
        dfa = random_counter(rng)
        try:
            model, rep = compile_language(dfa, "counter")
        except ConstructionNotApplicable:  # minimisation merged chain states (e.g. equal acceptance throughout)
            continue
        built += 1
        assert rep["layers"] == 1 and prove(model).proved
    assert built >= 15


def test_thermometer_codes_and_chain_order():
    dfa = updown(4, lambda i: i == 0)
    chain, kinds = letter_kinds(dfa.minimize())
    assert [k for k, _ in kinds] == ["inc", "dec", "reset"]
    model, rep = compile_counter(dfa.minimize())
    codes = np.asarray(model.layer(0)["codes"])  # chain position i: i leading ones
    assert np.array_equal(codes, np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 1]]))
    assert rep["chain"] == [dfa.minimize().states[q] for q in chain]


@pytest.mark.parametrize("lang", ["parity", "tomita:3", "mod:3"])
def test_non_counters_are_refused(lang):
    with pytest.raises(ConstructionNotApplicable, match="counter"):
        compile_language(statetrack.language(lang=lang), "counter")


def test_classify_reports_the_counter_model():
    dfa = LANGUAGES["at least 3 a"]()
    c = classify_language(dfa).families["deltaproduct[-1,1]"]["construction"]
    model, rep = compile_language(dfa)
    assert c["built_by"] == "counter" and c["layers"] == 1
    assert (c["state_size"], c["factors_per_token"]) == (rep["dims"][0], rep["factors"][0])
