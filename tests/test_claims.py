"""Impossibility claims (issues 6, 13): precision models, Theorem 1 / 2 witnesses, spectra, sweeps and the CLI."""
from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.cli import main
from statetrack.lrnn.claims import (check_modcount, check_parity, parity_construction, random_member,
                                             rotation_construction, sweep_cell)
from statetrack.lrnn.claims.families import gh_affine
from statetrack.lrnn.claims.parity import OnesRunner, first_repeat
from statetrack.lrnn.claims.precision import (FORMATS, Stepper, exact_sum_rounded, per_step,
                                                       round_fraction_to_grid, round_to_grid)
from statetrack.lrnn.claims.spectra import gh_norm_check, three_factor_example, two_factor_check

TINY16 = 2.0 ** -24  # the smallest positive float16


# ------------------------------------------------------------------------------------------------ precision
def test_per_step_rounding_hand_example():
    """Hand-computed float16 steps where the two step models differ."""
    f16 = FORMATS["float16"]
    paper, plain = Stepper("float16", "per-step"), Stepper("float16", "float")
    # a tie: 0.5 * 3 tiny = 1.5 tiny lies halfway between tiny and 2 tiny -> paper takes the smaller, float the even
    A, H, B = np.array([[0.5]]), np.array([[3 * TINY16]]), np.zeros((1, 1))
    assert paper(A, H, B)[0, 0] == TINY16
    assert plain(A, H, B)[0, 0] == 2 * TINY16
    # each product rounded first: 0.375 tiny -> 0 twice, sum 0; plain float sums 0.75 tiny and rounds to tiny
    A, H = np.array([[0.375, 0.375]]), np.array([[TINY16], [TINY16]])
    assert paper(A, H, np.zeros((1, 1)))[0, 0] == 0.0
    assert plain(A, H, np.zeros((1, 1)))[0, 0] == TINY16
    # a negative tie goes down: -1 - 2^-11 -> -1 - 2^-10 (paper), -1 (ties to even)
    A, H = np.array([[-1.0, -1.0]]), np.array([[1.0], [2.0 ** -11]])
    assert per_step(A, H, np.zeros((1, 1)), f16)[0, 0] == -1 - 2.0 ** -10
    assert plain(A, H, np.zeros((1, 1)))[0, 0] == -1.0
    # the overflow tie 65520 goes down to the largest finite value; beyond it, +-inf
    assert round_to_grid(np.array([65520.0, 65536.0, -1e6]), f16).tolist() == [65504.0, np.inf, -np.inf]


@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32"])
def test_round_to_grid_matches_torch_off_ties(name):
    """Away from ties, nearest rounding agrees with torch's cast (float32 inputs: one rounding)."""
    fmt = FORMATS[name]
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(20000) * np.exp(rng.uniform(-25, 10, 20000))).astype(np.float32).astype(np.float64)
    ours = round_to_grid(x, fmt)
    theirs = torch.from_numpy(x).to(getattr(torch, name)).double().numpy()
    tie = np.abs(x - ours) == np.abs(x - theirs)
    assert np.array_equal(ours[~tie], theirs[~tie])
    assert np.array_equal(round_to_grid(ours, fmt), ours)  # grid values are fixed points


grid_values = st.tuples(st.integers(-(1 << 24), 1 << 24), st.integers(-40, 10)).map(lambda t: float(t[0]) * 2.0 ** t[1])


@settings(max_examples=150)
@given(st.lists(grid_values, min_size=2, max_size=6), st.sampled_from(["float16", "bfloat16", "float32"]))
def test_exact_sum_matches_rationals(vals, name):
    """The float64 fast path of the exact sum agrees with Fractions, ties and cancellations included."""
    fmt = FORMATS[name]
    terms = round_to_grid(np.array(vals), fmt)
    terms = np.concatenate([terms, [-terms[0], terms[0]]])  # force cancellations
    got = exact_sum_rounded(terms[None], fmt)[0]
    want = round_fraction_to_grid(sum((Fraction(float(v)) for v in terms if np.isfinite(v)), Fraction(0)), fmt) \
        if np.isfinite(terms).all() else got
    assert got == want or (np.isnan(got) and np.isnan(want))


