"""Family sweeps: N random members of a family in one range, dtype and precision model, checked for a claim.

:func:`sweep_cell` samples members ``seed, seed + 1, ...`` (:func:`statetrack.lrnn.claims.families.random_member`),
runs the Theorem-1 (``parity``) or Theorem-2 (``modcount``) check on each, and summarises: the fraction with a witness,
the settle steps (median and max over the members that settled within ``max_steps``), the periods met, whether the
theorem predicts a witness for every member, and how many predicted members settled without one (``violations``:
these contradict the theorem's mechanism); members that did not settle within ``max_steps`` are counted apart as
``unsettled`` (inconclusive: a longer run may still find their witness).
"""
from __future__ import annotations

from collections import Counter
from typing import Any, Iterable

import numpy as np

from statetrack.vocabulary import EIGENVALUE_RANGES

from .families import FAMILIES, parse_range, random_member, range_name
from .modcount import check_modulus, is_power_of_two, modcount_witness, theorem2_predicts
from .parity import DEFAULT_MAX_STEPS, OnesRunner, Settling, parity_witness, settle

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
    out = []
    if not s.settled:
        return out
    for stage, run in zip(s.runner.stages, s.trace.runs):
        ev = [np.linalg.eigvals(stage.transition(run.steps[t])).reshape(-1)
              for t in range(s.settle_step - 1, min(s.settle_step - 1 + min(s.period, positions), run.steps.size))]
        out.append(np.concatenate(ev) if ev else np.zeros(0, dtype=complex))
    return out


def check_member(model: Any, claim: str, dtype: str, precision: str, m: int = 3,
                 max_steps: int = DEFAULT_MAX_STEPS, symbol: "str | int | None" = None) -> tuple[dict, Settling]:
    """One model: ``{settle_step, period, steps, witness}`` and its :class:`Settling`."""
    s = settle(OnesRunner(model, dtype, precision, symbol), max_steps)
    w = parity_witness(s) if claim == "parity" else modcount_witness(s, m)
    return {"settle_step": s.settle_step, "period": s.period, "steps": s.steps, "witness": w}, s


def sweep_cell(claim: str, family: str, eigenvalue_range: Any, dtype: str, samples: int, *, precision: str = "paper",
               seed: int = 0, layers: int = 2, m: int = 3, max_steps: int = DEFAULT_MAX_STEPS,
               collect_eigenvalues: bool = False, progress: bool = False) -> dict:
    """Check ``samples`` random members (seeds ``seed ..``); see the module docstring for the summary fields."""
    if claim not in CLAIMS:
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"unknown claim {claim!r}; choose one of {', '.join(CLAIMS)}")
    if claim == "modcount":
        m = check_modulus(m)
    rng = parse_range(eigenvalue_range)
    members, eigs = [], []
    seeds: Iterable[int] = range(int(seed), int(seed) + int(samples))
    if progress:
        from tqdm.auto import tqdm

        seeds = tqdm(seeds, desc=f"{claim} {family} [{range_name(rng)}] {dtype}/{precision}", unit="model")
    example = None
    for sd in seeds:
        model = random_member(family, rng, seed=sd, layers=layers)
        res, s = check_member(model, claim, dtype, precision, m, max_steps)
        res["seed"] = sd
        members.append(res)
        if example is None and res["witness"] is not None:
            example = dict(res["witness"], seed=sd)
        if collect_eigenvalues:
            for l, ev in enumerate(cycle_eigenvalues(s)):
                while len(eigs) <= l:
                    eigs.append([])
                eigs[l].append(ev)
    settled = [r for r in members if r["settle_step"] is not None]
    steps = [r["settle_step"] for r in settled]
    n_w = sum(r["witness"] is not None for r in members)
    predicted = predicts(claim, family, rng, layers, m)
    out = {
        "claim": claim, "family": family, "range": range_name(rng), "dtype": dtype, "precision": precision,
        "layers": int(layers), "samples": int(samples), "max_steps": int(max_steps),
        "witness_rate": n_w / len(members) if members else None,
        "settle_step": {"median": float(np.median(steps)) if steps else None, "max": max(steps) if steps else None},
        "periods": {str(k): v for k, v in sorted(Counter(r["period"] for r in settled).items())},
        "unsettled": len(members) - len(settled),
        "predicted": predicted,
        "violations": sum(r["witness"] is None and r["settle_step"] is not None for r in members) if predicted else 0,
        "witness": example,
        "members": members,
    }
    if claim == "modcount":
        out["m"] = m
        out["period_divides_2^L"] = sum((2 ** layers) % r["period"] == 0 for r in settled)
    if collect_eigenvalues:  # per layer: eigenvalues of the transitions in the members' final cycles
        out["_eigenvalues"] = {f"layer {l + 1}": np.concatenate(e) for l, e in enumerate(eigs)}
    return out


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
