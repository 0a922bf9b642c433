"""Every construction, proved on every catalog language it applies to and on random permutation automata."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.automata.catalog import get_language, list_languages
from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.constructions import ConstructionNotApplicable, compile_language, prove
from statetrack.lrnn.verify_numeric import run_numeric
from statetrack.constructions.group import is_group_dfa, minimal_dfa
from statetrack.constructions.householder import factor_eigenvalues, transposition_count
from statetrack.constructions.model_format import active_factors
from statetrack.lrnn.verify_numeric import sample_words

OWN = ("parity", "rotation", "group", "modadd2", "unconstrained")
INSTANCES = {
    "parity": ["parity"], "mod": ["mod:2", "mod:3", "mod:4", "mod:6"], "modsum": ["modsum:2", "modsum:3", "modsum:5"],
    "tomita": [f"tomita:{i}" for i in range(1, 8)], "flipflop": ["flipflop"],
    "group": ["group:Z6", "group:D4", "group:S3", "group:S4", "group:A4", "group:Q8", "group:Z2xZ3", "group:S5"],
    "modarith": ["modarith:3"], "dyck": ["dyck:1:2", "dyck:2:2"],
}


def _catalog():
    names = []
    for pattern, _ in list_languages():
        head = pattern.split(":")[0]
        if head in INSTANCES:
            names += INSTANCES[head]
        elif ":" not in pattern:
            names.append(pattern)
    return list(dict.fromkeys(names))


@pytest.mark.parametrize("name", _catalog())
def test_every_construction_is_proved_where_it_applies(name):
    dfa = get_language(name)
    mini = minimal_dfa(dfa)
    applied = []
    for c in OWN:
        try:
            model, rep = compile_language(dfa, c)
        except ConstructionNotApplicable:
            continue
        applied.append(c)
        res = prove(model)
        assert res.proved, (name, c, res.detail)
        assert model.dfa().equivalent(dfa), (name, c)
        assert rep["construction"] == c and rep["layers"] == model.num_layers
    assert "unconstrained" in applied
    assert ("group" in applied) == is_group_dfa(mini)
    if name.startswith(("mod:", "modsum:")) or name == "group:Z6":
        assert {"rotation", "modadd2"} <= set(applied)


@pytest.mark.parametrize("name, construction, dims", [
    ("parity", "parity", [1]), ("mod:3", "group", [3]), ("mod:5", "rotation", [2]), ("group:S3", "group", [3]),
    ("group:S5", "group", [5]), ("tomita:5", "group", [2]),
])
def test_auto_picks_the_cheapest(name, construction, dims):
    model, rep = compile_language(get_language(name))
    assert rep["construction"] == construction and rep["dims"] == dims
    assert rep["reason"].startswith("auto:")
    # a reflection's eigenvalues: -1, and 1 on the other n - 1 dimensions
    assert rep["eigenvalue_range"] == ([-1.0, -1.0] if dims == [1] else [-1.0, 1.0])
    assert rep["max_norm"] == pytest.approx(1.0)


def test_s5_uses_the_five_point_action_with_minimum_factors():
    model, rep = compile_language(get_language("group:S5"), "group")
    assert rep["dims"] == [5] and rep["codes"] == [120] and rep["group_order"] == 120
    assert rep["factor_counts"] == {"t": 1, "c": 4}  # (0 1): 2 - 1; (0 1 2 3 4): 5 - 1
    assert list(active_factors(model, 0)) == [1, 4]


def test_auto_falls_back_to_the_cascade_and_rejects_unknown_names():
    model, rep = compile_language(get_language("tomita:3"))  # not a group: the cascade, shortened by the direct search
    assert rep["construction"] == "direct" and rep["reason"].startswith("auto:") and rep["levels"] == 5
    assert rep["layers"] == rep["direct"]["layers"] == 2 < rep["direct"]["cascade_layers"]  # quotients without the sink
    assert not rep["direct"]["prefix"] and prove(model).proved
    assert "no bit code found for the minimal DFA" in rep["reason"]
    assert rep["one_layer"]["status"] == "impossible" and rep["one_layer"]["construction"] is None
    with pytest.raises(StatetrackError, match="unknown construction"):
        compile_language(get_language("parity"), "magic")


def test_not_applicable_messages():
    t3 = get_language("tomita:3")
    for c, words in [("parity", "parity"), ("rotation", "rotation"), ("group", "not a group"), ("modadd2", "modadd2")]:
        with pytest.raises(ConstructionNotApplicable, match=words):
            compile_language(t3, c)


def test_modadd2_single_reflection_per_token():
    model, rep = compile_language(get_language("modsum:5"), "modadd2")
    assert rep["layers"] == 2 and rep["factors"] == [1, 1] and rep["dims"] == [1, 2]
    for l in range(2):
        t = model.layer(l)
        assert np.allclose(factor_eigenvalues(t["keys"], t["betas"]), -1.0)
    assert prove(model).proved


def test_unconstrained_baseline_exceeds_norm_one():
    model, rep = compile_language(get_language("tomita:3"), "unconstrained")
    assert model.meta["layers"][0]["kind"] == "dense"
    assert rep["max_norm"] > 1.0
    assert prove(model).proved


@st.composite
def permutation_automata(draw):
    n = draw(st.integers(1, 8))
    k = draw(st.integers(1, 4))
    perms = [draw(st.permutations(list(range(n)))) for _ in range(k)]
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    delta = np.array(perms, dtype=np.int64).T  # delta[q, a] = perm_a[q]
    return DFA([chr(97 + a) for a in range(k)], None, 0, acc, delta)


@settings(max_examples=25)
@given(permutation_automata())
def test_random_permutation_automata_are_proved(dfa):
    mini = minimal_dfa(dfa)
    assert is_group_dfa(mini)
    for c in ("auto", "group", "unconstrained", "parity", "rotation", "modadd2"):
        try:
            model, rep = compile_language(dfa, c)
        except ConstructionNotApplicable:
            assert c in ("parity", "rotation", "modadd2")
            continue
        res = prove(model)
        assert res.proved, (c, res.detail)
        assert model.dfa().equivalent(dfa)
    model, rep = compile_language(dfa, "group")
    # factor counts = moved points - cycles of each letter's permutation in the chosen action
    counts = active_factors(model, 0)
    assert [rep["factor_counts"][a] for a in mini.alphabet] == list(counts)
    if "DFA states" in rep["action"]:
        assert list(counts) == [transposition_count(mini.delta[:, a]) for a in range(mini.n_symbols)]


@pytest.mark.parametrize("name", ["parity", "group:S5", "tomita:5"])
def test_permutation_constructions_bit_exact_in_bfloat16_for_1e5_steps(name):
    model, _ = compile_language(get_language(name))
    words = sample_words(model.dfa(), 100_000, model.dfa().n_symbols + 2, seed=1)
    res = run_numeric(model, "bfloat16", words=words)
    assert res.errors == 0 and res.max_drift == 0.0 and res.max_len == 100_000


@pytest.mark.parametrize("m", [3, 5])
def test_rotation_drift_in_float32_stays_below_the_margin_for_1e5_steps(m):
    model, rep = compile_language(get_language(f"mod:{m}"), "rotation")
    rng = np.random.default_rng(2)
    ones = model.dfa().alphabet.index("1")
    words = np.stack([np.full(100_000, ones), rng.integers(0, 2, 100_000)])  # a long run of 1s and a random word
    res = run_numeric(model, "float32", words=words)
    assert res.errors == 0
    assert 0.0 < res.max_drift < rep["decoding_margin"] == pytest.approx(np.sin(np.pi / m))
