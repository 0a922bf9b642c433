"""The Krohn-Rhodes (holonomy) cascade compiler: decomposition, coupling, proofs, numeric runs."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions.cascade import cascade_stack, compile_cascade, holonomy
from statetrack.constructions.cascade.coordinates import cascade_of
from statetrack.constructions.cascade.naive import naive_errors
from statetrack.constructions.verify_exact import prove


def full_transformation_dfa(n: int) -> DFA:
    """T_n: a cycle, a transposition and a collapse on n states (start 0, accept 0)."""
    cyc = [(i + 1) % n for i in range(n)]
    tr = [1, 0] + list(range(2, n))
    col = [0, 0] + list(range(2, n))
    return DFA(["c", "t", "k"], None, 0, ["0"], np.array([cyc, tr, col]).T)


def simulate(stack, word: list[int]) -> list[int]:
    """Exact float64 simulation of a stack (all entries are integers or halves): DFA states per token."""
    H = [L.h0.copy() for L in stack.layers]
    prev: list[int | None] = [None] * len(stack.layers)
    out = []
    for a in word:
        s = a
        for l, L in enumerate(stack.layers):
            if L.conv is not None:
                R = L.conv.shape[1]
                p, prev[l] = prev[l], s
                s = int(L.conv[R if p is None else p, s])
            h = H[l]
            for f in range(L.factors):
                k = L.keys[s, f]
                h = h - L.betas[s, f] * k * (k @ h) + L.betas[s, f] * k * L.values[s, f]
            H[l] = h
            c = int(np.argmin(((L.codes - h) ** 2).sum(1)))
            assert np.array_equal(L.codes[c], h), "states stay exactly on their codes"
            s = int(L.next[c, s])
        out.append(s)
    return out


# depth of the copy-layer scheme (2h - 1) and of the convolution scheme (h)
REFERENCE_DEPTHS = {"tomita:1": (1, 1), "tomita:2": (3, 2), "tomita:3": (9, 5), "tomita:4": (5, 3),
                    "tomita:5": (1, 1), "tomita:6": (1, 1), "tomita:7": (9, 5)}


@pytest.mark.parametrize("name", sorted(REFERENCE_DEPTHS))
def test_tomita_depths(name):
    d = get_language(name).minimize()
    copy_depth, conv_depth = REFERENCE_DEPTHS[name]
    assert len(cascade_stack(d, copy_skip=False, shift=False).layers) == copy_depth
    assert len(cascade_stack(d).layers) <= copy_depth
    assert len(cascade_stack(d, coupling="conv").layers) == conv_depth


@pytest.mark.parametrize("n,levels", [(2, 1), (3, 2), (4, 3), (5, 4)])
def test_full_transformation_monoid_heights(n, levels):
    d = full_transformation_dfa(n)
    hol = holonomy([d.delta[:, a] for a in range(3)], n)
    assert hol.depth == levels == n - 1
    # the top level's holonomy group is S_n acting on the (n-1)-subsets
    assert hol.holonomy_group_order(0) == int(np.prod(range(1, n + 1)))


def test_contains_aa_reference_depth():
    d = DFA.from_regex("(a|b)*aa(a|b)*")
    assert len(cascade_stack(d, copy_skip=False, shift=False).layers) == 3
    assert len(cascade_stack(d, coupling="conv").layers) == 2


@pytest.mark.parametrize("coupling", ["copy", "conv"])
@pytest.mark.parametrize("name", ["tomita:1", "tomita:2", "tomita:3", "tomita:4", "tomita:5", "tomita:6",
                                  "tomita:7", "parity", "mod:3", "flipflop", "dyck:1:2", "modarith:2"])
def test_stack_simulation_matches_dfa(name, coupling):
    d = get_language(name).minimize()
    stack = cascade_stack(d, coupling=coupling)
    rng = np.random.default_rng(0)
    words = [list(w) for L in range(1, 5) for w in itertools.product(range(d.n_symbols), repeat=L)][:400]
    words += [list(rng.integers(0, d.n_symbols, size=60)) for _ in range(20)]
    for w in words:
        assert simulate(stack, w) == list(d.run_batch(np.array([w]))[0])


@pytest.mark.parametrize("coupling", ["copy", "conv"])
@pytest.mark.parametrize("name", ["tomita:2", "tomita:3", "tomita:4", "tomita:7", "flipflop", "mod:3"])
def test_cascade_models_are_proved(name, coupling):
    d = get_language(name).minimize()
    model, report = compile_cascade(d, coupling=coupling)
    res = prove(model)
    assert res.proved, res.counterexample
    assert report["layers"] == model.num_layers
    assert report["levels"] >= 1 and report["bound"] == 2 ** d.n_states


@pytest.mark.parametrize("n", [4, 5])
def test_full_transformation_monoid_proved(n):
    d = full_transformation_dfa(n)
    model, report = compile_cascade(d, merge=False, shift=False)
    assert report["layers"] == 2 * (n - 1) - 1
    assert prove(model).proved
    model, report = compile_cascade(d)
    assert report["layers"] <= 2 * (n - 1) - 1
    assert prove(model).proved
    model, report = compile_cascade(d, coupling="conv")
    assert report["layers"] == n - 1
    assert prove(model).proved


@st.composite
def random_dfas(draw):
    n = draw(st.integers(3, 8))
    k = draw(st.integers(2, 3))
    delta = np.array(draw(st.lists(st.lists(st.integers(0, n - 1), min_size=k, max_size=k), min_size=n, max_size=n)))
    acc = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return DFA("abc"[:k], None, 0, np.array(acc), delta)


@settings(max_examples=25, deadline=None)
@given(random_dfas(), st.sampled_from(["copy", "conv"]))
def test_random_dfas_proved(d, coupling):
    model, report = compile_cascade(d, coupling=coupling)
    res = prove(model)
    assert res.proved, res.counterexample
    hol = cascade_of(d.complete().delta).hol
    expected = hol.depth if coupling == "conv" else max(1, 2 * hol.depth - 1)
    assert report["layers"] <= expected


def test_tampered_cascade_gives_counterexample():
    d = get_language("tomita:4").minimize()
    model, _ = compile_cascade(d)
    l = model.num_layers - 1
    nxt = model.tensors[f"layers.{l}.next"].copy()
    nxt[nxt == 0] = 1  # break the decoder of the last layer
    model.tensors[f"layers.{l}.next"] = nxt
    res = prove(model)
    assert not res.proved and res.counterexample is not None


def test_naive_coupling_is_wrong():
    """Wiring one level per layer with the updated outputs of the layers above fails on Tomita 4."""
    d = get_language("tomita:4").minimize()
    wrong, total, first = naive_errors(d.delta, d.start, 10)
    assert total == 2046 and wrong > 1000 and first is not None
    # the copy-layer stack is right on the same words
    stack = cascade_stack(d)
    for L in range(1, 8):
        for w in itertools.product(range(2), repeat=L):
            assert simulate(stack, list(w)) == list(d.run_batch(np.array([w]))[0])


def test_copy_skipping_drops_a_copy_layer_and_stays_correct():
    # a random 5-state DFA (found by search) where the previous context below level 0 is recoverable
    d = DFA.from_json({"alphabet": ["a", "b", "c"], "states": ["0", "2", "1", "4", "3"], "start": "0",
                       "accepting": ["0", "1", "3"],
                       "transitions": {"0": {"a": "2", "b": "1", "c": "4"}, "2": {"a": "3", "b": "0", "c": "2"},
                                       "1": {"a": "3", "b": "1", "c": "4"}, "4": {"a": "1", "b": "2", "c": "2"},
                                       "3": {"a": "2", "b": "3", "c": "2"}}})
    with_skip = cascade_stack(d, copy_skip=True, shift=False)
    without = cascade_stack(d, copy_skip=False, shift=False)
    assert with_skip.copies_skipped and len(with_skip.layers) < len(without.layers)
    model, report = compile_cascade(d, shift=False)
    assert report["copies_skipped"] == with_skip.copies_skipped
    assert prove(model).proved
    words = [list(w) for L in range(1, 6) for w in itertools.product(range(3), repeat=L)]
    for w in words:
        assert simulate(with_skip, w) == list(d.run_batch(np.array([w]))[0])


@pytest.mark.parametrize("name", ["tomita:3", "tomita:7", "flipflop", "modarith:3"])
def test_shift_layers_replace_a_level_of_resets_and_its_copy_layer(name):
    d = get_language(name).minimize()
    plain = cascade_stack(d, shift=False)
    stack = cascade_stack(d)
    assert stack.shifts and len(stack.layers) == len(plain.layers) - len(stack.shifts)
    assert any(L.role.startswith("shift") for L in stack.layers)
    rng = np.random.default_rng(1)
    words = [list(w) for L in range(1, 5) for w in itertools.product(range(d.n_symbols), repeat=L)][:300]
    words += [list(rng.integers(0, d.n_symbols, size=40)) for _ in range(20)]
    for w in words:  # the float run stays exactly on the codes (simulate asserts it) and follows the DFA
        assert simulate(stack, w) == list(d.run_batch(np.array([w]))[0])
    model, _ = compile_cascade(d, merge=False)
    assert prove(model).proved


def test_classify_reports_cascade_sizes(capsys):
    """classify's deltaproduct[-1,1] size is the copy-coupled cascade compile builds (eq. (1) layers, no
    convolution); the note gives the convolution-coupled depth."""
    import json

    from statetrack.automata.catalog import get_language
    from statetrack.cli import main

    for name in ("tomita:4", "tomita:3"):
        assert main(["classify", "--lang", name, "--json"]) == 0
        cons = json.loads(capsys.readouterr().out)["families"]["deltaproduct[-1,1]"]["construction"]
        _, report = compile_cascade(get_language(name).minimize(), coupling="copy")
        _, conv = compile_cascade(get_language(name).minimize(), coupling="conv")
        assert cons["built_by"] == report["construction"] and cons["layers"] == report["layers"]
        assert cons["factors_per_token"] == max(report["factors"]) and cons["state_size"] == max(report["dims"])
        assert f"it needs {conv['layers']} layers" in cons["note"]


def test_deep_random_cascade_is_proved_beyond_the_int64_packing():
    """A 7-state DFA whose cascade has 12 levels (23 layers): the proof keys tuples by their bytes."""
    delta = np.array([[1, 2, 3], [4, 4, 2], [0, 1, 5], [4, 3, 0], [0, 3, 0], [6, 6, 6], [4, 4, 6]])
    d = DFA("abc", None, 0, np.array([1, 0, 0, 1, 0, 0, 0], dtype=bool), delta)
    model, report = compile_cascade(d, merge=False, shift=False)
    assert report["levels"] == 12 and report["layers"] == 23
    assert int(np.prod([info["codes"] for info in model.meta["layers"]], dtype=object)) * 7 >= 2 ** 62
    res = prove(model)
    assert res.proved and res.reachable > report["reachable"]


@pytest.mark.parametrize("coupling", ["copy", "conv"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cascade_runs_exactly_through_householder_scan(coupling, dtype):
    """Compiled cascades on the chunked Householder-scan kernel stay exact for 10^4 tokens."""
    import torch

    from statetrack.lrnn.compiled import CompiledLRNN

    d = get_language("tomita:3").minimize()
    model, _ = compile_cascade(d, coupling=coupling)
    runner = CompiledLRNN(model, kernel="chunked", dtype=dtype)
    rng = np.random.default_rng(1)
    ids = rng.integers(0, d.n_symbols, size=(2, 10_000))
    ids[1, :5000] = 1  # a long run of one symbol, then random
    states, drift = runner.run_states(torch.from_numpy(ids))
    assert drift == 0.0
    assert np.array_equal(states.numpy(), d.run_batch(ids))


def _spectrum_reference(stack) -> tuple[float, float]:
    """Plain per-symbol loop: smallest factor eigenvalue and largest 2-norm of a symbol's product."""
    lo, norm = 1.0, 0.0
    for L in stack.layers:
        for s in range(L.symbols):
            A = np.eye(L.n)
            for f in range(L.factors):
                k = L.keys[s, f]
                if k @ k > 0:
                    lo = min(lo, float(1.0 - L.betas[s, f] * (k @ k)))
                A = A - L.betas[s, f] * np.outer(k, k @ A)
            norm = max(norm, float(np.linalg.norm(A, 2)))
    return lo, norm


