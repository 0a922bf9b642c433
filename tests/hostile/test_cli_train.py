"""train: no run is overwritten without --force; --resume refuses tampered checkpoints with exit 2; unusable devices
and non-finite hyper-parameters are refused up front; --json is always valid JSON."""
from __future__ import annotations

import json
import shutil

import pytest

from statetrack.cli import main

from .cli_run import assert_user_error, cli

TINY = ["--dim", "8", "--heads", "1", "--batch", "8", "--no-progress"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two finished tiny runs of different widths, with checkpoints: ``(run_a, run_b)``."""
    base = tmp_path_factory.mktemp("hostile-runs")
    a, b = base / "a", base / "b"
    assert main(["train", "--lang", "parity", "--steps", "4", "--checkpoint-every", "2", "--train-lengths", "3:6",
                 *TINY, "-o", str(a)]) == 0
    assert main(["train", "--lang", "parity", "--steps", "2", "--train-lengths", "3:6", "--dim", "16", "--heads",
                 "1", "--batch", "8", "--no-progress", "-o", str(b)]) == 0
    return a, b


def _copy(run, tmp_path):
    dst = tmp_path / "run"
    shutil.copytree(run, dst)
    return dst


def test_train_into_an_existing_run_needs_force(runs, tmp_path):
    run = _copy(runs[0], tmp_path)
    before = (run / "run.json").read_text()
    proc = cli(["train", "--lang", "tomita:1", "--steps", "1", "--train-lengths", "3:5", *TINY, "-o", str(run)])
    assert_user_error(proc, "--resume", "--force")
    assert (run / "run.json").read_text() == before and (run / "checkpoint.json").is_file()
    assert main(["train", "--lang", "tomita:1", "--steps", "1", "--train-lengths", "3:5", *TINY, "-o", str(run),
                 "--force"]) == 0
    assert json.loads((run / "run.json").read_text())["task"]["source"] == {"lang": "tomita:1"}
    assert not list(tmp_path.glob(".run.replaced-*"))  # the replaced run is gone once the new one has finished


def test_a_failed_replacement_keeps_the_old_run(runs, tmp_path, monkeypatch):
    """--force moves the old run aside and deletes it only when the new run has finished: a new run that fails (here:
    interrupted at its first step) leaves the old run intact beside it."""
    import statetrack.lrnn.train as train_mod

    run = _copy(runs[0], tmp_path)
    before = (run / "run.json").read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_mod, "loss_and_accuracy", interrupted)
    assert main(["train", "--lang", "tomita:1", "--steps", "3", "--train-lengths", "3:5", *TINY, "-o", str(run),
                 "--force", "--no-progress"]) == 130
    kept = list(tmp_path.glob(".run.replaced-*"))
    assert len(kept) == 1 and (kept[0] / "run.json").read_text() == before
    assert (kept[0] / "checkpoint.json").is_file()


def test_train_never_writes_into_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    assert main(["train", "--lang", "parity", "--steps", "1", *TINY, "-o", str(tmp_path / "mine"), "--force"]) == 2
    assert "not a run" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == ["notes.txt"]


def _state(run):
    name = json.loads((run / "checkpoint.json").read_text())["dir"]
    return run / name / "state.json"


def _garbage_pointer(run, other):
    (run / "checkpoint.json").write_text("{not json")


def _pointer_outside(run, other):
    (run / "checkpoint.json").write_text(json.dumps({"dir": "../../etc", "step": 4}))


def _truncated_optimizer(run, other):
    p = _state(run).parent / "optimizer.safetensors"
    p.write_bytes(p.read_bytes()[:100])


def _other_model(run, other):
    shutil.copy(_state(other).parent / "model.safetensors", _state(run).parent / "model.safetensors")


def _other_optimizer(run, other):
    shutil.copy(_state(other).parent / "optimizer.safetensors", _state(run).parent / "optimizer.safetensors")


def _edit_state(**changes):
    def edit(run, other):
        state = json.loads(_state(run).read_text())
        for key, value in changes.items():
            if key == "lr":
                state["param_groups"][0]["lr"] = value
            else:
                state[key] = value
        _state(run).write_text(json.dumps(state))
    return edit


@pytest.mark.parametrize("tamper, needle", [
    (_garbage_pointer, "checkpoint.json"),
    (_pointer_outside, "not a checkpoint name"),
    (_truncated_optimizer, "optimizer.safetensors"),
    (_other_model, "model.safetensors does not fit"),
    (_other_optimizer, "another run's optimizer"),
    (_edit_state(step=-50), "step -50"),
    (_edit_state(lr="fast"), "lr 'fast'"),
    (_edit_state(train=[1, 2]), "training config"),
], ids=["garbage-pointer", "dir-outside", "truncated-optimizer", "other-model", "other-optimizer", "step-50",
        "lr-text", "config-list"])
def test_resume_refuses_a_tampered_run(runs, tmp_path, capsys, tamper, needle):
    run = _copy(runs[0], tmp_path)
    tamper(run, runs[1])
    assert main(["train", "--resume", "--no-progress", "-o", str(run)]) == 2
    err = capsys.readouterr().err
    assert "cannot resume" in err and needle in err, err


def test_resume_a_finished_run_prints_valid_json(runs, tmp_path):
    run = _copy(runs[0], tmp_path)
    proc = cli(["train", "--resume", "--no-progress", "--json", "-o", str(run)])
    assert proc.returncode == 0, proc.stderr

    def refuse(name):
        raise AssertionError(f"invalid JSON constant {name}")

    obj = json.loads(proc.stdout, parse_constant=refuse)
    assert obj["steps"] == 4


def test_cuda_without_cuda_is_a_user_error(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = cli(["train", "--lang", "parity", "--steps", "1", *TINY, "--device", "cuda", "-o", str(tmp_path / "r")])
    assert_user_error(proc, "device 'cuda'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", ["--lr", "--weight-decay", "--grad-clip"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_hyper_parameters_are_refused_up_front(tmp_path, capsys, option, value):
    code = main(["train", "--lang", "parity", "--steps", "1", *TINY, option, value, "-o", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and option in err and "finite" in err and "diverged" not in err
    assert not (tmp_path / "r").exists()


def test_options_without_effect_are_errors(runs, tmp_path, capsys):
    run = _copy(runs[0], tmp_path)
    assert main(["train", "--resume", "--lang", "tomita:1", "--no-progress", "-o", str(run)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--resume", "--force", "--no-progress", "-o", str(run)]) == 2
    assert main(["evaluate", str(run), "--labels", "per-token", "--test-lengths", "3:4", "--per-length", "2"]) == 2
    assert "--labels" in capsys.readouterr().err
