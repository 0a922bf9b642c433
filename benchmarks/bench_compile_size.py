"""Benchmark of compiled-model sizes (run by hand, not a test).

For the catalog languages of issue 15 and 100 seeded random complete DFAs of 3-10 states, compile with ``auto``
twice -- cascades with copy layers (the paper's eq. (1) layers, no convolution) and with the width-2 convolution
coupling -- and record layers, the largest layer state, the most GH factors per token, and the compile time
(median of ``--repeat`` runs). Every model is proved with the exact prover unless ``--no-prove``.

Before/after: run it once against an older source tree and save the figures, then against this one:

    python benchmarks/bench_compile_size.py --tree OLD_CHECKOUT --save before.json
    python benchmarks/bench_compile_size.py --before before.json [--out table.md]

``--tree`` imports statetrack from a source checkout (its top-level folders are mounted as
``statetrack.<part>``), so the same script measures any commit of the layered layout.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import signal
import statistics
import sys
import time
from datetime import date

import numpy as np

CATALOG = ["parity", "mod:3", "mod:4", "mod:5", "mod:8", "tomita:1", "tomita:2", "tomita:3", "tomita:4", "tomita:5",
           "tomita:6", "tomita:7", "flipflop", "dyck:1:2", "modarith:3", "group:S3", "group:S4", "group:Q8",
           "group:A4", "group:Z2xZ4", "group:S5"]


def _mount(tree: str) -> None:
    """Import ``statetrack`` from the source checkout ``tree`` (before anything imports the installed one)."""
    spec = importlib.util.spec_from_file_location(
        "statetrack", os.path.join(tree, "statetrack", "__init__.py"),
        submodule_search_locations=[os.path.join(tree, "statetrack"), tree])
    module = importlib.util.module_from_spec(spec)
    sys.modules["statetrack"] = module
    spec.loader.exec_module(module)


def random_dfas(count: int, seed: int):
    """``count`` random complete DFAs over {a, b, c}; sizes cycle through 3..10 states (before minimisation)."""
    from statetrack.automata.dfa import DFA

    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        n = 3 + i % 8
        while True:
            d = DFA("abc", None, 0, rng.random(n) < 0.5, rng.integers(0, n, size=(n, 3)))
            if d.minimize().n_states >= 2:
                out.append((f"random{i}:{n}", d))
                break
    return out


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def measure(dfa, coupling: str, repeat: int, check: bool, limit: int) -> dict | None:
    """Sizes and median compile time, or None when compiling (and proving) took longer than ``limit`` seconds."""
    from statetrack.constructions import compile_language, prove

    times = []
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit)
    try:
        for _ in range(repeat):
            t0 = time.perf_counter()
            model, rep = compile_language(dfa, "auto", coupling=coupling)
            times.append(time.perf_counter() - t0)
        if check and not prove(model).proved:
            raise AssertionError(f"compiled model not proved: {rep['construction']}")
    except _Timeout:
        return None
    finally:
        signal.alarm(0)
    return {"construction": rep["construction"], "layers": rep["layers"], "state": max(rep["dims"]),
            "factors": max(rep["factors"]), "time": statistics.median(times)}


def run(args) -> dict:
    from statetrack.automata.catalog import get_language

    langs = [(name, get_language(name)) for name in CATALOG] + random_dfas(args.random, args.seed)
    out = {}
    for name, dfa in langs:
        out[name] = {c: measure(dfa, c, args.repeat, not args.no_prove, args.limit) for c in ("copy", "conv")}
        print(f"  {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def _cell(row: dict | None, key: str) -> str:
    return "-" if row is None else str(row[key])


def _ok(entry: dict | None) -> bool:
    return entry is not None and entry["copy"] is not None and entry["conv"] is not None


def table(after: dict, before: dict | None) -> str:
    lines = ["| language | before: layers copy/conv, state, factors | after: construction, layers copy/conv, state, "
             "factors | compile s (copy) |", "|---|---|---|---|"]
    for name, a in after.items():
        if name.startswith("random"):
            continue
        b = before.get(name) if before else None
        bt = "timeout" if not _ok(b) else f"{b['copy']['layers']}/{b['conv']['layers']}, {b['copy']['state']}, " \
                                          f"{b['copy']['factors']}"
        if not _ok(a):
            lines.append(f"| {name} | {bt} | timeout | - |")
            continue
        lines.append(f"| {name} | {bt} | {a['copy']['construction']}, {a['copy']['layers']}/{a['conv']['layers']}, "
                     f"{a['copy']['state']}, {a['copy']['factors']} | {a['copy']['time']:.2f} |")
    rnd = [n for n in after if n.startswith("random") and _ok(after[n]) and (before is None or _ok(before.get(n)))]
    skipped = [n for n in after if n.startswith("random") and n not in rnd]
    lines.append("")
    lines.append("| random DFAs (3-10 states) | total layers copy | total layers conv | max state | max factors | "
                 "median / max compile s |")
    lines.append("|---|---|---|---|---|---|")
    for label, data in (("before", before), ("after", after)):
        if not data:
            continue
        names = [n for n in rnd if n in data]
        tc = sum(data[n]["copy"]["layers"] for n in names)
        tv = sum(data[n]["conv"]["layers"] for n in names)
        ms = max(data[n]["copy"]["state"] for n in names)
        mf = max(data[n]["copy"]["factors"] for n in names)
        ts = [data[n]["copy"]["time"] for n in names]
        lines.append(f"| {label} ({len(names)}) | {tc} | {tv} | {ms} | {mf} | {statistics.median(ts):.3f} / "
                     f"{max(ts):.2f} |")
    if before:
        names = [n for n in rnd if n in before]
        for c in ("copy", "conv"):
            b = sum(before[n][c]["layers"] for n in names)
            a = sum(after[n][c]["layers"] for n in names)
            lines.append(f"\nrandom DFAs, {c}: after/before total depth = {a}/{b} = {a / b:.2f}")
    if skipped:
        lines.append(f"\nleft out (a timeout before or after): {', '.join(skipped)}")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tree", help="import statetrack from this source checkout")
    p.add_argument("--random", type=int, default=100, help="number of random DFAs (default 100)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeat", type=int, default=1, help="compile runs per language (median time)")
    p.add_argument("--no-prove", action="store_true", help="skip the exact proof of each model")
    p.add_argument("--limit", type=int, default=30, help="seconds per language and coupling (compile and proof); "
                                                          "slower ones are reported as timeouts (default 30)")
    p.add_argument("--save", help="write the figures as JSON")
    p.add_argument("--before", help="JSON figures of an older tree to print beside these")
    p.add_argument("--out", help="also write the table (markdown) here")
    args = p.parse_args()
    if args.tree:
        _mount(args.tree)
    from statetrack.fileio import atomic_write_text

    figures = run(args)
    if args.save:
        atomic_write_text(args.save, json.dumps(figures))
    before = None
    if args.before:
        with open(args.before) as f:
            before = json.load(f)
    text = (f"{date.today()} · {platform.processor() or platform.machine()} · python {platform.python_version()}\n\n"
            + table(figures, before))
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")


if __name__ == "__main__":
    main()
