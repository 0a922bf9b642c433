"""Bit codes (one layer: letters copy, negate or set bits) and merging runs of layers into bit-code layers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions import compile_language, prove
from statetrack.constructions.bit_actions import layer_arrays
from statetrack.constructions.bitcode import SCOPE, letter_actions, search_bit_code
from statetrack.constructions.partial_code import PartialLetter, partial_bit_code
from statetrack.constructions.cascade import compile_cascade
from statetrack.constructions.group import minimal_dfa
from statetrack.constructions.model_format import active_factors
from statetrack.constructions.sizing import classify_language
from statetrack.constructions.stack_merge import drop_memoryless, merge_layers


def _apply(keys: np.ndarray, betas: np.ndarray, values: np.ndarray, h: np.ndarray) -> np.ndarray:
    """One symbol's GH factors (factor 0 first) on the state ``h`` (float64; the entries are dyadic, so exact)."""
    for k, b, v in zip(keys, betas, values):
        h = h - b * k * (k @ h) + b * k * v
    return h


def _brute_force(delta: np.ndarray) -> int | None:
    """The smallest dimension of a bit code by enumerating every family of bits (tiny DFAs only): a family is a code
    when it tells the states apart and every letter sends each bit to a constant or to +-one bit of the family, no
    two bits to the same one."""
    n, S = delta.shape
    full = (1 << n) - 1
    norm = [m ^ full if m & 1 else m for m in range(1 << n)]
    nodes = [m for m in range(2, 1 << n, 2)]
    best = None
    for r in range(1, len(nodes) + 1):
        for fam in itertools.combinations(nodes, r):
            if len({tuple(m >> q & 1 for m in fam) for q in range(n)}) != n:
                continue
            ok = True
            for a in range(S):
                images = []
                for m in fam:
                    p = sum(1 << q for q in range(n) if m >> int(delta[q, a]) & 1)
                    if p in (0, full):
                        continue
                    if norm[p] not in fam:
                        ok = False
                        break
                    images.append(norm[p])
                if not ok or len(images) != len(set(images)):
                    ok = False
                    break
            if ok:
                return r
        if best is not None:
            break
    return best


def test_search_matches_brute_force_on_small_dfas():
    rng = np.random.default_rng(3)
    checked = {"found": 0, "impossible": 0}
    for _ in range(60):
        n = int(rng.integers(2, 5))
        d = DFA("ab", None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, 2)))
        m = minimal_dfa(d)
        if m.n_states < 2:
            continue
        res = search_bit_code(m)
        ref = _brute_force(np.asarray(m.delta))
        assert res.complete
        if ref is None:
            assert res.status == "impossible"
        else:
            assert res.status == "found" and len(res.masks) == ref
        checked[res.status] += 1
    assert checked["found"] >= 5 and checked["impossible"] >= 5


@pytest.mark.parametrize("lang, bits", [("tomita:2", 2), ("dyck:1:2", 3), ("tomita:1", 1)])
def test_bit_code_languages_compile_to_one_proved_layer(lang, bits):
    d = minimal_dfa(get_language(lang))
    res = search_bit_code(d)
    assert res.status == "found" and len(res.masks) == bits
    model, rep = compile_language(d, "bitcode")
    assert rep["layers"] == 1 and rep["dims"] == [bits] and prove(model).proved
    assert list(active_factors(model, 0)) == list(rep["factor_counts"].values())
    t = model.layer(0)
    for q in range(d.n_states):  # every letter maps the code of q onto the code of its successor, exactly
        code = np.array([m >> q & 1 for m in res.masks], dtype=np.float64)
        for a in range(d.n_symbols):
            nxt = np.array([m >> int(d.delta[q, a]) & 1 for m in res.masks], dtype=np.float64)
            assert np.array_equal(_apply(t["keys"][a], t["betas"][a], t["values"][a], code), nxt)


@pytest.mark.parametrize("lang", ["tomita:3", "tomita:4", "tomita:7", "flipflop"])
def test_no_bit_code_is_reported_impossible_with_its_scope(lang):
    d = minimal_dfa(get_language(lang))
    assert search_bit_code(d).status == "impossible"
    c = classify_language(get_language(lang)).families["deltaproduct[-1,1]"]["construction"]
    assert c["one_layer"]["status"] == "impossible" and "any dimension" in c["one_layer"]["scope"]


