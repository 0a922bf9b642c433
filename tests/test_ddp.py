"""The DistributedDataParallel path: ``torchrun`` with two CPU processes (gloo) matches a single-process run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from statetrack.cli import main

ARGS = ["train", "--lang", "parity", "--train-lengths", "2:8", "--dim", "16", "--heads", "2", "--steps", "6",
        "--batch", "16", "--lr", "3e-3", "--warmup", "2", "--seed", "3", "--threads", "1", "--no-progress"]


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="torch.distributed with gloo is not available")
def test_torchrun_two_processes_match_one(tmp_path, capsys):
    from safetensors.torch import load_file

    single, ddp = tmp_path / "single", tmp_path / "ddp"
    assert main(ARGS + ["-o", str(single), "--json"]) == 0
    capsys.readouterr()
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env["OMP_NUM_THREADS"] = "1"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "statetrack", *ARGS, "-o", str(ddp), "--json"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(outs) == 1 and outs[0]["steps"] == 6  # only rank 0 reports
    a, b = load_file(str(single / "model.safetensors")), load_file(str(ddp / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:  # the same global batches; only the order of the gradient sums differs
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
    assert len((ddp / "metrics.jsonl").read_text().splitlines()) == len(
        (single / "metrics.jsonl").read_text().splitlines())
