"""Benchmark: regex -> minimal DFA, and language equivalence, against peer libraries.

Peers (``pip install automata-lib interegular greenery pyformlang``): automata-lib,
interegular, greenery, pyformlang. Each (tool, task) runs in its own subprocess with a
wall-clock limit, so a peer that hangs or blows up is reported as ``timeout`` or
``fails`` instead of stopping the run. Inside the subprocess the task is repeated and
the median is reported. For the blow-up family ``(a|b)*a(a|b){k}`` a peer is not tried
again at larger ``k`` once it timed out or failed. The peak RSS of the subprocess is
reported for the largest ``k``.

Usage::

    python benchmarks/bench_automata.py                  # full run (several minutes)
    python benchmarks/bench_automata.py --quick          # practical patterns, k <= 12
    python benchmarks/bench_automata.py --out FILE.md

Times are medians in milliseconds; "ratio" is the fastest peer's median divided by
statetrack's (above 1: statetrack is faster).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

TOOLS = ["statetrack", "automata-lib", "interegular", "greenery", "pyformlang"]

PRACTICAL = [
    ("identifier", r"[a-zA-Z_][a-zA-Z0-9_]*"),
    ("decimal", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?"),
    ("float-exp", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?"),
    ("date", r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"),
    ("ipv4-like", r"([0-9]{1,3}\.){3}[0-9]{1,3}"),
    ("keywords", r"if|else|while|for|return|break|continue"),
    ("email-like", r"[a-z]+@[a-z]+\.(com|org|net)"),
    ("hex", r"0x[0-9a-fA-F]+"),
    ("time", r"([01][0-9]|2[0-3]):[0-5][0-9]"),
    ("alternating", r"(ab|ba)*(a|b)?"),
]

EQUIV = [
    ("star-forms", r"(a|b)*", r"(a*b*)*"),
    ("identifier", r"[a-zA-Z_][a-zA-Z0-9_]*", r"[a-zA-Z_]([a-zA-Z_]|[0-9])*"),
    ("blowup-10", r"(a|b)*a(a|b){10}", r"(a|b)*a(a|b){9}(a|b)"),
    ("blowup-12-neq", r"(a|b)*a(a|b){12}", r"(a|b)*b(a|b){12}"),
]


# ---------------------------------------------------------------------- workers (run in a subprocess)

def _compile(tool: str, pattern: str):
    """Build the minimal DFA with ``tool``; returns (object, number of states)."""
    if tool == "statetrack":
        from statetrack.automata.regex import regex_to_dfa

        d = regex_to_dfa(pattern)
        return d, d.n_states
    if tool == "automata-lib":
        from automata.fa.dfa import DFA
        from automata.fa.nfa import NFA

        d = DFA.from_nfa(NFA.from_regex(pattern), minify=True)
        return d, len(d.states)
    if tool == "interegular":
        import interegular

        f = interegular.parse_pattern(pattern).to_fsm().reduce()
        return f, len(f.states)
    if tool == "greenery":
        import greenery

        f = greenery.parse(pattern).to_fsm().reduce()
        return f, len(f.states)
    if tool == "pyformlang":
        from pyformlang.regular_expression import PythonRegex

        d = PythonRegex(pattern).to_epsilon_nfa().minimize()
        return d, len(d.states)
    raise ValueError(tool)


def _equivalent(tool: str, a, b) -> bool:
    if tool == "statetrack":
        return a.equivalent(b).equivalent
    if tool == "automata-lib":
        return a == b
    if tool in ("interegular", "greenery"):
        return a.equivalent(b)
    if tool == "pyformlang":
        return a.is_equivalent_to(b)
    raise ValueError(tool)


def _import(tool: str) -> None:
    """Import the tool's modules so that import time is not measured."""
    _compile(tool if tool in TOOLS else "statetrack", "ab")


def worker(tool: str, task: dict) -> dict:
    _import(tool)
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reps, budget = task["reps"], task.get("budget_s", 5.0)
    times, cpu, out = [], [], {}
    t_all = time.perf_counter()
    for _ in range(reps):
        if task["kind"] == "compile":
            t, c = time.perf_counter(), time.process_time()
            _, n = _compile(tool, task["pattern"])
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            out["states"] = n
        elif task["kind"] == "equiv":
            a, _ = _compile(tool, task["left"])
            b, _ = _compile(tool, task["right"])
            t, c = time.perf_counter(), time.process_time()
            out["equivalent"] = bool(_equivalent(tool, a, b))
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        else:  # minimisation engine on the subset-construction DFA of the pattern
            from statetrack.automata.minimize import minimize_arrays

            # for this family the subset-construction DFA is already minimal: the same table
            d, _ = _compile("statetrack", task["pattern"])
            t, c = time.perf_counter(), time.process_time()
            dm, _, _ = minimize_arrays(d.delta, d.accepting, 0, engine=tool)
            times.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            out["states"] = dm.shape[0]
        if time.perf_counter() - t_all > budget:
            break
    out["median_ms"] = statistics.median(times) * 1e3
    out["cpu_ms"] = statistics.median(cpu) * 1e3
    out["runs"] = len(times)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["base_rss_mb"] = base_rss
    return out


