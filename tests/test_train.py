"""Training, resume and evaluation (CPU, tiny models, pinned seeds)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from statetrack.automata.catalog import get_language
from statetrack.cli import main
from statetrack.lrnn.evaluate import compiled_predictor, evaluate, model_predictor, plot
from statetrack.lrnn.tasks import Task, task_from_dfa
from statetrack.lrnn.train import TrainConfig, learning_rate, load_run, param_groups, build_model, train

torch.set_num_threads(1)

PARITY_LENGTHS = (3, 12)  # as the shared `parity_run` fixture of conftest.py




def test_negative_range_learns_parity_and_positive_range_does_not(parity_run):
    scores = {}
    for rng in ((-1, 1), (0, 1)):
        model, task, info = load_run(parity_run(rng))
        assert info["status"] == "done"
        scores[rng] = evaluate(model_predictor(model), task, PARITY_LENGTHS, per_length=64, seed=3)
    assert scores[(-1, 1)]["accuracy"] >= 0.9
    assert scores[(0, 1)]["scaled_accuracy"] <= 0.3
    metrics = [json.loads(x) for x in (parity_run((-1, 1)) / "metrics.jsonl").read_text().splitlines()]
    assert metrics[-1]["step"] == 150 and metrics[-1]["accuracy"] >= 0.9


def _tensors(run: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(run / "model.safetensors"))


@pytest.mark.parametrize("model", ["deltanet", "diagonal"])
def test_resume_is_bit_exact(tmp_path, model):
    task = task_from_dfa(get_language("mod:3"), train_lengths=(2, 9))
    cfg = TrainConfig(model=model, layers=1, dim=16, heads=2, state_dim=4, steps=12, batch=16, lr=3e-3,
                      warmup=3, seed=5, log_every=1)
    train(task, cfg, tmp_path / "full", progress=False)
    train(task, cfg, tmp_path / "part", progress=False, stop_at=7)
    assert json.loads((tmp_path / "part" / "run.json").read_text())["status"] == "stopped"
    train(None, cfg, tmp_path / "part", progress=False, resume=True)  # type: ignore[arg-type]
    full, part = _tensors(tmp_path / "full"), _tensors(tmp_path / "part")
    assert full.keys() == part.keys()
    for k in full:
        assert torch.equal(full[k], part[k]), k
    strip = lambda p: [{k: v for k, v in json.loads(x).items() if k != "seconds"}  # noqa: E731
                       for x in (p / "metrics.jsonl").read_text().splitlines()]
    assert strip(tmp_path / "full") == strip(tmp_path / "part")


def test_baselines_train_and_reload(tmp_path):
    task = task_from_dfa(get_language("parity"), train_lengths=(2, 6))
    for kind in ("lstm", "transformer"):
        cfg = TrainConfig(model=kind, layers=1, dim=16, heads=2, steps=3, batch=8, seed=1)
        train(task, cfg, tmp_path / kind, progress=False)
        model, _, info = load_run(tmp_path / kind)
        assert info["model"] == kind
        ids = task.batch(4, np.random.default_rng(0)).ids
        assert model(ids).shape == (4, ids.shape[1], 2)


def test_schedule_and_weight_decay_groups():
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_ratio=0.1)
    assert learning_rate(cfg, 0) == pytest.approx(0.1)
    assert learning_rate(cfg, 9) == pytest.approx(1.0)
    assert learning_rate(cfg, 10) == pytest.approx(1.0)
    assert learning_rate(cfg, 100) == pytest.approx(0.1)
    assert 0.1 < learning_rate(cfg, 55) < 1.0
    task = task_from_dfa(get_language("parity"))
    for kind in ("deltanet", "diagonal"):
        model = build_model(TrainConfig(model=kind, dim=16, heads=2, state_dim=4), task)
        decay, no_decay = param_groups(model, 0.1)
        names = {id(p): n for n, p in model.named_parameters()}
        decayed = {names[id(p)] for p in decay["params"]}
        assert decayed and not any(f in n for n in decayed for f in ("b_proj", "dt_proj", "A_log", "dt_bias"))
        assert no_decay["weight_decay"] == 0.0


def test_task_labels_match_the_dfa():
    dfa = get_language("mod:3")
    for balance in ("natural", 0.5):
        task = Task(dfa.minimize(), "final", (1, 12), balance)
        b = task.batch(200, np.random.default_rng(1))
        for row, n, y in zip(b.ids.numpy(), b.lengths.numpy(), b.targets.numpy()):
            assert task.dfa.accepts(task.dfa.decode(row[:n])) == bool(y)
        if balance == 0.5:
            assert 60 < int(b.targets.sum()) < 140
    pt = Task(dfa.minimize(), "per-token", (5, 5))
    b = pt.batch(10, np.random.default_rng(2))
    assert (b.targets.numpy() == pt.states(b.ids.numpy())).all()
    assert pt.n_classes == pt.dfa.n_states


def test_evaluate_scores_a_compiled_parity_model_perfectly(tmp_path):
    from statetrack.constructions.model_format import save_model
    from statetrack.constructions.parity import compile_parity

    path = tmp_path / "parity.safetensors"
    cm, _ = compile_parity(get_language("parity"))
    save_model(cm, path)
    for labels in ("final", "per-token"):
        task = task_from_dfa(get_language("parity"), labels=labels)
        res = evaluate(compiled_predictor(path, task, kernel="chunked"), task, (1, 80), per_length=16)
        assert res["accuracy"] == 1.0 and res["scaled_accuracy"] == 1.0
        if labels == "per-token":
            assert res["sequence_accuracy"] == 1.0
    plot(res, tmp_path / "acc.png", (3, 40))
    assert (tmp_path / "acc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_train_evaluate(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--lang", "parity", "--train-lengths", "2:6", "--dim", "16", "--heads", "2",
                 "--steps", "4", "--batch", "8", "--no-progress", "-o", str(run), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 4 and (run / "checkpoint.json").exists()
    assert main(["evaluate", str(run), "--test-lengths", "7:9", "--per-length", "8", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res["per_length"]) == {"7", "8", "9"}
    assert {"accuracy", "scaled_accuracy"} <= set(res["per_length"]["8"])
    assert (run / "accuracy.png").exists()
    assert main(["train", "--lang", "parity", "--range", "0,2", "-o", str(tmp_path / "x"), "--json"]) == 2
    assert "range" in json.loads(capsys.readouterr().out)["error"]


@pytest.mark.parametrize("field, value", [("lr", float("nan")), ("lr", float("inf")), ("weight_decay", float("nan")),
                                          ("grad_clip", float("-inf")), ("steps", 2.5), ("dim", True)])
def test_config_refuses_non_finite_and_non_integer_values(field, value):
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.train import TrainConfig

    with pytest.raises(StatetrackError, match=field.replace("_", "-")):
        TrainConfig(**{field: value})


def test_checkpoint_pointer_must_stay_inside_the_run(tmp_path):
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.train import load_checkpoint

    (tmp_path / "ckpt-00000001").mkdir()
    for ptr in ({"dir": "/etc", "step": 1}, {"dir": "../ckpt-00000001", "step": 1}, {"dir": 5}, [1, 2]):
        (tmp_path / "checkpoint.json").write_text(json.dumps(ptr))
        with pytest.raises(StatetrackError, match="cannot resume"):
            load_checkpoint(tmp_path)


def _restart_at(*steps: int):
    from statetrack.lrnn.train import RESTART

    return lambda step, model: RESTART if step in steps else False


def test_no_restart_when_too_few_steps_are_left(tmp_path):
    """A restart asked for at the last step (or with under a quarter of the steps left) is not applied: the saved
    model is the trained one that the summary describes."""
    from statetrack.lrnn.train import restart_allowed

    task = task_from_dfa(get_language("parity"), train_lengths=(2, 5))
    cfg = TrainConfig(model="deltanet", dim=8, heads=2, steps=8, batch=4, warmup=0, log_every=1)
    assert [restart_allowed(cfg, s) for s in range(1, 9)] == [True] * 6 + [False] * 2
    assert not restart_allowed(TrainConfig(steps=100, warmup=80), 20)  # the warmup must fit in what is left
    plain = train(task, cfg, tmp_path / "plain", progress=False)
    late = train(task, cfg, tmp_path / "late", progress=False, stop_when=_restart_at(7, 8))
    assert "restarted_at" not in late and late["loss"] == plain["loss"]
    a, b = _tensors(tmp_path / "plain"), _tensors(tmp_path / "late")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_restart_schedule_warms_up_again():
    cfg = TrainConfig(lr=1.0, warmup=10, steps=110, min_lr_ratio=0.1)
    assert learning_rate(cfg, 40, since=40) == pytest.approx(0.1)  # a fresh warmup from the restart
    assert learning_rate(cfg, 49, since=40) == pytest.approx(1.0)
    assert learning_rate(cfg, 109, since=40) == pytest.approx(0.1, abs=1e-3)  # decays to the floor at the end
    assert learning_rate(cfg, 55) == learning_rate(cfg, 55, since=0)


def test_restart_on_a_checkpoint_step_survives_a_resume(tmp_path):
    """checkpoint_every=2, a restart at step 2, an interruption at step 3: the resumed run ends with the weights and
    the restarts of the uninterrupted one."""
    task = task_from_dfa(get_language("parity"), train_lengths=(2, 5))
    cfg = TrainConfig(model="deltanet", dim=8, heads=2, steps=8, batch=4, warmup=1, log_every=1, checkpoint_every=2)
    full = train(task, cfg, tmp_path / "full", progress=False, stop_when=_restart_at(2))

    def crash(step: int, model) -> "bool | str":
        if step == 3:
            raise KeyboardInterrupt  # no final checkpoint: the resume starts from step 2's
        return _restart_at(2)(step, model)

    with pytest.raises(KeyboardInterrupt):
        train(task, cfg, tmp_path / "part", progress=False, stop_when=crash)
    assert json.loads((tmp_path / "part" / "checkpoint.json").read_text())["step"] == 2
    part = train(None, cfg, tmp_path / "part", progress=False, resume=True,  # type: ignore[arg-type]
                 stop_when=_restart_at(2))
    assert full["restarted_at"] == part["restarted_at"] == [2]
    a, b = _tensors(tmp_path / "full"), _tensors(tmp_path / "part")
    assert all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((tmp_path / "part" / "run.json").read_text())["summary"]
    assert summary["restarted_at"] == [2]


def test_resume_refuses_malformed_restarts(tmp_path):
    from statetrack.errors import StatetrackError

    task = task_from_dfa(get_language("parity"), train_lengths=(2, 5))
    cfg = TrainConfig(model="deltanet", dim=8, heads=2, steps=8, batch=4, warmup=0, log_every=1)
    train(task, cfg, tmp_path / "run", progress=False, stop_at=4, stop_when=_restart_at(2))
    ck = next((tmp_path / "run").glob("ckpt-*")) / "state.json"
    state = json.loads(ck.read_text())
    assert state["restarted_at"] == [2]
    for bad in ([5], [2, 2], ["2"], 3):
        ck.write_text(json.dumps({**state, "restarted_at": bad}))
        with pytest.raises(StatetrackError, match="restarted_at"):
            train(None, cfg, tmp_path / "run", progress=False, resume=True)  # type: ignore[arg-type]


def test_cli_restarts_needs_until_certified_and_a_count(tmp_path, capsys):
    base = ["train", "--lang", "parity", "--train-lengths", "2:5", "--dim", "8", "--heads", "1", "--steps", "4",
            "--batch", "4", "--no-progress", "--json"]
    for extra, needle in ((["--restarts", "-5"], "--restarts -5: must be at least 0"),
                          (["--restarts", "1"], "--restarts needs --until-certified"),
                          (["--until-certified", "2", "--restarts", "-1"], "--restarts -1: must be at least 0"),
                          (["--until-certified", "0"], "--until-certified 0: must be at least 1"),
                          (["--patience", "3"], "--patience needs --until-certified"),
                          (["--until-certified", "2", "--patience", "-1"], "--patience -1: must be at least 0")):
        assert main([*base, *extra, "-o", str(tmp_path / "x")]) == 2, extra
        err = json.loads(capsys.readouterr().out)["error"]
        assert needle in err, (extra, err)
    assert not (tmp_path / "x").exists()
    assert main([*base, "--until-certified", "2", "--restarts", "0", "-o", str(tmp_path / "r")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["until_certified"]["restarts"] == 0 and "restarted_at" not in out and "restarts" not in out
    first = out["until_certified"]["history"][0]
    assert first["step"] == 2 and first["restarted"] is False and first["status"] in ("counterexample",
                                                                                       "inconclusive", "certified")
