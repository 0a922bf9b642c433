"""CLI command ``claims``: impossibility claims as executable checks (Theorems 1 and 2, Proposition 1).

``statetrack claims parity|modcount|spectrum [--family F --range R | --model FILE] [--dtype D] ...``.
Exit codes: 0 the check ran and confirmed the claim; 1 a negative answer: a member for which the theorem predicts a
witness settled without one (``violations``), or did not settle within ``--max-steps`` (``unsettled``: not confirmed),
a construction that stops alternating / counting, or a failed Proposition-1 check; 2 bad usage or input.
"""
from __future__ import annotations

import argparse

from statetrack.cli.common import add_json, emit, table
from statetrack.vocabulary import CLAIM_PRECISIONS, LRNN_LAYER_TYPES

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
    p.add_argument("--precision", choices=CLAIM_PRECISIONS, default="paper",
                   help="paper: exact products rounded to the grid with ties to the smaller value, exact sum rounded; "
                        "float: plain torch arithmetic in the dtype (default paper)")
    p.add_argument("--symbol", default=None, help="the repeated symbol (default '1')")
    p.add_argument("--plot", metavar="FILE.png", help="draw the transition eigenvalues on the complex plane")
    if sampling:
        p.add_argument("--max-steps", type=int, default=1 << 16, metavar="T",
                       help="longest run 1^T searched for the state to repeat (default 65536)")
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
def _label_run(model, steps: int, dtype: str, precision: str, symbol):
    """Labels of ``1^t`` for ``t = 1..steps`` of a model (numpy bool/int array) and the run's correctness."""
    import numpy as np

    from statetrack.lrnn.claims.parity import OnesRunner, single_thread

    runner = OnesRunner(model, dtype, precision, symbol)
    with single_thread():
        trace = runner.run(int(steps))
    uniq, inv = np.unique(trace.outputs, return_inverse=True)
    labels = np.array([runner.label(int(u)) for u in uniq])[inv.reshape(-1)]
    return labels


def _model_construction(model, claim: str, steps: int, dtype: str, precision: str, symbol, m: int = 3) -> dict:
    """A compiled model's own run on ``1^steps``: do its labels alternate (parity) / mark ``t = 0 mod m``?"""
    import numpy as np

    labels = _label_run(model, steps, dtype, precision, symbol)
    t = np.arange(1, steps + 1)
    if claim == "parity":
        ok = bool(steps < 2 or (labels[1:] != labels[:-1]).all())
        return {"name": model.construction, "steps": int(steps), "alternates": ok}
    target = (t % m == 0)
    ok = bool((labels.astype(bool) == target).all() or (labels.astype(bool) == ~target).all())
    return {"name": model.construction, "steps": int(steps), "counts": ok}


def _lrnn_family(model):
    return model.config.layer, tuple(model.config.eigenvalue_range), model.config.n_layers


def _model_predicts(model, claim: str, m: int, dtype: str, precision: str, symbol) -> bool:
    from statetrack.lrnn.claims.parity import is_compiled
    from statetrack.lrnn.claims.spectra import product_spectra, symbol_spectra
    from statetrack.lrnn.claims.sweep import predicts

    if not is_compiled(model):
        fam, rng, L = _lrnn_family(model)
        return predicts(claim, fam, rng, L, m)
    if claim == "parity":
        return all(s["nonnegative_real"] for s in symbol_spectra(model, dtype, precision))
    from statetrack.lrnn.claims.modcount import is_power_of_two

    return not is_power_of_two(m) and all(s.get("real", False) for s in product_spectra(model, dtype, precision, symbol))


