"""The one-layer boolean baseline (not a GH product): one-hot states and the DFA's transition matrices.

Layer kind ``dense``: ``matrices[s]`` is the 0/1 matrix with ``M_s e_q = e_{delta(q, s)}``, ``bias = 0``,
``h0 = e_start``, codes the one-hot vectors, ``next[q, s] = q``. It recognises every regular language exactly, but a
letter that merges states has a matrix of spectral norm ``sqrt(#states merged)`` > 1 and eigenvalues 0: outside
every GH family with ``beta`` in [0, 2]. It is here for contrast.
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .model_format import CompiledModel, build_model


def compile_unconstrained(dfa: DFA) -> tuple[CompiledModel, dict]:
    """The dense baseline for any complete DFA."""
    dfa = dfa.complete()
    n, S = dfa.n_states, dfa.n_symbols
    mats = np.zeros((S, n, n))
    for s in range(S):
        mats[s, dfa.delta[:, s], np.arange(n)] = 1.0
    h0 = np.zeros(n)
    h0[dfa.start] = 1.0
    arrays = {"matrices": mats, "bias": np.zeros((S, n)), "h0": h0, "codes": np.eye(n),
              "next": np.repeat(np.arange(n, dtype=np.int64)[:, None], S, axis=1)}
    model = build_model(dfa, "unconstrained", [({"kind": "dense", "note": "one-hot boolean baseline"}, arrays)])
    return model, {}


__all__ = ["compile_unconstrained"]
