"""CLI command ``demo``: the built-in tour (:mod:`statetrack.tour`) as one table.

The rows are computed by :func:`statetrack.tour.demo_rows`; this module parses the options and formats them.
"""
from __future__ import annotations

import argparse

from statetrack.cli.common import add_json, emit, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the built-in tour: compile, prove and run the showcase languages",
        description="Compile parity, mod:3 (an exact 3-cycle), mod:5 (a rotation: fewer factors than any exact "
                    "construction), group:S3, group:S5, group:Q8 (signed permutations), modsum:5 (two layers), "
                    "tomita:5 and "
                    "tomita:3 (not a group: the Krohn-Rhodes cascade shortened by the direct search), prove each exactly, run each in float32 and "
                    "bfloat16 for --steps tokens, print one table.")
    p.add_argument("--steps", type=int, default=100_000, help="tokens per numeric run (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random words")
    p.add_argument("--report", metavar="DIR", help="also write each language's HTML report into DIR")
    add_json(p)
    p.set_defaults(func=_cmd_demo)


def _cell(res: dict) -> str:
    drift = res["max_drift"]
    drift = drift if isinstance(drift, str) else f"{drift:.2g}"
    first = f" @{res['first_fail_length']}" if res["first_fail_length"] else ""
    return f"{res['errors']}/{res['tested']}{first}, {drift}"


def _cmd_demo(args: argparse.Namespace) -> int:
    import sys
    import time

    from statetrack.errors import StatetrackError
    from statetrack.tour import demo_rows

    if args.steps < 1:
        raise StatetrackError(f"--steps must be at least 1, got {args.steps}")
    t0 = time.perf_counter()
    rows = [r.to_json() for r in demo_rows(args.steps, args.seed, progress=sys.stderr.isatty())]
    reports = []
    if args.report:
        from statetrack.tour import demo_reports

        reports = demo_reports(args.report, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - t0

    def text() -> str:
        body = [[r["language"], r["construction"], r["layers"], "x".join(map(str, r["dims"])),
                 "+".join(map(str, r["factors"])), "yes" if r["proved"] else "NO",
                 _cell(r["float32"]), _cell(r["bfloat16"])] for r in rows]
        head = ["language", "construction", "layers", "dims", "factors", "proved",
                "float32 errors/words, drift", "bfloat16 errors/words, drift"]
        return (table(body, head) + f"\n\n{args.steps} tokens per word; words: one random, one run of each symbol, "
                f"one cycled short word. 'errors' counts words with a wrong per-token state (@ first failing "
                f"length); drift is the largest distance of a state from its code. {elapsed:.1f} s."
                + (f"\nreports: {', '.join(reports)}" if reports else ""))

    out = {"rows": rows, "steps": args.steps, "seconds": round(elapsed, 2)}
    if args.report:
        out["reports"] = reports
    emit(args, out, text)
    return 0
