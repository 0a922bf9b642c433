"""``statetrack certify``: a certificate that a model classifies every word as the language does, at every length
(exit 0), a counterexample word checked on the model (exit 1), or "inconclusive" with the reason (exit 3); see
docs/certify.md."""
from __future__ import annotations

import argparse

from .common import add_json, add_source, emit, load_source, source_given


def register(subparsers) -> None:
    p = subparsers.add_parser("certify", help="prove that a trained or compiled model recognises a language",
                              description="Certify a training run (an LRNN of one or more layers) or a compiled model: exit 0 "
                                          "certified, 1 counterexample, 3 inconclusive, 2 bad input.")
    p.add_argument("model", metavar="RUN_DIR|MODEL", help="a training run directory or a compiled model file")
    add_source(p, required=False)
    p.add_argument("--search-lengths", default="64,256,1024,4096", metavar="L,L,...",
                   help="lengths of the random words searched for a counterexample (default 64,256,1024,4096)")
    p.add_argument("--search-words", type=int, default=4096, metavar="N",
                   help="search every word up to the longest length with at most N words (default 4096)")
    p.add_argument("--no-search", action="store_true", help="skip the counterexample search")
    p.add_argument("--max-rounds", type=int, default=3000, help="rounds of the region iteration")
    p.add_argument("--max-boxes", type=int, default=50_000, metavar="N",
                   help="readout boxes the branch and bound of diagonal layers may evaluate")
    p.add_argument("--deepen", type=int, default=6, metavar="N",
                   help="diagonal layers: retry the readout with nodes that keep 2, 4, ... N more of the last tokens")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (stderr) on long checks")
    p.add_argument("--seed", type=int, default=0)
    add_json(p)
    p.set_defaults(func=run_certify)


def _lengths(text: str) -> tuple[int, ...]:
    from statetrack.errors import StatetrackError

    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise StatetrackError(f"--search-lengths {text!r}: give lengths separated by commas") from None
    if not out or min(out) < 1:
        raise StatetrackError(f"--search-lengths {text!r}: lengths must be >= 1")
    return out


def run_certify(args: argparse.Namespace) -> int:
    from statetrack.errors import StatetrackError
    from statetrack.lrnn.certify import certify_path

    if args.search_words < 1:
        raise StatetrackError(f"--search-words {args.search_words}: need at least 1")
    if args.max_rounds < 1:
        raise StatetrackError(f"--max-rounds {args.max_rounds}: need at least 1")
    if args.max_boxes < 1:
        raise StatetrackError(f"--max-boxes {args.max_boxes}: need at least 1")
    if not 0 <= args.deepen <= 16:
        raise StatetrackError(f"--deepen {args.deepen}: need 0..16")
    dfa = load_source(args) if source_given(args) else None
    import os

    if os.path.isdir(args.model):
        cert = certify_path(args.model, dfa, search=not args.no_search, seed=args.seed, max_rounds=args.max_rounds,
                            search_lengths=_lengths(args.search_lengths), search_words=args.search_words,
                            max_boxes=args.max_boxes, progress=not args.no_progress, deepen=args.deepen)
    else:
        cert = certify_path(args.model, dfa)

    def text() -> str:
        lines = [f"{cert.status} ({cert.method})"]
        if cert.reason:
            lines.append(cert.reason)
        if cert.word is not None:
            lines.append(f"word ({len(cert.word)} symbols): {cert.word_text()!r}; model class {cert.predicted}, "
                         f"language class {cert.expected}")
        if cert.arithmetic:
            lines.append(f"arithmetic: {cert.arithmetic}; words of length >= {cert.min_length}")
        for k, v in cert.details.items():
            lines.append(f"  {k}: {v}")
        return "\n".join(lines)

    emit(args, cert.to_json(), text)
    return cert.exit_code
