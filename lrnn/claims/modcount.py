"""Theorem 2 as an executable check: the eventual period on ``1^t`` and the witness that counting mod m fails.

The run on ``1^t`` (:func:`statetrack.lrnn.claims.parity.settle`) ends in a cycle of period ``p``. Theorem 2
(arXiv 2411.12537): when, for every layer ``i`` (1-based), the products of ``2^(i-1)`` transition matrices have real
eigenvalues only, ``p`` divides ``2^L`` (L layers), because each layer at most doubles the period of its input. The
theorem therefore predicts ``p | 2^L`` for

* ``diagonal`` layers in either range (diagonal products are diagonal and real);
* every ``[0, 1]`` family (all eigenvalues are non-negative reals: by Theorem 1's mechanism each layer becomes
  constant, so ``p = 1``);
* ``deltanet`` in ``[-1, 1]`` with one layer (one symmetric ``I - beta k k^T``, real eigenvalues, ``p | 2``).

It predicts nothing for ``deltanet`` ``[-1, 1]`` with more layers (a product of two reflections is a rotation) or
``deltaproduct`` ``[-1, 1]`` (two reflections per token already rotate).

**Mod-m witness** (m not a power of 2, decoder-free). Equal states give equal outputs. If ``m`` does not divide
``p``, take the least length ``a >= t*`` with ``a = 0 (mod m)`` and ``b = a + p``: the full states agree, ``b`` is not
``0 (mod m)``, so every decoder gives the same answer for a word in ``{1^t : t = 0 mod m}`` and one outside it. If
``m | p`` there is no witness; two lengths of different residues with the same decoded label are reported as an
``output_coincidence`` (this decoder's doing, not a witness). The rotation construction (a 2x2 rotation by
``2 pi / m``, two reflections) counts correctly: its run is compared with the DFA for ``10^6`` steps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from statetrack.errors import StatetrackError

from .parity import (CONSTRUCTION_STEPS, Settling, run_construction)

#: the longest stretch of the eventual cycle searched for an output witness
OUTPUT_SEARCH = 1 << 16


def check_modulus(m: int) -> int:
    m = int(m)
    if m < 2:
        raise StatetrackError(f"m: the modulus must be at least 2; got {m}")
    return m


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def theorem2_predicts(family: str, eigenvalue_range, layers: int) -> bool:
    """Does Theorem 2 predict ``p | 2^L`` for this family (see the module docstring)?"""
    rng = tuple(int(x) for x in eigenvalue_range)
    if family == "diagonal" or rng == (0, 1):
        return True
    return family == "deltanet" and int(layers) == 1


def modcount_witness(s: Settling, m: int) -> dict | None:
    """The decoder-free witness as JSON (``kind`` "state", ``lengths``, ``residues``, ``outputs``, ``labels``): the
    least length ``a >= t*`` with ``a = 0 (mod m)`` and ``b = a + p`` reach the same full state; exists iff the run
    settled and ``m`` does not divide ``p``."""
    if not s.settled or s.period % m == 0:
        return None
    a = s.settle_step + (-s.settle_step) % m
    return _pair_json(s, a, a + s.period, m, "state")


def _pair_json(s: Settling, a: int, b: int, m: int, kind: str) -> dict:
    return {"kind": kind, "lengths": [a, b], "words": [f"1^{a}", f"1^{b}"], "residues": [a % m, b % m],
            "outputs": [s.runner.output(s.output_at(a)), s.runner.output(s.output_at(b))],
            "labels": [s.runner.label(s.output_at(a)), s.runner.label(s.output_at(b))]}


def modcount_output_coincidence(s: Settling, m: int) -> dict | None:
    """When ``m | p``: two lengths in one stretch of ``lcm(p, m)``, one ``0 (mod m)`` and one not, whose decoded labels
    agree (``kind`` "output"). Only this model's decoder merges them: never a witness for Theorem 2."""
    if not s.settled or s.period % m:
        return None
    t, p = s.settle_step, s.period
    a0 = t + (-t) % m
    span = min(math.lcm(p, m), OUTPUT_SEARCH)
    zeros: dict = {}
    for x in range(a0, a0 + span, m):
        zeros.setdefault(s.runner.label(s.output_at(x)), x)
    for y in range(t, t + span):
        if y % m and s.runner.label(s.output_at(y)) in zeros:
            return _pair_json(s, zeros[s.runner.label(s.output_at(y))], y, m, "output")
    return None


@dataclass
class ModCheck:
    """One model's Theorem-2 check in one precision model: settle step, period, whether ``p | 2^L``, the
    decoder-free witness, an output coincidence (never a witness) and a ``finding`` when Theorem 2 predicts
    ``p | 2^L`` and the step arithmetic ends in a cycle with ``m | p``."""

    precision: str
    settle_step: int | None
    period: int | None
    steps: int
    layers: int
    divides_2L: bool | None
    witness: dict | None
    output_coincidence: dict | None = None
    finding: dict | None = None

    def to_json(self) -> dict:
        return {"precision": self.precision, "settle_step": self.settle_step, "period": self.period,
                "steps": self.steps, "layers": self.layers, "period_divides_2^L": self.divides_2L,
                "witness": self.witness, "output_coincidence": self.output_coincidence, "finding": self.finding}


def modcount_finding(s: Settling, m: int, predicted: bool, precision: str) -> dict | None:
    """A finding (see :func:`statetrack.lrnn.claims.parity.forbidden_cycle`): predicted, settled, and ``m | p``."""
    if not predicted or not s.settled or s.period % m:
        return None
    return {"precision": precision, "settle_step": s.settle_step, "period": s.period,
            "note": f"the {precision} arithmetic ends in a cycle of period {s.period} (a multiple of {m}) that Theorem "
                    "2's conclusion (period divides 2^L) forbids for the paper model; its hypothesis is not this "
                    "arithmetic"}


def check_modcount(model: Any, m: int = 3, dtype: str = "float32", precision: str = "per-step", *,
                   symbol: "str | int | None" = None, max_steps: int | None = None, predicted: bool = False,
                   progress: bool = False, engine: str = "auto") -> ModCheck:
    """Theorem 2 on one model in a step model (see the module docstring; ``engine``: see
    :func:`statetrack.lrnn.claims.fast_settle.run_settling`)."""
    from .fast_settle import run_settling

    m = check_modulus(m)
    s = run_settling(model, dtype, precision, symbol, max_steps, engine, progress)
    L = s.runner.num_layers
    div = None if not s.settled else (2 ** L) % s.period == 0
    return ModCheck(precision, s.settle_step, s.period, s.steps, L, div, modcount_witness(s, m),
                    modcount_output_coincidence(s, m), modcount_finding(s, m, predicted, precision))


def rotation_construction(m: int = 3, steps: int = CONSTRUCTION_STEPS, dtype: str = "float32",
                          precision: str = "per-step", progress: bool = False) -> dict:
    """The compiled rotation construction for ``mod:m`` on ``1^steps``: ``{name, steps, counts, first_error}``."""
    from statetrack.automata.catalog import get_language
    from statetrack.constructions import compile_language

    model, _ = compile_language(get_language(f"mod:{check_modulus(m)}"), "rotation")
    res = run_construction(model, steps, dtype, precision, progress=progress)
    return {"name": "rotation", "m": int(m), "steps": res["steps"], "counts": res["correct"],
            "first_error": res["first_error"], "states_visited": res["states_visited"]}


__all__ = ["check_modcount", "ModCheck", "modcount_witness", "theorem2_predicts", "rotation_construction",
           "is_power_of_two", "check_modulus",
           "modcount_output_coincidence", "modcount_finding"]
