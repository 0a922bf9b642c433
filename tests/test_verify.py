"""Exact proofs (cyclotomic arithmetic, counterexamples, deep stacks) and numeric runs (memoised vs plain), CLI."""
import itertools
import json
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.cli import main
from statetrack.constructions import compile_language, prove, save_model
from statetrack.lrnn.verify_numeric import run_numeric
from statetrack.constructions import verify_exact
from statetrack.constructions.householder import permutation_factors
from statetrack.constructions.model_format import CompiledModel, build_model
from statetrack.constructions.verify_exact import CyclotomicField, _cyclotomic_poly
from statetrack.lrnn.verify_numeric import run_direct, run_direct_plain, sample_words


# ------------------------------------------------------------------------------------------ cyclotomic arithmetic
@pytest.mark.parametrize("N", range(1, 31))
def test_cyclotomic_polynomial_matches_sympy(N):
    x = sympy.Symbol("x")
    want = [int(c) for c in reversed(sympy.Poly(sympy.cyclotomic_poly(N, x), x).all_coeffs())]
    assert _cyclotomic_poly(N) == want


@pytest.mark.parametrize("m", [3, 5, 7, 8, 9, 12])
def test_cyclotomic_trig_against_sympy(m):
    F = CyclotomicField(4 * m)
    c, s = F.cos_pi(2, m), F.sin_pi(2, m)
    assert c * c + s * s == 1
    assert float(c) == pytest.approx(math.cos(2 * math.pi / m), abs=1e-12)
    assert float(s) == pytest.approx(math.sin(2 * math.pi / m), abs=1e-12)
    # the minimal polynomial of cos(2 pi/m) (from sympy) vanishes at our element, and no proper factor of it does
    x = sympy.Symbol("x")
    poly = sympy.Poly(sympy.minimal_polynomial(sympy.cos(2 * sympy.pi / m), x), x)
    value = F(0)
    for coeff in poly.all_coeffs():
        value = value * c + Fraction(int(sympy.fraction(coeff)[0]), int(sympy.fraction(coeff)[1]))
    assert value == 0
    # rotation by 2 pi/m has order m exactly
    z = F.zeta(4)  # zeta_{4m}^4 = exp(2 pi i/m)
    assert all(_pow(z, k) != 1 for k in range(1, m)) and _pow(z, m) == 1


def _pow(z, k):
    out = z.F.one
    for _ in range(k):
        out = out * z
    return out


# ------------------------------------------------------------------------------------------ proofs and counterexamples
def _naive_first_failure(model, max_len):
    """Reference: enumerate words by length in Fraction arithmetic; the first word whose state leaves the codes or
    decodes to a wrong DFA state (rational householder/dense models only)."""
    dfa = model.dfa()
    layers = []
    for l, info in enumerate(model.meta["layers"]):
        t = model.layer(l)
        codes = [tuple(Fraction(float(x)) for x in row) for row in t["codes"]]
        layers.append((info["kind"], t, codes))

    def step(kind, t, h, s):
        if kind == "dense":
            M = t["matrices"][s]
            return tuple(sum(Fraction(float(M[i, j])) * h[j] for j in range(len(h))) + Fraction(float(t["bias"][s][i]))
                         for i in range(len(h)))
        for k, b, v in zip(t["keys"][s], t["betas"][s], t["values"][s]):
            k = [Fraction(float(x)) for x in k]
            b, v = Fraction(float(b)), Fraction(float(v))
            dot = sum(ki * hi for ki, hi in zip(k, h))
            h = tuple(hi - b * ki * dot + b * ki * v for hi, ki in zip(h, k))
        return h

    for n in range(1, max_len + 1):
        for word in itertools.product(range(dfa.n_symbols), repeat=n):
            hs = [tuple(Fraction(float(x)) for x in t["h0"]) for _, t, _ in layers]
            q = dfa.start
            for a in word:
                s = a
                for l, (kind, t, codes) in enumerate(layers):
                    hs[l] = step(kind, t, hs[l], s)
                    if hs[l] not in codes:
                        return dfa.decode(word)
                    s = int(t["next"][codes.index(hs[l]), s])
                q = int(dfa.delta[q, a])
                if s != q:
                    return dfa.decode(word)
    return None


