"""Permutation-reset automata in one layer: every letter permutes the states or sends them all to one state.

Applies when every letter of the minimal complete DFA is a permutation of its ``n`` states or a constant map (a
reset); flip-flops and reset-only languages such as ``tomita:1`` are of this kind, and so is every component of a
Krohn-Rhodes cascade. Layer: ``n`` dimensions, one-hot state ``h = e_q``, ``h0 = e_start``, codes ``e_q``.

* a permutation letter: its permutation matrix as ``moved points - non-trivial cycles`` reflections with integer keys
  ``e_i - e_j`` and ``beta = 1`` (:func:`statetrack.constructions.signed.signed_factors`);
* a reset to ``r``: ``n`` projections, key ``e_i``, ``beta = 1``, value ``[i == r]`` (each sets coordinate ``i`` to its
  value, ``h <- (I - k k^T) h + k v``), so any one-hot state becomes ``e_r``.

Independent components side by side: when the DFA divides the direct product of permutation-reset quotients of
itself (congruences of its states whose partitions meet in the discrete one, found among the principal congruences
and their pairwise joins for DFAs of up to 12 states), the layer is block diagonal with one one-hot block per
quotient; a code is the tuple of the quotient states of a reachable DFA state, which it determines.

Every entry is 0, +-1: exact in every dtype. Eigenvalues of the factors: -1 (reflections) and 0 (projections).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.groups import congruence_closure

from .model_format import CompiledModel, ConstructionNotApplicable, breadth_first_states, build_model
from .signed import signed_factors, signed_rank


#: the most states of a minimal DFA for which congruence pairs are searched (larger DFAs: the DFA itself only)
MAX_SEARCH_STATES = 12
#: the most components (quotient automata) side by side in one layer
MAX_COMPONENTS = 3


def letter_kinds(dfa: DFA) -> list[tuple[str, object]]:
    """Per letter ``("perm", perm [n])`` or ``("reset", r)``; raises ConstructionNotApplicable for any other letter
    (or a missing transition)."""
    kinds = _kinds(np.asarray(dfa.delta, dtype=np.int64))
    if kinds is None:
        raise ConstructionNotApplicable(
            "permreset does not apply: some letter neither permutes the states of the minimal DFA nor sends them "
            "all to one state")
    return kinds


def _kinds(delta: np.ndarray) -> list[tuple[str, object]] | None:
    n = delta.shape[0]
    out: list[tuple[str, object]] = []
    for a in range(delta.shape[1]):
        col = delta[:, a]
        if (col < 0).any():
            return None
        size = np.unique(col).size
        if n > 1 and size == 1:
            out.append(("reset", int(col[0])))
        elif size == n:
            out.append(("perm", col))
        else:
            return None
    return out


def _cost(kinds: list[tuple[str, object]], n: int) -> list[int]:
    return [n if kind == "reset" else signed_rank(arg, np.ones(n, dtype=np.int64)) for kind, arg in kinds]


def _congruence(delta: np.ndarray, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Labels of the finest partition joining every pair in ``pairs`` that every letter maps into itself."""
    return congruence_closure(delta.T, pairs)


@dataclass(frozen=True)
class Component:
    """A quotient automaton of the DFA: ``labels [n]`` (DFA state -> block), ``delta [m, S]`` on the ``m`` blocks, and
    its letters' kinds (permutation or reset)."""

    labels: np.ndarray
    delta: np.ndarray
    kinds: tuple

    @property
    def m(self) -> int:
        return int(self.delta.shape[0])

    @property
    def costs(self) -> list[int]:
        return _cost(list(self.kinds), self.m)


def _component(delta: np.ndarray, labels: np.ndarray) -> Component | None:
    m = int(labels.max()) + 1
    rep = np.zeros(m, dtype=np.int64)
    rep[labels[::-1]] = np.arange(labels.size)[::-1]
    q = labels[delta[rep]]  # [m, S]
    kinds = _kinds(q)
    return None if kinds is None else Component(labels, q, tuple(kinds))


