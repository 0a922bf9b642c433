"""``statetrack report``: one self-contained HTML page (:mod:`statetrack.report`) for a language, a compiled model,
a trained run or an fla checkpoint. Parsing and formatting only."""
from __future__ import annotations

import argparse

from .common import add_json, add_source, describe_source, emit, load_source, source_given, table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="an HTML report: DFA drawing, monoid egg-box, verdicts, compiled model, eigenvalues, accuracy",
        description="Write one self-contained HTML page (inline SVG and CSS, nothing fetched when viewed) about a "
                    "language source, a compiled-model file, a trained run folder, or an fla checkpoint folder "
                    "(with --token-map and the language it should recognise).")
    p.add_argument("path", nargs="?", help="compiled model (.safetensors), run folder, or fla checkpoint folder")
    add_source(p, required=False)
    p.add_argument("--token-map", metavar="FILE", help="fla checkpoints: which token is which symbol and class "
                                                       "(docs/fla.md)")
    p.add_argument("--numeric-len", type=int, default=256, metavar="T",
                   help="tokens per word of the compiled model's numeric runs")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    add_json(p)
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from statetrack.errors import StatetrackError
    from statetrack.report import build_report, write_report

    if args.numeric_len < 1:
        raise StatetrackError(f"--numeric-len must be at least 1, got {args.numeric_len}")
    dfa, name = None, ""
    if source_given(args):
        dfa = load_source(args)
        src = describe_source(args)
        name = str(next(iter(v for k, v in src.items() if k in ("lang", "regex", "dfa")), "language"))
    if args.path is None and dfa is None:
        raise StatetrackError("report: give a model path or a language source (--lang, --regex or --dfa)")
    report = build_report(args.path, dfa, name, args.token_map, args.numeric_len)
    write_report(report, args.output)
    out = {**report.to_json(), "output": args.output}

    def text() -> str:
        rows = [[s["id"], s["heading"], s["bytes"]] for s in out["sections"]]
        return f"{report.title}\n{report.summary}\n" + table(rows, ["section", "heading", "bytes"]) + \
            f"\nwrote {args.output}"

    emit(args, out, text)
    return 0
