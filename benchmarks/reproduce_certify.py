"""Train parity models and certify them: accuracy on lengths 40..256 next to what `statetrack certify` shows.

DeltaNet [-1, 1] and diagonal [-1, 1] (several seeds), plus [0, 1] controls, one layer, trained on uniform parity
words of lengths 3..40 for ``--steps`` steps; per run: scaled accuracy on 40..256, the certificate (certified /
counterexample with its length / inconclusive), and seconds. Prints the per-family table (median and best) and the
per-run table (Markdown) for benchmarks/RESULTS.md.

    python benchmarks/reproduce_certify.py                        # DeltaNet and diagonal, 3 seeds, [0,1] controls
    python benchmarks/reproduce_certify.py --steps 300 --seeds 1  # a quicker look

``--lang mod:3 --layers 2 --models deltanet,deltaproduct`` runs the stretch protocol (2 layers: the certificate is
then the counterexample search only; the region argument covers one layer). Each worker uses one thread.
"""
from __future__ import annotations

import argparse
import json
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
    from statetrack.lrnn.certify import certify
    from statetrack.lrnn.evaluate import evaluate, model_predictor
    from statetrack.lrnn.tasks import task_from_dfa
    from statetrack.lrnn.train import TrainConfig, load_run, train

    rng = tuple(int(x) for x in job["range"].split(","))
    task = task_from_dfa(get_language(job["lang"]), train_lengths=(3, 40))
    cfg = TrainConfig(model=job["model"], eigenvalue_range=rng, layers=job["layers"], dim=job["dim"],
                      heads=job["heads"], num_householder=2, state_dim=job["state_dim"], steps=job["steps"],
                      batch=job["batch"], lr=job["lr"], warmup=job["warmup"], seed=job["seed"], log_every=50)
    t0 = time.perf_counter()
    summary = train(task, cfg, job["dir"], progress=False)
    train_s = time.perf_counter() - t0
    model, task, _ = load_run(job["dir"])
    ood = evaluate(model_predictor(model), task, (40, 256), per_length=job["per_length"], seed=7)
    t1 = time.perf_counter()
    cert = certify(model, task.dfa, labels=task.labels, min_length=task.train_lengths[0], seed=job["seed"])
    return {**{k: job[k] for k in ("model", "range", "seed", "lang", "layers")}, "train_loss": summary["loss"],
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
    ap.add_argument("--per-length", type=int, default=16, help="test words per length")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", help="run directory root (default: a temporary directory)")
    ap.add_argument("--json", help="write all per-run results to this JSON file")
    args = ap.parse_args(argv)
    root = args.out or tempfile.mkdtemp(prefix="certify-")
    plan = [(m, "-1,1", s) for m in args.models.split(",") for s in range(args.seeds)]
    plan += [(m, "0,1", 0) for m in args.controls.split(",") if m]
    jobs = [{"model": m, "range": r, "seed": s, "lang": args.lang, "layers": args.layers, "steps": args.steps,
             "batch": args.batch, "dim": args.dim, "heads": args.diag_heads if m == "diagonal" else 1,
             "state_dim": args.state_dim, "lr": args.lr, "warmup": args.warmup, "per_length": args.per_length,
             "dir": os.path.join(root, f"{m}_{r.replace(',', '_')}_s{s}")} for m, r, s in plan]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as ex:
        results = list(ex.map(one_run, jobs))
    wall = time.perf_counter() - t0
    print(f"{args.lang}, train 3..40, test 40..256; {args.layers} layer(s), width {args.dim}; {args.steps} steps, "
          f"batch {args.batch}, lr {args.lr}; {args.per_length} test words per length; wall {wall:.0f} s with "
          f"{args.workers} workers\n")
    print("| model | range | runs | median scaled acc | best scaled acc | certified | counterexample | "
          "inconclusive | median counterexample length | train s/run | certify s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for model, rng in dict.fromkeys((r["model"], r["range"]) for r in results):
        rs = [r for r in results if r["model"] == model and r["range"] == rng]
        sc = [r["test_scaled"] for r in rs]
        count = {st: sum(r["status"] == st for r in rs) for st in ("certified", "counterexample", "inconclusive")}
        lens = [r["word_length"] for r in rs if r["word_length"] is not None]
        print(f"| {model} | [{rng}] | {len(rs)} | {statistics.median(sc):.3f} | {max(sc):.3f} | "
              f"{count['certified']} | {count['counterexample']} | {count['inconclusive']} | "
              f"{statistics.median(lens) if lens else '-'} | {statistics.mean(r['train_s'] for r in rs):.0f} | "
              f"{statistics.mean(r['certify_s'] for r in rs):.0f} |")
    print("\n| model | range | seed | steps | test scaled | certificate | counterexample (length: word) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        w = "-" if r["word"] is None else f"{r['word_length']}: {r['word'][:40]}{'...' if r['word_length'] > 40 else ''}"
        print(f"| {r['model']} | [{r['range']}] | {r['seed']} | {r['steps']} | {r['test_scaled']:.3f} | "
              f"{r['status']} | {w} |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "wall_s": wall, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
