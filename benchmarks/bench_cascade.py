"""Benchmark of the Krohn-Rhodes (holonomy) cascade compiler (run by hand, not a test).

For the catalog languages, random complete DFAs of 3-16 states and the full transformation
monoids T4..T8 it measures: holonomy levels h, the depth with copy layers (2h - 1), with copy
skipping, and with the width-2 convolution coupling (h), layer widths, factors per symbol, the
decomposition time, the stack build time and the exact proof time (median of ``--repeat`` runs).

    python benchmarks/bench_cascade.py [--repeat 3] [--max-t 8] [--out FILE.md]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time
from datetime import date

import numpy as np

from statetrack.automata.catalog import get_language
from statetrack.automata.dfa import DFA
from statetrack.constructions.cascade import cascade_of, compile_cascade
from statetrack.constructions.verify_exact import prove


def full_transformation_dfa(n: int) -> DFA:
    cyc = [(i + 1) % n for i in range(n)]
    tr = [1, 0] + list(range(2, n))
    col = [0, 0] + list(range(2, n))
    return DFA(["c", "t", "k"], None, 0, ["0"], np.array([cyc, tr, col]).T)


def random_dfa(n: int, k: int, rng: np.random.Generator) -> DFA:
    """A uniformly random complete DFA with n states, redrawn until its minimal DFA keeps at least n - 2."""
    while True:
        d = DFA("abc"[:k], None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, k))).minimize()
        if d.n_states >= max(2, n - 2):
            return d


def median_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def measure(name: str, dfa: DFA, repeat: int, prove_it: bool = True) -> dict:
    dfa = dfa.complete()
    t_dec, cas = median_time(lambda: cascade_of(dfa.delta), repeat)
    t_build, (model, rep) = median_time(lambda: compile_cascade(dfa), repeat)
    _, (model_conv, rep_conv) = median_time(lambda: compile_cascade(dfa, coupling="conv"), 1)
    noskip = compile_cascade(dfa, copy_skip=False)[1]
    row = {
        "language": name, "states": dfa.n_states, "levels": cas.depth,
        "copy": noskip["layers"], "skip": rep["layers"], "conv": rep_conv["layers"],
        "widths": rep["dims"], "factors": max(rep["factors"]), "reachable": rep["reachable"],
        "decomp_s": t_dec, "build_s": t_build,
    }
    if prove_it:
        t_proof, res = median_time(lambda: prove(model), 1)
        t_proof_conv, res_conv = median_time(lambda: prove(model_conv), 1)
        assert res.proved and res_conv.proved, name
        row["proof_s"], row["proof_conv_s"] = t_proof, t_proof_conv
    return row


def fmt_table(rows: list[dict]) -> str:
    cols = ["language", "states", "levels", "copy", "skip", "conv", "factors", "reachable", "decomp_s", "build_s",
            "proof_s", "proof_conv_s", "widths"]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    lines = []
    for r in rows:
        cells = []
        for c in cols:
            v = r.get(c, "")
            cells.append(f"{v:.4f}" if isinstance(v, float) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return head + "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-t", type=int, default=8, help="largest n of T_n")
    ap.add_argument("--out", help="write the markdown tables here")
    args = ap.parse_args()
    catalog = ["parity", "mod:3", "mod:4", "modsum:5", "tomita:1", "tomita:2", "tomita:3", "tomita:4", "tomita:5",
               "tomita:6", "tomita:7", "flipflop", "dyck:1:3", "dyck:2:2", "modarith:2", "modarith:3"]
    rows = [measure(name, get_language(name).minimize(), args.repeat) for name in catalog]
    rows.append(measure("contains aa", DFA.from_regex("(a|b)*aa(a|b)*"), args.repeat))
    rng = np.random.default_rng(0)
    rand_rows = []
    for n in (3, 4, 6, 8, 10, 12, 16):
        for k in (2, 3):
            d = random_dfa(n, k, rng)
            rand_rows.append(measure(f"random n={n} k={k}", d, args.repeat))
    t_rows = [measure(f"T{n}", full_transformation_dfa(n), 1) for n in range(4, args.max_t + 1)]
    text = (f"## Cascade compiler ({date.today()}, {platform.processor() or platform.machine()}, "
            f"{__import__('os').cpu_count()} cores)\n\n"
            "copy = 2h-1 layers (parity + copy layers), skip = with copy skipping, conv = width-2 convolution "
            "coupling (h layers); times in seconds (medians).\n\n### Catalog\n\n" + fmt_table(rows) +
            "\n\n### Random complete DFAs (minimised)\n\n" + fmt_table(rand_rows) +
            "\n\n### Full transformation monoids\n\n" + fmt_table(t_rows) + "\n")
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
