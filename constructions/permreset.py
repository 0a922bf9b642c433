"""Permutation-reset automata in one layer: every letter permutes the states or sends them all to one state.

Applies when every letter of the minimal complete DFA is a permutation of its ``n`` states or a constant map (a
reset); flip-flops and reset-only languages such as ``tomita:1`` are of this kind, and so is every component of a
Krohn-Rhodes cascade. Layer: ``n`` dimensions, one-hot state ``h = e_q``, ``h0 = e_start``, codes ``e_q``.

* a permutation letter: its permutation matrix as ``moved points - non-trivial cycles`` reflections with integer keys
  ``e_i - e_j`` and ``beta = 1`` (:func:`statetrack.constructions.signed.signed_factors`);
* a reset to ``r``: ``n`` projections, key ``e_i``, ``beta = 1``, value ``[i == r]`` (each sets coordinate ``i`` to its
  value, ``h <- (I - k k^T) h + k v``), so any one-hot state becomes ``e_r``.

Every entry is 0, +-1: exact in every dtype. Eigenvalues of the factors: -1 (reflections) and 0 (projections).
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .model_format import CompiledModel, ConstructionNotApplicable, build_model
from .signed import signed_factors, signed_rank


def letter_kinds(dfa: DFA) -> list[tuple[str, object]]:
    """Per letter ``("perm", perm [n])`` or ``("reset", r)``; raises ConstructionNotApplicable for any other letter
    (or a missing transition)."""
    n = dfa.n_states
    out: list[tuple[str, object]] = []
    for a in range(dfa.n_symbols):
        col = np.asarray(dfa.delta[:, a], dtype=np.int64)
        if (col < 0).any():
            raise ConstructionNotApplicable("permreset does not apply: the DFA is not complete")
        if n > 1 and np.unique(col).size == 1:
            out.append(("reset", int(col[0])))
        elif np.unique(col).size == n:
            out.append(("perm", col))
        else:
            raise ConstructionNotApplicable(
                f"permreset does not apply: letter {dfa.alphabet[a]!r} neither permutes the states of the minimal "
                "DFA nor sends them all to one state")
    return out


def _counts(dfa: DFA, kinds: list[tuple[str, object]]) -> list[int]:
    n = dfa.n_states
    return [n if kind == "reset" else signed_rank(arg, np.ones(n, dtype=np.int64)) for kind, arg in kinds]


def permreset_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_permreset` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    kinds = letter_kinds(dfa)
    return {"layers": 1, "state_size": dfa.n_states, "factors_per_token": max(_counts(dfa, kinds), default=0),
            "exact": True,
            "note": "one-hot permutation-reset layer: a permutation letter as reflections, a reset as one projection "
                    "per state writing the target"}


def compile_permreset(dfa: DFA) -> tuple[CompiledModel, dict]:
    """One householder layer for a permutation-reset DFA (``dfa`` minimal and complete); see the module doc."""
    kinds = letter_kinds(dfa)
    n, S = dfa.n_states, dfa.n_symbols
    counts = _counts(dfa, kinds)
    F = max(1, max(counts, default=0))
    keys, betas, values = np.zeros((S, F, n)), np.zeros((S, F)), np.zeros((S, F))
    for a, (kind, arg) in enumerate(kinds):
        if kind == "perm":
            f = signed_factors(arg, np.ones(n, dtype=np.int64))
            keys[a, :f.count], betas[a, :f.count] = f.keys, f.betas
        else:
            for i in range(n):
                keys[a, i, i], betas[a, i], values[a, i] = 1.0, 1.0, float(i == arg)
    h0 = np.zeros(n)
    h0[dfa.start] = 1.0
    state = np.arange(n, dtype=np.int64)
    arrays = {"keys": keys, "betas": betas, "values": values, "h0": h0, "codes": np.eye(n),
              "next": np.repeat(state[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": "permutation-reset automaton: reflections for permutations, projections "
                                            "writing the target for resets (one-hot state)"}
    model = build_model(dfa, "permreset", [(layer, arrays)])
    return model, {"factor_counts": {dfa.alphabet[a]: c for a, c in enumerate(counts)},
                   "resets": [dfa.alphabet[a] for a, (kind, _) in enumerate(kinds) if kind == "reset"]}


__all__ = ["compile_permreset", "permreset_size", "letter_kinds"]
