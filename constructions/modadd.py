"""Theorem 6 (addition mod m with a single reflection per token, the DeltaNet [-1, 1] case): two layers.

Applies to the same languages as :mod:`.rotation` (letter ``a`` adds ``r_a`` mod m to a counter ``S``), but every
token applies exactly one GH factor per layer:

* layer 0 tracks the position parity, ``h <- -h + 1`` (key ``(1)``, ``beta = 2``, value ``1/2``; ``h0 = 0``): after
  ``t`` tokens ``h = t mod 2``, codes ``0`` and ``1``. It hands layer 1 the symbol ``a + S_0 * p`` (letter and parity
  after this token's update, post-transition coupling).
* layer 1 holds a point of the unit circle at angle ``x_t``, ``h0 = (1, 0)``. A reflection across the line at angle
  ``alpha`` maps angle ``x`` to ``2 alpha - x``. With ``alpha = +pi r_a/m`` when ``t`` is even and ``-pi r_a/m`` when
  ``t`` is odd, the angle is ``x_t = 2 pi S_t/m`` after an even number of tokens and ``-2 pi S_t/m`` after an odd
  one. The reflection is ``I - 2 k k^T`` with the unit key ``k = (-sin alpha, cos alpha)`` normal to the line.
  The codes are the m points ``(cos 2 pi j/m, sin 2 pi j/m)``; the decoder reads the parity from its input symbol:
  ``S = j`` (even) or ``-j mod m`` (odd), and ``next[j, a + S_0 p]`` is the DFA state of ``S``.

Eigenvalue of every factor: ``-1``. Layer 1's entries are irrational (``exact`` metadata as in :mod:`.rotation`).
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .model_format import CompiledModel, ConstructionNotApplicable, build_model
from .rotation import circle_codes, cyclic_structure, trig


def _structure(dfa: DFA) -> tuple[list[int], list[int]]:
    cyc = cyclic_structure(dfa)
    if cyc is None:
        raise ConstructionNotApplicable(
            "modadd2 (Theorem 6) does not apply: the letters of the minimal DFA do not act as additions mod m "
            "on a cycle through all its states")
    return cyc


def modadd2_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_modadd2` builds (``dfa`` minimal): ``{layers, state_size (largest
    layer), factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    _structure(dfa)
    m = dfa.n_states
    return {"layers": 2, "state_size": 2, "factors_per_token": 1, "exact": m <= 2,
            "note": "Theorem 6: layer 1 the position parity (state 1, h <- -h + 1), layer 2 one 2x2 reflection per "
                    "token chosen by symbol and parity (state 2)"}


def compile_modadd2(dfa: DFA) -> tuple[CompiledModel, dict]:
    """Two householder layers with one reflection per token each, for a cyclic group DFA (``dfa`` minimal)."""
    order, shifts = _structure(dfa)
    m, S = dfa.n_states, dfa.n_symbols
    # layer 0: position parity
    par = {"keys": np.ones((S, 1, 1)), "betas": np.full((S, 1), 2.0), "values": np.full((S, 1), 0.5),
           "h0": np.array([0.0]), "codes": np.array([[0.0], [1.0]]),
           "next": np.array([[a + S * p for a in range(S)] for p in (0, 1)], dtype=np.int64)}
    # layer 1: one reflection per (letter, parity)
    keys = np.zeros((2 * S, 1, 2))
    exact_keys = []
    nxt = np.zeros((m, 2 * S), dtype=np.int64)
    for p in (0, 1):
        sign = 1 if p == 0 else -1
        for a in range(S):
            r = sign * shifts[a]  # alpha = r pi / m; k = (-sin alpha, cos alpha) = (sin(-r pi/m), cos(r pi/m))
            keys[a + S * p, 0] = [trig("sin", -r, m), trig("cos", r, m)]
            exact_keys.append([[["sin", -r, m], ["cos", r, m]]])
            for j in range(m):
                total = j if p == 0 else (-j) % m
                nxt[j, a + S * p] = order[total]
    codes, exact_codes = circle_codes(m)
    rot = {"keys": keys, "betas": np.full((2 * S, 1), 2.0), "values": np.zeros((2 * S, 1)),
           "h0": np.array([1.0, 0.0]), "codes": codes, "next": nxt}
    layers = [({"kind": "householder", "note": "Theorem 6 layer 1: position parity h <- -h + 1"}, par),
              ({"kind": "householder", "note": "Theorem 6 layer 2: one reflection at angle +-pi r/m",
                "exact": {"keys": exact_keys, "codes": exact_codes, "h0": [1, 0]}}, rot)]
    model = build_model(dfa, "modadd2", layers)
    return model, {"modulus": m, "shifts": {dfa.alphabet[a]: r for a, r in enumerate(shifts)},
                   "decoding_margin": float(np.sin(np.pi / m)) if m > 1 else 1.0}


__all__ = ["compile_modadd2", "modadd2_size"]