def test_counters_and_permutation_reset_automata_have_bit_codes():
    rng = np.random.default_rng(5)
    for _ in range(10):  # permutation-reset automata: one-hot is a bit code, so the search finds one
        n = int(rng.integers(2, 7))
        delta = np.stack([rng.permutation(n), np.full(n, int(rng.integers(n))), rng.permutation(n)], axis=1)
        d = minimal_dfa(DFA("abc", None, 0, rng.random(n) < 0.5, delta))
        if d.n_states > 1:
            assert search_bit_code(d).status == "found"
    up = np.array([[min(i + 1, 5), max(i - 1, 0), 0] for i in range(6)])  # a saturating counter with a reset
    d = minimal_dfa(DFA("udr", None, 0, np.arange(6) == 5, up))
    assert d.n_states == 6 and search_bit_code(d).status == "found"


def test_undecided_when_stopped_or_too_large():
    assert search_bit_code(minimal_dfa(get_language("modarith:3"))).status == "undecided"  # 19 states


def test_partial_bit_code_actions_are_exact_on_their_domains():
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(40):
        n = int(rng.integers(3, 9))
        letters = []
        for _ in range(int(rng.integers(1, 4))):
            dom = np.flatnonzero(rng.random(n) < 0.6)
            letters.append(PartialLetter(dom.astype(np.int64), rng.integers(0, n, size=dom.size)))
        got = partial_bit_code(n, letters, np.eye(n, dtype=bool)[1:])
        if got is None:
            continue
        found += 1
        bits, actions = got
        keys, betas, values = layer_arrays(tuple(range(bits.shape[0])), actions)
        codes = bits.T.astype(np.float64)
        assert len({tuple(c) for c in codes}) == n
        for a, L in enumerate(letters):
            for q, t in zip(L.domain, L.target):
                assert np.array_equal(_apply(keys[a], betas[a], values[a], codes[q]), codes[t])
    assert found >= 10


def test_letter_actions_refuse_a_code_that_fans_out():
    d = minimal_dfa(get_language("tomita:4"))
    with pytest.raises(Exception, match="copies, negations"):
        letter_actions(np.asarray(d.delta), tuple(1 << q for q in range(1, d.n_states)))


@pytest.mark.parametrize("lang", ["tomita:3", "tomita:7"])
def test_merging_makes_proved_shallower_cascades_deterministically(lang):
    d = minimal_dfa(get_language(lang))  # the plain copy scheme (level and copy layers): runs merge
    plain, rep0 = compile_cascade(d, merge=False, shift=False)
    model, rep = compile_cascade(d, shift=False, direct=False)
    assert rep["layers"] < rep0["layers"] == rep["layers_unmerged"] and rep["merged"]
    assert prove(model).proved
    again, rep2 = merge_layers(plain)
    assert rep2["merged"] == rep["merged"] and again.num_layers == model.num_layers
    _, default = compile_cascade(d)  # shift layers: as shallow without merging
    c = classify_language(get_language(lang)).families["deltaproduct[-1,1]"]["construction"]
    assert c["layers"] == default["layers"] <= rep["layers"] and c["state_size"] == max(default["dims"])
    _, auto = compile_language(d)
    assert auto["layers"] == default["layers"] and auto["construction"] == default["construction"]


def test_conv_coupled_stacks_merge_into_proved_shallower_stacks():
    d = minimal_dfa(get_language("tomita:7"))
    plain, rep0 = compile_cascade(d, coupling="conv", merge=False)
    merged, mrep = merge_layers(plain)
    assert mrep["merged"] and merged.num_layers < plain.num_layers == rep0["layers"]
    assert prove(merged).proved
    assert "layers.0.conv" not in merged.tensors  # layer 0 reads the letters; later merged layers keep a convolution
    assert any(f"layers.{l}.conv" in merged.tensors for l in range(1, merged.num_layers))
    model, rep = compile_cascade(d, coupling="conv", direct=False)
    assert rep["merged"] == mrep["merged"] and rep["dropped"] == [0]  # then the top level (letters reset it) folds
    assert rep["layers"] == merged.num_layers - 1 == 2 and prove(model).proved
    _, rep = compile_cascade(d, coupling="conv")  # the direct search: one layer reading letter pairs
    assert rep["construction"] == "direct" and rep["layers"] == 1


