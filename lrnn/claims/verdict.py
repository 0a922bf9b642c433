"""The claims verdict as a library function: what was predicted, what was found, and whether the claim is confirmed.

:func:`claim_report` runs one claim (``parity``: Theorem 1, ``modcount``: Theorem 2) on a model file's model or on
random members of a family, in one dtype and step precision model (``per-step`` or ``float``), runs the matching
construction for ``steps`` tokens, and returns a :class:`ClaimReport` whose :class:`Verdict` follows these rules, in
order:

1. ``construction failed`` -- the construction (the built-in one, or the compiled model's own run) stopped being
   correct within ``steps``;
2. ``violated`` -- in the ``paper`` model a predicted member settled without a decoder-free witness (this would
   contradict the theorem; step models never produce it);
3. ``not confirmed`` -- a predicted member ended in a cycle the theorem's conclusion forbids (a *finding* about the
   step arithmetic, see :func:`statetrack.lrnn.claims.parity.forbidden_cycle`), or did not settle within
   ``max_steps``;
4. ``confirmed`` -- the theorem predicts a witness for every member and every member has one;
5. ``nothing predicted`` -- the theorem says nothing about these members (e.g. parity for ``[-1, 1]`` families).

``ok`` is true for ``confirmed`` and ``nothing predicted``. Output-only coincidences are counted but never confirm.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from statetrack.errors import StatetrackError

from .families import FAMILIES, parse_range
from .fast_settle import check_engine
from .modcount import check_modulus, is_power_of_two, rotation_construction
from .parity import (CONSTRUCTION_STEPS, OnesRunner, is_compiled, load_any_model,
                     parity_construction, single_thread)
from .precision import check_precision_model, grid_format
from .spectra import plot_eigenvalues, product_spectra, symbol_spectra
from .sweep import CLAIMS, check_member, cycle_eigenvalues, predicts, sweep_cell

#: the default certificate-search budget per layer of the paper model (exact arithmetic is slow)
PAPER_MAX_STEPS = 512
VERDICTS = ("confirmed", "nothing predicted", "not confirmed", "violated", "construction failed")


@dataclass(frozen=True)
class Verdict:
    """``verdict`` (one of :data:`VERDICTS`), ``ok`` and a one-line ``message``."""

    verdict: str
    ok: bool
    message: str

    def to_json(self) -> dict:
        return {"verdict": self.verdict, "ok": self.ok, "message": self.message}


def decide(claim: str, *, precision: str, predicted: bool, members: int, witnesses: int, unsettled: int,
           findings: int, construction_ok: bool, construction_name: str) -> Verdict:
    """The verdict rules of the module docstring on counts (``members`` checked, ``witnesses`` decoder-free witnesses
    found, ``unsettled`` runs, ``findings`` forbidden cycles in a step model) and the construction's correctness."""
    if claim not in CLAIMS:
        raise StatetrackError(f"claim: unknown claim {claim!r}; choose one of {', '.join(CLAIMS)}")
    if not construction_ok:
        return Verdict("construction failed", False, f"construction {construction_name} stopped being correct")
    settled_without = members - witnesses - unsettled
    if predicted and precision == "paper" and settled_without > 0:
        return Verdict("violated", False, f"{settled_without} member(s) settled without a witness in the paper model")
    if predicted and findings:
        return Verdict("not confirmed", False,
                       f"{findings} member(s) end in a cycle the theorem forbids in the {precision} arithmetic "
                       "(a finding: the theorem's hypothesis is the paper model)")
    if predicted and unsettled:
        what = "were undecided (no certificate within the budget)" if precision == "paper" else \
            "did not settle within the step budget (raise max_steps)"
        return Verdict("not confirmed", False, f"{unsettled} member(s) {what}")
    if predicted:
        return Verdict("confirmed", True, f"every member ({members}) has a decoder-free witness")
    return Verdict("nothing predicted", True, "the theorem predicts no witness for these members")


