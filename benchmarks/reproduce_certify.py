"""Train parity models and certify them: accuracy on lengths 40..256 next to what `statetrack certify` shows.

DeltaNet [-1, 1] and diagonal [-1, 1] (several seeds), plus [0, 1] controls, one layer without short convolutions,
trained on uniform parity words of lengths 3..40 for at most ``--steps`` steps with the training defaults (the
saturating gate for [-1, 1], the published sigmoid gate for [0, 1], gate penalty 1e-3); with ``--until-certified N``
(default 100) a run stops at the first multiple of N steps where ``certify`` succeeds. Per run: scaled accuracy on
40..256, the certificate of the final model (certified / counterexample with its length / inconclusive), steps and
seconds. Prints the per-family table (median and best) and the per-run table (Markdown) for benchmarks/RESULTS.md.

    python benchmarks/reproduce_certify.py                        # DeltaNet and diagonal, 3 seeds, [0,1] controls
    python benchmarks/reproduce_certify.py --steps 300 --seeds 1  # a quicker look
    python benchmarks/reproduce_certify.py --gate sigmoid --until-certified 0 --controls ""  # the published gate

``--lang mod:3 --layers 2 --models deltanet,deltaproduct --budget-s 600`` runs the stretch protocol (2 layers: the
region argument carries regions through the layers, docs/certify.md). Each worker uses one thread.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor


def one_run(job: dict) -> dict:
    import torch

    torch.set_num_threads(1)
    from statetrack.automata.catalog import get_language
    from statetrack.lrnn.certify import UntilCertified, certify
    from statetrack.lrnn.evaluate import evaluate, model_predictor
    from statetrack.lrnn.tasks import task_from_dfa
    from statetrack.lrnn.train import TrainConfig, load_run, train

    rng = tuple(int(x) for x in job["range"].split(","))
    task = task_from_dfa(get_language(job["lang"]), train_lengths=(3, 40))
    cfg = TrainConfig(model=job["model"], eigenvalue_range=rng, layers=job["layers"], dim=job["dim"],
                      heads=job["heads"], num_householder=2, state_dim=job["state_dim"], steps=job["steps"],
                      batch=job["batch"], lr=job["lr"], warmup=job["warmup"], seed=job["seed"], log_every=50,
                      gate=job["gate"], short_conv=job["short_conv"], gate_penalty=job["gate_penalty"],
                      dt_per_channel=job["dt"] == "channel" and job["model"] == "diagonal")
    hook = UntilCertified(task.dfa, task.labels, task.train_lengths[0], every=job["until"],
                          restarts=job["restarts"], max_length=task.train_lengths[1],
                          patience=job["patience"]) if job["until"] else None
    t0 = time.perf_counter()
    stop = hook
    if job["budget_s"]:  # a CPU-time budget per run: stop (as if certified) once it is spent
        def stop(step: int, model) -> "bool | str":
            verdict = hook(step, model) if hook is not None else False
            return verdict or time.perf_counter() - t0 > job["budget_s"]
        if hook is not None:
            stop.restarted = hook.restarted  # type: ignore[attr-defined]  # train() reports applied restarts
    summary = train(task, cfg, job["dir"], progress=False, stop_when=stop)
    train_s = time.perf_counter() - t0
    model, task, _ = load_run(job["dir"])
    ood = evaluate(model_predictor(model), task, (40, 256), per_length=job["per_length"], seed=7)
    t1 = time.perf_counter()
    cert = certify(model, task.dfa, labels=task.labels, min_length=task.train_lengths[0], seed=job["seed"])
    return {**{k: job[k] for k in ("model", "range", "seed", "lang", "layers")}, "gate": model.config.gate,
            "certified_at": None if hook is None else hook.certified_at, "train_loss": summary["loss"],
            "restarted_at": [] if hook is None else hook.restarted_at,
            "train_s": train_s, "test_scaled": ood["scaled_accuracy"], "status": cert.status,
            "word_length": None if cert.word is None else len(cert.word), "word": cert.word_text(),
            "reason": cert.reason, "certify_s": time.perf_counter() - t1, "steps": summary["steps"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lang", default="parity")
    ap.add_argument("--models", default="deltanet,diagonal")
    ap.add_argument("--controls", default="deltanet,diagonal", help="models also trained with range [0,1] (one seed)")
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--dim", type=int, default=32)
    ap.add_argument("--state-dim", type=int, default=8)
    ap.add_argument("--diag-heads", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--gate", default="auto", help="auto (saturating for -1,1; sigmoid for 0,1), sigmoid, saturating")
    ap.add_argument("--gate-penalty", type=float, default=1e-3)
    ap.add_argument("--short-conv", action="store_true", help="short convolutions before the scan (default: none)")
    ap.add_argument("--until-certified", type=int, default=100, metavar="N",
                    help="certify every N steps and stop once certified (0: train all --steps)")
    ap.add_argument("--restarts", type=int, default=2, help="fresh starts allowed to a run that is refuted with "
                    "every gate clamped (frozen) or stalled, within the same --steps")
    ap.add_argument("--patience", type=int, default=3, help="checks refuted in a row without a 10%% fall of the "
                    "loss on a fixed batch that make a run stalled (0: only frozen runs restart)")
    ap.add_argument("--dt", choices=("channel", "head"), default="channel",
                    help="diagonal models: a step size per state channel (default) or per head")
    ap.add_argument("--budget-s", type=float, default=0, help="stop a run after this many seconds of training "
                    "(0: no limit)")
    ap.add_argument("--per-length", type=int, default=16, help="test words per length")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="run directory root (default: a temporary directory)")
    ap.add_argument("--json", help="write all per-run results to this JSON file")
    args = ap.parse_args(argv)
    for name, value, least in (("--restarts", args.restarts, 0), ("--patience", args.patience, 0),
                               ("--budget-s", args.budget_s, 0),
                               ("--until-certified", args.until_certified, 0), ("--seeds", args.seeds, 0),
                               ("--steps", args.steps, 1), ("--workers", args.workers, 1)):
        if not math.isfinite(value) or value < least:
            ap.error(f"{name} {value}: must be a number >= {least}")
    root = args.out or tempfile.mkdtemp(prefix="certify-")
    plan = [(m, "-1,1", s) for m in args.models.split(",") for s in range(args.seeds)]
    plan += [(m, "0,1", 0) for m in args.controls.split(",") if m]
    jobs = [{"model": m, "range": r, "seed": s, "lang": args.lang, "layers": args.layers, "steps": args.steps,
             "batch": args.batch, "dim": args.dim, "heads": args.diag_heads if m == "diagonal" else 1,
             "state_dim": args.state_dim, "lr": args.lr, "warmup": args.warmup, "per_length": args.per_length,
             "gate": args.gate, "gate_penalty": args.gate_penalty, "short_conv": args.short_conv,
             "until": args.until_certified if r == "-1,1" else 0, "restarts": args.restarts, "patience": args.patience,
             "dt": args.dt,
             "budget_s": args.budget_s,
             "dir": os.path.join(root, f"{m}_{r.replace(',', '_')}_s{s}")} for m, r, s in plan]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        results = list(ex.map(one_run, jobs))
    wall = time.perf_counter() - t0
    print(f"{args.lang}, train 3..40, test 40..256; {args.layers} layer(s), width {args.dim}, short convolutions "
          f"{'on' if args.short_conv else 'off'}; at most {args.steps} steps, batch {args.batch}, lr {args.lr}, gate "
          f"{args.gate}, gate penalty {args.gate_penalty}, until-certified {args.until_certified or 'off'}; "
          f"{args.per_length} test words per length; wall {wall:.0f} s with {args.workers} workers\n")
    print("| model | range | gate | runs | median scaled acc | best scaled acc | certified | counterexample | "
          "inconclusive | median counterexample length | median steps | train s/run | certify s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for model, rng in dict.fromkeys((r["model"], r["range"]) for r in results):
        rs = [r for r in results if r["model"] == model and r["range"] == rng]
        sc = [r["test_scaled"] for r in rs]
        count = {st: sum(r["status"] == st for r in rs) for st in ("certified", "counterexample", "inconclusive")}
        lens = [r["word_length"] for r in rs if r["word_length"] is not None]
        print(f"| {model} | [{rng}] | {rs[0]['gate']} | {len(rs)} | {statistics.median(sc):.3f} | {max(sc):.3f} | "
              f"{count['certified']} | {count['counterexample']} | {count['inconclusive']} | "
              f"{statistics.median(lens) if lens else '-'} | {statistics.median(r['steps'] for r in rs):.0f} | "
              f"{statistics.mean(r['train_s'] for r in rs):.0f} | {statistics.mean(r['certify_s'] for r in rs):.0f} |")
    print("\n| model | range | seed | steps | train s | test scaled | certificate | counterexample (length: word) "
          "or reason |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        w = "-" if r["status"] == "certified" else r["reason"][:90]
        if r["word"] is not None:
            w = f"{r['word_length']}: {r['word'][:40]}{'...' if r['word_length'] > 40 else ''}"
        print(f"| {r['model']} | [{r['range']}] | {r['seed']} | {r['steps']} | {r['train_s']:.0f} | "
              f"{r['test_scaled']:.3f} | {r['status']} | {w} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "wall_s": wall, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
