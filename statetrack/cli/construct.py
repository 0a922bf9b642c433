"""CLI commands ``compile`` (build LRNN weights for a language) and ``verify`` (prove / test a compiled model).

Handlers import numpy, torch and the constructions lazily.
"""
from __future__ import annotations

import argparse

from statetrack.cli.common import add_json, add_source, check_count, emit, load_source, source_given, table
from statetrack.vocabulary import CASCADE_COUPLINGS, COMPILE_PREFERENCES, CONSTRUCTIONS, VERIFY_KERNEL

#: resource limit of ``verify``: test tokens of the numeric run (``--max-len`` x ``--samples``)
VERIFY_MAX_TOKENS = 1 << 24

CONSTRUCTION_CHOICES = list(CONSTRUCTIONS)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compile", help="build LRNN weights (GH products) that recognise a language",
        description="Compile a language into a compiled-model file (safetensors + JSON metadata): parity, rotation "
                    "(Z_m counters), group (Theorem 3), modadd2 (Theorem 6), cascade (Krohn-Rhodes) "
                    "or the unconstrained dense baseline. 'auto' picks the cheapest that applies.")
    add_source(p)
    p.add_argument("--construction", choices=CONSTRUCTION_CHOICES, default="auto",
                   help="which construction (default: auto)")
    p.add_argument("--coupling", choices=CASCADE_COUPLINGS, default=None,
                   help="cascade only: how a level reads the previous coordinates of the levels above "
                        "(copy layers, or a width-2 causal convolution); default: the cascade's own")
    p.add_argument("--prefer", choices=COMPILE_PREFERENCES, default="balanced",
                   help="auto only: balanced (fewest factors, exact at equal count; default), exact (exact first) or "
                        "small (fewest factors, then smallest state, even with irrational entries)")
    p.add_argument("--work", type=int, default=None, metavar="STEPS",
                   help="steps shared by the searches (bit codes, merging of cascade layers, direct stacks); deterministic, so "
                        "the same on every machine (default: 3000000, a few seconds)")
    p.add_argument("-o", "--output", metavar="MODEL", required=True, help="compiled-model file to write")
    add_json(p)
    p.set_defaults(func=_cmd_compile)

    p = sub.add_parser(
        "verify", help="prove (exact) and test (float) a compiled model",
        description="Check a compiled model against its DFA: --exact proves it for every length by a search over "
                    "reachable states in exact arithmetic; the numeric run compares per-token states in a float "
                    "dtype on random and adversarial words (--samples 0 skips it). With a language source, also "
                    "check that the model's DFA denotes that language. Exit 1 when any check fails.")
    p.add_argument("model", metavar="MODEL", help="compiled-model file")
    add_source(p, required=False)
    p.add_argument("--exact", action="store_true", help="prove exactly (breadth-first search, exact arithmetic)")
    p.add_argument("--max-len", type=int, default=1000, metavar="L", help="length of the numeric test words")
    p.add_argument("--samples", type=int, default=32, metavar="N", help="number of numeric test words (0: skip)")
    p.add_argument("--dtype", default="float32", help="float64 | float32 | bfloat16 | float16 (default float32)")
    p.add_argument("--kernel", default=VERIFY_KERNEL,
                   help="all (default: every available kernel, the worst reported) | direct (sequential runner) | "
                        "reference | chunked | triton | auto (Householder-scan kernels)")
    p.add_argument("--device", default="cpu", help="torch device for the numeric run (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test words")
    add_json(p)
    p.set_defaults(func=_cmd_verify)


def _catalog_action(args: argparse.Namespace, dfa):
    """The catalog's generator permutations for ``--lang group:NAME`` (:func:`statetrack.api.catalog_group_action`)."""
    from statetrack.api import catalog_group_action

    name = getattr(args, "lang", None)
    return catalog_group_action(name, dfa) if name else None


