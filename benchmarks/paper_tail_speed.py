"""Speed of the paper model's certified float64 runs (lrnn/claims/paper_tail.py), run by hand.

    python benchmarks/paper_tail_speed.py --steps 1000000 --columns 16 --repeats 3

A dense 4x4 block on the float16 grid with eigenvalues about {1 - 2^-17, 0.9, 0.5, 0.1} (it contracts slowly, as the
rounded ``I - beta k k^T`` blocks of deltanet do), ``--columns`` random columns followed for ``--steps`` terms (the
vanishing test cannot pass before, so every run takes all of them). Prints the median wall time over ``--repeats``
runs of the compiled loop, terms per second, and, on a 100x shorter run, the same loop as plain Python (the
reference) with the ratio of the per-term costs. The compiled loop's first call (numba compilation, or loading the
cache) is not timed.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import time
from fractions import Fraction

import numpy as np

from statetrack.lrnn.claims.paper_frame import build_frame
from statetrack.lrnn.claims.paper_tail import AVAILABLE, follow, follow_reference
from statetrack.lrnn.claims.precision import FORMATS, round_to_grid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--columns", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    fmt = FORMATS["float16"]
    rng = np.random.default_rng(0)
    V = np.eye(4) + 0.3 * rng.standard_normal((4, 4)) / 2
    A = round_to_grid(V @ np.diag([1 - 2.0 ** -17, 0.9, 0.5, 0.1]) @ np.linalg.inv(V), fmt)
    fr = build_frame(A)
    ys = [[Fraction(float(v)) for v in round_to_grid(rng.standard_normal(4) * 1000, fmt)] for _ in range(args.columns)]
    follow(fr, A, ys[:1], fmt, 10)  # compile / load the cache
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        run = follow(fr, A, ys, fmt, args.steps)
        times.append(time.perf_counter() - t0)
    short = max(1, args.steps // 100)
    t0 = time.perf_counter()
    follow_reference(fr, A, ys, fmt, short)
    ref = time.perf_counter() - t0
    med = statistics.median(times)
    terms = args.steps * args.columns
    date = subprocess.run(["date", "-u"], capture_output=True, text=True).stdout.strip()
    print(f"# certified float64 runs, {date}, {platform.machine()}, numba {'yes' if AVAILABLE else 'no'}, "
          f"||M||_inf = {float(fr.norm):.8f}, statuses {sorted(set(run.status.tolist()))}\n")
    print("| loop | columns | terms per column | median s | terms/s | s per 10^6 terms |")
    print("|---|---|---|---|---|---|")
    print(f"| compiled | {args.columns} | {args.steps} | {med:.3f} | {terms / med:.3g} | {med / terms * 1e6:.3f} |")
    print(f"| plain Python (reference) | {args.columns} | {short} | {ref:.3f} | {short * args.columns / ref:.3g} | "
          f"{ref / (short * args.columns) * 1e6:.3f} |")
    print(f"\nratio of per-term costs (plain / compiled): {(ref / (short * args.columns)) / (med / terms):.0f}x")


if __name__ == "__main__":
    main()
