"""Seed robustness of the diagonal [-1, 1] parity model: how many seeds leave the loss plateau, and when.

Trains the one-layer diagonal model of `benchmarks/reproduce_certify.py` (width 32, 4 heads, state 8, no short
convolutions, saturating gate, gate penalty 1e-3, lr 3e-3, batch 64, <= 1000 steps, parity on lengths 3..40) for
``--seeds`` seeds under each variant named in ``--variants`` and prints, per variant, the step at which the logged
training loss first falls below 0.01 ("solved") for every seed, the final loss, and how many seeds solved. A variant
is a comma-separated list of ``key=value`` overrides of that configuration: ``lr``, ``heads``, ``batch``, ``steps``,
``restart`` (a fresh initialisation forced at that step, as `train --until-certified --restarts` applies one; the
run then counts as solved only when its fresh model is).

    python benchmarks/diagonal_seeds.py                                   # the reproduction's setting, 8 seeds
    python benchmarks/diagonal_seeds.py --variants "base;heads=8;lr=0.005;batch=128;restart=300"

Each worker uses one torch thread. No certificate is computed here (see reproduce_certify.py for that).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

SOLVED_LOSS = 0.01
KEYS = {"lr": float, "heads": int, "batch": int, "steps": int, "restart": int}


def parse_variant(text: str) -> dict:
    """``"lr=0.005,heads=8"`` -> ``{"lr": 0.005, "heads": 8}``; ``"base"`` -> ``{}``."""
    out: dict = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part == "base":
            continue
        key, sep, value = part.partition("=")
        if not sep or key not in KEYS:
            raise SystemExit(f"variant {text!r}: {part!r} is not KEY=VALUE with KEY one of {', '.join(KEYS)}")
        try:
            out[key] = KEYS[key](value)
        except ValueError:
            raise SystemExit(f"variant {text!r}: {key} needs a number, got {value!r}") from None
    return out


def one_run(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from statetrack.automata.catalog import get_language
    from statetrack.lrnn.tasks import task_from_dfa
    from statetrack.lrnn.train import RESTART, TrainConfig, train

    v = job["variant"]
    task = task_from_dfa(get_language("parity"), train_lengths=(3, 40))
    cfg = TrainConfig(model="diagonal", eigenvalue_range=(-1, 1), layers=1, dim=32, heads=v.get("heads", 4),
                      state_dim=8, steps=v.get("steps", 1000), batch=v.get("batch", 64), lr=v.get("lr", 3e-3),
                      warmup=50, seed=job["seed"], log_every=50, gate="saturating", short_conv=False,
                      gate_penalty=1e-3)
    restart = v.get("restart")
    t0 = time.perf_counter()
    summary = train(task, cfg, job["dir"], progress=False,
                    stop_when=(lambda step, model: RESTART if step == restart else False) if restart else None)
    with open(os.path.join(job["dir"], "metrics.jsonl"), encoding="utf-8") as f:
        losses = [(r["step"], r["loss"]) for r in map(json.loads, f)]
    since = max(summary.get("restarted_at", [0]))  # a restarted run is solved by its fresh model only
    solved = next((s for s, loss in losses if s > since and loss < SOLVED_LOSS), None)
    return {"seed": job["seed"], "final_loss": summary["loss"], "solved_at": solved,
            "restarted_at": summary.get("restarted_at", []), "seconds": time.perf_counter() - t0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="base", help="variants separated by ';' (default: base)")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.workers < 1:
        ap.error("--seeds and --workers must be >= 1")
    variants = [(name.strip(), parse_variant(name)) for name in args.variants.split(";") if name.strip()]
    root = tempfile.mkdtemp(prefix="diagonal-seeds-")
    print(f"diagonal [-1,1] parity, lengths 3..40, solved = logged training loss < {SOLVED_LOSS}\n")
    print("| variant | " + " | ".join(f"seed {s}" for s in range(args.seeds)) + " | solved | s/run |")
    print("|---|" + "---|" * (args.seeds + 2))
    for name, v in variants:
        jobs = [{"variant": v, "seed": s, "dir": os.path.join(root, f"{len(os.listdir(root))}_{s}")}
                for s in range(args.seeds)]
        with ProcessPoolExecutor(max_workers=args.workers) as ex:
            rs = list(ex.map(one_run, jobs))
        cells = [f"{r['solved_at']}" if r["solved_at"] is not None else f"no ({r['final_loss']:.2f})" for r in rs]
        n = sum(r["solved_at"] is not None for r in rs)
        print(f"| {name} | " + " | ".join(cells) + f" | {n}/{len(rs)} | "
              f"{sum(r['seconds'] for r in rs) / len(rs):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
