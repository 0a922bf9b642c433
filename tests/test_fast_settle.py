"""The compiled per-step kernels and the layer-by-layer cycle search against their references.

* :func:`step_kernels.step` against :func:`precision.per_step` (numpy + exact rationals), bit for bit, on fresh random
  grid values with wide exponent spreads (inexact float64 sums), planted ties of products and of sums, subnormals,
  values at the overflow threshold, inf and NaN, in float16, bfloat16 and float32;
* :func:`step_kernels.brent` against the first repeat of the explicit sequence;
* :func:`fast_settle.settle_fast` / :func:`settle_many` against the interning reference runner on random members
  (one and two layers, every family, both ranges; a float32 member whose first layer creeps for thousands of tokens),
  and the claim checks' JSON through both engines;
* the numpy interning of input windows against the token-by-token interning it replaced.
"""
from __future__ import annotations

import numpy as np
import pytest

from statetrack.errors import StatetrackError
from statetrack.lrnn.claims import step_kernels as sk
from statetrack.lrnn.claims.precision import FORMATS, per_step, round_to_grid

pytestmark = pytest.mark.skipif(not sk.AVAILABLE, reason="numba is not installed")

DTYPES = ("float16", "bfloat16", "float32")


def _bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, dtype=np.float64).view(np.int64)


def _grid_values(rng, fmt, shape, spread: int) -> np.ndarray:
    """Random grid values: random significands times 2^e, e uniform in [-spread, spread] (clipped to the range)."""
    e = rng.integers(-spread, spread + 1, size=shape)
    x = rng.normal(size=shape) * np.exp2(e)
    return round_to_grid(np.clip(x, -fmt.max, fmt.max), fmt)


def _check_step(A, S, B, fmt):
    got = sk.step(A, B, S, *sk.grid_params(fmt))
    want = per_step(A, S, B, fmt)
    bad = _bits(got) != _bits(want)
    assert not bad.any(), (fmt.name, got[bad][:5], want[bad][:5])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("spread", [2, 12, 40])
def test_step_matches_reference_on_random_values(dtype, spread):
    fmt = FORMATS[dtype]
    rng = np.random.default_rng([7, spread, DTYPES.index(dtype)])
    for H, K, V in [(2, 4, 4), (1, 3, 5), (3, 2, 1)]:
        A = _grid_values(rng, fmt, (H, K, K), spread)
        S = _grid_values(rng, fmt, (H, K, V), spread)
        B = _grid_values(rng, fmt, (H, K, V), spread)
        _check_step(A, S, B, fmt)


@pytest.mark.parametrize("dtype", DTYPES)
def test_step_ties_subnormals_overflow_and_nonfinite(dtype):
    fmt = FORMATS[dtype]
    p, tiny, mx = fmt.precision, fmt.tiny, fmt.max
    ulp1 = 2.0 ** (1 - p)
    # products that land exactly half-way between grid points (both signs), in the normal and the subnormal range
    a = np.array([1.5, -1.5, 0.5, -0.5, 0.5, -0.5, mx, -mx])
    s = np.array([1.0 + ulp1, 1.0 + ulp1, 3 * tiny, 3 * tiny, tiny, tiny, 1.0, 1.0])
    A = np.zeros((1, a.size, a.size))
    A[0, np.arange(a.size), np.arange(a.size)] = a
    S = np.repeat(s[None, :, None], 3, axis=2)
    half_max_ulp = 2.0 ** (np.floor(np.log2(mx)) - p)  # max + this is the tie with the first value past max
    B = np.zeros_like(S)
    B[0, :, 1] = np.array([ulp1 / 2, -ulp1 / 2, tiny / 2, -tiny / 2, 0.0, ulp1, half_max_ulp, -half_max_ulp])
    B[0, :, 2] = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, tiny, mx, -mx])
    _check_step(A, S, B, fmt)
    # 1 + (half a grid step) + a tail far below: the tail decides the tie, and the float64 sum of the three rounds
    A = np.zeros((1, 3, 3))
    A[0, 0] = 1.0
    for tail in (tiny, -tiny, 2.0 ** -60, -(2.0 ** -60)):
        S = round_to_grid(np.array([[[1.0], [tail], [2.0 ** -p]]]), fmt)
        _check_step(A, S, np.zeros((1, 3, 1)), fmt)