def _tampered(model, name, index, value):
    t = {k: v.copy() for k, v in model.tensors.items()}
    t[name][index] = value
    return CompiledModel(model.meta, t)


@pytest.mark.parametrize("name, tensor, index, value", [
    ("group:S3", "layers.0.keys", (1, 0, 0), 0.5),  # a key entry
    ("group:S3", "layers.0.betas", (0, 0), 2.0),  # a beta
    ("tomita:5", "layers.0.next", (3, 1), 0),  # a decoder entry
    ("modsum:3", "layers.0.values", (2, 0), 0.25),  # the parity layer of modadd2... (irrational layer 1 follows)
])
def test_tampered_weight_gives_the_shortest_counterexample(name, tensor, index, value):
    model, _ = compile_language(get_language(name), "modadd2" if name.startswith("modsum") else "auto")
    bad = _tampered(model, tensor, index, value)
    res = prove(bad)
    assert not res.proved and res.counterexample is not None
    if not name.startswith("modsum"):
        assert res.counterexample == _naive_first_failure(bad, len(res.counterexample))
        assert _naive_first_failure(bad, len(res.counterexample) - 1) is None if len(res.counterexample) > 1 else True
    assert "after" in res.detail


def test_tampered_rotation_key_is_caught():
    model, _ = compile_language(get_language("mod:5"), "rotation")
    assert "Q(zeta_20)" in prove(model).detail
    ones = model.dfa().alphabet.index("1")
    bad = _tampered(model, "layers.0.keys", (ones, 1, 0), model.tensors["layers.0.keys"][ones, 1, 0] + 1e-6)
    res = prove(bad)
    assert not res.proved and res.counterexample == ("1",)
    assert "differ from their exact description" in res.detail


def test_h0_off_the_codes_fails():
    model, _ = compile_language(get_language("parity"))
    res = prove(_tampered(model, "layers.0.h0", (0,), 0.5))
    assert not res.proved and "h0" in res.detail


def _deep_stack(P, L, break_layer=None):
    """L layers of one-hot counters mod P; layer l counts letter l (the last counts the last letter), passing the
    input symbol up; the DFA is the last counter. Reachable tuples: P^L."""
    S = L
    dfa = DFA([chr(97 + i) for i in range(S)], None, 0, [True] + [False] * (P - 1),
              [[(q + 1) % P if a == S - 1 else q for a in range(S)] for q in range(P)])
    f = permutation_factors(np.roll(np.arange(P), -1))
    layers = []
    for l in range(L):
        keys, betas = np.zeros((S, f.count, P)), np.zeros((S, f.count))
        keys[l], betas[l] = f.keys, f.betas
        h0 = np.zeros(P)
        h0[0] = 1
        nxt = np.tile(np.arange(S), (P, 1)) if l < L - 1 else np.tile(np.arange(P)[:, None], (1, S))
        if l == break_layer:
            nxt = nxt.copy()
            nxt[P - 1, 0] = 1 % S  # in state P-1 this layer misreports letter a as b
        layers.append(({"kind": "householder"}, {"keys": keys, "betas": betas, "values": np.zeros((S, f.count)),
                                                 "h0": h0, "codes": np.eye(P), "next": nxt}))
    return build_model(dfa, "synthetic", layers)


def test_deep_stack_is_proved_and_a_broken_layer_is_found(monkeypatch):
    model = _deep_stack(4, 6)
    res = prove(model)
    assert res.proved and res.reachable == 4 ** 6
    monkeypatch.setattr(verify_exact._Seen, "BITMAP_LIMIT", 0)  # the set-based path gives the same answer
    assert prove(model).reachable == 4 ** 6
    bad = _deep_stack(3, 3, break_layer=0)
    res = prove(bad)
    # layer 0 (code 2 after 'aa') passes 'a' up as 'b'; layer 1 counts it, but the DFA state is the last layer's
    # count of 'c', which the misreport never reaches: still proved
    assert res.proved
    bad = _deep_stack(3, 2, break_layer=0)  # letters a, b: now 'b' is the counted letter
    res = prove(bad)
    assert not res.proved and res.counterexample == ("a", "a") == _naive_first_failure(bad, 2)