def test_gh_affine_is_the_factor_by_factor_update():
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 2, 4))
    k /= np.linalg.norm(k, axis=-1, keepdims=True)
    v, beta, S = rng.standard_normal((3, 2, 5)), rng.uniform(0, 2, (3, 2)), rng.standard_normal((3, 4, 5))
    A, B = gh_affine(k, v, beta)
    want = S.copy()
    for j in range(2):
        kj = k[:, j]
        want = want - beta[:, j, None, None] * kj[:, :, None] * np.einsum("si,sij->sj", kj, want)[:, None, :] \
            + beta[:, j, None, None] * kj[:, :, None] * v[:, j, None, :]
    np.testing.assert_allclose(A @ S + B, want, atol=1e-12)


# ------------------------------------------------------------------------------------------------ the run
@pytest.mark.parametrize("family", ["diagonal", "deltanet", "deltaproduct"])
def test_simulation_matches_the_model_forward(family):
    """The layer-by-layer simulation (float model, float32) reproduces the LRNNModel's own logits on 1^t."""
    m = random_member(family, "-1,1", seed=2)
    for block in m.blocks:
        block.mixer.backend = "reference"
    T = 10
    r = OnesRunner(m, "float32", "float")
    tr = r.run(T)
    with torch.no_grad():
        ref = m(torch.ones(1, T, dtype=torch.long))[0].double().numpy()
    sim = np.stack([r.logits(o) for o in tr.outputs])
    np.testing.assert_allclose(sim, ref, atol=2e-5)


def test_first_repeat():
    assert first_repeat(np.array([5, 6, 7, 6, 7])) == (1, 3)
    assert first_repeat(np.array([1, 2, 3])) is None


# ------------------------------------------------------------------------------------------------ Theorem 1
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize("family", ["diagonal", "deltanet", "deltaproduct"])
def test_parity_witness_for_01_families(family, dtype):
    """Theorem 1: every [0, 1] member settles and two words of different parity reach the same state."""
    res = check_parity(random_member(family, "0,1", seed=3), dtype, "per-step", max_steps=1 << 14, predicted=True)
    assert res.witness is not None and res.finding is None, res
    a, b = res.witness["lengths"]
    assert (b - a) % 2 == 1 and res.witness["outputs"][0] == res.witness["outputs"][1]
    assert res.witness["kind"] == "state" and a == res.settle_step and b == a + res.period


def test_witness_outputs_agree_with_the_model():
    """The witness words really get the same logits from a float32 LRNN run (float model = torch arithmetic)."""
    m = random_member("diagonal", "0,1", seed=0)
    res = check_parity(m, "float32", "float")
    a, b = res.witness["lengths"]
    for blk in m.blocks:
        blk.mixer.backend = "reference"
    with torch.no_grad():
        z = m(torch.ones(1, b, dtype=torch.long))[0]
    np.testing.assert_allclose(z[a - 1].numpy(), z[b - 1].numpy(), atol=1e-5)


@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_no_witness_for_the_constructions(dtype):
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language

    par, _ = compile_language(get_language("parity"), "parity")
    res = check_parity(par, dtype)
    assert res.witness is None and res.period == 2 and res.output_coincidence is None
    rot, _ = compile_language(get_language("mod:3"), "rotation")
    res = check_modcount(rot, 3, dtype)
    assert res.witness is None and res.period % 3 == 0
    assert parity_construction(10 ** 5, dtype)["alternates"]
    assert rotation_construction(3, 10 ** 5, dtype)["counts"]


# ------------------------------------------------------------------------------------------------ Theorem 2
def test_modcount_period_divides_2L_and_mod3_witness():
    res = check_modcount(random_member("diagonal", "-1,1", seed=0, layers=2), 3, "bfloat16")
    assert res.divides_2L and res.period in (1, 2, 4)
    w = res.witness
    assert w is not None and w["residues"][0] == 0 and w["residues"][1] != 0
    assert w["labels"][0] == w["labels"][1]


# ------------------------------------------------------------------------------------------------ spectra
def test_proposition1_checks():
    assert gh_norm_check(n=3, samples=300)["holds"]
    assert two_factor_check(n=3, samples=500)["holds"]
    ex = three_factor_example()
    keys, betas = np.array(ex["keys"]), np.array(ex["betas"])
    assert ((0 <= betas) & (betas <= 1)).all()
    M = np.eye(2)
    for k, b in zip(keys, betas):
        M = (np.eye(2) - b * np.outer(k, k)) @ M
    assert np.abs(np.linalg.eigvals(M).imag).max() > 1e-3


