"""The reproduction script's one run, for every model kind it trains (a few steps; catches options that one model
kind accepts and another rejects)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from statetrack.lrnn.certify.certificate import STATUSES

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "reproduce_certify.py"


def load_script():
    spec = importlib.util.spec_from_file_location("reproduce_certify", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize("model,rng", [("deltanet", "-1,1"), ("diagonal", "-1,1"), ("diagonal", "0,1")])
def test_one_run_of_each_model_kind(tmp_path, model, rng):
    script = load_script()
    job = {"model": model, "range": rng, "seed": 0, "lang": "parity", "layers": 1, "steps": 3, "batch": 8, "dim": 8,
           "heads": 2 if model == "diagonal" else 1, "state_dim": 2, "lr": 3e-3, "warmup": 1, "per_length": 1,
           "gate": "auto", "gate_penalty": 1e-3, "short_conv": False, "until": 2 if rng == "-1,1" else 0,
           "restarts": 0, "patience": 3, "dt": "channel", "budget_s": 0, "dir": str(tmp_path / "run")}
    out = script.one_run(job)
    assert out["model"] == model and out["status"] in STATUSES and out["steps"] <= 3