def run_task(tool: str, task: dict, timeout: float) -> dict:
    """Run one task in a subprocess; returns the worker's dict or {"error": "timeout"|"fails: ..."}."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", tool, json.dumps(task)]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": "timeout"}
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": f"fails ({last[:60]})"}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------- report

def _cell(r: dict) -> str:
    if "error" in r:
        return r["error"].split(" (")[0] if "smaller k" not in r["error"] else "(" + r["error"].split()[0] + ")"
    return f"{r['median_ms']:.3g}"


def _ratio(results: dict[str, dict], key: str = "median_ms") -> str:
    ours = results.get("statetrack", {})
    peers = [r[key] for t, r in results.items() if t != "statetrack" and key in r]
    if key not in ours:
        return "-"
    if not peers:
        return "peers fail"
    return f"{min(peers) / max(ours[key], 1e-6):.2f}x"


def table(title: str, rows: list[tuple[str, dict[str, dict]]], extra: str | None = None) -> str:
    head = ["case"] + TOOLS + ["statetrack CPU"]
    head += (["states"] if extra == "states" else ["equal"] if extra == "equal" else []) + ["ratio", "CPU-time ratio"]
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in rows:
        cells = [name] + [_cell(res.get(t, {"error": "skipped"})) for t in TOOLS]
        ours = res.get("statetrack", {})
        cells.append(f"{ours['cpu_ms']:.3g}" if "cpu_ms" in ours else "-")
        if extra == "states":
            cells.append(str(ours.get("states", "-")))
        elif extra == "equal":
            cells.append(str(ours.get("equivalent", "-")))
        cells += [_ratio(res), _ratio(res, "cpu_ms")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def engine_table(rows: list[tuple[str, dict[str, dict]]], engines: list[str]) -> str:
    head = ["case"] + [f"{e} (wall / CPU ms)" for e in engines]
    lines = ["### Minimisation engines on the (a|b)*a(a|b){k} DFA (already minimal: every round is needed)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in rows:
        cells = [name]
        for e in engines:
            r = res[e]
            cells.append(r["error"] if "error" in r else f"{r['median_ms']:.4g} / {r['cpu_ms']:.4g}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=2, metavar=("TOOL", "TASK"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="practical patterns and k <= 12 only")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per (tool, task) subprocess")
    ap.add_argument("--kmax", type=int, default=20)
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--out", help="write the tables (markdown) to this file")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], json.loads(args.worker[1]))))
        return
    tools = args.tools.split(",")
    kmax = min(args.kmax, 12) if args.quick else args.kmax

    practical = []
    for name, pat in PRACTICAL:
        res = {t: run_task(t, {"kind": "compile", "pattern": pat, "reps": 31, "budget_s": 3.0}, args.timeout) for t in tools}
        practical.append((name, res))
        print(name, {t: _cell(r) for t, r in res.items()}, _ratio(res), flush=True)

    blowup: list[tuple[str, dict[str, dict]]] = []
    gave_up: dict[str, str] = {}  # tool -> why it is not tried at larger k
    for k in range(5, kmax + 1):
        task = {"kind": "compile", "pattern": f"(a|b)*a(a|b){{{k}}}", "reps": 5 if k < 16 else 3, "budget_s": 4.0}
        res = {}
        for t in tools:
            if t in gave_up:
                res[t] = {"error": f"{gave_up[t]} at smaller k"}
                continue
            res[t] = run_task(t, task, args.timeout)
            if "error" in res[t]:
                gave_up[t] = res[t]["error"].split(" (")[0]
        blowup.append((f"k={k}", res))
        print(f"k={k}", {t: _cell(r) for t, r in res.items()}, _ratio(res), flush=True)

    equiv = []
    for name, a, b in EQUIV:
        res = {t: run_task(t, {"kind": "equiv", "left": a, "right": b, "reps": 5, "budget_s": 5.0}, args.timeout) for t in tools}
        equiv.append((name, res))
        print(name, {t: _cell(r) for t, r in res.items()}, _ratio(res), flush=True)

    engines = ["moore", "hopcroft", "moore-small"]
    engine_rows = []
    for k in ([12, 15] if args.quick else [12, 15, 18]):
        task = {"kind": "engine", "pattern": f"(a|b)*a(a|b){{{k}}}", "reps": 3, "budget_s": 10.0}
        res = {e: run_task(e, task, args.timeout) for e in engines}
        engine_rows.append((f"k={k} ({2 ** (k + 1)} states)", res))
        print(f"engines k={k}", {e: _cell(r) for e, r in res.items()}, flush=True)

    last_k, last = blowup[-1]
    ours = last.get("statetrack", {})
    mem = (
        f"Memory at {last_k}: statetrack peak RSS {ours.get('peak_rss_mb', float('nan')):.0f} MB "
        f"(after imports {ours.get('base_rss_mb', float('nan')):.0f} MB), {ours.get('states', '?')} states."
    )
    versions = _versions()
    text = "\n\n".join(
        [
            "## Automata benchmark (`benchmarks/bench_automata.py`)",
            f"Run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {os.cpu_count()}-core CPU "
            f"({platform.processor() or platform.machine()}), Python {platform.python_version()}; "
            f"load average at start {os.getloadavg()[0]:.1f}; cells are wall-clock medians in ms; timeout "
            f"{args.timeout:.0f} s per tool and case; ratio = fastest peer / statetrack on wall-clock medians, "
            "CPU-time ratio the same on process CPU-time medians (robust to other jobs on the machine). "
            f"Versions: {versions}.",
            table("Regex -> minimal DFA, practical patterns", practical, "states"),
            table("Blow-up family (a|b)*a(a|b){k}: regex -> minimal DFA (2^(k+1) states)", blowup, "states"),
            mem,
            table("Language equivalence (both DFAs built beforehand; time of the check only)", equiv, "equal"),
            engine_table(engine_rows, engines),
        ]
    )
    print()
    print(text)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text + "\n")


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ["statetrack", "automata-lib", "interegular", "greenery", "pyformlang", "numpy"]:
        try:
            out.append(f"{dist} {version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist} missing")
    return ", ".join(out)


if __name__ == "__main__":
    main()