def _cmd_compile(args: argparse.Namespace) -> int:
    from statetrack.errors import StatetrackError
    from statetrack.constructions import compile_language, save_model

    if args.coupling is not None and args.construction not in ("cascade", "auto"):
        raise StatetrackError(f"--coupling applies to the cascade construction, not to {args.construction!r}")
    dfa = load_source(args)
    if args.prefer != "balanced" and args.construction not in ("auto", "cascade"):
        raise StatetrackError(f"--prefer applies to the auto and cascade constructions, not to "
                              f"{args.construction!r}")
    extra = {}
    if args.work is not None:
        if args.work < 0:
            raise StatetrackError(f"--work must be a number of steps >= 0, got {args.work}")
        extra["work"] = args.work
    model, report = compile_language(dfa, args.construction, group_action=_catalog_action(args, dfa),
                                     coupling=args.coupling, prefer=args.prefer, **extra)
    save_model(model, args.output)
    report = dict(report, output=args.output)

    def text() -> str:
        rows = [[k, v] for k, v in report.items()]
        return table(rows, ["field", "value"])

    emit(args, report, text)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    import sys

    from statetrack.errors import StatetrackError

    bars = sys.stderr.isatty()
    check_count(args.samples, "--samples", 0)
    check_count(args.seed, "--seed", 0)
    if args.samples > 0:
        check_count(args.max_len, "--max-len", 1)
        if args.max_len * args.samples > VERIFY_MAX_TOKENS:
            raise StatetrackError(f"--max-len {args.max_len} x --samples {args.samples} = "
                                  f"{args.max_len * args.samples} test tokens exceeds the limit VERIFY_MAX_TOKENS = "
                                  f"{VERIFY_MAX_TOKENS} (see docs/security.md)")
    if not (args.exact or args.samples > 0 or source_given(args)):
        raise StatetrackError("nothing to check: give --exact, a language source, or --samples N > 0")
    if args.samples > 0 and args.device != "cpu":
        import torch

        try:
            torch.empty(0, device=args.device)
        except (RuntimeError, AssertionError) as exc:
            raise StatetrackError(f"--device {args.device!r} is not usable here: {str(exc).splitlines()[0]}") from None

    from statetrack.api import verify
    from statetrack.lrnn.verify import NumericOptions

    numeric = None
    if args.samples > 0:
        numeric = NumericOptions(dtype=args.dtype, max_len=args.max_len, samples=args.samples, kernel=args.kernel,
                                 device=args.device, seed=args.seed)
    result = verify(args.model, dfa=load_source(args) if source_given(args) else None, exact=args.exact,
                    numeric=numeric, progress=bars)
    out = result.to_json()
    ok = result.ok

    def text() -> str:
        lines = [f"model {args.model} ({result.construction})"]
        if out["language"] is not None:
            lang = out["language"]
            lines.append("language: same as the source" if lang["equivalent"] else
                         f"language: DIFFERENT from the source, e.g. {lang['counterexample']!r}")
        if out["exact"] is not None:
            ex = out["exact"]
            lines.append(("exact: PROVED. " if ex["proved"] else "exact: FAILED. ") + ex["detail"])
        if out["numeric"] is not None:
            nm = out["numeric"]
            drift = nm["max_drift"] if isinstance(nm["max_drift"], str) else f"{nm['max_drift']:.3g}"
            first = "" if nm["first_fail_length"] is None else f" (first at length {nm['first_fail_length']})"
            worst = f", worst {nm['worst_kernel']}" if nm.get("worst_kernel") else ""
            lines.append(f"numeric ({nm['dtype']}, {nm['kernel']}{worst}): {nm['errors']} of {nm['tested']} words "
                         f"wrong{first}, max length {nm['max_len']}, max drift {drift}")
            for r in nm.get("kernels", []):
                lines.append(f"  {r['kernel']}: {r['errors']} wrong, first at length {r['first_fail_length']}")
            for k, why in nm.get("skipped", {}).items():
                lines.append(f"  {k}: skipped ({why})")
        lines.append("verdict: ok" if ok else "verdict: FAILED")
        return "\n".join(lines)

    emit(args, out, text)
    return 0 if ok else 1
