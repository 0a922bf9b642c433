"""``statetrack gen``: labelled train/test suites of a language (see docs/suites.md)."""
from __future__ import annotations

import argparse

from .common import add_json, add_source, describe_source, emit, load_source, table


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "gen",
        help="generate labelled train/test suites",
        description="Uniform, balanced, de-duplicated train/test suites of a language, with length "
        "generalisation (test lengths beyond the train lengths) and final or per-token labels.",
    )
    add_source(p)
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory, written whole (an existing suite is replaced only with --force)")
    p.add_argument("--force", action="store_true", help="replace an existing suite directory")
    p.add_argument("--train-lengths", metavar="A:B", help="train lengths, inclusive (default 1:20)")
    p.add_argument("--test-lengths", metavar="C:D", help="test lengths, inclusive (default 21:40)")
    p.add_argument("--per-length", type=int, metavar="N", help="words per length (default 100)")
    p.add_argument("--balance", metavar="F",
                   help="fraction of accepted words per length, or 'natural' for uniform words (default 0.5)")
    p.add_argument("--hard-negatives", type=float, metavar="F",
                   help="fraction of the rejected words that are one edit from an accepted word (default 0)")
    p.add_argument("--labels", choices=["final", "per-token"], help="one label per word, or per symbol (default final)")
    p.add_argument("--format", choices=["jsonl", "npz"], default="jsonl", help="file format (default jsonl)")
    p.add_argument("--seed", type=int, help="random seed (default: drawn and recorded in the manifest)")
    p.add_argument("--allow-duplicates", action="store_true",
                   help="draw words independently (repeats within and across splits possible)")
    p.add_argument("--preset", choices=["chomsky", "wordproblem"],
                   help="published protocol: chomsky (train 3:40, test 40:256, final labels) or wordproblem "
                        "(train 32 or 128, test 512, per-token labels)")
    p.add_argument("--counting", choices=["auto", "exact", "float"], default="auto",
                   help="count with Python integers or in the log-space float mode (default: by size)")
    add_json(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from statetrack.automata.suites import generate_suite, parse_balance, parse_length_range, resolve_options, write_suite
    from statetrack.fileio import check_output_dir

    out = check_output_dir(args.out, "-o", replace=args.force)  # before the (possibly long) generation
    options = resolve_options(
        args.preset,
        train_lengths=parse_length_range(args.train_lengths, "--train-lengths") if args.train_lengths else None,
        test_lengths=parse_length_range(args.test_lengths, "--test-lengths") if args.test_lengths else None,
        per_length=args.per_length,
        balance=parse_balance(args.balance) if args.balance is not None else None,
        hard_negatives=args.hard_negatives,
        labels=args.labels,
        seed=args.seed,
        allow_duplicates=True if args.allow_duplicates else None,
        exact={"auto": None, "exact": True, "float": False}[args.counting],
    )
    dfa = load_source(args)
    suite = generate_suite(dfa, options, progress=True)
    files = write_suite(suite, out, args.format, describe_source(args), replace=args.force)
    counts = suite.counts()
    obj = {
        "files": files,
        "counts": counts,
        "seed": suite.seed,
        "per_length": suite.per_length_counts(),
        "counting": suite.counting,
        "notes": suite.notes,
    }

    def text() -> str:
        rows = [[name, c["total"], c["accepted"], c["rejected"], c["hard_negatives"], files[name]] for name, c in counts.items()]
        lines = [table(rows, ["split", "words", "accepted", "rejected", "hard", "file"]), f"seed {suite.seed}; manifest {files['manifest']}"]
        if suite.notes:
            shown = suite.notes[:5]
            more = f" (and {len(suite.notes) - 5} more in the manifest)" if len(suite.notes) > 5 else ""
            lines.append("notes: " + "; ".join(shown) + more)
        return "\n".join(lines)

    emit(args, obj, text)
    return 0