def _check_model(args, claim: str) -> tuple[dict, bool]:
    from statetrack.lrnn.claims.parity import is_compiled, load_any_model
    from statetrack.lrnn.claims.sweep import check_member

    m = getattr(args, "m", 3)
    model = load_any_model(args.model)
    res, s = check_member(model, claim, args.dtype, args.precision, m, args.max_steps, args.symbol)
    predicted = _model_predicts(model, claim, m, args.dtype, args.precision, args.symbol)
    out = {"claim": claim, "model": args.model, "kind": "compiled" if is_compiled(model) else "lrnn",
           "dtype": args.dtype, "precision": args.precision, "samples": 1,
           "witness_rate": 1.0 if res["witness"] is not None else 0.0,
           "settle_step": {"median": res["settle_step"], "max": res["settle_step"]}, "period": res["period"],
           "steps_run": res["steps"], "unsettled": int(res["settle_step"] is None), "predicted": predicted,
           "violations": int(predicted and res["witness"] is None and res["settle_step"] is not None),
           "witness": res["witness"]}
    if claim == "modcount":
        out["m"] = m
    if is_compiled(model):
        out["construction"] = _model_construction(model, claim, args.steps, args.dtype, args.precision, args.symbol, m)
    else:
        out["construction"] = _builtin_construction(args, claim)
    if args.plot:
        import numpy as np

        from statetrack.lrnn.claims.spectra import plot_eigenvalues
        from statetrack.lrnn.claims.sweep import cycle_eigenvalues

        groups = {f"layer {l + 1}": ev for l, ev in enumerate(cycle_eigenvalues(s))}
        plot_eigenvalues(groups or {"none": np.zeros(0)}, args.plot, f"{claim}: {args.model} ({args.dtype})")
        out["plot"] = args.plot
    return out, True


def _builtin_construction(args, claim: str) -> dict:
    from statetrack.lrnn.claims.modcount import rotation_construction
    from statetrack.lrnn.claims.parity import parity_construction

    if claim == "parity":
        return parity_construction(args.steps, args.dtype, args.precision, progress=args.progress)
    return rotation_construction(args.m, args.steps, args.dtype, args.precision, progress=args.progress)


def _check_family(args, claim: str) -> dict:
    from statetrack.lrnn.claims.sweep import sweep_cell

    if args.samples < 1:
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"--samples must be at least 1; got {args.samples}")
    cell = sweep_cell(claim, args.family, args.eig_range, args.dtype, args.samples, precision=args.precision,
                      seed=args.seed, layers=args.layers, m=getattr(args, "m", 3), max_steps=args.max_steps,
                      collect_eigenvalues=bool(args.plot), progress=args.progress)
    members = cell.pop("members")
    eig = cell.pop("_eigenvalues", None)
    cell["member_results"] = [{"seed": r["seed"], "settle_step": r["settle_step"], "period": r["period"],
                               "witness": r["witness"] is not None} for r in members]
    cell["construction"] = _builtin_construction(args, claim)
    if args.plot:
        from statetrack.lrnn.claims.spectra import plot_eigenvalues

        plot_eigenvalues(eig, args.plot, f"{args.family} [{cell['range']}] {args.dtype}: final-cycle transitions")
        cell["plot"] = args.plot
    return cell


def _ok(out: dict, claim: str) -> bool:
    """The claim is confirmed: no predicted member settled without a witness, none stayed unsettled, and the
    construction ran correctly."""
    key = "alternates" if claim == "parity" else "counts"
    unconfirmed = out["predicted"] and out["unsettled"] > 0
    return out["violations"] == 0 and not unconfirmed and bool(out["construction"].get(key, True))


def _verdict(out: dict, claim: str) -> str:
    key = "alternates" if claim == "parity" else "counts"
    if out["violations"]:
        return f"CLAIM VIOLATED: {out['violations']} member(s) settled without a witness"
    if not out["construction"].get(key, True):
        return f"CONSTRUCTION FAILED: {out['construction']['name']} stopped being correct"
    if out["predicted"] and out["unsettled"]:
        return (f"NOT CONFIRMED: {out['unsettled']} member(s) did not settle within the step budget "
                f"(raise --max-steps)")
    return "ok"