def test_run_sequence_equals_repeated_steps():
    fmt = FORMATS["bfloat16"]
    rng = np.random.default_rng(3)
    A = _grid_values(rng, fmt, (3, 2, 4, 4), 1) * 0.5
    B = _grid_values(rng, fmt, (3, 2, 4, 4), 1)
    w = rng.integers(0, 3, size=40)
    S = np.zeros((2, 4, 4))
    final, states = sk.run_sequence(A, B, w, S, True, *sk.grid_params(fmt))
    for t, wid in enumerate(w):
        S = per_step(A[wid], S, B[wid], fmt)
        assert (_bits(states[t]) == _bits(S)).all()
    assert (_bits(final) == _bits(S)).all()


@pytest.mark.parametrize("q", [1, 2, 3])
def test_brent_finds_the_first_repeat(q):
    from statetrack.lrnn.claims.parity import first_repeat

    fmt = FORMATS["bfloat16"]
    rng = np.random.default_rng([11, q])
    found = 0
    for _ in range(12):
        A = _grid_values(rng, fmt, (q, 1, 3, 3), 0) * rng.choice([0.5, 1.0, 1.3])
        B = _grid_values(rng, fmt, (q, 1, 3, 1), 0)
        x0 = _grid_values(rng, fmt, (1, 3, 1), 1)
        seq, x = [x0.tobytes()], x0
        for _ in range(3000):
            for j in range(q):
                x = per_step(A[j], x, B[j], fmt)
            seq.append(x.tobytes())
        keys = np.unique(np.array(seq, dtype=object), return_inverse=True)[1]
        rep = first_repeat(keys)
        mu, lam, x_mu, x_prev = sk.brent(A, B, x0, 10 ** 6, *sk.grid_params(fmt))
        if rep is None:
            assert mu == -1 or mu + lam > 3000
            continue
        i, j = rep
        assert (mu, lam) == (i, j - i)
        assert x_mu.tobytes() == seq[i] and (i == 0 or x_prev.tobytes() == seq[i - 1])
        found += 1
    assert found >= 6
    mu, lam, _, _ = sk.brent(np.ones((1, 1, 1, 1)), np.full((1, 1, 1, 1), 2.0 ** -8), np.zeros((1, 1, 1)), 100,
                             *sk.grid_params(FORMATS["float32"]))  # a counter that runs for 2^32 steps: over budget
    assert (mu, lam) == (-1, -1)


# ------------------------------------------------------------------------------------------------ whole models
CASES = [("diagonal", "0,1", "bfloat16", 0, 2), ("diagonal", "-1,1", "float16", 1, 2),
         ("deltanet", "0,1", "bfloat16", 2, 2), ("deltanet", "-1,1", "bfloat16", 0, 2),
         ("deltaproduct", "-1,1", "bfloat16", 0, 2), ("deltaproduct", "0,1", "float16", 1, 1),
         ("diagonal", "0,1", "float32", 3, 1), ("deltaproduct", "0,1", "float32", 12, 2)]


