"""Certificates: tiny hand-built models that certify, wrong ones with checked counterexamples, [0,1] models that
never certify, compiled models through their proof, sound interval bounds, and the CLI exit codes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions import compile_language, save_model as save_compiled
from statetrack.lrnn.certify import certify, certify_compiled, certify_path
from statetrack.lrnn.certify.intervals import Interval
from statetrack.lrnn.model import LRNNConfig, LRNNModel
from statetrack.lrnn.tasks import Task
from statetrack.cli import main

QUICK = dict(search_words=64, search_lengths=(24,))
ENDS1 = "(0|1)*1"


def tiny_model(eigenvalue_range=(-1, 1), seed: int = 0) -> LRNNModel:
    """A one-layer DeltaNet (two heads of width 1, convolution width 2) whose head reads the current token from the
    residual stream, with the recurrent state feeding in through small weights: it recognises 'ends with 1'."""
    torch.manual_seed(seed)
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=4, n_layers=1, layer="deltanet", num_heads=2, head_dim=1,
                     eigenvalue_range=eigenvalue_range, conv_size=2, mlp_ratio=1.0)
    m = LRNNModel(cfg)
    with torch.no_grad():
        m.embedding.weight[:] = torch.tensor([[-1., 0.3, 0.2, -0.1], [1., -0.2, 0.1, 0.3], [0., 0, 0, 0]])
        m.blocks[0].mixer.o_proj.weight.mul_(0.1)
        m.blocks[0].mlp.down.weight.mul_(0.1)
        m.norm.weight.fill_(1.0)
        m.head.weight[:] = torch.tensor([[-3., 0, 0, 0], [3., 0, 0, 0]])
        m.head.bias.zero_()
    return m.eval()


def dfa(regex: str) -> DFA:
    return DFA.from_regex(regex, alphabet="01").minimize()


def predicted(model: LRNNModel, d: DFA, word: tuple[str, ...]) -> int:
    ids = torch.tensor([[d.symbol_id(s) for s in word]])
    with torch.no_grad():
        return int(model(ids)[0, -1].argmax())


def test_tiny_model_certifies_and_its_state_stays_in_the_boxes():
    m = tiny_model()
    cert = certify(m, dfa(ENDS1), **QUICK)
    assert cert.status == "certified" and cert.arithmetic == "real" and cert.exit_code == 0
    assert cert.details["readout_margin"] > 0
    # the claim itself on fresh random long words
    rng = np.random.default_rng(5)
    ids = torch.from_numpy(rng.integers(0, 2, size=(8, 300)))
    with torch.no_grad():
        pred = m(ids).argmax(-1)
    assert bool((pred == ids).all())


def test_wrong_model_gives_a_counterexample_checked_on_the_model():
    m = tiny_model()
    target = dfa("(0|1)*0")
    cert = certify(m, target, **QUICK)
    assert cert.status == "counterexample" and cert.exit_code == 1
    assert cert.predicted != cert.expected
    assert predicted(m, target, cert.word) == cert.predicted
    assert int(target.accepts(cert.word)) == cert.expected


def test_counterexample_only_at_a_longer_length():
    """A language the model agrees with on short words only: words of length >= 3 ending in 1 are 'odd length'
    here; the search must find a misclassified word and check it."""
    m = tiny_model()
    target = dfa("((0|1)(0|1))*(0|1)")  # odd length
    cert = certify(m, target, **QUICK)
    assert cert.status == "counterexample"
    assert predicted(m, target, cert.word) != int(target.accepts(cert.word))


def test_wrong_model_without_search_is_never_certified():
    cert = certify(tiny_model(), dfa("(0|1)*0"), search=False)
    assert cert.status == "inconclusive" and "readout" in cert.reason


@pytest.mark.parametrize("layer", ["deltanet", "diagonal"])
def test_zero_one_models_never_certify_parity(layer):
    torch.manual_seed(1)
    cfg = LRNNConfig(vocab_size=3, n_classes=2, d_model=8, n_layers=1, layer=layer, num_heads=2, head_dim=4,
                     state_dim=2, eigenvalue_range=(0, 1), conv_size=2, mlp_ratio=1.0)
    m = LRNNModel(cfg).eval()
    parity = get_language("parity")
    for search in (True, False):
        cert = certify(m, parity, search=search, max_rounds=200, **QUICK)
        assert cert.status in ("counterexample", "inconclusive")
        if cert.status == "counterexample":
            assert predicted(m, parity, cert.word) != int(parity.accepts(cert.word))


def test_compiled_model_certifies_through_its_proof(tmp_path):
    model, _ = compile_language(get_language("parity"))
    cert = certify_compiled(model)
    assert cert.status == "certified" and cert.method == "exact-proof" and cert.arithmetic == "exact"
    assert certify_compiled(model, get_language("parity")).status == "certified"


def test_compiled_model_against_another_language(tmp_path):
    model, _ = compile_language(get_language("parity"))
    path = tmp_path / "parity.safetensors"
    save_compiled(model, path)
    target = dfa("(0|1)*1")
    cert = certify_path(path, target)
    assert cert.status == "counterexample" and cert.word is not None
    assert cert.predicted != cert.expected


def test_intervals_contain_every_point():
    rng = np.random.default_rng(0)
    for _ in range(25):
        c = rng.normal(size=6) * rng.choice([0.01, 1, 10])
        r = np.abs(rng.normal(size=6)) * rng.choice([0.0, 0.1, 1])
        box = Interval(c - r, c + r)
        W, b, w = rng.normal(size=(3, 6)), rng.normal(size=3), rng.normal(size=6)
        norm, silu, lin = box.rms_norm(w, 1e-5), box.silu(), box.linear(W, b)
        prod = box * Interval(c[::-1] - r, c[::-1] + r)
        for _ in range(60):
            x = c + r * rng.uniform(-1, 1, size=6)
            y = c[::-1] + r * rng.uniform(-1, 1, size=6)
            t = torch.from_numpy(x)
            assert np.all(norm.lo <= (x / np.sqrt((x ** 2).mean() + 1e-5) * w))
            assert np.all((x / np.sqrt((x ** 2).mean() + 1e-5) * w) <= norm.hi)
            s = torch.nn.functional.silu(t).numpy()
            assert np.all(silu.lo <= s) and np.all(s <= silu.hi)
            z = W @ x + b
            assert np.all(lin.lo <= z) and np.all(z <= lin.hi)
            assert np.all(prod.lo <= x * y) and np.all(x * y <= prod.hi)


def _run_dir(tmp_path, model: LRNNModel, regex: str):
    from statetrack.lrnn.train import save_any

    run = tmp_path / "run"
    run.mkdir()
    save_any(model, run / "model.safetensors")
    task = Task(dfa(regex), "final", (1, 40))
    (run / "run.json").write_text(json.dumps({"format_version": 1, "model": "deltanet", "task": task.to_json()}))
    return run


def test_cli_exit_codes(tmp_path, capsys):
    run = _run_dir(tmp_path, tiny_model(), ENDS1)
    assert main(["certify", str(run), "--search-lengths", "16", "--search-words", "64", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "certified" and out["arithmetic"] == "real"
    assert main(["certify", str(run), "--regex", "(0|1)*0", "--search-lengths", "16", "--search-words", "64", "--json"]) == 1
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["status"] == "counterexample" and out["word"] is not None
    assert main(["certify", str(run), "--regex", "(0|1)*0", "--no-search"]) == 3
    assert main(["certify", str(tmp_path / "missing")]) == 2
    assert main(["certify", str(run), "--regex", "(a|b)*", "--no-search"]) == 2
    model, _ = compile_language(get_language("parity"))
    save_compiled(model, tmp_path / "p.safetensors")
    assert main(["certify", str(tmp_path / "p.safetensors"), "--lang", "parity"]) == 0


def test_until_certified_hook_and_train_stop_when(tmp_path):
    from statetrack.lrnn.certify import UntilCertified
    from statetrack.lrnn.train import TrainConfig, train

    hook = UntilCertified(dfa(ENDS1), "final", 1, every=2, **QUICK)
    m = tiny_model()
    assert hook(1, m) is False and hook.history == []
    assert hook(2, m) is True and hook.certified_at == 2 and hook.to_json()["last"]["status"] == "certified"
    task = Task(dfa(ENDS1), "final", (1, 6))
    cfg = TrainConfig(model="deltanet", dim=4, heads=2, steps=20, batch=4, warmup=0, log_every=1)
    summary = train(task, cfg, tmp_path / "run", progress=False, stop_when=lambda step, model: step == 3)
    assert summary["steps"] == 3
    assert TrainConfig().lr == 3e-3


def test_paths_close_boxes_that_one_step_cannot():
    """A per-coordinate contraction diag(0.95, -0.95) seen in a basis rotated by 30 degrees: one step expands the
    boxes (|T^-1 A T| has row sums 1.3), two steps contract them. The path argument closes, and the states of long
    random words (here) stay in the boxes."""
    from statetrack.lrnn.certify.paths import close_by_paths
    from statetrack.lrnn.certify.regions import grow_regions, hull_boxes, simulate
    from statetrack.lrnn.certify.window_graph import build_window_graph
    from statetrack.lrnn.certify.window_steps import WindowStep

    rng = np.random.default_rng(3)
    graph = build_window_graph(dfa("(0|1)*"), 1, 1)
    A = np.diag([0.95, -0.95])[None]
    steps = [WindowStep(A, rng.normal(size=(1, 2, 1)) * 0.1, np.zeros((1, 2)), np.zeros((1, 1)), np.ones((1, 1)),
                        np.zeros(4)) for _ in graph.edges]
    th = np.pi / 6
    basis = np.array([[[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]]])
    seen = simulate(graph, steps, np.random.default_rng(0))
    assert not grow_regions(graph, steps, seen, basis, max_rounds=200).closed
    centre, radius = hull_boxes(graph, steps, seen, basis, inflate=1.5)
    outcome = close_by_paths(graph, steps, centre, radius, basis, lambda e, o: True, max_depth=16)
    assert outcome.closed and outcome.deepest >= 1
    succ = graph.successor()
    node, S = 0, np.zeros((1, 2, 1))
    for a in rng.integers(0, 2, size=2000):
        e = succ[(node, int(a))]
        S = steps[e].A @ S + steps[e].B
        node = graph.edges[e][2]
        coords = basis[0].T @ (S[0] - centre[node][0])
        assert np.all(np.abs(coords) <= radius[node][0] + 1e-9) or node == 0
    cut = close_by_paths(graph, steps, centre, radius * 0.01, basis, lambda e, o: True, max_depth=4)
    assert not cut.closed
