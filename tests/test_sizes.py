"""Sizes reported by classification agree with the models compile builds; the issue-13 size/theorem points;
signed-permutation representations; the permutation-reset layer; auto's prefer rule."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions import compile_language, prove
from statetrack.constructions.auto import size_of
from statetrack.constructions.group import minimal_dfa
from statetrack.constructions.model_format import active_factors, layer_matrices
from statetrack.constructions.signed import (search_signed_representation, signed_factors, signed_matrix,
                                             signed_rank)
from statetrack.constructions.sizing import classify_language


def _model_size(model) -> tuple[int, int, int]:
    layers = model.num_layers
    dims = max(info["n"] for info in model.meta["layers"])
    factors = max(int(active_factors(model, l).max(initial=0)) for l in range(layers))
    return layers, dims, factors


def _size(cons: dict) -> tuple[int, int, int]:
    return cons["layers"], cons["state_size"], cons["factors_per_token"]


def _swap_group_dfa(n: int) -> DFA:
    """The word problem of S_n with the adjacent transpositions as letters (n! states, accept = identity)."""
    elems = list(itertools.permutations(range(n)))
    index = {p: i for i, p in enumerate(elems)}
    letters = [f"s{i}" for i in range(n - 1)]
    delta = []
    for p in elems:
        row = []
        for i in range(n - 1):
            q = list(p)
            q[i], q[i + 1] = q[i + 1], q[i]
            row.append(index[tuple(q)])
        delta.append(row)
    accepting = [p == tuple(range(n)) for p in elems]
    return DFA(letters, [str(i) for i in range(len(elems))], index[tuple(range(n))], accepting, delta)


LANGS = ["parity", "mod:3", "mod:4", "mod:5", "mod:8", "tomita:1", "tomita:2", "tomita:4", "tomita:5", "tomita:6",
         "group:S3", "group:S4", "group:Q8", "group:Z2xZ4", "dyck:1:2"]


@pytest.mark.parametrize("name", LANGS)
def test_classify_sizes_are_the_compiled_models(name):
    dfa = get_language(name)
    fams = classify_language(dfa).families
    cons = fams["deltaproduct[-1,1]"]["construction"]
    model, rep = compile_language(dfa)
    assert cons["built_by"] == rep["construction"]
    assert _size(cons) == _model_size(model)
    for fam, v in fams.items():  # every other size that names its builder matches that builder's model
        c = v["construction"]
        if c and c.get("built_by") not in (None, "unconstrained") and fam != "deltaproduct[-1,1]":
            other, _ = compile_language(dfa, c["built_by"])
            assert _size(c) == _model_size(other), fam


def test_s5_uses_the_five_point_action_everywhere():  # issue 13 point 4
    dfa = get_language("group:S5:all")
    cons = classify_language(dfa).families["deltaproduct[-1,1]"]["construction"]
    assert (cons["state_size"], cons["factors_per_token"]) == (5, 4)


def test_s5_by_transpositions_is_one_reflection_per_token():  # issue 13 point 4
    swaps = _swap_group_dfa(5)
    fams = classify_language(swaps).families
    dn = fams["deltanet[-1,1]"]
    assert dn["verdict"] == "constructible" and dn["theorem"].startswith("Theorem 3")
    assert _size(dn["construction"]) == (1, 5, 1) and dn["construction"]["optimal"]
    model, rep = compile_language(swaps)
    assert _model_size(model) == (1, 5, 1)
    assert prove(model).proved


def test_zero_one_families_get_no_convolution_size():  # issue 13 point 5
    fams = classify_language(get_language("tomita:4")).families
    for f in ("diagonal[0,1]", "deltanet[0,1]", "deltaproduct[0,1]"):
        assert fams[f]["verdict"] == "constructible"
        assert fams[f]["construction"]["layers"] is None
        assert fams[f]["theorem"].startswith("Sarrof et al. 2024")
    model, _ = compile_language(get_language("tomita:4"), "cascade", coupling="copy")
    for f in ("diagonal[-1,1]", "deltanet[-1,1]", "deltaproduct[-1,1]"):
        c = fams[f]["construction"]
        assert c["layers"] == model.num_layers and "no convolution" in c["layer_shape"]


@pytest.mark.parametrize("name", ["mod:3", "mod:8", "group:S4", "tomita:3"])
def test_log_precision_drops_finite_precision_claims(name):  # issue 13 point 6
    fams = classify_language(get_language(name), precision="log").families
    for f, v in fams.items():
        assert v["verdict"] != "impossible"
        assert v["min_layers"] in (None, 1), f
        for claim in ("Theorem 2", "Lemma 1", "Theorem 1 (mechanism)"):
            assert claim not in v["theorem"], (f, v["theorem"])
        assert "one layer is impossible" not in v["reason"] and "n_h <= 2" not in v["reason"], f


def test_theorem_names():  # issue 13 point 7
    fams = classify_language(get_language("mod:3")).families
    assert fams["deltanet[0,1]"]["theorem"].startswith("Theorem 1 (mechanism)")
    for name in ("mod:4", "mod:8"):
        fams = classify_language(get_language(name)).families
        d = fams["diagonal[-1,1]"]
        assert "Lemma 1" in d["theorem"] and "Theorem 2 (depth)" not in d["theorem"]
    s4 = classify_language(get_language("group:S4")).families["deltanet[-1,1]"]
    assert s4["theorem"] == "Lemma 1 (one layer)"  # the 4-cycle has period 4, a power of two


def test_abelian_sizes_take_the_maximum():  # issue 13 point 8
    assert _size(classify_language(get_language("tomita:5")).families["deltaproduct[-1,1]"]["construction"]) \
        == (1, 2, 1)
    assert classify_language(get_language("group:Z2xZ4")).families["deltaproduct[-1,1]"]["construction"][
        "factors_per_token"] == 2
    dn = classify_language(get_language("mod:8")).families["deltanet[-1,1]"]
    assert dn["theorem"] == "Theorem 6" and dn["construction"]["layers"] == 2 and dn["construction"]["optimal"]


def test_requested_cascade_on_a_group_says_what_it_is():  # issue 13 point 9
    _, rep = compile_language(get_language("group:S3"), "cascade")
    assert "not a group" not in rep["reason"] and rep["reason"].startswith("requested: Krohn-Rhodes cascade")


# ------------------------------------------------------------------ signed-permutation representations
@pytest.mark.parametrize("name, dim, factors", [("Z4", 2, 2), ("S4", 3, 2), ("Q8", 4, 4), ("Z2xZ2", 2, 1)])
def test_signed_representations(name, dim, factors):
    model, rep = compile_language(get_language(f"group:{name}"), "group")
    assert rep["dims"] == [dim] and rep["factors"] == [factors]
    assert prove(model).proved
    assert rep["codes"] == [rep["group_order"]]


def test_signed_factors_match_the_matrix_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = int(rng.integers(1, 8))
        perm, sign = rng.permutation(d), rng.choice([-1, 1], size=d)
        f = signed_factors(perm, sign)
        assert f.count == signed_rank(perm, sign)
        assert np.array_equal(f.matrix(), signed_matrix(perm, sign))
        assert f.count == np.linalg.matrix_rank(np.eye(d) - signed_matrix(perm, sign))


def test_search_returns_a_faithful_representation():
    perms = minimal_dfa(get_language("group:A4")).delta.T
    rep = search_signed_representation(np.ascontiguousarray(perms))
    elems = {tuple(np.eye(rep.dim, dtype=np.int64).ravel())}
    frontier = [np.eye(rep.dim, dtype=np.int64)]
    gens = [signed_matrix(p, s) for p, s in zip(rep.perm, rep.sign)]
    while frontier:
        M = frontier.pop()
        for g in gens:
            N = g @ M
            if tuple(N.ravel()) not in elems:
                elems.add(tuple(N.ravel()))
                frontier.append(N)
    assert len(elems) == rep.order == 12


def test_signed_layers_are_bit_exact_in_bfloat16():
    model, _ = compile_language(get_language("group:Q8"), "group")
    A, b = layer_matrices(model, 0)
    h0 = model.layer(0)["h0"]
    rng = np.random.default_rng(1)
    word = rng.integers(0, A.shape[0], size=20_000)
    At = torch.tensor(A, dtype=torch.bfloat16)
    h = torch.tensor(h0, dtype=torch.bfloat16)
    exact = h0.astype(np.int64)
    Ai = A.astype(np.int64)
    for s in word:
        h = At[s] @ h
        exact = Ai[s] @ exact
    assert np.array_equal(h.float().numpy(), exact.astype(np.float32))


# ------------------------------------------------------------------ permutation-reset layers, prefer
def test_permutation_reset_automata_take_one_layer():
    rng = np.random.default_rng(2)
    for _ in range(6):
        n = int(rng.integers(2, 6))
        delta = np.empty((n, 3), dtype=np.int64)
        delta[:, 0] = rng.permutation(n)
        delta[:, 1] = int(rng.integers(n))
        delta[:, 2] = rng.permutation(n)
        acc = [bool(x) for x in rng.integers(0, 2, size=n)]
        dfa = DFA(["a", "b", "c"], [str(i) for i in range(n)], 0, acc, delta.tolist())
        mini = minimal_dfa(dfa)
        model, rep = compile_language(dfa)
        if mini.n_states > 1 and rep["construction"] not in ("parity", "rotation", "group"):
            assert rep["construction"] in ("permreset", "bitcode") and rep["layers"] == 1
            if rep["construction"] == "bitcode":  # chosen only when cheaper than the one-hot layer
                p = size_of("permreset", mini)
                assert (rep["factors"][0], rep["dims"][0]) < (p["factors_per_token"], p["state_size"])
        assert prove(model).proved
        assert model.dfa().equivalent(dfa)


def test_prefer_trades_exactness_for_size():
    assert compile_language(get_language("mod:3"))[1]["construction"] == "group"
    assert compile_language(get_language("mod:3"), prefer="small")[1]["construction"] == "rotation"
    assert compile_language(get_language("mod:5"))[1]["construction"] == "rotation"
    assert compile_language(get_language("mod:5"), prefer="exact")[1]["construction"] == "group"


def test_independent_components_side_by_side():
    """A DFA that divides the product of two permutation-reset quotients (a reset automaton on {0, 1} for `a`/`b`
    and a 3-cycle counter for `c`) gets one block-diagonal layer; classify reports the same size."""
    states = [(x, y) for x in range(2) for y in range(3)]
    index = {s: i for i, s in enumerate(states)}
    delta = [[index[(0, y)], index[(1, y)], index[(x, (y + 1) % 3)]] for x, y in states]
    acc = [x == 1 and y == 0 for x, y in states]
    dfa = DFA(["a", "b", "c"], [str(i) for i in range(6)], index[(0, 0)], acc, delta)
    model, rep = compile_language(dfa, "permreset")
    assert rep["construction"] == "permreset" and sorted(rep["components"]) == [2, 3]
    assert _model_size(model) == (1, 5, 2)
    assert prove(model).proved and model.dfa().equivalent(dfa)
    # auto finds a smaller bit code (4 bits instead of 5 one-hot coordinates), with as many factors
    auto, rep = compile_language(dfa)
    assert rep["construction"] == "bitcode" and _model_size(auto) == (1, 4, 2) and prove(auto).proved
    cons = classify_language(dfa).families["deltaproduct[-1,1]"]["construction"]
    assert _size(cons) == (1, 4, 2) and cons["built_by"] == "bitcode"


def test_signed_search_is_capped_by_steps_not_time():
    """The search counts steps (deterministic): S5 completes within the default cap, reporting the steps it used;
    a small cap stops it early (``complete`` False, or nothing found) at the same point on every run."""
    from statetrack.constructions.signed import _CACHE, DEFAULT_MAX_STEPS

    perms = np.ascontiguousarray(minimal_dfa(get_language("group:S5")).delta.T)
    _CACHE.clear()
    full = search_signed_representation(perms)
    assert full.complete and 0 < full.steps <= DEFAULT_MAX_STEPS and full.max_factors == 4
    runs = []
    for _ in range(2):
        _CACHE.clear()
        r = search_signed_representation(perms, max_steps=20_000)
        runs.append(None if r is None else (r.complete, r.steps, r.blocks, r.perm.tobytes(), r.sign.tobytes()))
    assert runs[0] == runs[1] and (runs[0] is None or not runs[0][0])