@pytest.mark.parametrize("family,rng,dtype,seed,layers", CASES)
def test_settle_fast_matches_the_reference(family, rng, dtype, seed, layers):
    from statetrack.lrnn.claims import OnesRunner, random_member, settle, settle_fast

    model = random_member(family, rng, seed, layers=layers)
    ref = settle(OnesRunner(model, dtype, "per-step"), 1 << 14)
    fast = settle_fast(model, dtype)
    assert ref.settled
    assert (fast.settle_step, fast.period) == (ref.settle_step, ref.period)
    assert len(fast.layers) == layers and fast.layers[-1]["period"] == fast.period
    for t in range(ref.settle_step, ref.settle_step + 2 * ref.period + 3):
        # same output rows (interned separately, so compare the logits)
        assert np.array_equal(fast.runner.logits(fast.output_at(t)), ref.runner.logits(ref.output_at(t)))
    for a, b in zip(fast.cycle_transitions(4), ref.cycle_transitions(4)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("claim", ["parity", "modcount"])
def test_checks_agree_across_engines(claim):
    from statetrack.lrnn.claims import check_modcount, check_parity, random_member

    for family, rng, seed in [("deltanet", "0,1", 1), ("deltaproduct", "-1,1", 0), ("diagonal", "-1,1", 2)]:
        model = random_member(family, rng, seed)
        if claim == "parity":
            a = check_parity(model, "bfloat16", engine="fast", predicted=rng == "0,1").to_json()
            b = check_parity(model, "bfloat16", engine="reference", predicted=rng == "0,1").to_json()
        else:
            a = check_modcount(model, 3, "bfloat16", engine="fast", predicted=True).to_json()
            b = check_modcount(model, 3, "bfloat16", engine="reference", predicted=True).to_json()
        a.pop("steps"), b.pop("steps")
        assert a == b


def test_settle_many_equals_one_by_one():
    from statetrack.lrnn.claims import random_member, settle_fast, settle_many

    models = [random_member("deltanet", "-1,1", s, layers=1) for s in range(4)]
    many = settle_many(models, "float16")
    for m, s in zip(models, many):
        one = settle_fast(m, "float16")
        assert (s.settle_step, s.period) == (one.settle_step, one.period)


def test_budgets_are_reported():
    from statetrack.lrnn.claims import random_member, settle_fast

    model = random_member("deltanet", "0,1", 4, layers=2)
    s = settle_fast(model, "float32", max_steps=1000)
    assert not s.settled and "no repeat within 1000 steps" in s.reason
    s = settle_fast(model, "float32", max_rows=100)
    assert not s.settled and "max_rows" in s.reason and s.layers[0]["settle_step"] > 100


def test_engine_choice_and_errors():
    from statetrack.lrnn.claims import check_parity, random_member
    from statetrack.lrnn.claims.fast_settle import FastSettling, run_settling, use_fast

    model = random_member("deltanet", "0,1", 0)
    assert isinstance(run_settling(model, "bfloat16"), FastSettling)
    assert not use_fast(model, "float") and not use_fast(model, "per-step", "reference")
    with pytest.raises(StatetrackError, match="engine fast"):
        check_parity(model, "bfloat16", "float", engine="fast")
    with pytest.raises(StatetrackError, match="unknown engine"):
        check_parity(model, "bfloat16", engine="turbo")


def test_cli_engine_option(tmp_path):
    import json
    import subprocess
    import sys

    base = [sys.executable, "-m", "statetrack", "claims", "parity", "--samples", "2", "--dtype", "bfloat16",
            "--steps", "100", "--json"]
    out = {}
    for engine in ("fast", "reference"):
        r = subprocess.run(base + ["--engine", engine], capture_output=True, text=True, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        out[engine] = json.loads(r.stdout)
    assert out["fast"]["engine"] == "fast" and out["reference"]["engine"] == "reference"
    assert out["fast"]["member_results"] == out["reference"]["member_results"]
    r = subprocess.run(base + ["--engine", "fast", "--precision", "float"], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 2 and "engine fast" in r.stderr and "Traceback" not in r.stderr


def test_chunk_boundaries(monkeypatch):
    """The lockstep and the output runs cross chunk boundaries (tiny chunks) and still agree with the reference."""
    from statetrack.lrnn.claims import OnesRunner, fast_settle, random_member, settle, settle_fast

    monkeypatch.setattr(fast_settle, "_CHUNK", 5)
    for family, rng, seed in [("deltaproduct", "-1,1", 0), ("diagonal", "-1,1", 1), ("deltanet", "0,1", 2)]:
        model = random_member(family, rng, seed, layers=2)
        ref = settle(OnesRunner(model, "bfloat16", "per-step"), 1 << 14)
        fast = settle_fast(model, "bfloat16")
        assert (fast.settle_step, fast.period) == (ref.settle_step, ref.period)


def test_long_float32_run_against_the_explicit_sequence():
    """A member whose float32 state creeps for ~40000 steps (beyond the reference's budget in this test suite): the
    cycle search agrees with the first repeat of the explicitly stored sequence of states."""
    from statetrack.lrnn.claims import random_member, settle_fast
    from statetrack.lrnn.claims.fast_settle import _prepare
    from statetrack.lrnn.claims.parity import first_repeat

    model = random_member("deltaproduct", "-1,1", 2, layers=1)
    _, layer = _prepare(model, "float32", None)
    x0, A, B = layer.cycle_maps()
    _, states = sk.run_sequence(A, B, np.zeros(45000, dtype=np.int64), x0, True, *layer.params)
    seq = np.concatenate([x0[None], states]).reshape(45001, -1)
    keys = np.unique(seq.view(np.int64), axis=0, return_inverse=True)[1].reshape(-1)
    i, j = first_repeat(keys)
    fast = settle_fast(model, "float32")
    assert i > 30000
    assert (fast.settle_step, fast.period) == (layer.W0 - 1 + i, j - i)


@pytest.mark.parametrize("dtype", DTYPES)
def test_scalar_search_equals_the_array_search(dtype):
    """The scalar cycle search used for diagonal transitions gives what the general one gives on 1 x 1 maps."""
    fmt = FORMATS[dtype]
    rng = np.random.default_rng([5, DTYPES.index(dtype)])
    params = sk.grid_params(fmt)
    for q in (1, 2):
        for _ in range(10):
            a = round_to_grid(rng.uniform(-1.0, 1.0, q) * rng.choice([1.0, 0.999, 1.001]), fmt)
            b = round_to_grid(rng.normal(size=q) * 2.0 ** rng.integers(-12, 2), fmt)
            x0 = float(round_to_grid(rng.normal(), fmt))
            want = sk.brent(a.reshape(q, 1, 1, 1), b.reshape(q, 1, 1, 1), np.full((1, 1, 1), x0), 10 ** 6, *params)
            got = sk.brent_scalar(a, b, x0, 10 ** 6, *params)
            assert got[:2] == want[:2]
            if got[0] >= 0:
                assert (got[2], got[3]) == (want[2].item(), want[3].item())


def test_creeping_first_layer_two_layers_match_the_reference():
    """Two float32 layers whose first layer creeps for 4326 tokens (thousands of distinct output rows, each a new
    window of the second layer): the fast runner's vectorised output and window interning give the reference
    runner's settle step, period, outputs and cycle transitions."""
    from statetrack.lrnn.claims import OnesRunner, random_member, settle, settle_fast

    model = random_member("diagonal", "-1,1", 9, layers=2)
    ref = settle(OnesRunner(model, "float32", "per-step"), 1 << 13)
    fast = settle_fast(model, "float32")
    assert ref.settled and fast.layers[0]["settle_step"] > 4000
    assert len(fast.runner.stages[0].rows_out.items) > 2000  # the first layer's outputs differ at most lengths
    assert (fast.settle_step, fast.period) == (ref.settle_step, ref.period)
    for t in range(ref.settle_step, ref.settle_step + 2 * ref.period + 3):
        assert np.array_equal(fast.runner.logits(fast.output_at(t)), ref.runner.logits(ref.output_at(t)))
    for a, b in zip(fast.cycle_transitions(4), ref.cycle_transitions(4)):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def _plain_window_ids(windows, carry, ids, c):
    """The token-by-token interning of windows and carries (the plain reference of ``BlockStage._window_ids``)."""
    lst = list(ids)
    wids, cids = [], []
    for t in range(len(lst)):
        w = tuple(lst[max(0, t - c + 1):t + 1])
        wids.append(windows.setdefault(w, len(windows)))
        key = w[1:] if len(w) == c else w
        cids.append(carry.setdefault(key, len(carry)))
    return wids, cids


def test_window_ids_match_token_by_token_interning():
    """The numpy interning of windows gives the ids of a token-by-token pass (first occurrence order), over
    successive calls on growing sequences, and the stacked window tables equal the per-window values."""
    from statetrack.lrnn.claims import OnesRunner, random_member

    stage = OnesRunner(random_member("deltanet", "-1,1", 3, layers=2), "bfloat16", "per-step").stages[1]
    first = OnesRunner(random_member("deltanet", "-1,1", 3, layers=2), "bfloat16", "per-step").stages[0]
    first.run(np.zeros(400, dtype=np.int64))  # some input rows for the second stage
    stage.rows_in = first.rows_out
    n_rows = len(first.rows_out.items)
    rng = np.random.default_rng(21)
    windows, carry = {}, {}
    for T in (7, 60, 300):
        ids = rng.integers(0, n_rows, size=T) if n_rows > 1 else np.zeros(T, dtype=np.int64)
        ids[T // 2:T // 2 + 10] = ids[T // 2]  # a run of one row
        wids, cids = stage._window_ids(ids)
        want_w, want_c = _plain_window_ids(windows, carry, ids.tolist(), stage.c)
        assert wids.tolist() == want_w and cids.tolist() == want_c
    A = stage.window_table("A")
    q = stage.window_table("q")
    u = stage.window_table("u")
    from statetrack.lrnn.claims.families import window_transitions

    rows = stage._input_rows()
    for w in rng.integers(0, len(stage.windows.items), size=20).tolist():
        item = stage.windows.items[w]
        assert np.array_equal(A[w], item["A"]) and np.array_equal(q[w], item["q"].double().numpy())
        assert np.array_equal(u[w].numpy(), item["u"].numpy())
        # the stacked tables against a fresh computation of this window alone (its own input rows, a batch of one)
        alone = window_transitions(stage.block, rows[list(stage.windows.keys[w])].unsqueeze(0), stage.stepper)
        assert np.array_equal(A[w], np.asarray(alone["A"][0]))
        assert np.array_equal(u[w].numpy(), alone["u"][0].numpy())