@pytest.mark.parametrize("seed", range(4))
def test_spectrum_batched_matches_plain_loop(seed):
    """The report's spectrum (distinct products only, batched) equals the per-symbol loop on random layers with
    repeated symbols and zero keys."""
    from statetrack.constructions.cascade import CascadeStack, _spectrum
    from statetrack.constructions.cascade.layers import StackLayer

    rng = np.random.default_rng(seed)
    layers = []
    for _ in range(3):
        n, F, S = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 9))
        keys = rng.normal(size=(S, F, n)) * (rng.random((S, F, 1)) < 0.8)
        betas = rng.uniform(0, 2, size=(S, F))
        dup = rng.integers(0, S, size=S)  # repeat some symbols
        keys, betas = keys[dup], betas[dup]
        layers.append(StackLayer("level 0", n, keys, betas, np.zeros((S, F)), np.zeros(n), np.zeros((1, n)),
                                 np.zeros((1, S), dtype=np.int64)))
    stack = CascadeStack(layers=layers, depth=len(layers), reachable=1)
    lo, norm = _spectrum(stack)
    lo_ref, norm_ref = _spectrum_reference(stack)
    assert lo == pytest.approx(lo_ref, abs=1e-12) and norm == pytest.approx(norm_ref, rel=1e-12)


