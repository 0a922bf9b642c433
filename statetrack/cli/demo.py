"""CLI command ``demo``: compile, prove and run the showcase languages, one table.

Languages: parity, mod:3 (rotation), group:S3, group:S5, modsum:5 (modadd2, two layers), tomita:5 (the Klein
four-group language) and tomita:3 (not a group: the Krohn-Rhodes cascade of Theorem 4, nine layers). Each is compiled, proved exactly, and run in float32 and bfloat16 for ``--steps`` tokens
(default 10^5) on a random word, one long run of each symbol and one cycled short word.
"""
from __future__ import annotations

import argparse

from statetrack.cli.common import add_json, emit, table

#: (catalog name, construction)
DEMO = [("parity", "auto"), ("mod:3", "rotation"), ("group:S3", "auto"), ("group:S5", "auto"),
        ("modsum:5", "modadd2"), ("tomita:5", "auto"), ("tomita:3", "auto")]
DTYPES = ("float32", "bfloat16")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="the built-in tour: compile, prove and run the showcase languages",
        description="Compile parity, mod:3 (rotation), group:S3, group:S5, modsum:5 (two layers), tomita:5 and "
                    "tomita:3 (not a group: the Krohn-Rhodes cascade), prove each exactly, run each in float32 and bfloat16 for --steps tokens, print one table.")
    p.add_argument("--steps", type=int, default=100_000, help="tokens per numeric run (default 100000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random words")
    add_json(p)
    p.set_defaults(func=_cmd_demo)


def demo_rows(steps: int = 100_000, seed: int = 0, progress: bool = False) -> list[dict]:
    """One dict per language: compile report fields, the proof and the numeric results per dtype."""
    from tqdm.auto import tqdm

    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language, prove
    from statetrack.lrnn.verify_numeric import run_numeric
    from statetrack.lrnn.verify_numeric import sample_words

    rows = []
    for name, construction in tqdm(DEMO, desc="demo", unit="language", disable=not progress):
        dfa = get_language(name)
        model, rep = compile_language(dfa, construction, group_action=_generators(name, dfa))
        proof = prove(model)
        words = sample_words(model.dfa(), steps, model.dfa().n_symbols + 2, seed)
        row = {"language": name, "construction": rep["construction"], "layers": rep["layers"], "dims": rep["dims"],
               "factors": rep["factors"], "codes": rep["codes"], "proved": proof.proved,
               "reachable": proof.reachable}
        for dt in DTYPES:
            res = run_numeric(model, dt, words=words)
            row[dt] = res.to_json()
        rows.append(row)
    return rows


def _generators(name: str, dfa):
    if not name.startswith("group:"):
        return None
    import numpy as np

    from statetrack.automata.groups_catalog import group_generators

    spec = group_generators(name.split(":", 1)[1])
    return np.array(spec.perms, dtype=np.int64) if list(spec.letters) == list(dfa.alphabet) else None


def _cell(res: dict) -> str:
    drift = res["max_drift"]
    drift = drift if isinstance(drift, str) else f"{drift:.2g}"
    first = f" @{res['first_fail_length']}" if res["first_fail_length"] else ""
    return f"{res['errors']}/{res['tested']}{first}, {drift}"


def _cmd_demo(args: argparse.Namespace) -> int:
    import time

    from statetrack.errors import StatetrackError

    if args.steps < 1:
        raise StatetrackError(f"--steps must be at least 1, got {args.steps}")
    t0 = time.perf_counter()
    import sys

    rows = demo_rows(args.steps, args.seed, progress=sys.stderr.isatty())
    elapsed = time.perf_counter() - t0

    def text() -> str:
        body = [[r["language"], r["construction"], r["layers"], "x".join(map(str, r["dims"])),
                 "+".join(map(str, r["factors"])), "yes" if r["proved"] else "NO",
                 _cell(r["float32"]), _cell(r["bfloat16"])] for r in rows]
        head = ["language", "construction", "layers", "dims", "factors", "proved",
                "float32 errors/words, drift", "bfloat16 errors/words, drift"]
        return (table(body, head) + f"\n\n{args.steps} tokens per word; words: one random, one run of each symbol, "
                f"one cycled short word. 'errors' counts words with a wrong per-token state (@ first failing "
                f"length); drift is the largest distance of a state from its code. {elapsed:.1f} s.")

    emit(args, {"rows": rows, "steps": args.steps, "seconds": round(elapsed, 2)}, text)
    return 0