# ------------------------------------------------------------------------------------------ numeric runs
@pytest.mark.parametrize("name, construction", [("mod:5", "rotation"), ("modsum:3", "modadd2"), ("group:S3", "auto"),
                                                ("tomita:3", "unconstrained")])
@pytest.mark.parametrize("dtype", ["float64", "float32", "bfloat16", "float16"])
def test_memoised_runner_matches_the_plain_loop_bit_for_bit(name, construction, dtype):
    model, _ = compile_language(get_language(name), construction)
    ids = sample_words(model.dfa(), 700, 4, seed=5)  # long enough for the drifting fallback to kick in
    a, da = run_direct(model, ids, dtype)
    b, db = run_direct_plain(model, ids, dtype)
    assert np.array_equal(a, b) and (da == db or (math.isinf(da) and math.isinf(db)))


def test_numeric_reports_errors_first_failure_and_drift():
    model, _ = compile_language(get_language("mod:3"), "rotation")
    words = np.ones((1, 3000), dtype=np.int64) * model.dfa().alphabet.index("1")
    res = run_numeric(model, "bfloat16", words=words)
    assert res.errors == 1 and res.first_fail_length is not None and res.max_drift > 0.5
    ok = run_numeric(model, "float64", words=["0110", "1", ""], max_len=0)
    assert ok.tested == 3 and ok.errors == 0 and ok.max_len == 4 and ok.max_drift < 1e-12


def test_numeric_through_the_kernel_runner():
    model, _ = compile_language(get_language("group:S3"))
    res = run_numeric(model, "float32", max_len=50, samples=3, kernel="reference")
    assert res.errors == 0 and res.kernel == "reference"


# ------------------------------------------------------------------------------------------ CLI
def _json(capsys):
    return json.loads(capsys.readouterr().out)


def test_cli_compile_and_verify(tmp_path, capsys):
    path = str(tmp_path / "m.st")
    assert main(["compile", "--lang", "mod:3", "--prefer", "small", "-o", path, "--json"]) == 0
    rep = _json(capsys)
    assert rep["construction"] == "rotation" and rep["dims"] == [2] and rep["factors"] == [2]
    assert set(rep) >= {"layers", "eigenvalue_range", "max_norm"}
    assert main(["verify", path, "--lang", "mod:3", "--exact", "--max-len", "200", "--samples", "4", "--json"]) == 0
    out = _json(capsys)
    assert out["exact"]["proved"] and out["exact"]["counterexample"] is None
    assert out["numeric"]["errors"] == 0 and out["numeric"]["tested"] == 4 and out["numeric"]["max_len"] == 200
    # the wrong language: exit 1 with a counterexample
    assert main(["verify", path, "--lang", "mod:4", "--samples", "0", "--json"]) == 1
    assert _json(capsys)["language"]["equivalent"] is False
    # bfloat16 rotation fails numerically: exit 1
    assert main(["verify", path, "--max-len", "3000", "--samples", "3", "--dtype", "bf16", "--json"]) == 1
    assert _json(capsys)["numeric"]["errors"] > 0


def test_cli_verify_tampered_and_corrupt(tmp_path, capsys):
    model, _ = compile_language(get_language("group:S3"))
    path = tmp_path / "bad.st"
    save_model(_tampered(model, "layers.0.keys", (1, 0, 0), 0.5), path)
    assert main(["verify", str(path), "--exact", "--samples", "0", "--json"]) == 1
    assert _json(capsys)["exact"]["counterexample"]
    path.write_bytes(path.read_bytes()[:-16])
    assert main(["verify", str(path), "--exact", "--json"]) == 2
    assert "compiled model" in _json(capsys)["error"]
    assert main(["compile", "--lang", "tomita:3", "--construction", "rotation", "-o", str(path)]) == 2


