"""One layer through a bit code: states as 0/1 vectors on which every letter copies, negates or sets coordinates.

A *bit code* of the minimal complete DFA is a list of ``d`` bit functions ``c_1, ..., c_d: Q -> {0, 1}`` that tell
every two states apart; state ``q`` is the vector ``h(q) = (c_1(q), ..., c_d(q))``. A letter ``a`` (map ``f_a``)
acts on the codes in one layer when each new bit is a constant, a copy or a negation of one old bit, and no old bit
is used twice:

    c_i(f_a(q)) = const,   or c_j(q),   or 1 - c_j(q)      for every state q,   with i -> j injective.

Then ``h -> L h + b`` with ``L`` a signed partial permutation matrix (spectral norm <= 1), built from GH factors with
integer keys. In the centred code ``u = h - 1/2`` a copy is ``u_i <- u_j`` and a negation ``u_i <- -u_j``, so the copied
bits move by a signed permutation ``Sigma`` (completed over the constant slots, whose free signs make each cycle's sign
product +1): ``rank(I - Sigma)`` reflections (keys ``e_i -+ e_j`` with beta 1, ``e_i`` with beta 2) whose values give
the offset ``(I - Sigma) 1 / 2`` (solved exactly; it lies in the span of the keys), then a projection ``e_i`` (beta 1)
per constant bit writing it (:mod:`.bit_actions`). Every entry is dyadic (0, +-1, +-1/2, ...): exact in every
dtype. Factor eigenvalues: -1 (reflections) and 0 (projections), so the layer is of the ``[-1, 1]`` families.

One-hot codes of permutation-reset automata and thermometer codes of saturating counters are bit codes; so are the
codes of automata that are neither, e.g. ``(ab)*`` (Tomita 2) and ``dyck:1:2`` in 2 and 3 bits.

**The search.** Bit functions are subsets of Q up to complement (a negated copy is as cheap as a copy); a letter
sends the bit ``S`` to its preimage ``f_a^{-1}(S)`` (constant when empty or all of Q). So a code is a family ``B`` of
non-constant subsets (up to complement) that is (1) closed under every letter's preimage, (2) *conflict-free*: no
letter sends two members of ``B`` to the same non-constant preimage (that would copy one old bit twice), and
(3) separating. A closed ``B`` is the union of the closures of its members, and each member's closure is itself
conflict-free, so ``B`` is a union of closures of *good* subsets (those with a conflict-free closure): the search
runs over unions of good closures, pairwise compatible, smallest first (fewest bits, then fewest factors). It is
exhaustive over that class for DFAs of up to :data:`MAX_STATES` states and stops after ``max_steps`` steps (a step is
one node of the search or one costing of a candidate code: deterministic, so the answer does not depend on the machine
or its load):

* ``found``: a bit code (the smallest, unless the search was stopped after finding one);
* ``impossible``: no bit code with pairwise distinct bits exists, of any dimension (that class is decided exactly;
  a code that repeats a bit -- two coordinates equal on every state -- is outside it, and can exist where this search
  says ``impossible``: ``tests/test_bitcode.py::test_a_repeated_bit_is_outside_the_decided_class``);
* ``undecided``: the search was stopped (step cap), or the DFA has more than :data:`MAX_STATES` states.

"Impossible" is a statement about this class of codes (0/1 vectors, letters acting by signed partial permutations and
constants), not about every real encoding.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from statetrack.automata.dfa import DFA

from .bit_actions import LetterAction, layer_arrays
from .cascade.holonomy import members as bit_members
from .model_format import CompiledModel, ConstructionNotApplicable, breadth_first_states, build_model

#: the most states of a minimal DFA for which bit codes are searched (2^(n-1) candidate bits)
MAX_STATES = 12
#: default cap of the search, in steps (nodes of the search and costings of candidate codes; the set-up, bounded by
#: MAX_STATES, is not counted)
DEFAULT_STEPS = 50_000
#: what "impossible" covers
SCOPE = "0/1 codes of the minimal DFA's states with pairwise distinct bits (up to complement), each letter copying, " \
        "negating or setting bits (a signed partial permutation plus constants), any dimension; codes that repeat a " \
        "bit are not covered"


@dataclass(frozen=True)
class BitCodeSearch:
    """The outcome of :func:`search_bit_code`.

    ``status``: ``found`` | ``impossible`` | ``undecided``; ``masks``: the code's bits as subsets of the states
    (bit ``q`` of mask ``i`` is ``c_i(q)``), smallest dimension first (empty unless found); ``complete``: the search
    ran to its end (a found code is then the smallest); ``seconds``: its time; ``reason``: one line; ``steps``: the
    steps it took (at most its cap).
    """

    status: str
    masks: tuple[int, ...]
    complete: bool
    seconds: float
    reason: str
    steps: int = 0


def _norm(mask: int, full: int) -> int:
    """The representative of ``{mask, complement}`` that leaves state 0 out."""
    return mask ^ full if mask & 1 else mask


def _preimages(delta: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Raw preimage masks ``[M, S]`` of ``masks [M]`` (int64 bitsets over the ``n`` states) under every letter."""
    n, S = delta.shape
    bits = (masks[:, None] >> np.arange(n)[None, :]) & 1  # [M, n]
    weights = np.int64(1) << np.arange(n, dtype=np.int64)
    return np.stack([(bits[:, delta[:, a]] * weights).sum(axis=1) for a in range(S)], axis=1)


