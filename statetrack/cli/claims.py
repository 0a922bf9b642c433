"""CLI command ``claims``: impossibility claims as executable checks (Theorems 1 and 2, Proposition 1).

``statetrack claims parity|modcount|spectrum [--family F --range R | --model FILE] [--dtype D] ...``.
Every result is computed by :func:`statetrack.lrnn.claims.verdict.claim_report`; this module parses and formats.
Exit codes: 0 the claim is confirmed or predicts nothing; 1 a negative answer (verdict ``not confirmed``,
``violated`` or ``construction failed``, or a failed Proposition-1 check); 2 bad usage or input.
"""
from __future__ import annotations

import argparse

from statetrack.cli.common import add_json, emit, table
from statetrack.vocabulary import CLAIM_ENGINES, CLAIM_PRECISIONS, LRNN_LAYER_TYPES

FAMILY_CHOICES = list(LRNN_LAYER_TYPES)


def _common(p: argparse.ArgumentParser, sampling: bool = True) -> None:
    g = p.add_argument_group("what to check")
    g.add_argument("--family", choices=FAMILY_CHOICES, default="deltanet",
                   help="family of random members (default deltanet; deltaproduct has n_h = 2)")
    g.add_argument("--range", dest="eig_range", default="0,1", metavar="R",
                   help="eigenvalue range of the family: 0,1 or -1,1 (default 0,1)")
    g.add_argument("--model", metavar="FILE",
                   help="check this model instead of sampling: a compiled model or a saved LRNN model")
    g.add_argument("--samples", type=int, default=20, metavar="N", help="random members to check (default 20)")
    g.add_argument("--seed", type=int, default=0, help="seed of the first member (members use seed, seed+1, ...)")
    g.add_argument("--layers", type=int, default=2, metavar="L", help="layers of a random member (default 2)")
    p.add_argument("--dtype", default="float32", help="float16 | bfloat16 | float32 (default float32)")
    p.add_argument("--precision", choices=CLAIM_PRECISIONS, default="per-step",
                   help="per-step: exact products, each rounded to the grid (ties to the smaller value), exact sum "
                        "rounded, after every step (default); paper: App. B of the paper, every product exact, each "
                        "term of the closed form cast once, exact sum cast once (decided with certificates, see "
                        "docs/claims.md); float: plain torch arithmetic in the dtype")
    p.add_argument("--symbol", default=None, help="the repeated symbol (default '1')")
    p.add_argument("--plot", metavar="FILE.png", help="draw the transition eigenvalues on the complex plane")
    if sampling:
        p.add_argument("--max-steps", type=int, default=None, metavar="T",
                       help="how far the run on 1^t is followed: single steps per layer for the fast runner "
                            "(default 67108864), tokens for the reference runner (default 65536); paper model: the "
                            "certificate search per layer (default 512)")
        p.add_argument("--engine", choices=CLAIM_ENGINES, default="auto",
                       help="auto: the compiled layer-by-layer cycle search (needs numba) for the per-step model of "
                            "LRNN members, the reference runner otherwise; fast: that search or an error; reference: "
                            "intern every state (same answers; default auto)")
        p.add_argument("--steps", type=int, default=10 ** 6, metavar="T",
                       help="length of the construction's run (default 1000000)")
    p.add_argument("--progress", action="store_true", help="show progress bars on stderr")
    add_json(p)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("claims", help="impossibility witnesses: parity (Thm 1), counting mod m (Thm 2), spectra",
                       description="Check the paper's impossibility claims on models: find the step after which the "
                                   "state on 1^t repeats and the witness words the model must label alike.")
    cs = p.add_subparsers(dest="claim", metavar="CLAIM")
    cs.required = True
    q = cs.add_parser("parity", help="Theorem 1: non-negative real eigenvalues cannot solve parity",
                      description="Run 1^t, find the settle step t* and period p of the state; with p odd the words "
                                  "1^t* and 1^(t*+p) differ in parity but reach the same state. Also runs the parity "
                                  "construction for --steps steps.")
    _common(q)
    q.set_defaults(func=run_parity)
    q = cs.add_parser("modcount", help="Theorem 2: counting mod m needs non-real eigenvalues",
                      description="Run 1^t, find the eventual period p (divides 2^L for real spectra) and a witness "
                                  "that counting mod m fails. Also runs the rotation construction.")
    q.add_argument("--m", type=int, default=3, help="the modulus (default 3)")
    _common(q)
    q.set_defaults(func=run_modcount)
    q = cs.add_parser("spectrum", help="Proposition 1 checks and the eigenvalues of A(x) and of transition products",
                      description="Check Proposition 1 (norm <= 1 for beta in [0,2]; real eigenvalues in [0,1] for "
                                  "<= 2 factors with beta in [0,1]; a 3-factor example with non-real eigenvalues) "
                                  "and report the spectra of a model's or of sampled members' transitions.")
    _common(q, sampling=False)
    q.add_argument("--max-steps", type=int, default=1 << 13, metavar="T",
                   help="longest run 1^T for the product spectra of LRNN layers (default 8192)")
    q.set_defaults(func=run_spectrum)