def _text(out: dict, claim: str) -> str:
    rows = []
    for k in ("family", "range", "model", "dtype", "precision", "samples", "layers", "m", "witness_rate",
              "settle_step", "period", "periods", "unsettled", "predicted", "violations"):
        if k in out:
            rows.append([k, out[k]])
    w = out.get("witness")
    rows.append(["witness", "none" if w is None else
                 f"{w['words'][0]} vs {w['words'][1]} ({w['kind']}; labels {w['labels']})"])
    c = out["construction"]
    rows.append(["construction", ", ".join(f"{k}={v}" for k, v in c.items())])
    rows.append(["verdict", _verdict(out, claim)])
    return table(rows, ["field", "value"])


def _run(args, claim: str) -> int:
    from statetrack.lrnn.claims.precision import check_precision_model, grid_format

    grid_format(args.dtype)
    check_precision_model(args.precision)
    if args.model:
        out, _ = _check_model(args, claim)
    else:
        out = _check_family(args, claim)
    out["ok"] = _ok(out, claim)
    out["verdict"] = _verdict(out, claim)
    emit(args, out, lambda: _text(out, claim))
    return 0 if out["ok"] else 1


def run_parity(args: argparse.Namespace) -> int:
    return _run(args, "parity")


def run_modcount(args: argparse.Namespace) -> int:
    from statetrack.lrnn.claims.modcount import check_modulus

    check_modulus(args.m)
    return _run(args, "modcount")


def run_spectrum(args: argparse.Namespace) -> int:
    import numpy as np

    from statetrack.lrnn.claims.families import random_member
    from statetrack.lrnn.claims.parity import load_any_model
    from statetrack.lrnn.claims.precision import grid_format
    from statetrack.lrnn.claims.spectra import (plot_eigenvalues, product_spectra, proposition1_checks,
                                                         symbol_spectra)

    grid_format(args.dtype)
    prop = proposition1_checks()
    ok = prop["norm"]["holds"] and prop["two_factors"]["holds"] and prop["three_factors"].get("found", False)
    out: dict = {"claim": "spectrum", "dtype": args.dtype, "precision": args.precision, "proposition1": prop}
    groups: dict = {}

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "eigenvalues"} for r in rows]

    if args.model:
        model = load_any_model(args.model)
        sym = symbol_spectra(model, args.dtype, args.precision)
        prod = product_spectra(model, args.dtype, args.precision, args.symbol, args.max_steps)
        out.update(model=args.model, symbols=strip(sym), products=strip(prod))
        for r in sym:
            groups.setdefault(f"A(x), layer {r['layer']}", []).extend(complex(*z) for z in r["eigenvalues"])
        for r in prod:
            if r.get("eigenvalues"):
                groups.setdefault(f"products of {r['product_length']}, layer {r['layer']}", []).extend(
                    complex(*z) for z in r["eigenvalues"])
    else:
        if args.samples < 1:
            from statetrack.errors import StatetrackError

            raise StatetrackError(f"--samples must be at least 1; got {args.samples}")
        summary = []
        for sd in range(args.seed, args.seed + args.samples):
            model = random_member(args.family, args.eig_range, seed=sd, layers=args.layers)
            sym = symbol_spectra(model, args.dtype, args.precision)
            prod = product_spectra(model, args.dtype, args.precision, args.symbol, args.max_steps)
            summary.append({"seed": sd, "symbols": strip(sym), "products": strip(prod)})
            for r in sym:
                groups.setdefault("A(x), layer 1", []).extend(complex(*z) for z in r["eigenvalues"])
            for r in prod[1:]:
                groups.setdefault(f"products of {r['product_length']}, layer {r['layer']}", []).extend(
                    complex(*z) for z in r.get("eigenvalues", []))
        allp = [p for s in summary for p in s["products"] if p.get("count")]
        out.update(family=args.family, range=args.eig_range, samples=args.samples, members=summary,
                   products_real=sum(p["real"] for p in allp), products_checked=len(allp))
    if args.plot:
        plot_eigenvalues({k: np.array(v) for k, v in groups.items()}, args.plot, "transition eigenvalues")
        out["plot"] = args.plot
    out["ok"] = bool(ok)

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
    return 0 if ok else 1