def test_memoryless_layers_fold_into_the_layer_above():
    rng = np.random.default_rng(13)
    dropped = 0
    for _ in range(10):
        n = int(rng.integers(4, 7))
        d = minimal_dfa(DFA("abc", None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, 3))))
        for coupling in ("conv", "copy"):
            plain, _ = compile_cascade(d, coupling=coupling, merge=False)
            model, gone = drop_memoryless(plain)
            assert model.num_layers == plain.num_layers - len(gone)
            if gone:
                dropped += 1
                _assert_proved_and_follows_its_dfa(model, rng.integers(0, 3, size=(10, 10)))
    assert dropped >= 3


def test_merged_conv_stacks_follow_the_dfa_on_random_words():
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(12):  # random DFAs: the merged conv stack, run step by step, against the DFA
        n = int(rng.integers(4, 7))
        d = minimal_dfa(DFA("abc", None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, 3))))
        model, rep = compile_cascade(d, coupling="conv")
        if not rep["merged"]:
            continue
        checked += 1
        _assert_proved_and_follows_its_dfa(model, rng.integers(0, 3, size=(20, 12)))
    assert checked >= 2


def _assert_proved_and_follows_its_dfa(model, words) -> None:
    """The stack is proved, and on each word (letter ids) it hands out the state its DFA reaches."""
    assert prove(model).proved
    md = model.dfa()
    for word in words:
        assert _run_stack(model, word) == md.run([md.alphabet[a] for a in word])


def _run_stack(model, word) -> int:
    """The DFA state the stack hands out after ``word`` (letter ids), simulated with the float tensors."""
    from statetrack.constructions.stack_merge import stack_tables

    tables, nexts, h0, convs = stack_tables(model)
    codes, prev = list(h0), [None if cv is None else cv.shape[1] for cv in convs]
    out = model.dfa().start
    for a in word:
        s = int(a)
        for l in range(len(tables)):
            if convs[l] is not None:
                s, prev[l] = int(convs[l][prev[l], s]), s
            codes[l] = int(tables[l][codes[l], s])
            s = int(nexts[l][codes[l], s])
        out = s
    return out


def test_merging_stops_within_its_work_budget_and_says_so():
    d = minimal_dfa(get_language("tomita:7"))
    model, rep = compile_language(d, work=10, coupling="conv")
    assert rep["search"]["stopped_early"] == ["merge", "direct"] and rep["search"]["work_used"] <= 10
    assert "stopped early" in rep["reason"] and rep["merged"] == [] and prove(model).proved
    _, again = compile_language(d, work=10, coupling="conv")
    assert again["layers"] == rep["layers"]
    _, full = compile_language(d, coupling="conv")
    assert full["search"]["stopped_early"] == [] and full["layers"] < rep["layers"]
    assert 0 < full["search"]["work_used"] <= full["search"]["work_budget"]


def test_bit_code_search_stops_at_its_step_cap():
    d = minimal_dfa(get_language("dyck:1:2"))
    capped = search_bit_code(d, max_steps=1)
    assert capped.status == "undecided" and not capped.complete and capped.steps == 1
    assert search_bit_code(d).status == "found"


def test_prefer_small_keeps_the_unmerged_cascade():
    d = minimal_dfa(get_language("tomita:7"))
    _, small = compile_language(d, prefer="small", coupling="conv")
    _, balanced = compile_language(d, coupling="conv")
    assert small["merged"] == [] and small["layers"] == small["layers_unmerged"] > balanced["layers"]
    assert max(small["factors"]) <= max(balanced["factors"])