# ------------------------------------------------------------------------------------------------ helpers
def _validate(args: argparse.Namespace) -> None:
    """Option checks that name the option (the library checks the same values by parameter name)."""
    from statetrack.errors import StatetrackError

    for flag, name in (("--steps", "steps"), ("--max-steps", "max_steps"), ("--samples", "samples"),
                       ("--layers", "layers")):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise StatetrackError(f"{flag} must be at least 1; got {value}")
    if args.symbol is not None and not args.model:
        raise StatetrackError("--symbol has no effect on random members (they read the symbol '1'); it applies "
                              "with --model")
    if getattr(args, "m", 3) < 2:
        raise StatetrackError(f"--m must be at least 2; got {args.m}")


def _text(out: dict) -> str:
    rows = []
    for k in ("family", "range", "model", "dtype", "precision", "engine", "samples", "layers", "m", "witness_rate",
              "settle_step", "period", "periods", "unsettled", "undecided", "undecided_reasons", "value_not_computed",
              "reason", "predicted", "output_coincidences"):
        if k in out:
            rows.append([k, out[k]])
    w = out.get("witness")
    rows.append(["witness", "none" if w is None else
                 f"{w['words'][0]} vs {w['words'][1]} (same full state"
                 + (f"; labels {w['labels']})" if "labels" in w else f"; {w.get('precision', '')} model)")])
    oc = out.get("output_coincidence")
    if oc:
        rows.append(["output coincidence (not a witness)", f"{oc['words'][0]} vs {oc['words'][1]}"])
    for f in out.get("findings", []):
        who = f"seed {f['seed']}: " if "seed" in f else ""
        rows.append(["finding", f"{who}settle {f['settle_step']}, period {f['period']} ({f['precision']}): "
                                f"{f['note']}"])
    c = out["construction"]
    rows.append(["construction", ", ".join(f"{k}={v}" for k, v in c.items())])
    rows.append(["verdict", f"{out['verdict']}: {out['verdict_message']}"])
    return table(rows, ["field", "value"])


def _run(args, claim: str) -> int:
    from statetrack.lrnn.claims.verdict import claim_report

    _validate(args)
    report = claim_report(claim, model_path=args.model, family=args.family, eigenvalue_range=args.eig_range,
                          dtype=args.dtype, precision=args.precision, samples=args.samples, seed=args.seed,
                          layers=args.layers, m=getattr(args, "m", 3), max_steps=args.max_steps, steps=args.steps,
                          symbol=args.symbol, plot=args.plot, progress=args.progress, engine=args.engine)
    out = report.to_json()
    emit(args, out, lambda: _text(out))
    return 0 if report.ok else 1


def run_parity(args: argparse.Namespace) -> int:
    return _run(args, "parity")


def run_modcount(args: argparse.Namespace) -> int:
    return _run(args, "modcount")


def run_spectrum(args: argparse.Namespace) -> int:
    import numpy as np

    from statetrack.lrnn.claims.spectra import plot_eigenvalues
    from statetrack.lrnn.claims.spectrum_report import spectrum_report

    if not args.model and args.samples < 1:
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"--samples must be at least 1; got {args.samples}")
    report = spectrum_report(args.dtype, args.precision, model_path=args.model, family=args.family,
                             eig_range=args.eig_range, samples=args.samples, seed=args.seed, layers=args.layers,
                             symbol=args.symbol, max_steps=args.max_steps)
    out = report.to_json()
    prop = out["proposition1"]
    if args.plot:
        plot_eigenvalues({k: np.array(v) for k, v in report.groups.items()}, args.plot, "transition eigenvalues")
        out["plot"] = args.plot

    def text() -> str:
        rows = [["norm <= 1 (beta in [0,2])", f"max {prop['norm']['max_norm']:.12g}: {prop['norm']['holds']}"],
                ["<= 2 factors, beta in [0,1]", f"max |imag| {prop['two_factors']['max_abs_imag']:.3g}, real in "
                 f"[{prop['two_factors']['min_real']:.3g}, {prop['two_factors']['max_real']:.12g}]: "
                 f"{prop['two_factors']['holds']}"],
                ["3 factors, non-real example", "none found" if not prop["three_factors"].get("found") else
                 f"betas {prop['three_factors']['betas']}, max |imag| {prop['three_factors']['max_abs_imag']:.3g}"]]
        if "symbols" in out:
            for r in out["symbols"]:
                rows.append([f"A({r['symbol']}) layer {r['layer']}", f"real={r['real']} min Re {r['min_real']:.3g} "
                             f"max |z| {r['max_modulus']:.3g}"])
            for r in out["products"]:
                if r.get("count"):
                    rows.append([f"products of {r['product_length']}, layer {r['layer']}",
                                 f"real={r['real']} max |imag| {r['max_abs_imag']:.3g}"])
        if "members" in out:
            rows.append(["members' transition products real", f"{out['products_real']} of {out['products_checked']}"])
        return table(rows, ["check", "result"])

    emit(args, out, text)
    return 0 if report.ok else 1