@settings(max_examples=20, deadline=None)
@given(random_dfas())
def test_memoised_step_matches_plain_step(d):
    """``Cascade.step`` (each level's work memoised) gives the same state, contexts and level maps as the plain
    reference on every reachable cascade state and letter, including prefixes (as the naive coupling uses them)."""
    cas = cascade_of(d.complete().delta)
    k = d.complete().delta.shape[1]
    x0 = cas.encode(0)
    seen, frontier = {x0}, [x0]
    while frontier:
        x = frontier.pop()
        for a in range(k):
            for cut in (len(x), len(x) // 2):
                y, info = cas.step(x[:cut], a)
                y_ref, info_ref = cas.step_plain(x[:cut], a)
                assert y == y_ref
                assert [(o, n, m) for o, n, m in info] == [(o, n, m) for o, n, m in info_ref]
            y = cas.step(x, a)[0]
            if y not in seen:
                seen.add(y)
                frontier.append(y)


def test_tiles_vectorised_match_the_plain_loop():
    """The int64 filter of the tiles gives the plain loop's tiles (every representative, every order) on fresh random
    transformation semigroups."""
    import importlib

    hol = importlib.import_module("statetrack.constructions.cascade.holonomy")
    rng = np.random.default_rng(2026)
    for _ in range(40):
        n = int(rng.integers(2, 10))
        letters = [rng.integers(0, n, n) for _ in range(int(rng.integers(1, 4)))]
        h = hol.holonomy(letters, n)
        assert hol.tile_sets(h.sets, h.reps, vectorised=True) == hol.tile_sets(h.sets, h.reps, vectorised=False)
        assert hol.tile_sets(h.sets, h.reps) == h.tiles
