"""Parity (Theorem 1's positive side): a scalar state and one reflection ``h <- -h`` for every letter that flips it.

Applies to every two-state minimal DFA whose letters permute the two states (each letter is the identity or the swap),
e.g. parity of the number of 1s. Layer: ``n = 1``, ``h0 = 1``; a flipping letter has the single factor ``k = (1)``,
``beta = 2`` (eigenvalue ``1 - 2 = -1``), an identity letter an identity factor (``k = 0``, ``beta = 0``). The codes are
``+1`` (the start state) and ``-1`` (the other state). All entries are integers: exact in every dtype.
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .group import letter_permutations
from .model_format import CompiledModel, ConstructionNotApplicable, build_model


def _perms(dfa: DFA) -> np.ndarray:
    perms = letter_permutations(dfa)
    if dfa.n_states != 2 or perms is None:
        raise ConstructionNotApplicable(
            f"parity does not apply: it needs a 2-state minimal DFA whose letters are the identity or the swap "
            f"(this one has {dfa.n_states} states{'' if perms is not None else ' and a letter that is not a permutation'})")
    return perms


def parity_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_parity` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    perms = _perms(dfa)
    return {"layers": 1, "state_size": 1, "factors_per_token": int((perms[:, 0] != 0).any()), "exact": True,
            "note": "one scalar: h <- -h for each flipping letter"}


def compile_parity(dfa: DFA) -> tuple[CompiledModel, dict]:
    """One scalar householder layer for a two-state group DFA (``dfa`` minimal and complete)."""
    perms = _perms(dfa)
    S = dfa.n_symbols
    flips = perms[:, 0] != 0
    keys = flips.astype(np.float64).reshape(S, 1, 1)
    betas = 2.0 * flips.astype(np.float64).reshape(S, 1)
    other = 1 - dfa.start
    state = np.array([dfa.start, other], dtype=np.int64)
    arrays = {"keys": keys, "betas": betas, "values": np.zeros((S, 1)), "h0": np.array([1.0]),
              "codes": np.array([[1.0], [-1.0]]), "next": np.repeat(state[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": "parity: h <- -h for each flipping letter; +1 = start state"}
    model = build_model(dfa, "parity", [(layer, arrays)])
    return model, {"flipping_letters": [dfa.alphabet[a] for a in np.flatnonzero(flips)]}


__all__ = ["compile_parity", "parity_size"]