def test_solve_exact_inverts_and_refuses_inconsistent_systems():
    from fractions import Fraction

    from statetrack.exact_linalg import solve_exact

    rng = np.random.default_rng(13)
    for _ in range(20):
        n = int(rng.integers(1, 6))
        X = [[Fraction(int(v)) for v in row] for row in rng.integers(-3, 4, size=(n, n))]
        inv = solve_exact(X, [[Fraction(int(i == j)) for j in range(n)] for i in range(n)])
        if round(abs(np.linalg.det(np.array(X, dtype=float)))) == 0:
            assert inv is None
            continue
        prod = [[sum(X[i][k] * inv[k][j] for k in range(n)) for j in range(n)] for i in range(n)]
        assert prod == [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    tall = [[Fraction(1)], [Fraction(1)]]  # x = 1 and x = 2: inconsistent
    assert solve_exact(tall, [[Fraction(1)], [Fraction(2)]]) is None
    assert solve_exact(tall, [[Fraction(3)], [Fraction(3)]]) == [[Fraction(3)]]


@pytest.mark.parametrize("coupling", ["copy", "conv"])
def test_a_run_that_remembers_the_last_letters_becomes_one_register_layer(coupling):
    d = minimal_dfa(get_language("tomita:4"))  # no three 0s in a row: the top levels only recall the last letters
    plain, _ = compile_cascade(d, coupling=coupling, merge=False)
    model, rep = merge_layers(plain)
    assert rep["merged"][0][0] == 0 and rep["merged"][0][1] >= 1 and prove(model).proved
    t = model.layer(0)
    k, S = t["codes"].shape[1] // d.n_symbols, d.n_symbols
    assert np.array_equal(t["h0"], np.zeros(k * S))  # k one-hot blocks of letters, empty at the start
    md = model.dfa()
    rng = np.random.default_rng(2)
    for word in rng.integers(0, S, size=(30, 15)):
        assert _run_stack(model, word) == md.run([md.alphabet[a] for a in word])


@pytest.mark.parametrize("seed", range(6))
def test_layer_arrays_sharing_signed_parts_matches_per_letter_factors(seed):
    """``layer_arrays`` computes each signed permutation's reflections and values once and shares them between
    actions that differ only in their constants; the result equals each letter's own factors."""
    from statetrack.constructions.bit_actions import LetterAction, _letter_factors

    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 9))
    actions = []
    for _ in range(int(rng.integers(1, 6))):
        targets = rng.permutation(d)[:int(rng.integers(0, d + 1))]
        source = -np.ones(d, dtype=np.int64)
        source[targets] = rng.permutation(d)[:targets.size]  # each old bit used at most once
        for _ in range(2):  # same copies, other negations (same permutation, other signs)
            negate = (rng.random(d) < 0.5) & (source >= 0)
            for _ in range(int(rng.integers(1, 4))):  # same copies and negations, other constants
                const = np.where(source < 0, rng.integers(0, 2, size=d), 0).astype(np.float64)
                actions.append(LetterAction(source, negate, const))
    keys, betas, values = layer_arrays(tuple(range(d)), actions)
    for a, act in enumerate(actions):
        k, b, v = _letter_factors(act, d)
        F = k.shape[0]
        assert np.array_equal(keys[a, :F], k) and np.array_equal(betas[a, :F], b)
        assert np.array_equal(values[a, :F], v)
        assert not keys[a, F:].any() and not betas[a, F:].any() and not values[a, F:].any()


def test_a_repeated_bit_is_outside_the_decided_class():
    """The search decides codes whose bits are pairwise distinct; this 3-state DFA has none (``impossible``), yet a
    code that repeats a bit ({1}, {2}, {1, 2}, {1, 2}: letter a sends {1} and {2, ...} to one preimage, fed from the
    two copies) is a proved one-layer model -- so ``impossible`` must keep its scope."""
    from statetrack.constructions.bit_actions import LetterAction
    from statetrack.constructions.model_format import breadth_first_states, build_model

    d = DFA("ab", None, 0, [False, True, False], [[0, 2], [2, 1], [1, 1]])
    assert minimal_dfa(d).n_states == 3
    res = search_bit_code(d)
    assert res.status == "impossible" and res.complete
    masks = (2, 4, 6, 6)
    acts = [LetterAction(np.array([1, 0, 2, 3]), np.zeros(4, dtype=bool), np.zeros(4)),
            LetterAction(np.array([2, 3, -1, -1]), np.array([False, True, False, False]), np.array([0, 0, 1, 1.0]))]
    keys, betas, values = layer_arrays(masks, acts)
    code = lambda q: np.array([m >> q & 1 for m in masks], dtype=np.float64)  # noqa: E731
    state = breadth_first_states(d)
    arrays = {"keys": keys, "betas": betas, "values": values, "h0": code(0),
              "codes": np.stack([code(q) for q in state]), "next": np.repeat(np.array(state)[:, None], 2, axis=1)}
    model = build_model(d, "bitcode", [({"kind": "householder"}, arrays)])
    assert prove(model).proved
    assert "distinct bits" in SCOPE and "repeat" in SCOPE
