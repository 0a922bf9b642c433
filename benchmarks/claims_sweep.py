"""Family sweep of the impossibility claims (run by hand): family x range x dtype -> witness rate, settle steps.

    python benchmarks/claims_sweep.py --samples 20 --max-steps 32768 --precision per-step float
    python benchmarks/claims_sweep.py --precision per-step --dtypes float32 --layers 1   # the fast runner at scale
    python benchmarks/claims_sweep.py --precision per-step --dtypes float32 --layers 2 --max-rows 4194304 --reasons
    python benchmarks/claims_sweep.py --samples 5 --paper-steps 256 --precision paper --layers 1

For each cell, ``--samples`` random members (seeds 0..N-1, see statetrack.lrnn.claims.families) are checked in each
precision model: step models run 1^t until the full state repeats (``--engine``: the compiled layer-by-layer cycle
search of statetrack.lrnn.claims.fast_settle, default for per-step, budget ``--max-steps`` single steps per layer,
default 2^26, at most ``--max-rows`` lengths handed from a layer to the next, default 2^20; or the reference
runner, ``--max-steps`` tokens, default 65536); the paper model
(App. B) follows each layer's term sequences exactly for at most ``--paper-steps`` terms, then applies the dense
certificates (growth to +-inf, certified float64 runs of up to 2^24 terms; see docs/claims.md). Printed as a markdown table: the
decoder-free witness rate (parity: Theorem 1), median / max settle step (paper: the certified bound) over the members
that settled, how many did not settle (step models) or stayed undecided (paper), the findings (predicted members whose
step arithmetic ends in a cycle the theorem forbids), the output-only coincidences (never witnesses), the periods met,
and the seconds per member. There is no peer implementation of these checks to compare against; the column
"predicted" says where the theorem predicts a witness for every member.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import time

from statetrack.lrnn.claims.sweep import DTYPES, sweep_cell

FAMILIES = ("diagonal", "deltanet", "deltaproduct")
RANGES = ("0,1", "-1,1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--claim", default="parity", choices=["parity", "modcount"])
    ap.add_argument("--m", type=int, default=3)
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--max-steps", type=int, default=None, help="default: 2^26 (fast runner), 65536 (reference)")
    ap.add_argument("--engine", default="auto", choices=["auto", "fast", "reference"])
    ap.add_argument("--max-rows", type=int, default=None,
                    help="fast runner: lengths a lower layer may hand to the next one (default 2^20)")
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--paper-steps", type=int, default=256, help="paper model: certificate search per layer")
    ap.add_argument("--precision", nargs="+", default=["per-step", "float"], choices=["per-step", "paper", "float"])
    ap.add_argument("--ranges", nargs="+", default=list(RANGES))
    ap.add_argument("--families", nargs="+", default=list(FAMILIES))
    ap.add_argument("--dtypes", nargs="+", default=list(DTYPES))
    ap.add_argument("--reasons", action="store_true", help="after each row, the undecided members' seeds and reasons")
    args = ap.parse_args()
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    print(f"# claims sweep ({args.claim}), {date}, {platform.processor() or platform.machine()}, "
          f"N={args.samples}, L={args.layers}, engine {args.engine}, max steps {args.max_steps or 'default'} "
          f"(step models), "
          f"{args.paper_steps} exact steps per term sequence (paper)\n")
    print("| precision | family | range | dtype | predicted | witness rate | median settle | max settle | "
          "unsettled / undecided | findings | output-only | periods | engine | s/member | s/cell |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for prec in args.precision:
        for fam in args.families:
            for rng in args.ranges:
                for dt in args.dtypes:
                    t0 = time.perf_counter()
                    c = sweep_cell(args.claim, fam, rng, dt, args.samples, precision=prec, layers=args.layers,
                                   m=args.m, engine=args.engine if prec != "paper" else "auto",
                                   max_steps=args.paper_steps if prec == "paper" else args.max_steps,
                                   max_rows=args.max_rows)
                    cell_s = time.perf_counter() - t0
                    sec = cell_s / args.samples
                    med = c["settle_step"]["median"]
                    print(f"| {prec} | {fam} | [{rng}] | {dt} | {'yes' if c['predicted'] else 'no'} | "
                          f"{c['witness_rate']:.2f} | {'-' if med is None else int(med)} | "
                          f"{c['settle_step']['max'] or '-'} | {c.get('unsettled', c.get('undecided'))} | "
                          f"{len(c['findings'])} | {c['output_coincidences']} | "
                          f"{' '.join(f'{k}:{v}' for k, v in c['periods'].items())} | {c.get('engine', '-')} | "
                          f"{sec:.2f} | {cell_s:.1f} |", flush=True)
                    if args.reasons:
                        for r in c["members"]:
                            if r.get("reason"):
                                print(f"<!-- seed {r['seed']}: {r['reason']} -->", flush=True)
                        for f in c["findings"]:
                            print(f"<!-- finding: seed {f['seed']}, settle step {f['settle_step']}, period "
                                  f"{f['period']} -->", flush=True)
                        if c.get("value_not_computed"):
                            seeds = [r["seed"] for r in c["members"] if r["decided"] and r.get("unknown_entries")]
                            print(f"<!-- decided, state constant but value not computed (analytic decay): seeds "
                                  f"{seeds} -->", flush=True)


if __name__ == "__main__":
    main()