def model_predicts(model: Any, claim: str, m: int = 3, dtype: str = "float32", precision: str = "per-step",
                   symbol: "str | int | None" = None) -> bool:
    """Does the theorem predict a witness for this model? LRNN models: by family (:func:`predicts`); compiled models:
    parity -- every ``A(x)`` has non-negative real eigenvalues; modcount (``m`` not a power of 2) -- every product of
    ``2^(i-1)`` transitions of layer ``i`` has real eigenvalues."""
    if not is_compiled(model):
        cfg = model.config
        return predicts(claim, cfg.layer, tuple(cfg.eigenvalue_range), cfg.n_layers, m)
    if claim == "parity":
        return all(s["nonnegative_real"] for s in symbol_spectra(model, dtype, precision))
    return not is_power_of_two(m) and all(s.get("real", False)
                                          for s in product_spectra(model, dtype, precision, symbol))


def model_construction(model: Any, claim: str, steps: int, dtype: str, precision: str,
                       symbol: "str | int | None" = None, m: int = 3) -> dict:
    """A compiled model's own run on ``1^steps``: do its labels alternate (parity) / mark ``t = 0 mod m``?"""
    runner = OnesRunner(model, dtype, precision, symbol)
    with single_thread():
        trace = runner.run(int(steps))
    uniq, inv = np.unique(trace.outputs, return_inverse=True)
    labels = np.array([runner.label(int(u)) for u in uniq])[inv.reshape(-1)]
    t = np.arange(1, steps + 1)
    if claim == "parity":
        ok = bool(steps < 2 or (labels[1:] != labels[:-1]).all())
        return {"name": model.construction, "steps": int(steps), "alternates": ok}
    target = t % m == 0
    ok = bool((labels.astype(bool) == target).all() or (labels.astype(bool) == ~target).all())
    return {"name": model.construction, "steps": int(steps), "counts": ok}


@dataclass
class ClaimReport:
    """Everything :func:`claim_report` found: ``fields`` (the sweep cell or the model's check, JSON-able) and the
    ``verdict``."""

    claim: str
    fields: dict
    verdict: Verdict
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    def to_json(self) -> dict:
        return {**self.fields, **self.extra, "verdict": self.verdict.verdict, "verdict_message": self.verdict.message,
                "ok": self.verdict.ok}


def _positive(name: str, value: int) -> int:
    if int(value) < 1:
        raise StatetrackError(f"{name} must be at least 1; got {value}")
    return int(value)


def claim_report(claim: str, *, model_path: "str | os.PathLike | None" = None, family: str = "deltanet",
                 eigenvalue_range: str = "0,1", dtype: str = "float32", precision: str = "per-step",
                 samples: int = 20, seed: int = 0, layers: int = 2, m: int = 3,
                 max_steps: int | None = None, steps: int = CONSTRUCTION_STEPS,
                 symbol: "str | int | None" = None, plot: "str | None" = None,
                 progress: bool = False, engine: str = "auto") -> ClaimReport:
    """Run ``claim`` on the model at ``model_path`` or on ``samples`` random members of ``family`` (see the module
    docstring). Parameters are validated with errors naming them; ``symbol`` applies to a model file only (random
    members read the symbol ``1``). ``max_steps`` bounds the run searched for a repeat (default: 2^26 single steps per
    layer with the fast runner, 65536 tokens with the reference runner; ``engine``: see
    :func:`statetrack.lrnn.claims.fast_settle.run_settling`) or each layer's certificate search in the paper model
    (default :data:`PAPER_MAX_STEPS`). Constructions run in the ``per-step`` model when ``precision`` is ``paper``
    (they are step-by-step runs)."""
    if claim not in CLAIMS:
        raise StatetrackError(f"claim: unknown claim {claim!r}; choose one of {', '.join(CLAIMS)}")
    grid_format(dtype)
    check_precision_model(precision)
    if max_steps is None and precision == "paper":
        max_steps = PAPER_MAX_STEPS
    if max_steps is not None:
        _positive("max_steps", max_steps)
    check_engine(engine)
    _positive("steps", steps)
    if claim == "modcount":
        m = check_modulus(m)
    if model_path is None:
        if symbol is not None:
            raise StatetrackError("symbol: random members always read the symbol '1'; symbol applies to a model file")
        if family not in FAMILIES:
            raise StatetrackError(f"family: unknown family {family!r}; choose one of {', '.join(FAMILIES)}")
        parse_range(eigenvalue_range)
        _positive("samples", samples)
        _positive("layers", layers)
        return _family_report(claim, family, eigenvalue_range, dtype, precision, samples, seed, layers, m,
                              max_steps, steps, plot, progress, engine)
    return _model_report(claim, model_path, dtype, precision, m, max_steps, steps, symbol, plot, progress, engine)


