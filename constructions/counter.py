"""Saturating counters in one layer: a thermometer code and the shift matrix as a GH product.

Applies when the states of the minimal complete DFA form a chain ``c_0, ..., c_{n-1}`` on which every letter is the
identity, an increment ``c_i -> c_{min(i+1, n-1)}``, a decrement ``c_i -> c_{max(i-1, 0)}`` or a constant map (a
reset to any ``c_r``), with at least one increment or decrement (otherwise the DFA is a permutation-reset automaton).
Languages such as "at least k a's", "at most k a's" and bounded up/down counters with resets are of this kind; a
one-hot code cannot do them in one layer (an increment is neither a permutation nor a reset), the Krohn-Rhodes
cascade needs several.

Layer: ``m = n - 1`` dimensions; chain state ``c_i`` is the thermometer code ``h = (1, ..., 1, 0, ..., 0)`` with ``i``
ones. Then

* an increment is the shift ``h_1 <- 1, h_j <- h_{j-1}``: the cyclic permutation ``e_j -> e_{j+1 mod m}`` (``m - 1``
  reflections with integer keys ``e_i - e_j``) followed by one projection with key ``e_1`` writing the value 1;
  the full code stays full, so the counter saturates;
* a decrement is ``h_m <- 0, h_j <- h_{j+1}``: the inverse cyclic permutation, then a projection writing 0 into
  ``e_m``; the empty code stays empty;
* a reset to ``c_r`` is ``m`` projections writing the thermometer code of ``r``; the identity uses no factor.

The shift matrix ``(I - e_1 e_1^T) P`` is nilpotent, so the layer's products have eigenvalues 0 and its factors -1
(the reflections) and 0 (the projections). Every entry is 0 or +-1: exact in every dtype.
"""
from __future__ import annotations

import numpy as np

from statetrack.automata.dfa import DFA

from .model_format import CompiledModel, ConstructionNotApplicable, build_model
from .signed import signed_factors

_KINDS = ("identity", "inc", "dec", "reset")


def _chain_from(delta: np.ndarray, a: int, n: int, reverse: bool) -> list[int] | None:
    """The chain along which letter ``a`` increments (``reverse``: decrements), if its orbit from the unique state
    with no preimage covers every state and ends in a fixed point."""
    col = delta[:, a]
    targets = set(int(t) for t in col)
    for s in (q for q in range(n) if q not in targets):  # c_0 for an increment, c_{n-1} for a decrement
        chain, seen = [s], {s}
        q = s
        while int(col[q]) != q:
            q = int(col[q])
            if q in seen:
                break
            chain.append(q)
            seen.add(q)
        if len(chain) == n and int(col[chain[-1]]) == chain[-1]:
            return chain[::-1] if reverse else chain
    return None


def letter_kinds(dfa: DFA) -> tuple[list[int], list[tuple[str, int]]]:
    """``(chain, kinds)``: the states in counter order and per letter ``(kind, r)`` with kind ``identity`` / ``inc``
    / ``dec`` / ``reset`` (``r``: the chain position reset to). Raises ConstructionNotApplicable otherwise."""
    delta = np.asarray(dfa.delta)
    n = dfa.n_states
    if n < 2 or (delta < 0).any():
        raise ConstructionNotApplicable("counter: needs a complete DFA with at least two states")
    movers = [a for a in range(dfa.n_symbols)
              if not (delta[:, a] == np.arange(n)).all() and len(set(delta[:, a].tolist())) > 1]
    for a in movers:
        for reverse in (False, True):
            chain = _chain_from(delta, a, n, reverse)
            if chain is None:
                continue
            kinds = _kinds(delta, chain)
            if kinds is not None:
                return chain, kinds
    raise ConstructionNotApplicable("counter: the states do not form a chain on which every letter is the identity, "
                                    "an increment, a decrement or a reset")


def _kinds(delta: np.ndarray, chain: list[int]) -> list[tuple[str, int]] | None:
    n = len(chain)
    pos = {q: i for i, q in enumerate(chain)}
    out = []
    for a in range(delta.shape[1]):
        img = [pos[int(delta[q, a])] for q in chain]
        if img == list(range(n)):
            out.append(("identity", 0))
        elif img == [min(i + 1, n - 1) for i in range(n)]:
            out.append(("inc", 0))
        elif img == [max(i - 1, 0) for i in range(n)]:
            out.append(("dec", 0))
        elif len(set(img)) == 1:
            out.append(("reset", img[0]))
        else:
            return None
    if not any(k in ("inc", "dec") for k, _ in out):
        return None  # resets and identities only: a permutation-reset automaton
    return out


def _cost(kind: str, m: int) -> int:
    return {"identity": 0, "inc": m, "dec": m, "reset": m}[kind]


def counter_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_counter` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    chain, kinds = letter_kinds(dfa)
    m = len(chain) - 1
    return {"layers": 1, "state_size": m, "factors_per_token": max(_cost(k, m) for k, _ in kinds), "exact": True,
            "note": f"saturating counter over {len(chain)} states: thermometer code in {m} dimensions, an increment "
                    "or decrement as a cyclic permutation (reflections) and one projection (the shift matrix)"}


def _thermometer(i: int, m: int) -> np.ndarray:
    return (np.arange(m) < i).astype(np.float64)


def compile_counter(dfa: DFA) -> tuple[CompiledModel, dict]:
    """One householder layer for a saturating-counter DFA (``dfa`` minimal and complete); see the module doc."""
    chain, kinds = letter_kinds(dfa)
    n, S = len(chain), dfa.n_symbols
    m = n - 1
    F = max(1, max(_cost(k, m) for k, _ in kinds))
    keys, betas, values = np.zeros((S, F, m)), np.zeros((S, F)), np.zeros((S, F))
    up = np.array([(j + 1) % m for j in range(m)], dtype=np.int64)  # e_j -> e_{j+1}
    down = np.array([(j - 1) % m for j in range(m)], dtype=np.int64)
    for a, (kind, r) in enumerate(kinds):
        if kind in ("inc", "dec"):
            f = 0
            if m > 1:
                g = signed_factors(up if kind == "inc" else down, np.ones(m, dtype=np.int64))
                keys[a, :g.count], betas[a, :g.count] = g.keys, g.betas
                f = g.count
            i = 0 if kind == "inc" else m - 1
            keys[a, f, i], betas[a, f], values[a, f] = 1.0, 1.0, 1.0 if kind == "inc" else 0.0
        elif kind == "reset":
            target = _thermometer(r, m)
            for i in range(m):
                keys[a, i, i], betas[a, i], values[a, i] = 1.0, 1.0, target[i]
    codes = np.stack([_thermometer(i, m) for i in range(n)])
    arrays = {"keys": keys, "betas": betas, "values": values, "h0": _thermometer(chain.index(dfa.start), m),
              "codes": codes, "next": np.repeat(np.array(chain, dtype=np.int64)[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": "saturating counter: thermometer code, the shift matrix as a cyclic "
                                            "permutation (reflections) and one projection"}
    model = build_model(dfa, "counter", [(layer, arrays)])
    return model, {"factor_counts": {dfa.alphabet[a]: _cost(k, m) for a, (k, _) in enumerate(kinds)},
                   "chain": [dfa.states[q] for q in chain]}


__all__ = ["compile_counter", "counter_size", "letter_kinds"]