# ------------------------------------------------------------------------------------------------ sweeps, CLI
def test_sweep_cell_predicts_and_finds():
    cell = sweep_cell("parity", "diagonal", "0,1", "bfloat16", 3, max_steps=1 << 13)
    assert cell["predicted"] and cell["witness_rate"] == 1.0 and cell["findings"] == []
    assert cell["settle_step"]["median"] is not None and len(cell["members"]) == 3


@pytest.mark.parametrize("kw", [{"max_rows": 0}, {"max_rows": -5}, {"max_steps": 0}, {"max_rows": 2.5}])
def test_sweep_cell_rejects_bad_budgets(kw):
    from statetrack.errors import StatetrackError

    with pytest.raises(StatetrackError, match="must be a positive integer"):
        sweep_cell("parity", "diagonal", "0,1", "bfloat16", 1, **kw)


def _cli(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in argv else out


def test_cli_parity_on_compiled_model_alternates(tmp_path, capsys):
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language, save_model

    model, _ = compile_language(get_language("parity"), "parity")
    path = tmp_path / "parity.safetensors"
    save_model(model, path)
    code, out = _cli(capsys, "claims", "parity", "--model", str(path), "--dtype", "bfloat16", "--steps", "20000",
                     "--json")
    assert code == 0 and out["construction"]["alternates"] is True and out["witness"] is None
    assert out["period"] == 2 and out["predicted"] is False and out["verdict"] == "nothing predicted"


def test_cli_family_and_errors(tmp_path, capsys):
    code, out = _cli(capsys, "claims", "modcount", "--m", "3", "--family", "diagonal", "--range", "-1,1",
                     "--dtype", "bfloat16", "--samples", "2", "--steps", "1000", "--json")
    assert code == 0 and out["witness_rate"] == 1.0 and out["construction"]["counts"] is True
    assert out["verdict"] == "confirmed" and out["precision"] == "per-step"
    assert set(out) >= {"claim", "family", "range", "dtype", "samples", "witness_rate", "settle_step", "witness",
                        "construction", "periods"}
    code, out = _cli(capsys, "claims", "parity", "--dtype", "float64", "--json")
    assert code == 2 and "float64" in out["error"]
    code, out = _cli(capsys, "claims", "parity", "--range", "0,2", "--samples", "1", "--json")
    assert code == 2 and "range" in out["error"]
    for argv, flag in ((["--steps", "-5"], "--steps"), (["--max-steps", "0"], "--max-steps"),
                       (["--symbol", "0"], "--symbol"), (["--samples", "0"], "--samples")):
        code, out = _cli(capsys, "claims", "parity", *argv, "--json")
        assert code == 2 and out["error"].startswith(flag), out


def test_spectra_of_compiled_models(tmp_path, capsys):
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language, save_model
    from statetrack.lrnn.claims.spectra import product_spectra, symbol_spectra

    rot, _ = compile_language(get_language("mod:3"), "rotation")
    by_symbol = {r["symbol"]: r for r in symbol_spectra(rot)}
    assert by_symbol["0"]["nonnegative_real"] and not by_symbol["1"]["real"]
    assert abs(by_symbol["1"]["max_abs_imag"] - np.sin(2 * np.pi / 3)) < 1e-12
    assert not product_spectra(rot)[0]["real"]
    par, _ = compile_language(get_language("parity"), "parity")
    assert {r["symbol"]: r["min_real"] for r in symbol_spectra(par)}["1"] == -1.0
    path = tmp_path / "rot.safetensors"
    save_model(rot, path)
    code, out = _cli(capsys, "claims", "spectrum", "--model", str(path), "--json")
    assert code == 0 and out["proposition1"]["three_factors"]["found"] and len(out["symbols"]) == 2


# ------------------------------------------------------------------------------------------------ issue 13
def test_seed6_per_step_cycle_is_a_finding_not_a_witness(capsys):
    """deltanet [0,1] seed 6 in bfloat16 ends in a 2-cycle under per-step rounding: no decoder-free witness, the
    argmax decoder's coincidence is reported apart, and the verdict is a finding (not confirmed), never ``ok``."""
    code, out = _cli(capsys, "claims", "parity", "--family", "deltanet", "--range", "0,1", "--dtype", "bfloat16",
                     "--samples", "1", "--seed", "6", "--steps", "100", "--json")
    assert code == 1 and out["verdict"] == "not confirmed" and out["ok"] is False
    assert out["witness_rate"] == 0.0 and out["witness"] is None and out["output_coincidences"] == 1
    (f,) = out["findings"]
    assert f["seed"] == 6 and f["period"] == 2 and f["precision"] == "per-step" and "paper" in f["note"]
    # the layer-2 transition of the cycle has an eigenvalue above 1 (gridded weights), as the issue reports
    assert max(z[0] for z in f["eigenvalues"][1]) > 1.0


def test_verdict_rules():
    from statetrack.lrnn.claims.verdict import decide

    base = dict(precision="per-step", members=4, witnesses=4, unsettled=0, findings=0, construction_ok=True,
                construction_name="parity")
    assert decide("parity", predicted=True, **base).verdict == "confirmed"
    assert decide("parity", predicted=False, **dict(base, witnesses=0)).ok
    assert decide("parity", predicted=True, **dict(base, witnesses=3, findings=1)).verdict == "not confirmed"
    assert decide("parity", predicted=True, **dict(base, witnesses=3, unsettled=1)).verdict == "not confirmed"
    assert decide("parity", predicted=True, **dict(base, witnesses=3, precision="paper")).verdict == "violated"
    v = decide("modcount", predicted=True, **dict(base, construction_ok=False))
    assert v.verdict == "construction failed" and not v.ok and v.to_json()["ok"] is False


def test_library_errors_name_the_parameter():
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.claims.verdict import claim_report

    for kw, name in ((dict(steps=0), "steps"), (dict(max_steps=-1), "max_steps"), (dict(symbol="1"), "symbol"),
                     (dict(precision="exact"), "precision"), (dict(family="rnn"), "family")):
        with pytest.raises(StatetrackError, match=f"^{name}"):
            claim_report("parity", **kw)


# ------------------------------------------------------------------------------------------------ paper model
def _random_layer(rng, fmt, kind):
    from statetrack.lrnn.claims.precision import round_to_grid

    N, D = int(rng.integers(1, 4)), int(rng.integers(1, 3))
    if kind == "diagonal":
        A = np.diag(rng.choice([0.0, 0.25, 0.5, 1.0, -1.0, -0.5], N))
    elif kind == "dense":
        A = rng.uniform(-0.5, 0.5, (N, N)) / N
    else:  # signed permutation: exact repeats
        A = np.eye(N)[rng.permutation(N)] * rng.choice([1.0, -1.0], N)
    A = round_to_grid(A, fmt)
    B = round_to_grid(rng.standard_normal((N, D)) * rng.choice([1.0, 2.0 ** -18, 2048.0]), fmt)
    H0 = round_to_grid(rng.standard_normal((N, D)), fmt)
    T0 = int(rng.integers(0, 3))
    As = [round_to_grid(rng.uniform(-1, 1, (N, N)), fmt) for _ in range(T0)]
    Bs = [round_to_grid(rng.standard_normal((N, D)), fmt) for _ in range(T0)]
    return As, Bs, H0, A, B


@pytest.mark.parametrize("kind", ["diagonal", "dense", "permutation"])
def test_paper_model_matches_the_bruteforce_definition(kind):
    """Fresh random layers (float16, prefix of 0-2 tokens): wherever the analysis certifies settling within the
    brute-force horizon, Hhat_t from the closed form equals App. B's definition evaluated with Fractions."""
    from statetrack.lrnn.claims.paper_model import paper_layer, paper_states_bruteforce

    fmt, T, checked = FORMATS["float16"], 18, 0
    seed = int(np.random.SeedSequence().entropy % 10 ** 6)
    rng = np.random.default_rng([13, len(kind), seed])
    for _ in range(5):
        As, Bs, H0, A, B = _random_layer(rng, fmt, kind)
        res = paper_layer(As, Bs, H0, A, B, fmt, max_steps=64)
        if not res.decided or res.settle_step + res.period > T:
            continue
        ref = paper_states_bruteforce(As + [A] * (T - len(As)), Bs + [B] * (T - len(As)), H0, fmt)
        for t in range(max(res.settle_step, 1), T + 1):
            assert np.array_equal(ref[t - 1], res.state(t), equal_nan=True), (seed, t, ref[t - 1], res.state(t))
            checked += 1
    assert checked or kind != "dense"  # contracting dense layers always settle within the horizon


def test_paper_model_hand_cases():
    from statetrack.lrnn.claims.paper_model import cast_int, paper_layer, paper_states_bruteforce

    f16 = FORMATS["float16"]
    # the per-step model stalls at 2048 + 1 -> 2048 (half an ulp, tie down); the paper model sums the cast terms
    # exactly: Hhat_k = cast(k) grows until it overflows to +inf at k = 65520 + 1
    res = paper_layer([], [], np.zeros((1, 1)), np.ones((1, 1)), np.ones((1, 1)), f16)
    assert res.decided and res.period == 1 and res.overflow_entries == 1 and res.settle_step == 65521
    assert res.state(10 ** 30)[0, 0] == np.inf
    big = paper_layer([], [], np.zeros((1, 1)), np.ones((1, 1)), np.full((1, 1), 4096.0), f16)
    ref = paper_states_bruteforce([np.ones((1, 1))] * 20, [np.full((1, 1), 4096.0)] * 20, np.zeros((1, 1)), f16)
    assert big.settle_step == 16 and [r[0, 0] for r in ref[14:17]] == [61440.0, np.inf, np.inf]
    # A = -1: the state alternates between cast(B + ...) values, period 2
    alt = paper_layer([], [], np.zeros((1, 1)), -np.ones((1, 1)), np.ones((1, 1)), f16)
    t = alt.settle_step
    assert alt.decided and alt.period == 2 and {alt.state(t)[0, 0], alt.state(t + 1)[0, 0]} == {0.0, 1.0}
    # ties go to the smaller value on both signs; overflow ties to the largest finite value
    assert cast_int(3, -25, f16) == 2.0 ** -24 and cast_int(-3, -25, f16) == -(2.0 ** -23)
    assert cast_int(65520, 0, f16) == 65504.0 and cast_int(-65520, 0, f16) == -np.inf
    # a dense layer with eigenvalue 1 off the exact fixed points is undecided, and says so
    und = paper_layer([], [], np.zeros((2, 1)), np.array([[1.0, 0.25], [0.0, 1.0]]), np.ones((2, 1)), f16,
                      max_steps=50)
    assert not und.decided and "no certificate" in und.reason


def test_paper_model_early_states_and_prefix_match_the_bruteforce():
    from statetrack.lrnn.claims.paper_model import paper_layer, paper_states_bruteforce, prefix_states

    fmt = FORMATS["bfloat16"]
    rng = np.random.default_rng(int(np.random.SeedSequence().entropy % 10 ** 6))
    As, Bs, H0, A, B = _random_layer(rng, fmt, "dense")
    As += [np.diag([0.5] * A.shape[0])]
    Bs += [np.ones_like(B)]
    res = paper_layer(As, Bs, H0, A, B, fmt, max_steps=400)  # ||A||_inf <= 1/2: vanishes within 2 x 145 steps
    assert res.decided
    T = len(As) + 8
    ref = paper_states_bruteforce(As + [A] * 8, Bs + [B] * 8, H0, fmt)
    assert all(np.array_equal(a, b) for a, b in zip(prefix_states(As, Bs, H0, fmt), ref[:len(As)]))
    assert all(np.array_equal(res.state(t), ref[t - 1], equal_nan=True) for t in range(len(As), T + 1))


def test_paper_run_on_models():
    """Whole models in the paper model: the parity construction alternates (period 2, no witness, decided); a
    2-layer diagonal member whose transitions vanish (dt large) is decided with a witness that the per-step model
    confirms; mod:3's irrational rotation has no certificate in float16 (its rounded modulus exceeds 1) and is
    reported undecided, with the reason, and in float32 (modulus below 1) vanishes from a certified length on."""
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language
    from statetrack.lrnn.claims.paper_run import check_paper

    par, _ = compile_language(get_language("parity"), "parity")
    r = check_paper(par, "parity", "bfloat16")
    assert r["decided"] and r["period"] == 2 and r["witness"] is None and r["precision"] == "paper"
    rot, _ = compile_language(get_language("mod:3"), "rotation")
    r = check_paper(rot, "modcount", "float16", m=3, max_steps=32)  # rounded modulus > 1: a growing rotation
    assert not r["decided"] and "no certificate" in r["reason"] and r["witness"] is None
    # float32: the rounded rotation has determinant 1 - 2.7e-8, so A^k h0 vanishes (analytic decay, group norm)
    r = check_paper(rot, "modcount", "float32", m=3, max_steps=32)
    assert r["decided"] and r["period"] == 1 and r["layers"][0]["certificates"]["decay"] == 1
    assert 7 * 10 ** 9 < r["settle_step"] < 9 * 10 ** 9 and r["witness"]["residues"][0] != r["witness"]["residues"][1]
    m = random_member("diagonal", "0,1", seed=0, layers=2)
    with torch.no_grad():
        for blk in m.blocks:
            blk.mixer.dt_bias.fill_(30.0)
    r = check_paper(m, "parity", "float16", max_steps=64)
    step = check_parity(m, "float16", "per-step")
    assert r["decided"] and r["period"] == 1 and r["witness"]["lengths"] == [r["settle_step"], r["settle_step"] + 1]
    assert step.witness is not None and step.settle_step <= r["settle_step"]
    assert all(layer["decided"] for layer in r["layers"])


def test_paper_model_float_bounds_agree_with_exact_scalars(monkeypatch):
    """Slowly vanishing diagonal terms (a = 1 - 2^-k) followed with certified float64 bounds give the same states as
    following them exactly all the way (fresh random layers, float16 and bfloat16)."""
    from statetrack.lrnn.claims import paper_model
    from statetrack.lrnn.claims.precision import round_to_grid

    seed = int(np.random.SeedSequence().entropy % 10 ** 6)
    rng = np.random.default_rng(seed)
    for name, kmax in (("float16", 7), ("bfloat16", 4)):  # exact-only must vanish within max_steps
        fmt = FORMATS[name]
        A = np.diag(1 - 2.0 ** -rng.integers(2, kmax, 3))
        B = round_to_grid(rng.standard_normal((3, 2)), fmt)
        H0 = round_to_grid(rng.standard_normal((3, 2)), fmt)
        fast = paper_model.paper_layer([], [], H0, A, B, fmt, max_steps=4000)
        monkeypatch.setattr(paper_model, "EXACT_SCALAR_STEPS", 10 ** 9)
        slow = paper_model.paper_layer([], [], H0, A, B, fmt, max_steps=4000)
        monkeypatch.undo()
        assert fast.decided and slow.decided and fast.period == slow.period, seed
        assert fast.certificates["vanish"] > 0
        t_end = max(fast.settle_step, slow.settle_step) + 3
        for t in sorted({1, 7, 70, fast.settle_step - 1, slow.settle_step - 1, t_end, 10 ** 12}):
            assert np.array_equal(fast.state(t), slow.state(t), equal_nan=True), (seed, name, t)


def test_paper_model_exact_tie_in_the_float_phase(monkeypatch):
    """a = 3/4 and v_0 = 1: a^j has its lowest bit at 2^(-2j), so in float16 some a^j lands exactly on a tie of the
    subnormal grid. The float64 bound cannot decide it; the exact value does, and matches the exact-only path."""
    from statetrack.lrnn.claims import paper_model

    fmt = FORMATS["float16"]
    A, B, H0 = np.array([[0.75]]), np.ones((1, 1)), np.zeros((1, 1))
    monkeypatch.setattr(paper_model, "EXACT_SCALAR_STEPS", 2)
    fast = paper_model.paper_layer([], [], H0, A, B, fmt, max_steps=400)
    monkeypatch.setattr(paper_model, "EXACT_SCALAR_STEPS", 10 ** 9)
    slow = paper_model.paper_layer([], [], H0, A, B, fmt, max_steps=400)
    assert fast.decided and slow.decided
    for t in range(1, max(fast.settle_step, slow.settle_step) + 3):
        assert np.array_equal(fast.state(t), slow.state(t)), t


def test_spectrum_cli_prints_the_library_report(capsys):
    """``claims spectrum --json`` is :func:`spectrum_report` as it is (the CLI computes nothing)."""
    from statetrack.cli import main
    from statetrack.lrnn.claims.spectrum_report import spectrum_report

    assert main(["claims", "spectrum", "--family", "deltanet", "--range", "-1,1", "--samples", "2", "--seed", "3",
                 "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    lib = spectrum_report("float32", "per-step", family="deltanet", eig_range="-1,1", samples=2, seed=3)
    assert cli == json.loads(json.dumps(lib.to_json())) and lib.ok
    assert set(lib.groups) >= {"A(x), layer 1"}
