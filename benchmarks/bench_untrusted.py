"""Benchmark: the cost of reading DFA files through the bounded reader (statetrack.untrusted).

Run by hand: ``python benchmarks/bench_untrusted.py [--states 200000] [--repeats 5]``. Writes a random complete DFA
over two symbols as JSON, then prints a table of medians: the nesting-depth scan alone, ``json.loads`` alone,
the bounded ``parse_json`` (scan + hooks + loads), and the whole ``load_dfa`` (read, parse, validate, build), with
the ratio of the bounded parse to the plain ``json.loads``.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import tempfile
import time

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.formats import dfa_to_json_text, load_dfa
from statetrack.untrusted import json_depth, parse_json


def median_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--states", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = args.states
    dfa = DFA(["0", "1"], [f"q{i}" for i in range(n)], 0, rng.random(n) < 0.5, rng.integers(0, n, (n, 2)))
    text = dfa_to_json_text(dfa)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "big.json")
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
        rows = [
            ("json_depth scan", median_seconds(lambda: json_depth(text), args.repeats)),
            ("json.loads", median_seconds(lambda: json.loads(text), args.repeats)),
            ("parse_json (bounded)", median_seconds(lambda: parse_json(text, "bench"), args.repeats)),
            ("load_dfa (whole file)", median_seconds(lambda: load_dfa(path), args.repeats)),
        ]
    plain = rows[1][1]
    print(f"# bounded DFA reading, {n} states, {len(text) / 2 ** 20:.1f} MiB of JSON; "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or platform.machine()}; "
          f"median of {args.repeats}")
    print("| step | median s | ratio to json.loads |")
    print("|---|---|---|")
    for name, sec in rows:
        print(f"| {name} | {sec:.3f} | {sec / plain:.2f} |")


if __name__ == "__main__":
    main()