def test_diagonal_and_rational_dense_layers():
    dfa = DFA(["0", "1"], ["e", "o"], 0, [True, False], [[0, 1], [1, 0]])
    diag = build_model(dfa, "diag-parity", [({"kind": "diagonal"}, {
        "diag": np.array([[1.0], [-1.0]]), "bias": np.zeros((2, 1)), "h0": np.array([1.0]),
        "codes": np.array([[1.0], [-1.0]]), "next": np.array([[0, 0], [1, 1]])})])
    assert prove(diag).proved and "int64" in prove(diag).detail
    assert run_numeric(diag, "bfloat16", max_len=500, samples=3).errors == 0
    one = DFA(["a"], ["q"], 0, [True], [[0]])
    half = np.full((1, 2, 2), 0.5)
    dense = build_model(one, "averaging", [({"kind": "dense"}, {
        "matrices": half, "bias": np.zeros((1, 2)), "h0": np.array([0.5, 0.5]), "codes": np.array([[0.5, 0.5]]),
        "next": np.zeros((1, 1), dtype=np.int64)})])
    res = prove(dense)
    assert res.proved and "fractions" in res.detail
    bad = _tampered(dense, "layers.0.matrices", (0, 0, 0), 0.25)
    assert prove(bad).counterexample == ("a",) == _naive_first_failure(bad, 1)


def _last_two_equal(conv_row=None):
    """A stateless layer behind a width-2 convolution: the DFA state depends on the last two letters only."""
    dfa = DFA(["a", "b"], ["e", "a1", "b1", "aa", "bb"], 0, [False, False, False, True, True],
              [[1, 2], [3, 2], [1, 4], [3, 2], [1, 4]])
    # conv[prev, cur] -> the symbol (prev, cur) in 0..5; prev = 2 is the start row
    conv = np.array([[0, 1], [2, 3], [4, 5]], dtype=np.int64)
    if conv_row is not None:
        conv[conv_row] = conv[conv_row][::-1]
    state = {0: 3, 1: 2, 2: 1, 3: 4, 4: 1, 5: 2}  # (a,a) aa, (a,b) b1, (b,a) a1, (b,b) bb, (start,a) a1, (start,b) b1
    nxt = np.array([[state[s] for s in range(6)]], dtype=np.int64)
    arrays = {"keys": np.zeros((6, 0, 1)), "betas": np.zeros((6, 0)), "values": np.zeros((6, 0)),
              "h0": np.zeros(1), "codes": np.zeros((1, 1)), "next": nxt, "conv": conv}
    return build_model(dfa, "conv-demo", [({"kind": "householder"}, arrays)])


def test_convolution_layers_are_proved_and_run(tmp_path):
    model = _last_two_equal()
    assert model.meta["layers"][0]["conv"] == 2 and model.layer(0)["conv"].shape == (3, 2)
    res = prove(model)
    assert res.proved and res.reachable == 5
    bad = prove(_last_two_equal(conv_row=1))  # after a 'b' the convolution swaps the letters
    assert not bad.proved and bad.counterexample == ("b", "a")
    ids = sample_words(model.dfa(), 300, 4, seed=9)
    for dt in ("float32", "bfloat16"):
        assert np.array_equal(run_direct(model, ids, dt)[0], run_direct_plain(model, ids, dt)[0])
        assert run_numeric(model, dt, words=ids).errors == 0
    path = tmp_path / "conv.st"
    save_model(model, path)
    from statetrack.constructions import load_model
    assert load_model(path).tensors["layers.0.conv"].dtype == np.int64


