"""Impossibility claims as executable checks (arXiv 2411.12537, docs/claims.md).

* :mod:`.precision` -- the finite-precision models, named for what they compute: ``paper`` (App. B of the paper:
  exact products of transitions, each term cast once, exact sum cast once; :mod:`.paper_model`), ``per-step`` (exact
  products rounded to the grid with ties to the smaller value, exact sum rounded, after every step) and ``float``
  (torch arithmetic in the dtype).
* :mod:`.paper_model` -- App. B's closed form computed exactly for a layer with a constant input after a prefix, and
  its certified settling; :mod:`.paper_run` -- whole models on ``1^t`` in that model, layer by layer.
* :mod:`.families` -- random members of the ``diagonal`` / ``deltanet`` / ``deltaproduct`` (n_h = 2) families in
  ``[0, 1]`` and ``[-1, 1]``, the per-symbol transitions ``A(x)``, ``B(x)``, and the layer stages that run a model.
* :mod:`.fast_settle` -- the same runs over 10^7 steps and more: layer by layer, compiled cycle search
  (:mod:`.step_kernels`, numba) vectorised over members; :func:`run_settling` picks the runner (``engine``).
* :mod:`.parity` -- Theorem 1: the run on ``1^t``, settle step and period, the parity witness; the parity construction.
* :mod:`.modcount` -- Theorem 2: the eventual period (divides ``2^L`` for real spectra), the mod-m witness; the rotation
  construction.
* :mod:`.spectra` -- Proposition 1 checks and the spectra of ``A(x)`` and of products of ``2^(i-1)`` transitions.
* :mod:`.sweep` -- witness rates over random family members.
* :mod:`.verdict` -- the verdict (predicted, findings, confirmed or not) as a typed result.

Example:
    >>> from statetrack.lrnn.claims import random_member, check_parity
    >>> res = check_parity(random_member("deltanet", "0,1", seed=0), "bfloat16", "per-step")
    >>> res.witness is not None
    True
"""
from .families import FAMILIES, RANGES, random_member, symbol_transitions
from .fast_settle import FastSettling, run_settling, settle_fast, settle_many
from .modcount import ModCheck, check_modcount, rotation_construction, theorem2_predicts
from .parity import (OnesRunner, ParityCheck, Settling, check_parity, load_any_model, parity_construction,
                     run_construction, settle)
from .precision import PRECISION_MODELS, Stepper, round_to_grid
from .spectra import product_spectra, proposition1_checks, symbol_spectra
from .sweep import sweep_cell, sweep_table
from .verdict import ClaimReport, Verdict, claim_report, decide

__all__ = [
    "FAMILIES", "RANGES", "random_member", "symbol_transitions", "ModCheck", "check_modcount", "rotation_construction",
    "theorem2_predicts", "OnesRunner", "ParityCheck", "Settling", "check_parity", "load_any_model",
    "parity_construction", "run_construction", "settle", "PRECISION_MODELS", "Stepper", "round_to_grid",
    "product_spectra", "proposition1_checks", "symbol_spectra", "sweep_cell", "sweep_table",
    "ClaimReport", "Verdict", "claim_report", "decide", "FastSettling", "run_settling", "settle_fast", "settle_many",
]
