"""Shallow stacks for small DFAs found directly: a chain of congruences, one bit-code layer per link.

A *congruence* of the minimal complete DFA is a partition ``theta`` of its states that every letter respects
(``p ~ q`` implies ``delta(p, a) ~ delta(q, a)``); its classes form the quotient automaton ``Q / theta``. For a chain
``theta_1 > theta_2 > ... > theta_L = identity`` (each strictly finer) the stack has ``L`` layers:

* layer 1 runs ``Q / theta_1`` over the letters: a bit code of the quotient (the exhaustive search of
  :mod:`.bitcode`), handing up ``(class after the step, letter)``;
* layer ``l > 1`` reads ``(theta_{l-1}-class after the step, letter)`` -- what eq. (1) layers see: the lower layer's
  new state and the token -- and runs the classes of ``theta_l`` on it: the symbol ``(p', a)`` occurs only at the
  ``theta_l``-classes inside ``delta_a^{-1}(p')`` (its domain), so this is a partial automaton, coarsened to the
  classes that keep the layer exact and given a bit code by the greedy search of :mod:`.partial_code` (through
  :func:`statetrack.constructions.stack_merge.merge_run`). It hands up ``(theta_l-class after the step, letter)``;
  the last layer hands up the DFA state.

Knowing the coarser class after the step is what lets the finer layer act by copies, negations and constants where
the DFA itself has no bit code (no one-layer model): e.g. Tomita 3 and ``modarith:3`` in two layers.
Every stack found is proved by :func:`statetrack.constructions.verify_exact.prove` before it is returned.

**The search** (:func:`direct_search`) enumerates the congruences (joins of the principal ones, the smallest
congruence merging two states), keeps those whose quotient has a bit code, and tries chains of length 2 (one
congruence) and then, when asked for 3 layers, 3 (two nested congruences), the coarsest quotients first. It is
bounded by the compile's :class:`.budget.WorkBudget` (``who = "direct"``: one step per partition looked at per state,
the bit-code searches' own steps, one per transition of each layer tried, one per transition of each proof) and
says when it stopped early. Not found says nothing about other stacks of that depth.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from statetrack.automata.dfa import DFA

from .bit_actions import LetterAction, layer_arrays
from .bitcode import letter_actions, search_bit_code
from .budget import WorkBudget
from .model_format import CompiledModel, build_model
from .stack_merge import MergedLayer, StackWalk, merge_run

#: the most states of a minimal DFA the search runs on
MAX_STATES = 12
#: the most congruences enumerated
MAX_CONGRUENCES = 2000
#: steps of each bit-code search of a quotient
QUOTIENT_STEPS = 20_000
#: the most configurations (component states and DFA state) of a stack tried
MAX_CONFIGS = 4096
#: the longest register of last letters tried as the first layer
MAX_REGISTER = 4
WHO = "direct"


@dataclass
class DirectResult:
    """What :func:`direct_search` found: ``model`` (proved; None when nothing was found), ``layers`` (its depth),
    ``chain`` (what each layer below the DFA's own runs), ``tried`` (chains tried),
    ``congruences`` (enumerated, identity and the one-class partition left out), ``complete`` (the search ran to its
    end: False when the budget or a cap stopped it)."""

    model: CompiledModel | None
    layers: int | None
    chain: list[str] = field(default_factory=list)
    tried: int = 0
    congruences: int = 0
    complete: bool = True

    def report(self) -> dict:
        """The ``direct`` object of a compile report."""
        return {"found": self.model is not None, "layers": self.layers, "below":
                list(self.chain), "tried": self.tried, "congruences": self.congruences,
                "complete": self.complete}


def _canon(labels: np.ndarray) -> tuple[int, ...]:
    """Class ids renumbered in order of first appearance."""
    seen: dict[int, int] = {}
    return tuple(seen.setdefault(int(x), len(seen)) for x in labels)


def _close(delta: np.ndarray, labels: np.ndarray) -> tuple[int, ...]:
    """The smallest congruence coarser than the partition ``labels [n]`` (union-find closure under every letter)."""
    n, S = delta.shape
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pending = []
    first: dict[int, int] = {}
    for q in range(n):
        r = first.setdefault(int(labels[q]), q)
        if r != q:
            pending.append((r, q))
    while pending:
        x, y = pending.pop()
        rx, ry = find(x), find(y)
        if rx == ry:
            continue
        parent[ry] = rx
        for a in range(S):
            pending.append((int(delta[x, a]), int(delta[y, a])))
    return _canon(np.array([find(q) for q in range(n)]))


def congruences(delta: np.ndarray, budget: WorkBudget | None = None,
                cap: int = MAX_CONGRUENCES) -> tuple[list[tuple[int, ...]], bool]:
    """The non-trivial congruences of the complete automaton ``delta [n, S]`` (neither the identity nor one class),
    as class ids per state, coarsest (fewest classes) first; and whether the enumeration is complete (False when
    ``cap`` or ``budget`` stopped it). Every congruence is a join of principal ones, so the closure of the principal
    congruences under joins is all of them."""
    n = delta.shape[0]
    ident = tuple(range(n))
    principal = set()
    for x in range(n):
        for y in range(x + 1, n):
            if budget is not None and not budget.take(n, WHO):
                return [], False
            lab = np.arange(n)
            lab[y] = x
            principal.add(_close(delta, lab))
    found = set(principal)
    frontier = list(principal)
    complete = True
    while frontier and complete:
        nxt = []
        for c in frontier:
            for p in principal:
                if budget is not None and not budget.take(n, WHO):
                    complete = False
                    break
                j = _close(delta, np.array(_join(c, p)))
                if j not in found:
                    found.add(j)
                    nxt.append(j)
                    if len(found) >= cap:
                        complete = False
                        break
            if not complete:
                break
        frontier = nxt
    out = [c for c in found if c != ident and max(c) > 0]
    out.sort(key=lambda c: (max(c), c))
    return out, complete


def _join(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The finest partition coarser than both ``a`` and ``b`` (not closed)."""
    n = len(a)
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for part in (a, b):
        first: dict[int, int] = {}
        for q in range(n):
            r = first.setdefault(part[q], q)
            parent[find(q)] = find(r)
    return _canon(np.array([find(q) for q in range(n)]))


def _refines(fine: tuple[int, ...], coarse: tuple[int, ...]) -> bool:
    """Every class of ``fine`` inside one class of ``coarse`` (and ``fine`` strictly finer)."""
    m: dict[int, int] = {}
    for f, c in zip(fine, coarse):
        if m.setdefault(f, c) != c:
            return False
    return max(fine) > max(coarse)


def _quotient(delta: np.ndarray, lab: tuple[int, ...]) -> np.ndarray:
    """The transition table ``[k, S]`` of the quotient by the congruence ``lab``."""
    k = max(lab) + 1
    rep = [lab.index(c) for c in range(k)]
    return np.array([[lab[int(delta[q, a])] for a in range(delta.shape[1])] for q in rep], dtype=np.int64)


@dataclass
class Component:
    """An automaton run by one layer of the stack on the letters alone: ``delta [k, S]``, ``start``, and, for the
    first layer, a bit code ``codes [k, d]`` with each letter's :class:`.bit_actions.LetterAction` on it (``actions``;
    None for components above the first, whose layer is found on the walk). ``name`` says what it is."""

    delta: np.ndarray
    start: int
    name: str
    codes: np.ndarray | None = None
    actions: list | None = None


def quotient_component(dfa: DFA, lab: tuple[int, ...], masks: tuple[int, ...] | None) -> Component:
    """The quotient by the congruence ``lab`` (on its bit code ``masks`` when given)."""
    qd = _quotient(np.asarray(dfa.delta, dtype=np.int64), lab)
    k = qd.shape[0]
    codes = acts = None
    if masks is not None:
        codes = np.array([[(m >> c) & 1 for m in masks] for c in range(k)], dtype=np.float64)
        acts = letter_actions(qd, masks)
    return Component(qd, lab[dfa.start], f"quotient ({k} classes)", codes, acts)


def delayed_component(dfa: DFA, lab: tuple[int, ...]) -> Component:
    """The quotient by ``lab`` with its previous class: states ``(class before the last letter, class now)`` (the
    previous class ``k`` before the first letter), so the layer above sees both; its code is searched on the walk."""
    qd = _quotient(np.asarray(dfa.delta, dtype=np.int64), lab)
    k, S = qd.shape
    start = (k, lab[dfa.start])
    index = {start: 0}
    pairs = [start]
    rows = []
    i = 0
    while i < len(pairs):
        _, y = pairs[i]
        row = []
        for a in range(S):
            nxt = (y, int(qd[y, a]))
            if nxt not in index:
                index[nxt] = len(pairs)
                pairs.append(nxt)
            row.append(index[nxt])
        rows.append(row)
        i += 1
    return Component(np.array(rows, dtype=np.int64), 0, f"quotient ({k} classes) and its previous class")


def register_component(S: int, k: int) -> Component:
    """The last ``k`` letters read (fewer at the start): ``k`` one-hot blocks of ``S`` bits, oldest first; a letter
    copies each block into the older one and writes itself into the newest (a bit-code action)."""
    regs: list[tuple[int, ...]] = [()]
    index = {(): 0}
    rows = []
    i = 0
    while i < len(regs):
        r = regs[i]
        row = []
        for a in range(S):
            nr = (r + (a,))[-k:]
            if nr not in index:
                index[nr] = len(regs)
                regs.append(nr)
            row.append(index[nr])
        rows.append(row)
        i += 1
    d = k * S
    codes = np.zeros((len(regs), d))
    for j, r in enumerate(regs):
        off = k - len(r)
        for b, a in enumerate(r):
            codes[j, (off + b) * S + a] = 1.0
    acts = []
    for a in range(S):
        source, negate, const = -np.ones(d, dtype=np.int64), np.zeros(d, dtype=bool), np.zeros(d)
        source[:d - S] = np.arange(S, d)
        const[d - S + a] = 1.0
        acts.append(LetterAction(source, negate, const))
    return Component(np.array(rows, dtype=np.int64), 0, f"register of the last {k} letters", codes, acts)


def _ids(rows: np.ndarray) -> np.ndarray:
    """A dense id per distinct row of ``rows [N, W]`` (non-negative int64)."""
    _, inv = np.unique(rows, axis=0, return_inverse=True)
    return inv.ravel().astype(np.int64)


def _walk(dfa: DFA, comps: list[Component], cap: int = MAX_CONFIGS) -> StackWalk | None:
    """The stack's reachable configurations ``(component states..., DFA state)`` (breadth-first from the starts):
    layer ``l`` reads the id of ``(new states of components < l, letter)`` (the letter for ``l = 0``) and hands up
    the id of ``(new states of components <= l, letter)``; the last layer (the DFA) hands up the DFA state. None
    beyond ``cap`` configurations."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    S = delta.shape[1]
    tables = [c.delta for c in comps] + [delta]
    start = tuple(c.start for c in comps) + (dfa.start,)
    index = {start: 0}
    configs = [start]
    succ = []
    i = 0
    while i < len(configs):
        cfg = configs[i]
        row = []
        for a in range(S):
            nc = tuple(int(t[s, a]) for t, s in zip(tables, cfg))
            j = index.get(nc)
            if j is None:
                if len(configs) >= cap:
                    return None
                j = index[nc] = len(configs)
                configs.append(nc)
            row.append(j)
        succ.append(row)
        i += 1
    C = np.array(configs, dtype=np.int64)
    succ_a = np.array(succ, dtype=np.int64)
    M, L = C.shape[0], C.shape[1]
    new = C[succ_a]  # [M, S, L]
    letters = np.broadcast_to(np.arange(S, dtype=np.int64), (M, S))[..., None]
    sym = np.empty((M, S, L), dtype=np.int64)
    emit = np.empty((M, S, L), dtype=np.int64)
    for l in range(L):
        sym[:, :, l] = letters[..., 0] if l == 0 else emit[:, :, l - 1]
        if l == L - 1:
            emit[:, :, l] = new[:, :, l]
        else:
            emit[:, :, l] = _ids(np.concatenate([new[:, :, :l + 1], letters], axis=2).reshape(M * S, -1)).reshape(M, S)
    return StackWalk(C, succ_a, sym, emit, {})


def _stack(dfa: DFA, comps: list[Component], budget: WorkBudget | None) -> CompiledModel | None:
    """The stack of ``comps`` then the DFA, proved; None when a layer above the first has no code found, the walk
    is too large or the proof fails."""
    from .verify_exact import prove

    S = dfa.n_symbols
    w = _walk(dfa, comps)
    if w is None:
        return None
    L = len(comps) + 1
    if budget is not None and not budget.take(w.configs.shape[0] * S * L, WHO):
        return None
    first = comps[0]
    layers = []
    if first.codes is not None:
        keys, betas, values = layer_arrays(tuple(range(first.codes.shape[1])), first.actions)
        nxt = np.zeros((first.delta.shape[0], S), dtype=np.int64)
        nxt[w.configs[w.succ, 0], np.broadcast_to(np.arange(S), w.succ.shape)] = w.emit[:, :, 0]
        layers.append(({"kind": "householder", "role": f"direct 1: {first.name}"},
                       {"keys": keys, "betas": betas, "values": values, "h0": first.codes[first.start],
                        "codes": first.codes, "next": nxt}))
    for l in range(len(layers), L):
        n_in = int(w.sym[:, :, l].max()) + 1 if l else S
        got: MergedLayer | None = merge_run(w, l, l, n_in, budget, WHO)
        if got is None:
            return None
        what = comps[l].name if l < len(comps) else "the DFA state"
        layers.append(({"kind": "householder", "role": f"direct {l + 1}: {what}"},
                       {"keys": got.keys, "betas": got.betas, "values": got.values, "h0": got.h0,
                        "codes": got.codes, "next": got.next}))
    model = build_model(dfa, "direct", layers)
    return model if prove(model).proved else None


def _factors(model: CompiledModel) -> tuple[int, int]:
    infos = model.meta["layers"]
    return max(int(i["factors"]) for i in infos), max(int(i["n"]) for i in infos)


def _candidates(dfa: DFA, cons: list[tuple[int, ...]], coded: list[tuple[tuple[int, ...], tuple[int, ...]]],
                depth: int, max_register: int) -> list[list[Component]]:
    """The component lists (below the DFA's own layer) of stacks of ``depth`` layers, in the order tried."""
    S = dfa.n_symbols
    regs = [register_component(S, k) for k in range(2, max_register + 1)]
    if depth == 2:
        return [[quotient_component(dfa, c, m)] for c, m in coded] + [[r] for r in regs] + \
            [[delayed_component(dfa, c)] for c in cons]
    if depth == 3:
        out = [[quotient_component(dfa, c, m), quotient_component(dfa, f, None)]
               for c, m in coded for f in cons if _refines(f, c)]
        out += [[r, quotient_component(dfa, c, None)] for r in regs for c in cons]
        return out
    return []


def direct_search(dfa: DFA, max_layers: int = 3, budget: WorkBudget | None = None,
                  max_register: int = MAX_REGISTER) -> DirectResult:
    """The shallowest proved stack of at most ``max_layers`` layers (>= 2) for the minimal complete ``dfa`` (module
    doc), trying depth 2 before 3; among stacks of one depth, the first found. ``budget`` pays for every step
    (``"direct"``)."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    n = delta.shape[0]
    if n > MAX_STATES or n < 3 or max_layers < 2:
        return DirectResult(None, None, complete=n <= MAX_STATES)
    cons, complete = congruences(delta, budget)
    res = DirectResult(None, None, congruences=len(cons), complete=complete)
    coded: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # (congruence, bit code of its quotient)
    for c in cons:
        if budget is not None and budget.left < QUOTIENT_STEPS:
            res.complete = False
            budget.stop(WHO)
            return res
        qd = _quotient(delta, c)
        sr = search_bit_code(DFA(dfa.alphabet, None, 0, [False] * qd.shape[0], qd), QUOTIENT_STEPS)
        if budget is not None:
            budget.charge(sr.steps, WHO)
        if sr.status == "found":
            coded.append((c, sr.masks))
        elif sr.status == "undecided":
            res.complete = False
    for depth in range(2, max_layers + 1):
        for comps in _candidates(dfa, cons, coded, depth, max_register):
            if budget is not None and budget.left == 0:
                res.complete = False
                budget.stop(WHO)
                return res
            res.tried += 1
            model = _stack(dfa, comps, budget)
            if model is not None:
                res.model, res.layers = model, depth
                res.chain = [c.name for c in comps]
                return res
    return res


__all__ = ["direct_search", "congruences", "DirectResult", "MAX_STATES"]