def decomposition(dfa: DFA) -> list[Component]:
    """Permutation-reset quotients of the minimal ``dfa`` whose partitions meet in the discrete one (so the DFA
    divides their direct product), with the fewest factors for the worst letter (summed over components), then the
    smallest total state; the DFA itself when it is permutation-reset and nothing cheaper exists. Raises
    ConstructionNotApplicable when no such family of at most :data:`MAX_COMPONENTS` quotients is found."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    n = delta.shape[0]
    if (delta < 0).any():
        raise ConstructionNotApplicable("permreset does not apply: the DFA is not complete")
    cands: dict[bytes, Component] = {}
    whole = _component(delta, np.arange(n))
    if whole is not None:
        cands[np.arange(n).tobytes()] = whole
    if 2 <= n <= MAX_SEARCH_STATES:
        principal = {}
        for p in range(n):
            for q in range(p + 1, n):
                lab = _congruence(delta, [(p, q)])
                principal.setdefault(lab.tobytes(), (p, q))
        seeds = list(principal.values())
        parts = {k: [v] for k, v in principal.items()}
        for i, a in enumerate(seeds):  # joins of two principal congruences: coarser quotients
            for b in seeds[i + 1:]:
                lab = _congruence(delta, [a, b])
                parts.setdefault(lab.tobytes(), [a, b])
        for key, pairs in parts.items():
            lab = _congruence(delta, pairs)
            if int(lab.max()) == 0 or key in cands:
                continue
            comp = _component(delta, lab)
            if comp is not None:
                cands[key] = comp
    items = list(cands.values())
    best: tuple | None = None
    for r in range(1, MAX_COMPONENTS + 1):
        for combo in itertools.combinations(items, r):
            labels = np.stack([c.labels for c in combo], axis=1)
            if len({tuple(row) for row in labels.tolist()}) != n:
                continue
            worst = max((sum(c.costs[a] for c in combo) for a in range(delta.shape[1])), default=0)
            cost = (worst, sum(c.m for c in combo), r)
            if best is None or cost < best[0]:
                best = (cost, combo)
    if best is None:
        raise ConstructionNotApplicable(
            "permreset does not apply: the minimal DFA is not a permutation-reset automaton and does not divide a "
            f"product of at most {MAX_COMPONENTS} permutation-reset quotients of itself")
    return list(best[1])


def permreset_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_permreset` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    comps = decomposition(dfa)
    worst = max((sum(c.costs[a] for c in comps) for a in range(dfa.n_symbols)), default=0)
    return {"layers": 1, "state_size": sum(c.m for c in comps), "factors_per_token": worst, "exact": True,
            "note": f"one-hot permutation-reset layer{'' if len(comps) == 1 else 's'} "
                    f"({' + '.join(str(c.m) for c in comps)} states side by side): a permutation letter as "
                    "reflections, a reset as one projection per state writing the target"}


def compile_permreset(dfa: DFA) -> tuple[CompiledModel, dict]:
    """One householder layer for a DFA that divides a product of permutation-reset quotients of itself (``dfa``
    minimal and complete); see the module doc."""
    comps = decomposition(dfa)
    S = dfa.n_symbols
    n = sum(c.m for c in comps)
    counts = [sum(c.costs[a] for c in comps) for a in range(S)]
    F = max(1, max(counts, default=0))
    keys, betas, values = np.zeros((S, F, n)), np.zeros((S, F)), np.zeros((S, F))
    for a in range(S):
        f, off = 0, 0
        for c in comps:
            kind, arg = c.kinds[a]
            if kind == "perm":
                g = signed_factors(arg, np.ones(c.m, dtype=np.int64))
                keys[a, f:f + g.count, off:off + c.m], betas[a, f:f + g.count] = g.keys, g.betas
                f += g.count
            else:
                for i in range(c.m):
                    keys[a, f, off + i], betas[a, f], values[a, f] = 1.0, 1.0, float(i == arg)
                    f += 1
            off += c.m
    # codes: the reachable tuples of component states, one-hot per component; each determines the DFA state
    def code(q: int) -> tuple:
        out, off = [0.0] * n, 0
        for c in comps:
            out[off + int(c.labels[q])] = 1.0
            off += c.m
        return tuple(out)

    state = breadth_first_states(dfa)
    codes = [code(q) for q in state]
    h0 = np.array(codes[0])
    arrays = {"keys": keys, "betas": betas, "values": values, "h0": h0, "codes": np.array(codes),
              "next": np.repeat(np.array(state, dtype=np.int64)[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": "permutation-reset automata side by side: reflections for permutations, "
                                            "projections writing the target for resets (one-hot per component)"}
    model = build_model(dfa, "permreset", [(layer, arrays)])
    return model, {"factor_counts": {dfa.alphabet[a]: c for a, c in enumerate(counts)},
                   "components": [c.m for c in comps]}


__all__ = ["compile_permreset", "permreset_size", "letter_kinds", "decomposition", "Component"]
