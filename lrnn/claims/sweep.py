"""Family sweeps: N random members of a family in one range, dtype and precision model, checked for a claim.

:func:`sweep_cell` samples members ``seed, seed + 1, ...`` (:func:`statetrack.lrnn.claims.families.random_member`),
runs the Theorem-1 (``parity``) or Theorem-2 (``modcount``) check on each, and summarises: the fraction with a witness,
the settle steps (median and max over the members that settled within ``max_steps``), the periods met, whether the
theorem predicts a witness for every member, and the predicted members that settled without one: in a step model
(``per-step``, ``float``) these are ``findings`` about that arithmetic (the theorems' hypothesis is the ``paper``
model), listed with the member's seed and cycle. Witnesses are decoder-free (two lengths of different residue, one
full state); ``output_coincidences`` counts members whose decoder merely merges such lengths (never a witness).
Members that did not settle within ``max_steps`` are counted apart as ``unsettled`` (inconclusive).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

import numpy as np

from statetrack.vocabulary import EIGENVALUE_RANGES

from .families import FAMILIES, parse_range, random_member, range_name
from .modcount import (check_modulus, is_power_of_two, modcount_finding, modcount_output_coincidence,
                       modcount_witness, theorem2_predicts)
from .fast_settle import FAST_MAX_ROWS, FAST_MAX_STEPS, run_settling, settle_many, use_fast
from .parity import DEFAULT_MAX_STEPS, Settling, forbidden_cycle, parity_output_coincidence, parity_witness

CLAIMS = ("parity", "modcount")
DTYPES = ("float16", "bfloat16", "float32")


def predicts(claim: str, family: str, eigenvalue_range, layers: int, m: int = 3) -> bool:
    """Does the theorem predict a witness for every member? parity: ``[0, 1]`` families (Theorem 1); modcount with
    ``m`` not a power of 2: the families where Theorem 2 forces ``p | 2^L`` (:func:`theorem2_predicts`)."""
    rng = tuple(int(x) for x in eigenvalue_range)
    if claim == "parity":
        return rng == (0, 1)
    return not is_power_of_two(m) and theorem2_predicts(family, rng, layers)


def cycle_eigenvalues(s: Settling, positions: int = 8) -> list[np.ndarray]:
    """Per layer, eigenvalues of the transitions applied at the first ``positions`` steps of the final cycle."""
    return [np.concatenate([np.linalg.eigvals(A).reshape(-1) for A in mats]) if mats else np.zeros(0, dtype=complex)
            for mats in s.cycle_transitions(positions)]


def check_member(model: Any, claim: str, dtype: str, precision: str, m: int = 3,
                 max_steps: int | None = None, symbol: "str | int | None" = None,
                 predicted: bool = False, engine: str = "auto", settling: Any = None) -> tuple[dict, Settling]:
    """One model: ``{precision, settle_step, period, steps, witness, output_coincidence, finding}`` and its
    :class:`Settling` (``predicted``: the theorem predicts a witness, so an even / ``m``-multiple final cycle of a step
    model is reported as a finding). In the ``paper`` model (:mod:`.paper_run`; ``max_steps`` is then the budget of
    each layer's certificate search) the run is not a step map: there is no :class:`Settling` (None), the settle step
    is a certified bound, ``decided`` says whether it was found and ``reason`` why not. ``engine``: see
    :func:`statetrack.lrnn.claims.fast_settle.run_settling`; ``settling``: the run, when already computed."""
    if precision == "paper":
        from .paper_run import check_paper

        max_steps = max_steps or DEFAULT_MAX_STEPS
        r = check_paper(model, claim, dtype, m, symbol, max_steps=max_steps)
        return {"precision": "paper", "settle_step": r["settle_step"], "period": r["period"], "steps": max_steps,
                "witness": r["witness"], "output_coincidence": None, "finding": None, "decided": r["decided"],
                "reason": r["reason"],
                "unknown_entries": sum(int(layer.get("unknown_entries", 0)) for layer in r["layers"])}, None
    s = settling if settling is not None else run_settling(model, dtype, precision, symbol, max_steps, engine)
    if claim == "parity":
        w, oc, f = parity_witness(s), parity_output_coincidence(s), forbidden_cycle(s, predicted, precision)
    else:
        w, oc, f = modcount_witness(s, m), modcount_output_coincidence(s, m), modcount_finding(s, m, predicted,
                                                                                                 precision)
    out = {"precision": precision, "settle_step": s.settle_step, "period": s.period, "steps": s.steps,
           "witness": w, "output_coincidence": oc, "finding": f}
    if getattr(s, "reason", None):
        out["reason"] = s.reason
    return out, s


def sweep_cell(claim: str, family: str, eigenvalue_range: Any, dtype: str, samples: int, *, precision: str = "per-step",
               seed: int = 0, layers: int = 2, m: int = 3, max_steps: int | None = None,
               collect_eigenvalues: bool = False, progress: bool = False, engine: str = "auto",
               max_rows: int | None = None) -> dict:
    """Check ``samples`` random members (seeds ``seed ..``); see the module docstring for the summary fields. With
    the fast runner (``engine``, :func:`statetrack.lrnn.claims.fast_settle.run_settling`) the members' first-layer
    cycle searches run together (:func:`~statetrack.lrnn.claims.fast_settle.settle_many`; ``max_rows``: the
    lengths a lower layer may hand on, default :data:`~statetrack.lrnn.claims.fast_settle.FAST_MAX_ROWS`)."""
    if claim not in CLAIMS:
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"claim: unknown claim {claim!r}; choose one of {', '.join(CLAIMS)}")
    for name, value in (("max_rows", max_rows), ("max_steps", max_steps)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            from statetrack.errors import StatetrackError

            raise StatetrackError(f"sweep: {name} must be a positive integer, got {value!r}")
    if claim == "modcount":
        m = check_modulus(m)
    rng = parse_range(eigenvalue_range)
    predicted = predicts(claim, family, rng, layers, m)
    members, eigs = [], []
    seeds = range(int(seed), int(seed) + int(samples))
    models = {sd: random_member(family, rng, seed=sd, layers=layers) for sd in seeds}
    desc = f"{claim} {family} [{range_name(rng)}] {dtype}/{precision}"
    runs: dict = {}
    order: Iterable[int] = seeds
    if precision != "paper" and models and use_fast(models[int(seed)], precision, engine):
        runs = dict(zip(seeds, settle_many(list(models.values()), dtype, None, int(max_steps or FAST_MAX_STEPS),
                                           int(max_rows or FAST_MAX_ROWS), progress=progress, desc=desc)))
    elif progress:
        from tqdm.auto import tqdm

        order = tqdm(seeds, desc=desc, unit="model")
    example = None
    for sd in order:
        model = models[sd]
        res, s = check_member(model, claim, dtype, precision, m, max_steps, predicted=predicted, engine=engine,
                              settling=runs.get(sd))
        res["seed"] = sd
        members.append(res)
        if example is None and res["witness"] is not None:
            example = dict(res["witness"], seed=sd)
        if collect_eigenvalues and s is not None:
            for l, ev in enumerate(cycle_eigenvalues(s)):
                while len(eigs) <= l:
                    eigs.append([])
                eigs[l].append(ev)
    settled = [r for r in members if r["settle_step"] is not None]
    steps = [r["settle_step"] for r in settled]
    n_w = sum(r["witness"] is not None for r in members)
    if max_steps is None:
        max_steps = FAST_MAX_STEPS if runs else DEFAULT_MAX_STEPS
    out = {
        "claim": claim, "family": family, "range": range_name(rng), "dtype": dtype, "precision": precision,
        "engine": "fast" if runs else "reference",
        "layers": int(layers), "samples": int(samples), "max_steps": int(max_steps),
        "witness_rate": n_w / len(members) if members else None,
        "settle_step": {"median": float(np.median(steps)) if steps else None, "max": max(steps) if steps else None},
        "periods": {str(k): v for k, v in sorted(Counter(r["period"] for r in settled).items())},
        "unsettled": len(members) - len(settled),
        "predicted": predicted,
        "output_coincidences": sum(r["output_coincidence"] is not None for r in members),
        "findings": [dict(r["finding"], seed=r["seed"]) for r in members if r["finding"] is not None],
        "witness": example,
        "members": members,
    }
    if precision == "paper":
        out["undecided"] = out.pop("unsettled")
        out["undecided_reasons"] = dict(Counter(_reason_kind(r["reason"]) for r in members if not r["decided"]))
        # decided members whose state is certified constant without every entry's value (analytic decay)
        out["value_not_computed"] = sum(bool(r["decided"] and r.get("unknown_entries")) for r in members)
    if claim == "modcount":
        out["m"] = m
        out["period_divides_2^L"] = sum((2 ** layers) % r["period"] == 0 for r in settled)
    if collect_eigenvalues:  # per layer: eigenvalues of the transitions in the members' final cycles
        out["_eigenvalues"] = {f"layer {l + 1}": np.concatenate(e) for l, e in enumerate(eigs)}
    return out


def _reason_kind(reason: str | None) -> str:
    """A short class of an undecided member's reason (for the summary)."""
    if reason is None:
        return "none"
    if "no certificate" in reason:
        return reason.split(":")[0] + ": no certificate"
    if "prefix" in reason:
        return reason.split(" settles")[0] + ": settles too late for the next layer"
    if "periodic" in reason:
        return reason.split("'s output")[0] + ": periodic output"
    return reason


def sweep_table(claim: str = "parity", families: Iterable[str] = FAMILIES,
                ranges: Iterable[str] = tuple(EIGENVALUE_RANGES), dtypes: Iterable[str] = DTYPES, samples: int = 20,
                **kw: Any) -> list[dict]:
    """:func:`sweep_cell` over families x ranges x dtypes (members' details dropped)."""
    rows = []
    for fam in families:
        for rng in ranges:
            for dt in dtypes:
                cell = sweep_cell(claim, fam, rng, dt, samples, **kw)
                cell.pop("members")
                rows.append(cell)
    return rows


__all__ = ["sweep_cell", "sweep_table", "check_member", "predicts", "cycle_eigenvalues", "CLAIMS", "DTYPES"]