def search_bit_code(dfa: DFA, max_steps: int = DEFAULT_STEPS) -> BitCodeSearch:
    """Search a bit code of the minimal complete ``dfa`` (module doc); smallest dimension, then fewest factors for the
    worst letter, within ``max_steps`` steps. Deterministic; results are also remembered per transition table and cap
    within a process."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    if (delta < 0).any():
        raise ConstructionNotApplicable("bitcode: needs a complete DFA")
    return _search_cached(delta.tobytes(), delta.shape, int(max_steps))


@lru_cache(maxsize=256)
def _search_cached(table: bytes, shape: tuple[int, int], max_steps: int) -> BitCodeSearch:
    return _search(np.frombuffer(table, dtype=np.int64).reshape(shape), max_steps)


def _search(delta: np.ndarray, max_steps: int) -> BitCodeSearch:
    t0 = time.perf_counter()
    n, S = delta.shape
    if n < 2:
        return BitCodeSearch("impossible", (), True, 0.0, "one state: nothing to encode")
    if n > MAX_STATES:
        return BitCodeSearch("undecided", (), False, time.perf_counter() - t0,
                             f"{n} states: bit codes are searched up to {MAX_STATES}")
    full = (1 << n) - 1
    nodes = np.arange(2, 1 << n, 2, dtype=np.int64)  # non-empty subsets without state 0 (one per complement pair)
    index = {int(m): k for k, m in enumerate(nodes.tolist())}
    raw = _preimages(delta, nodes)
    succ = [[index[_norm(int(p), full)] for p in row if 0 < int(p) < full] for row in raw.tolist()]
    M = len(nodes)
    conflict = [0] * M  # bitset over node indices
    for a in range(S):
        groups: dict[int, list[int]] = {}
        for k in range(M):
            p = int(raw[k, a])
            if 0 < p < full:
                groups.setdefault(_norm(p, full), []).append(k)
        for members in groups.values():
            if len(members) > 1:
                bits = 0
                for k in members:
                    bits |= 1 << k
                for k in members:
                    conflict[k] |= bits & ~(1 << k)
    closure = [0] * M
    for k in range(M):
        seen, stack = 1 << k, [k]
        while stack:
            u = stack.pop()
            for v in succ[u]:
                if not seen >> v & 1:
                    seen |= 1 << v
                    stack.append(v)
        closure[k] = seen
    reach_conflicts = [0] * M
    good = []
    for k in range(M):
        c, bad = closure[k], 0
        for u in bit_members(c):
            bad |= conflict[u]
        reach_conflicts[k] = bad
        if not bad & c:
            good.append(k)
    pairs = [(p, q) for p in range(n) for q in range(p + 1, n)]
    pair_bits = np.array([[(int(nodes[k]) >> p & 1) != (int(nodes[k]) >> q & 1) for p, q in pairs]
                          for k in range(M)], dtype=bool) if M else np.zeros((0, len(pairs)), dtype=bool)

    def separated(union: int) -> np.ndarray:
        ks = bit_members(union)
        return pair_bits[ks].any(axis=0) if ks else np.zeros(len(pairs), dtype=bool)

    every = 0
    for k in good:
        every |= closure[k]
    if not separated(every).all():
        return BitCodeSearch("impossible", (), True, time.perf_counter() - t0,
                             "no family of conflict-free closed bits tells every two states apart")
    good.sort(key=lambda k: (bin(closure[k]).count("1"), -int(pair_bits[k].sum())))
    best: list = [None]  # (dimension, factors, union)
    stopped = [False]
    steps = [0]

    def cost(union: int) -> tuple[int, int]:
        steps[0] += 1
        masks = tuple(int(nodes[k]) for k in bit_members(union))
        return len(masks), max((act.factors() for act in letter_actions(delta, masks)), default=0)

    def dfs(union: int, conflicts: int, start: int) -> None:
        steps[0] += 1
        if stopped[0] or steps[0] > max_steps:
            stopped[0] = True
            return
        size = bin(union).count("1")
        if best[0] is not None and size > best[0][0]:
            return
        if union and separated(union).all():
            c = cost(union)
            if best[0] is None or c < best[0][:2]:
                best[0] = (*c, union)
            return
        for idx in range(start, len(good)):
            k = good[idx]
            add = closure[k] & ~union
            if not add or conflicts & closure[k] or reach_conflicts[k] & union:
                continue
            if best[0] is not None and size + bin(add).count("1") > best[0][0]:
                continue
            dfs(union | add, conflicts | reach_conflicts[k], idx + 1)

    dfs(0, 0, 0)
    seconds = time.perf_counter() - t0
    used = min(steps[0], max_steps)
    if best[0] is None:
        if stopped[0]:
            return BitCodeSearch("undecided", (), False, seconds, f"search stopped after {max_steps} steps", used)
        return BitCodeSearch("impossible", (), True, seconds,
                             "no union of conflict-free closed bits tells every two states apart", used)
    masks = tuple(int(nodes[k]) for k in bit_members(best[0][2]))
    why = f"{len(masks)} bits" + ("" if not stopped[0] else f" (search stopped after {max_steps} steps: may not be "
                                                            "the smallest)")
    return BitCodeSearch("found", masks, not stopped[0], seconds, why, used)


def letter_actions(delta: np.ndarray, masks: tuple[int, ...]) -> list[LetterAction]:
    """Each letter's action on the bit code ``masks`` (see :class:`LetterAction`); raises
    ConstructionNotApplicable if some letter is not a signed partial permutation plus constants on it."""
    delta = np.asarray(delta, dtype=np.int64)
    n, S = delta.shape
    full = (1 << n) - 1
    where = {_norm(m, full): i for i, m in enumerate(masks)}
    raw = _preimages(delta, np.array(masks, dtype=np.int64)) if masks else np.zeros((0, S), dtype=np.int64)
    out = []
    for a in range(S):
        d = len(masks)
        source, negate, const = -np.ones(d, dtype=np.int64), np.zeros(d, dtype=bool), np.zeros(d)
        used: set[int] = set()
        for i in range(d):
            p = int(raw[i, a])
            if p == 0 or p == full:
                const[i] = float(p == full)
                continue
            j = where.get(_norm(p, full))
            if j is None or j in used:
                raise ConstructionNotApplicable(f"bitcode: letter {a} does not act on the code by copies, negations "
                                                "and constants")
            used.add(j)
            source[i] = j
            negate[i] = p != masks[j]
        out.append(LetterAction(source, negate, const))
    return out


def _code(masks: tuple[int, ...], q: int) -> np.ndarray:
    return np.array([(m >> q) & 1 for m in masks], dtype=np.float64)


def _found(dfa: DFA, max_steps: int) -> tuple[tuple[int, ...], list[LetterAction]]:
    res = search_bit_code(dfa, max_steps)
    if res.status != "found":
        raise ConstructionNotApplicable(f"bitcode: no bit code ({res.status}: {res.reason})")
    return res.masks, letter_actions(np.asarray(dfa.delta), res.masks)


def bitcode_size(dfa: DFA, max_steps: int = DEFAULT_STEPS) -> dict:
    """The size of the model :func:`compile_bitcode` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable when no bit code is found."""
    masks, actions = _found(dfa, max_steps)
    return {"layers": 1, "state_size": len(masks), "factors_per_token": max(a.factors() for a in actions),
            "exact": True,
            "note": f"bit code in {len(masks)} dimensions: every letter copies, negates or sets bits (a signed "
                    "permutation of the centred code as reflections, a projection per constant)"}


def compile_bitcode(dfa: DFA, max_steps: int = DEFAULT_STEPS) -> tuple[CompiledModel, dict]:
    """One householder layer for a DFA with a bit code (``dfa`` minimal and complete); see the module doc."""
    masks, actions = _found(dfa, max_steps)
    S = dfa.n_symbols
    counts = [a.factors() for a in actions]
    keys, betas, values = layer_arrays(masks, actions)
    state = breadth_first_states(dfa)
    codes = [_code(masks, q) for q in state]
    arrays = {"keys": keys, "betas": betas, "values": values, "h0": _code(masks, dfa.start),
              "codes": np.stack(codes), "next": np.repeat(np.array(state, dtype=np.int64)[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": "bit code: letters copy or negate bits (a signed permutation of the "
                                            "centred code as reflections) or set them (projections)"}
    model = build_model(dfa, "bitcode", [(layer, arrays)])
    return model, {"factor_counts": {dfa.alphabet[a]: c for a, c in enumerate(counts)},
                   "bits": [[dfa.states[q] for q in range(dfa.n_states) if m >> q & 1] for m in masks]}

__all__ = ["compile_bitcode", "bitcode_size", "search_bit_code", "letter_actions", "BitCodeSearch", "MAX_STATES",
           "SCOPE", "DEFAULT_STEPS"]