def test_cli_compile_cascade_with_convolution(tmp_path, capsys):
    path = str(tmp_path / "c.st")
    assert main(["compile", "--lang", "tomita:3", "--construction", "cascade", "--coupling", "conv", "-o", path,
                 "--json"]) == 0
    rep = _json(capsys)  # the requested construction is the Krohn-Rhodes cascade itself, no direct search
    assert rep["construction"] == "cascade" and rep["direct"] is None
    assert main(["verify", path, "--exact", "--lang", "tomita:3", "--max-len", "300", "--samples", "4", "--json"]) == 0
    out = _json(capsys)
    assert out["exact"]["proved"] and out["numeric"]["errors"] == 0
    path = str(tmp_path / "auto.st")
    assert main(["compile", "--lang", "tomita:3", "--coupling", "conv", "-o", path, "--json"]) == 0
    rep = _json(capsys)  # auto: the DFA without its sink, then the DFA's layer reading through its convolution
    assert rep["construction"] == "direct" and rep["layers"] == 2 and not rep["direct"]["prefix"]
    assert main(["verify", path, "--exact", "--lang", "tomita:3", "--max-len", "300", "--samples", "4", "--json"]) == 0
    out = _json(capsys)
    assert out["exact"]["proved"] and out["numeric"]["errors"] == 0


# ------------------------------------------------------------------------------------------ every kernel (issue 13)
def test_all_kernels_report_the_worst_order():
    """mod:5 rotation in bfloat16: the direct runner is right, the float32-accumulating scans go wrong from 253."""
    model, _ = compile_language(get_language("mod:5"), "rotation")
    words = np.full((1, 400), model.dfa().alphabet.index("1"), dtype=np.int64)
    each = {k: run_numeric(model, "bfloat16", words=words, kernel=k) for k in ("direct", "reference", "chunked")}
    res = run_numeric(model, "bfloat16", words=words, kernel="all")
    assert [r.kernel for r in res.per_kernel] == ["direct", "reference", "chunked"] and "triton" in res.skipped
    for r in res.per_kernel:  # the same numbers as one kernel at a time
        assert (r.errors, r.first_fail_length, r.token_errors) == \
            (each[r.kernel].errors, each[r.kernel].first_fail_length, each[r.kernel].token_errors)
    assert each["direct"].errors == 0 and each["reference"].first_fail_length == 253
    assert res.errors == 1 and res.first_fail_length == 253 and res.worst_kernel in ("reference", "chunked")
    assert res.max_drift == max(r.max_drift for r in res.per_kernel)
    js = res.to_json()
    assert js["kernel"] == "all" and len(js["kernels"]) == 3 and js["skipped"]["triton"]
    ok = run_numeric(model, "float32", words=words[:, :100], kernel="all")
    assert ok.errors == 0 and ok.worst_kernel is not None


def test_all_kernels_skip_the_scans_for_convolution_models(capsys, tmp_path, monkeypatch):
    from statetrack.lrnn.compiled import CompiledLRNN
    from statetrack.lrnn.verify_numeric import available_kernels

    model = _last_two_equal()
    assert available_kernels(model)[0] == (["direct", "reference", "chunked"] if
                                           getattr(CompiledLRNN, "supports_conv", False) else ["direct"])
    assert run_numeric(model, "bfloat16", max_len=50, samples=2, kernel="all").errors == 0
    monkeypatch.setattr(CompiledLRNN, "supports_conv", False, raising=False)
    kernels, skipped = available_kernels(model)
    assert kernels == ["direct"] and set(skipped) == {"reference", "chunked", "triton"}
    assert run_numeric(model, "bfloat16", max_len=50, samples=2, kernel="all").per_kernel[0].kernel == "direct"
    monkeypatch.undo()
    path = tmp_path / "mod5.st"
    save_model(compile_language(get_language("mod:5"), "rotation")[0], path)
    assert main(["verify", str(path), "--dtype", "bfloat16", "--max-len", "300", "--samples", "6", "--json"]) == 1
    nm = _json(capsys)["numeric"]
    assert nm["kernel"] == "all" and nm["first_fail_length"] == 253
    assert {r["kernel"]: r["errors"] for r in nm["kernels"]}["direct"] == 0