def _builtin_construction(claim: str, m: int, steps: int, dtype: str, precision: str, progress: bool) -> dict:
    precision = _step(precision)
    if claim == "parity":
        return parity_construction(steps, dtype, precision, progress=progress)
    return rotation_construction(m, steps, dtype, precision, progress=progress)


def _step(precision: str) -> str:
    return "per-step" if precision == "paper" else precision


def _construction_ok(claim: str, c: dict) -> bool:
    return bool(c.get("alternates" if claim == "parity" else "counts", True))


def _family_report(claim, family, eigenvalue_range, dtype, precision, samples, seed, layers, m, max_steps, steps,
                   plot, progress, engine) -> ClaimReport:
    cell = sweep_cell(claim, family, eigenvalue_range, dtype, samples, precision=precision, seed=seed, layers=layers,
                      m=m, max_steps=max_steps, collect_eigenvalues=bool(plot), progress=progress, engine=engine)
    members = cell.pop("members")
    eig = cell.pop("_eigenvalues", None)
    cell["member_results"] = [{"seed": r["seed"], "settle_step": r["settle_step"], "period": r["period"],
                               "witness": r["witness"] is not None,
                               "output_coincidence": r["output_coincidence"] is not None,
                               **({"reason": r["reason"]} if r.get("reason") else {}),
                               **({"unknown_entries": r["unknown_entries"]} if "unknown_entries" in r else {})}
                              for r in members]
    cell["construction"] = _builtin_construction(claim, m, steps, dtype, precision, progress)
    if plot:
        cell["plot"] = plot_eigenvalues(eig, plot, f"{family} [{cell['range']}] {dtype}: final-cycle transitions")
    v = decide(claim, precision=precision, predicted=cell["predicted"], members=len(members),
               witnesses=sum(r["witness"] is not None for r in members),
               unsettled=cell.get("unsettled", cell.get("undecided", 0)),
               findings=len(cell["findings"]), construction_ok=_construction_ok(claim, cell["construction"]),
               construction_name=cell["construction"]["name"])
    return ClaimReport(claim, cell, v)


def _model_report(claim, model_path, dtype, precision, m, max_steps, steps, symbol, plot, progress,
                  engine) -> ClaimReport:
    model = load_any_model(model_path)
    predicted = model_predicts(model, claim, m, dtype, _step(precision), symbol)
    res, s = check_member(model, claim, dtype, precision, m, max_steps, symbol, predicted=predicted, engine=engine)
    out = {"claim": claim, "model": os.fspath(model_path), "kind": "compiled" if is_compiled(model) else "lrnn",
           "dtype": dtype, "precision": precision, "samples": 1,
           "witness_rate": 1.0 if res["witness"] is not None else 0.0,
           "settle_step": {"median": res["settle_step"], "max": res["settle_step"]}, "period": res["period"],
           "steps_run": res["steps"], "unsettled": int(res["settle_step"] is None), "predicted": predicted,
           "witness": res["witness"], "output_coincidence": res["output_coincidence"],
           "findings": [res["finding"]] if res["finding"] is not None else []}
    if precision == "paper":
        out["undecided"] = out.pop("unsettled")
    if precision == "paper" or res.get("reason"):
        out["reason"] = res["reason"]
    if claim == "modcount":
        out["m"] = m
    if is_compiled(model):
        out["construction"] = model_construction(model, claim, steps, dtype, _step(precision), symbol, m)
    else:
        out["construction"] = _builtin_construction(claim, m, steps, dtype, precision, progress)
    if plot and s is not None:
        groups = {f"layer {l + 1}": ev for l, ev in enumerate(cycle_eigenvalues(s))}
        out["plot"] = plot_eigenvalues(groups or {"none": np.zeros(0)}, plot, f"{claim}: {model_path} ({dtype})")
    v = decide(claim, precision=precision, predicted=predicted, members=1, witnesses=int(res["witness"] is not None),
               unsettled=out.get("unsettled", out.get("undecided", 0)), findings=len(out["findings"]),
               construction_ok=_construction_ok(claim, out["construction"]),
               construction_name=out["construction"]["name"])
    return ClaimReport(claim, out, v)


__all__ = ["VERDICTS", "Verdict", "decide", "model_predicts", "model_construction", "ClaimReport", "claim_report"]
