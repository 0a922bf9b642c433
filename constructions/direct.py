"""Shallow stacks for small DFAs found directly: one or two layers below the DFA's own layer.

A stack of ``L`` layers is chosen as ``L - 1`` *components* -- automata run on the letters alone -- then the DFA:

* a **quotient** by a *congruence* of the minimal complete DFA (a partition ``theta`` of its states that every letter
  respects: ``p ~ q`` implies ``delta(p, a) ~ delta(q, a)``), on a bit code of the quotient found by the exhaustive
  search of :mod:`.bitcode`;
* a **register** of the last ``k`` letters (``k`` one-hot blocks; every letter copies each block into the older one
  and writes itself into the newest);
* a **delayed quotient**: the quotient with its class before the last letter (its code is searched on the walk);
* a **quotient of the DFA without its sink** (:func:`sink_free_automaton`: steps into the sink undefined, so the
  congruence need not be one of the DFA and its killing steps are free, :func:`sink_free_component`), alone or beside
  a coded quotient of the DFA in one block-diagonal layer (:func:`product_component`), which tells the layer above
  when the word died (``modarith:3`` and ``tomita:3`` in two layers).

Layer ``l`` reads the id of ``(new states of the components below it, letter)`` -- what an eq. (1) layer sees: the
layer below's new state and the token, passed up by every ``next`` table -- and hands up the same with its own new
state added; the last layer runs the DFA and hands up its state. Above the first layer a symbol occurs only at some
states (its *domain*), so each such layer is a partial automaton, coarsened to the classes that keep it exact and
given a bit code by the greedy search of :mod:`.partial_code` (through
:func:`statetrack.constructions.stack_merge.merge_run`). Knowing what the layers below know is what lets the DFA's
layer act by copies, negations and constants where the DFA itself has no bit code (no one-layer bit-code model): Tomita 7
(a register of the last two letters, then the DFA) and small random DFAs in two layers.
Every stack found is proved by :func:`statetrack.constructions.verify_exact.prove` before it is returned.

**The search** (:func:`direct_search`) enumerates the congruences (joins of the principal ones, the smallest
congruence merging two states: checked against every partition of small automata in the tests), keeps the quotients
with a bit code, and tries two layers (a quotient, a register of 2..4 letters, a delayed quotient, a quotient of the
DFA without its sink), then three (a
quotient below a finer one, a register below a quotient), in that order; the first proved stack wins. It runs on
minimal DFAs of 3 to :data:`MAX_STATES` states (up to :data:`MAX_STATES_LARGE` on at most :data:`LARGE_STEPS`),
bounded by the compile's :class:`.budget.WorkBudget`
(``"direct"``: one step per state per partition closed, the bit-code searches' own steps, one per transition of each
stack walked and of each code search) and says when it stopped early. A stack not found says nothing about other
stacks of that depth: the search is a heuristic that only ever returns proved models.

**Cascade prefixes** (:func:`prefix_search`): the first ``j`` layers of a proved stack without convolutions (the
merged cascade), the last of them handing up ``(its new code, the symbol it read)``, then the DFA in one layer found
as above -- for ``j = below - 2, below - 3, ...`` (one layer fewer than the best stack so far, then deeper cuts
while they work) (``tomita:3``: 4 layers instead
of 5).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from statetrack.automata.dfa import DFA

from .bit_actions import LetterAction, layer_arrays, shift_register_actions
from .bitcode import letter_actions, search_bit_code
from .budget import WorkBudget
from .model_format import CompiledModel, build_model
from .stack_merge import MergedLayer, StackWalk, _rows, _table_cost, merge_run

#: the most states of a minimal DFA the search runs on with the whole budget, and the most it runs on at all (above
#: MAX_STATES with at most LARGE_STEPS of the compile's budget: ``modarith:3`` has 19)
MAX_STATES = 12
MAX_STATES_LARGE = 24
LARGE_STEPS = 1_500_000
#: the most congruences enumerated
MAX_CONGRUENCES = 2000
#: steps of each bit-code search of a quotient
QUOTIENT_STEPS = 20_000
#: the most configurations (component states and DFA state) of a stack tried
MAX_CONFIGS = 4096
#: the most reachable configurations of a stack whose prefix is tried under the DFA (:func:`prefix_search`)
MAX_WALK = 5_000
#: the longest register of last letters tried as the first layer
MAX_REGISTER = 4
#: the most congruences of the letter-pair automaton enumerated, and the most of them tried as components
MAX_PAIR_CONGRUENCES = 300
MAX_PAIR_COMPONENTS = 12
#: steps of each bit-code search of a letter-pair component
PAIR_CODE_STEPS = 5_000
#: the most separating congruences of the letter-pair automaton kept, and the most closures their search makes
MAX_SEPARATING = 4
SEPARATING_NODES = 20_000
#: the most steps of the compile's budget the direct search with the convolution coupling spends
CONV_STEPS = 300_000
#: the most steps of the compile's budget the cascade-prefix search with the convolution coupling spends
PREFIX_CONV_STEPS = 200_000
#: the most classes (of non-sink states) of a congruence of the DFA without its sink tried as a component, the most
#: such congruences enumerated, and the most closures their search makes
MAX_FEW_CLASSES = 4
MAX_FEW_CLASS = 40
FEW_CLASS_NODES = 20_000
#: the most completions of a quotient of the DFA without its sink whose bit codes are searched
MAX_FILLS = 64
#: the most components from the DFA without its sink tried, and the most steps their stacks spend (checked before
#: each stack, so the last one may overshoot it)
MAX_SINK_FREE = 12
SINK_FREE_STEPS = 200_000
#: the most non-sink states of the DFA without its sink tried as a component itself: its bit-code searches (one per
#: filling of the free entries) build a table over 2^k subsets before any step is counted (0.5-1.8 s each at 12)
SINK_FREE_ITSELF_STATES = 10
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
    """The smallest congruence coarser than the partition ``labels [n]`` (union-find closure under every letter;
    ``delta`` may be partial, -1 where undefined)."""
    n, S = delta.shape
    parent = list(range(n))
    to = delta.tolist()  # per class root: one defined step per letter (-1: none in the class yet)

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
        tx, ty = to[rx], to[ry]
        for a in range(S):  # the classes' steps, not the pair's: a partial step may be defined at a third member
            if tx[a] < 0:
                tx[a] = ty[a]
            elif ty[a] >= 0:
                pending.append((tx[a], ty[a]))
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
    pairs: bool = False  # delta [k, (S + 1) S] read by (previous letter | S at the start, letter)
    coarsen: bool = False  # the layers above it are searched on coarsened classes too (merge_run's coarsen)
    sink_free: bool = False  # built from a congruence of the DFA without its sink (alone or beside a quotient)


def pair_automaton(dfa: DFA) -> tuple[np.ndarray, np.ndarray]:
    """The minimal complete ``dfa`` read by letter pairs, without its sink: ``delta [n, (S + 1) S]`` with column
    ``p S + a`` the step on ``a`` after the letter ``p`` (``p = S``: the first letter), -1 where the state is never
    reached right after ``p`` or the step leads to a sink (a rejecting state every letter keeps); and the mask of
    non-sink states. A congruence of it (:func:`congruences`; the sink alone in its class) is a component that reads
    the letter pairs the convolution hands the first layer (:func:`pair_quotient_component`)."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    n, S = delta.shape
    acc = np.asarray(dfa.accepting, dtype=bool)
    sink = np.array([not acc[q] and (delta[q] == q).all() for q in range(n)])
    out = -np.ones((n, (S + 1) * S), dtype=np.int64)
    for p in range(S + 1):
        dom = [dfa.start] if p == S else sorted({int(x) for x in delta[:, p]})
        for q in dom:
            for a in range(S):
                if not sink[q] and not sink[delta[q, a]]:
                    out[q, p * S + a] = delta[q, a]
    return out, ~sink


def _kept_classes(lab: tuple[int, ...], keep: np.ndarray) -> list[int]:
    """The class ids of the non-sink states (``keep``) under the partition ``lab``, in increasing order: the
    numbering of a quotient's states (class ``cls[i]`` is state ``i``)."""
    return sorted({lab[q] for q in range(len(lab)) if keep[q]})


def _completed(lab: tuple[int, ...], pdelta: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """The congruence ``lab`` of a partial automaton ``pdelta [n, P]`` (-1: undefined; non-sink states ``keep``) as a
    complete automaton ``[k, P]`` on its classes of non-sink states (numbered in order of their ids): a column whose
    defined steps all reach one class resets every class to it; any other column moves a class to the class of its
    members' defined steps and keeps it where none is defined."""
    cls = _kept_classes(lab, keep)
    ren = {c: i for i, c in enumerate(cls)}
    k, P = len(cls), pdelta.shape[1]
    table = np.tile(np.arange(k, dtype=np.int64)[:, None], (1, P))
    for x in range(P):
        to = {ren[lab[int(pdelta[q, x])]] for q in range(len(lab)) if keep[q] and pdelta[q, x] >= 0}
        if len(to) == 1:  # a reset on its domain: a reset everywhere
            table[:, x] = to.pop()
            continue
        for q in range(len(lab)):
            if keep[q] and pdelta[q, x] >= 0:
                table[ren[lab[q]], x] = ren[lab[int(pdelta[q, x])]]
    return table


def sink_free_automaton(dfa: DFA) -> tuple[np.ndarray, np.ndarray]:
    """The minimal complete ``dfa`` without its sink (a rejecting state every letter keeps): ``delta [n, S]`` with
    -1 where the step leaves or enters the sink, and the mask of non-sink states. A congruence of it (the sink alone
    in its class; :func:`few_class_congruences`) need not be one of the DFA -- what happens on a dead word is left
    free -- and is a component run on the letters (:func:`sink_free_component`): the layer above learns the death
    elsewhere (a quotient of the DFA beside it in the same layer, :func:`product_component`)."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    n, S = delta.shape
    acc = np.asarray(dfa.accepting, dtype=bool)
    sink = np.array([not acc[q] and (delta[q] == q).all() for q in range(n)])
    out = delta.copy()
    out[sink] = -1
    out[sink[delta]] = -1
    return out, ~sink


def few_class_congruences(pdelta: np.ndarray, keep: np.ndarray, max_classes: int, budget: WorkBudget | None = None,
                          cap: int = MAX_FEW_CLASS, nodes: int = FEW_CLASS_NODES) -> tuple[list[tuple[int, ...]], bool]:
    """The congruences of the partial automaton ``pdelta [n, P]`` with 2 to ``max_classes`` classes of non-sink states
    (``keep``; each sink alone), fewest classes first: an exhaustive backtracking search (each non-sink state put in a
    class already used or a new one, the partial partition closed under every column after each choice and dropped
    when the closure merges two classes already chosen), as :func:`separating_congruences` without pairs to keep
    apart. Returns the congruences (class ids per state, at most ``cap``) and whether the enumeration is complete
    (False when ``cap``, ``nodes`` closures or the budget -- one step per state per closure -- stopped it). Unlike
    :func:`congruences` (joins of the principal ones, breadth first), it reaches the coarse congruences of automata
    that have many fine ones, as partial automata do."""
    kept = [int(q) for q in np.flatnonzero(keep)]
    left = [nodes]
    seen: set[tuple[int, ...]] = set()
    out: list[tuple[int, ...]] = []

    def leaf(c: tuple[int, ...], k: int) -> None:
        if c not in seen and len({c[q] for q in kept}) == k:
            seen.add(c)
            out.append(c)

    for k in range(2, min(max_classes, len(kept) - 1) + 1):
        if not _grow_classes(pdelta, kept, k, left, budget, cap, out, False, [], lambda c, k=k: leaf(c, k)):
            return out, False
    return out, True


def _grow_classes(pdelta: np.ndarray, kept: list[int], k: int, left: list[int], budget: WorkBudget | None, cap: int,
                  out: list, at_cap: bool, apart: list[tuple[int, int]],
                  leaf: Callable[[tuple[int, ...]], None]) -> bool:
    """The backtracking of :func:`few_class_congruences` and :func:`separating_congruences`: each state of ``kept`` in
    turn is put in a class already used or a new one (fewer than ``k``), the partial partition (unchosen states alone)
    is closed under every column of ``pdelta`` after each choice, and the choice is dropped when the closure merges
    two classes already chosen or a pair of ``apart``; ``leaf`` gets the closure of each complete choice. One node of
    ``left[0]`` and ``n`` budget steps per closure; False when they run out (or ``at_cap`` once ``out`` holds ``cap``
    entries), else True."""
    n = pdelta.shape[0]
    lab = [-1] * n

    def closure() -> tuple[int, ...]:
        return _close(pdelta, np.array([lab[v] if lab[v] >= 0 else n + v for v in range(n)]))

    def grow(i: int) -> bool:
        if len(out) >= cap:
            return at_cap
        if i == len(kept):
            leaf(closure())
            return True
        q = kept[i]
        used = max(lab) + 1
        for c in range(min(used + 1, k)):
            left[0] -= 1
            if left[0] < 0 or (budget is not None and not budget.take(n, WHO)):
                return False
            lab[q] = c
            cl = closure()
            ok = all(cl[u] != cl[v] for u, v in apart)
            ok = ok and all(cl[u] != cl[v] for u in kept[:i + 1] for v in kept[:i + 1] if lab[u] != lab[v])
            if ok and not grow(i + 1):
                lab[q] = -1
                return False
            lab[q] = -1
        return True

    return grow(0)


def product_component(parts: list[Component]) -> Component:
    """The components ``parts`` (each with a bit code, all read by the same columns) side by side in one layer: the
    reachable tuples of their states, the codes concatenated (block-diagonal), each column's action the actions of
    the parts on their own blocks -- still a bit-code action (copies, negations and constants, no old bit used
    twice)."""
    P = parts[0].delta.shape[1]
    start = tuple(c.start for c in parts)
    index = {start: 0}
    states = [start]
    rows = []
    i = 0
    while i < len(states):
        row = []
        for x in range(P):
            nxt = tuple(int(c.delta[s, x]) for c, s in zip(parts, states[i]))
            row.append(index.setdefault(nxt, len(states)))
            if row[-1] == len(states):
                states.append(nxt)
        rows.append(row)
        i += 1
    codes = np.array([np.concatenate([c.codes[s] for c, s in zip(parts, st)]) for st in states], dtype=np.float64)
    acts = []
    for x in range(P):
        src, neg, const, off = [], [], [], 0
        for c in parts:
            a = c.actions[x]
            src.append(np.where(a.source >= 0, a.source + off, -1))
            neg.append(a.negate)
            const.append(a.const)
            off += c.codes.shape[1]
        acts.append(LetterAction(np.concatenate(src).astype(np.int64), np.concatenate(neg).astype(bool),
                                 np.concatenate(const).astype(np.float64)))
    return Component(np.array(rows, dtype=np.int64), 0, " beside ".join(c.name for c in parts), codes, acts,
                     pairs=parts[0].pairs, coarsen=True, sink_free=any(c.sink_free for c in parts))


def _holes(lab: tuple[int, ...], pdelta: np.ndarray, keep: np.ndarray) -> list[tuple[int, int]]:
    """The entries ``(class, column)`` that :func:`_completed` fills freely: no member of the class has a step on
    the column and the column is not a reset (its defined steps reach two classes or more)."""
    cls = _kept_classes(lab, keep)
    out = []
    for x in range(pdelta.shape[1]):
        to = {lab[int(pdelta[q, x])] for q in range(len(lab)) if keep[q] and pdelta[q, x] >= 0}
        if len(to) == 1:
            continue
        for i, c in enumerate(cls):
            if not any(keep[q] and lab[q] == c and pdelta[q, x] >= 0 for q in range(len(lab))):
                out.append((i, x))
    return out


def sink_free_component(dfa: DFA, lab: tuple[int, ...], pdelta: np.ndarray, keep: np.ndarray,
                        budget: WorkBudget | None = None, max_fills: int = MAX_FILLS) -> Component | None:
    """The congruence ``lab`` of :func:`sink_free_automaton` as a complete automaton on the letters on a bit code
    found by the exhaustive search of :mod:`.bitcode`: first :func:`_completed` (a class keeps itself on a letter
    none of its members reads without dying), then, while there are at most ``max_fills`` of them, every other choice
    of those free entries (:func:`_holes`; any choice is sound: the layer above learns the death from elsewhere, and
    the stack is proved). None when no choice has a bit code (or the budget runs short)."""
    base = _completed(lab, pdelta, keep)
    k = base.shape[0]
    start = _kept_classes(lab, keep).index(lab[dfa.start]) if keep[dfa.start] else 0
    holes = _holes(lab, pdelta, keep)
    fills: list = [None]
    if holes and k ** len(holes) <= max_fills:
        fills += list(itertools.product(range(k), repeat=len(holes)))
    for fill in fills:
        table = base.copy()
        if fill is not None:
            for (i, x), v in zip(holes, fill):
                table[i, x] = v
            if (table == base).all():
                continue
        if budget is not None and budget.left < QUOTIENT_STEPS:
            return None
        sr = search_bit_code(DFA(dfa.alphabet, None, start, [False] * k, table), QUOTIENT_STEPS)
        if budget is not None:  # the search's steps and its table over the 2^(k-1) subsets
            budget.charge(sr.steps + (1 << max(k - 1, 0)) * table.shape[1], WHO)
        if sr.status == "found":
            codes = np.array([[(mk >> c) & 1 for mk in sr.masks] for c in range(k)], dtype=np.float64)
            return Component(table, start, f"quotient of the DFA without its sink ({k} classes)", codes,
                             letter_actions(table, sr.masks), coarsen=True, sink_free=True)
    return None


def pair_quotient_component(dfa: DFA, lab: tuple[int, ...], pdelta: np.ndarray, keep: np.ndarray,
                            budget: WorkBudget | None = None) -> Component:
    """The congruence ``lab`` of :func:`pair_automaton` (``pdelta``, non-sink ``keep``) as a complete automaton on
    its classes of non-sink states, read by letter pairs (``delta [k, (S + 1) S]``, :func:`_completed`). Its bit
    code, when the exhaustive search finds one, is the first layer's."""
    cls = _kept_classes(lab, keep)
    ren = {c: i for i, c in enumerate(cls)}
    table = _completed(lab, pdelta, keep)
    k, P = table.shape
    start = ren.get(lab[dfa.start], 0)
    codes = acts = None
    if k > 1:  # a bit code of the whole component (each pair a letter), else its layer is found on the walk
        sr = search_bit_code(DFA([f"p{x}" for x in range(P)], None, start, [False] * k, table), PAIR_CODE_STEPS)
        if budget is not None:
            budget.charge(sr.steps, WHO)
        if sr.status == "found":
            codes = np.array([[(mk >> c) & 1 for mk in sr.masks] for c in range(k)], dtype=np.float64)
            acts = letter_actions(table, sr.masks)
    return Component(table, start, f"quotient of the letter-pair automaton ({k} classes)", codes, acts, pairs=True)


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
    acts = shift_register_actions(S, k)
    return Component(np.array(rows, dtype=np.int64), 0, f"register of the last {k} letters", codes, acts)


def _intern(index: dict, items: list, key: tuple, cap: int) -> int | None:
    """The id of ``key`` in ``items`` (appended, and entered in ``index``, when new); None when it is new and
    ``items`` already holds ``cap`` entries (the walks' bound on configurations)."""
    j = index.get(key)
    if j is None:
        if len(items) >= cap:
            return None
        j = index[key] = len(items)
        items.append(key)
    return j


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
            j = _intern(index, configs, tuple(int(t[s, a]) for t, s in zip(tables, cfg)), cap)
            if j is None:
                return None
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


def _walk_conv(dfa: DFA, comps: list[Component],
               cap: int = MAX_CONFIGS) -> tuple[StackWalk, list[np.ndarray], list[list[int]]] | None:
    """The walk of :func:`_walk` with the width-2 convolution in front of every layer, the first included: layer
    ``l`` reads the id of the pair ``(previous raw symbol | start, raw symbol)`` of what it is handed (the letter
    for ``l = 0``) and hands up the id of ``(its component's new state, the symbol it read)``; the last layer (the
    DFA) hands up the DFA state. Configurations are ``(component states..., DFA state, previous raw symbol of each
    layer)`` (``R_l`` before the first token). Also returns each layer's convolution table ``[R_l + 1, R_l]`` (pairs
    never reached map to symbol 0) and, for the first layer, the letter of each of its symbols. None beyond ``cap``
    configurations."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    S = delta.shape[1]
    tables = [c.delta for c in comps] + [delta]
    L = len(tables)
    start = tuple(c.start for c in comps) + (dfa.start,) + (-1,) * L
    pair_ids: list[dict[tuple[int, int], int]] = [{} for _ in range(L)]
    emit_ids: list[dict[tuple[int, int], int]] = [{} for _ in range(L - 1)]
    index = {start: 0}
    configs = [start]
    succ, syms, emits = [], [], []
    i = 0
    while i < len(configs):
        cfg = configs[i]
        row, srow, erow = [], [], []
        for a in range(S):
            raw = a
            states, prev, sy, em = [], [], [], []
            for l in range(L):
                s = pair_ids[l].setdefault((cfg[L + l], raw), len(pair_ids[l]))
                ns = int(tables[l][cfg[l], a if l == L - 1 or not comps[l].pairs else
                                   (S if cfg[L] < 0 else cfg[L]) * S + a])
                states.append(ns)
                prev.append(raw)
                sy.append(s)
                raw = emit_ids[l].setdefault((ns, s), len(emit_ids[l])) if l < L - 1 else ns
                em.append(raw)
            j = _intern(index, configs, tuple(states + prev), cap)
            if j is None:
                return None
            row.append(j)
            srow.append(sy)
            erow.append(em)
        succ.append(row)
        syms.append(srow)
        emits.append(erow)
        i += 1
    raws = [S] + [len(e) for e in emit_ids]
    C = np.array(configs, dtype=np.int64)
    for l in range(L):
        col = C[:, L + l]
        col[col < 0] = raws[l]
    convs = []
    for l in range(L):
        cv = np.zeros((raws[l] + 1, raws[l]), dtype=np.int64)
        for (p, r), s in pair_ids[l].items():
            cv[raws[l] if p < 0 else p, r] = s
        convs.append(cv)
    letter_of = [r if not (comps and comps[0].pairs) else (S if p < 0 else p) * S + r
                 for (p, r), _s in sorted(pair_ids[0].items(), key=lambda kv: kv[1])]
    w = StackWalk(C, np.array(succ, dtype=np.int64), np.array(syms, dtype=np.int64),
                  np.array(emits, dtype=np.int64), {l: L + l for l in range(L)})
    return w, convs, [letter_of]


def _stack(dfa: DFA, comps: list[Component], budget: WorkBudget | None, conv: bool = False) -> CompiledModel | None:
    """The stack of ``comps`` then the DFA, proved; None when a layer above the first has no code found, the walk
    is too large or the proof fails. ``conv``: every layer reads through its width-2 convolution
    (:func:`_walk_conv`)."""
    from .verify_exact import prove

    S = dfa.n_symbols
    convs: list[np.ndarray] | None = None
    if conv:
        got_w = _walk_conv(dfa, comps)
        if got_w is None:
            return None
        w, convs, (letter_of,) = got_w
    else:
        w = _walk(dfa, comps)
        if w is None:
            return None
        letter_of = list(range(S))
    L = len(comps) + 1
    if budget is not None and not budget.take(w.configs.shape[0] * S * L, WHO):
        return None
    layers = []
    first = comps[0] if comps else None
    if first is not None and first.codes is not None:  # each symbol acts as the letter it carries
        keys, betas, values = layer_arrays(tuple(range(first.codes.shape[1])), [first.actions[a] for a in letter_of])
        nxt = np.zeros((first.delta.shape[0], len(letter_of)), dtype=np.int64)
        nxt[w.configs[w.succ, 0], w.sym[:, :, 0]] = w.emit[:, :, 0]
        layers.append(({"kind": "householder", "role": f"direct 1: {first.name}"},
                       {"keys": keys, "betas": betas, "values": values, "h0": first.codes[first.start],
                        "codes": first.codes, "next": nxt}))
    for l in range(len(layers), L):
        n_in = int(w.sym[:, :, l].max()) + 1 if (l or conv) else S
        got: MergedLayer | None = merge_run(w, l, l, n_in, budget, WHO,
                                            coarsen=conv or any(c.coarsen for c in comps[:l]))
        if got is None or got.codes.shape[1] == 0:  # (no bits: the state is a function of what the layer reads;
            return None  # a layer needs one state coordinate at least, so no stack of this shape is built here)
        what = comps[l].name if l < len(comps) else "the DFA state"
        layers.append(({"kind": "householder", "role": f"direct {l + 1}: {what}"},
                       {"keys": got.keys, "betas": got.betas, "values": got.values, "h0": got.h0,
                        "codes": got.codes, "next": got.next}))
    if convs is not None:
        for (meta, arrays), cv in zip(layers, convs):
            meta["conv"] = 2
            arrays["conv"] = cv
    model = build_model(dfa, "direct", layers)
    return model if prove(model).proved else None


def _factors(model: CompiledModel) -> tuple[int, int]:
    infos = model.meta["layers"]
    return max(int(i["factors"]) for i in infos), max(int(i["n"]) for i in infos)


def _top(w: StackWalk, dfa: DFA, L: int, j: int) -> tuple[StackWalk, np.ndarray]:
    """The walk of a stack's first ``j`` layers (walk ``w`` of ``L`` layers) with the DFA as layer ``j`` on top:
    configurations ``(codes of layers < j, DFA state)``; layer ``j - 1`` hands up the id of ``(its new code, the
    symbol it read)``, which layer ``j`` reads. Also returns that id per configuration and letter of ``w``
    (``[M, S]``)."""
    M, S = w.succ.shape
    q = np.empty(M, dtype=np.int64)
    q[0] = dfa.start
    q[w.succ] = w.emit[:, :, L - 1]
    cols = np.concatenate([w.configs[:, :j], q[:, None]], axis=1)
    cid, rows = _rows(cols)
    order = np.argsort(np.unique(cid, return_index=True)[1], kind="stable")  # keep first appearance: start first
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    cid = rank[cid]
    Mn = order.size
    top = _ids(np.stack([w.configs[w.succ][:, :, j - 1].ravel(), w.sym[:, :, j - 1].ravel()], 1)).reshape(M, S)
    succ = np.zeros((Mn, S), dtype=np.int64)
    sym = np.zeros((Mn, S, j + 1), dtype=np.int64)
    emit = np.zeros((Mn, S, j + 1), dtype=np.int64)
    succ[cid] = cid[w.succ]  # configurations with one id agree on all of these (each a function of the id)
    sym[cid, :, :j] = w.sym[:, :, :j]
    sym[cid, :, j] = top
    emit[cid, :, :j - 1] = w.emit[:, :, :j - 1]
    emit[cid, :, j - 1] = top
    emit[cid, :, j] = w.emit[:, :, L - 1]
    return StackWalk(rows[order], succ, sym, emit, {}), top


def prefix_search(model: CompiledModel, below: int, budget: WorkBudget | None = None,
                  conv: bool = False, _inner: bool = False) -> CompiledModel | None:
    """A shallower proved stack made of the first ``j`` layers of ``model`` (a proved stack without convolutions, e.g.
    the merged cascade with the copy coupling; tried on convolution-coupled cascades of the benchmark it found nothing) and the DFA in one layer on top (:func:`_top`; its code from
    :func:`statetrack.constructions.stack_merge.merge_run`), for ``j = below - 2, below - 3, ...`` (fewer than
    ``below`` layers) down to the first ``j`` that fails; None when none is found, the stack has more than ``MAX_WALK`` reachable
    configurations or ``budget`` runs out (one step per code, symbol and coordinate of the exact layer tables, then one
    per walked transition, per try). ``conv``: ``model`` may read through convolutions (the convolution coupling)
    and the DFA's layer reads through its own width-2 convolution (:func:`_prefix_model_conv`)."""
    from statetrack.errors import StateLimitError

    from .stack_merge import stack_tables, walk

    L = model.num_layers
    if L < 3 or below < 3 or (any("conv" in info for info in model.meta["layers"]) and not conv):
        return None
    if conv and budget is not None and not _inner:  # at most PREFIX_CONV_STEPS of the compile's budget
        local = WorkBudget(min(budget.left, PREFIX_CONV_STEPS))
        got = prefix_search(model, below, local, conv, _inner=True)
        budget.charge(local.used, WHO)
        if local.stopped:
            budget.stop(WHO)
        return got
    if budget is not None and not budget.take(_table_cost(model), WHO):  # the exact layer tables
        return None
    tables, nexts, h0, convs = stack_tables(model)
    dfa = model.dfa()
    S = dfa.n_symbols
    try:
        w = walk(tables, nexts, h0, S, max_configs=MAX_WALK, convs=convs)
    except StateLimitError:
        return None
    best = None
    for j in range(min(L, below - 1) - 1, 0, -1):  # one layer saved first, then deeper cuts while they work
        if budget is not None and not budget.take(w.configs.shape[0] * S * (j + 1), WHO):
            break
        got = (_prefix_model_conv if conv else _prefix_model)(model, w, dfa, L, j, budget)
        if got is None:
            break
        best = got
    return best


def _prefix_model(model: CompiledModel, w: StackWalk, dfa: DFA, L: int, j: int,
                  budget: WorkBudget | None) -> CompiledModel | None:
    """The first ``j`` layers of ``model`` (walk ``w``) and the DFA on top, proved; None when no code is found."""
    from .verify_exact import prove

    S = dfa.n_symbols
    w2, top = _top(w, dfa, L, j)
    got = merge_run(w2, j, j, int(w2.sym[:, :, j].max()) + 1, budget, WHO)
    if got is None:
        return None
    layers = []
    for l in range(j):
        t = model.layer(l)
        arr = {k: np.asarray(t[k]) for k in ("keys", "betas", "values", "h0", "codes", "next")}
        if l == j - 1:  # hand up (new code, symbol read) instead
            nxt = np.zeros_like(arr["next"])
            nxt[w.configs[w.succ][:, :, l].ravel(), w.sym[:, :, l].ravel()] = top.ravel()
            arr["next"] = nxt
        role = model.meta["layers"][l].get("role", "")
        layers.append(({"kind": "householder", "role": f"direct {l + 1}: cascade layer {l}"
                        + (f" ({role})" if role else "")}, arr))
    layers.append(({"kind": "householder", "role": f"direct {j + 1}: the DFA state"},
                   {"keys": got.keys, "betas": got.betas, "values": got.values, "h0": got.h0,
                    "codes": got.codes, "next": got.next}))
    if budget is not None and not budget.take(w2.configs.shape[0] * S * (j + 1), WHO):
        return None
    out = build_model(dfa, "direct", layers)
    return out if prove(out).proved else None


def _prefix_model_conv(model: CompiledModel, w: StackWalk, dfa: DFA, L: int, j: int,
                       budget: WorkBudget | None) -> CompiledModel | None:
    """The first ``j`` layers of ``model`` (walk ``w``; they may read through convolutions), the last of them handing
    up the id of ``(its new code, the symbol it read)``, and the DFA in one layer reading those ids through a width-2
    convolution, proved; None when the DFA's step is not a function of its state and the pair read, no code is found,
    more than ``MAX_WALK`` configurations are reached or ``budget`` runs out."""
    from .verify_exact import prove

    M, S = w.succ.shape
    q = np.empty(M, dtype=np.int64)
    q[0] = dfa.start
    q[w.succ] = w.emit[:, :, L - 1]
    top = _ids(np.stack([w.configs[w.succ][:, :, j - 1].ravel(), w.sym[:, :, j - 1].ravel()], 1)).reshape(M, S)
    R = int(top.max()) + 1
    index = {(0, R): 0}
    states = [(0, R)]
    pair: dict[tuple[int, int], int] = {}
    succ, sym = [], []
    i = 0
    while i < len(states):  # configurations (configuration of w, previous id read by the DFA's layer)
        m, r = states[i]
        row, srow = [], []
        for a in range(S):
            raw = int(top[m, a])
            srow.append(pair.setdefault((r, raw), len(pair)))
            k = _intern(index, states, (int(w.succ[m, a]), raw), MAX_WALK)
            if k is None:
                return None
            row.append(k)
        succ.append(row)
        sym.append(srow)
        i += 1
    if budget is not None and not budget.take(len(states) * S * (j + 1), WHO):
        return None
    mi = np.array([m for m, _ in states], dtype=np.int64)
    succ_a, sym_a = np.array(succ, dtype=np.int64), np.array(sym, dtype=np.int64)
    qs = q[mi]
    qn = qs[succ_a]
    key = (qs[:, None] * len(pair) + sym_a).ravel()
    uk, inv = np.unique(key, return_inverse=True)
    first = np.zeros(uk.size, dtype=np.int64)
    first[inv.ravel()] = qn.ravel()
    if (first[inv.ravel()] != qn.ravel()).any():  # the DFA's step is not a function of (state, pair read)
        return None
    w2 = StackWalk(qs[:, None], succ_a, sym_a[:, :, None], qn[:, :, None], {})
    got = merge_run(w2, 0, 0, len(pair), budget, WHO, coarsen=True)
    if got is None:
        return None
    cv = np.zeros((R + 1, R), dtype=np.int64)
    for (p, raw), s_id in pair.items():
        cv[p, raw] = s_id
    layers = []
    for l in range(j):
        t = model.layer(l)
        arr = {k: np.asarray(t[k]) for k in ("keys", "betas", "values", "h0", "codes", "next", "conv") if k in t}
        meta = {"kind": "householder"}
        if "conv" in arr:
            meta["conv"] = 2
        if l == j - 1:  # hand up (new code, symbol read) instead
            nxt = np.zeros_like(arr["next"])
            nxt[w.configs[w.succ][:, :, l].ravel(), w.sym[:, :, l].ravel()] = top.ravel()
            arr["next"] = nxt
        role = model.meta["layers"][l].get("role", "")
        meta["role"] = f"direct {l + 1}: cascade layer {l}" + (f" ({role})" if role else "")
        layers.append((meta, arr))
    layers.append(({"kind": "householder", "role": f"direct {j + 1}: the DFA state", "conv": 2},
                   {"keys": got.keys, "betas": got.betas, "values": got.values, "h0": got.h0,
                    "codes": got.codes, "next": got.next, "conv": cv}))
    out = build_model(dfa, "direct", layers)
    return out if prove(out).proved else None


def _candidates(dfa: DFA, cons: list[tuple[int, ...]], coded: list[tuple[tuple[int, ...], tuple[int, ...]]],
                depth: int, max_register: int, conv: bool = False,
                pair_comps: list[Component] | None = None,
                sink_free: list[Component] | None = None) -> Iterator[list[Component]]:
    """The component lists (below the DFA's own layer) of stacks of ``depth`` layers, in the order tried. With
    ``conv`` (every layer reads through its width-2 convolution), one layer (the DFA alone, reading the last two
    letters) is tried too, registers start at one letter, quotients without a bit code are tried as the first layer
    (their layer is found on the walk, reading letter pairs) and delayed quotients are left out (the convolution
    hands the layer above the previous class). Components are built as they are tried (the caller stops at its
    budget), and registers of more than :data:`MAX_CONFIGS` states (``1 + S + ... + S^k``), which the walk would
    refuse, are never built."""
    S = dfa.n_symbols
    ks = [k for k in range(1 if conv else 2, (2 if conv else max_register) + 1)
          if sum(S ** i for i in range(k + 1)) <= MAX_CONFIGS]
    pcs = pair_comps or []
    plain = [c for c in cons if c not in {cc for cc, _ in coded}]
    if depth == 1:
        if conv:
            yield []
        return
    if depth == 2:
        for c, m in coded:
            yield [quotient_component(dfa, c, m)]
        for k in ks:
            yield [register_component(S, k)]
        if conv:
            yield from ([pc] for pc in pcs)
            yield from ([quotient_component(dfa, c, None)] for c in plain)
        else:
            yield from ([delayed_component(dfa, c)] for c in cons)
        for sf in sink_free or []:  # a quotient of the DFA without its sink, alone or beside a coded quotient
            yield [sf]
            for c, m in coded:
                yield [product_component([quotient_component(dfa, c, m), sf])]
    elif depth == 3:
        for c, m in coded:
            for f in cons:
                if _refines(f, c):
                    yield [quotient_component(dfa, c, m), quotient_component(dfa, f, None)]
        for k in ks:
            for c in cons:
                yield [register_component(S, k), quotient_component(dfa, c, None)]
        for i, pc in enumerate(pcs):
            for pf in pcs[i + 1:]:
                if pf.delta.shape[0] > pc.delta.shape[0]:
                    yield [pc, pf]


def pair_separations(pdelta: np.ndarray, keep: np.ndarray) -> list[tuple[int, int]]:
    """The pairs of non-sink states ``(x, y)``, ``x < y``, that some letter pair ``(p, a)`` leads to (both in the
    image of column ``p S + a`` of :func:`pair_automaton`): a component whose classes keep each such pair apart
    tells the layer above, which sees the last two letters, the DFA state itself."""
    out = set()
    for x in range(pdelta.shape[1]):
        img = sorted({int(v) for v in pdelta[:, x] if v >= 0 and keep[v]})
        out.update((u, v) for i, u in enumerate(img) for v in img[i + 1:])
    return sorted(out)


def separating_congruences(pdelta: np.ndarray, keep: np.ndarray, sep: list[tuple[int, int]],
                           budget: WorkBudget | None = None, cap: int = MAX_SEPARATING,
                           nodes: int = SEPARATING_NODES) -> list[tuple[int, ...]]:
    """The congruences of the partial automaton ``pdelta [n, P]`` (:func:`pair_automaton`) that keep every pair of
    ``sep`` apart, with the fewest classes of non-sink states (``keep``) any has: an exhaustive backtracking search
    (each non-sink state put in a class already used or a new one, the partial partition closed under every letter
    pair after each choice and dropped when the closure merges a separated pair or two classes already chosen), for
    2, 3, ... classes. At most ``cap`` are returned (class ids per state, the sink alone); when the search spends
    ``nodes`` closures or the budget (one step per state per closure) first, those found so far."""
    kept = [int(q) for q in np.flatnonzero(keep)]
    apart = sorted({(min(x, y), max(x, y)) for x, y in sep if x != y})
    left = [nodes]
    for k in range(2, len(kept)):
        out: list[tuple[int, ...]] = []
        if not _grow_classes(pdelta, kept, k, left, budget, cap, out, True, apart, out.append):
            return out
        if out:
            return out
    return []


def _pair_components(dfa: DFA, budget: WorkBudget | None) -> list[Component]:
    """Congruences of the letter-pair automaton without its sink (:func:`pair_automaton`) as components, each
    partition of the non-sink states once (the one-class partition left out): first the separating ones
    (:func:`separating_congruences` of :func:`pair_separations`), then, fewest classes first, the maximal ones grown
    greedily from each principal congruence (joining every other principal congruence that leaves two classes or
    more) and those of the capped enumeration of :func:`congruences`."""
    pdelta, keep = pair_automaton(dfa)
    n = pdelta.shape[0]
    kept = np.flatnonzero(keep)

    def classes(c: tuple[int, ...]) -> tuple[int, ...]:
        return _canon(np.array([c[q] for q in kept]))

    sep = {}  # the separating congruences first: over them the DFA's layer sees its state (pair_separations)
    for c in separating_congruences(pdelta, keep, pair_separations(pdelta, keep), budget):
        if max(classes(c)) > 0:
            sep.setdefault(classes(c), c)
    first = list(sep)
    principal = []
    for x in kept:
        for y in kept[kept > x]:
            if budget is not None and not budget.take(n, WHO):
                break  # the separating ones are still tried
            lab = np.arange(n)
            lab[y] = x
            c = _close(pdelta, lab)
            if max(classes(c)) > 0:
                principal.append(c)
    found: dict[tuple[int, ...], tuple[int, ...]] = {}
    for c in principal:  # greedy maximal congruences
        for p in principal:
            if budget is not None and not budget.take(n, WHO):
                break
            j = _close(pdelta, np.array(_join(c, p)))
            if max(classes(j)) > 0 and j != c:
                c = j
                found.setdefault(classes(c), c)  # every congruence on the way, not only the maximal one
    cons, _ = congruences(pdelta, budget, cap=MAX_PAIR_CONGRUENCES)
    for c in cons:
        if max(classes(c)) > 0:
            found.setdefault(classes(c), c)
    found.update(sep)
    order = sorted(found, key=lambda k: (max(k), k))
    order = (first + [k for k in order if k not in first])[:MAX_PAIR_COMPONENTS]
    comps = []
    for k in order:
        if budget is not None and budget.left < PAIR_CODE_STEPS:
            break
        comps.append(pair_quotient_component(dfa, found[k], pdelta, keep, budget))
    comps.sort(key=lambda c: c.codes is None)  # those with a bit code first (their first layer is known)
    return comps


def _sink_free_components(dfa: DFA, budget: WorkBudget | None) -> tuple[list[Component], bool]:
    """The congruences of the DFA without its sink with at most :data:`MAX_FEW_CLASSES` classes
    (:func:`few_class_congruences`), and the DFA without its sink itself, whose completions have a bit code
    (:func:`sink_free_component`), as components: the finest first, at most :data:`MAX_SINK_FREE`; and whether the
    enumeration was complete. Only DFAs with a sink have them."""
    pdelta, keep = sink_free_automaton(dfa)
    if keep.all():
        return [], True
    cons, done = few_class_congruences(pdelta, keep, MAX_FEW_CLASSES, budget)
    if keep.sum() <= SINK_FREE_ITSELF_STATES:  # and the DFA without its sink itself
        cons.append(tuple(int(q) for q in range(keep.size)))
    out = []
    for c in cons:
        if budget is not None and budget.left < QUOTIENT_STEPS:
            return out, False
        comp = sink_free_component(dfa, c, pdelta, keep, budget)
        if comp is not None:
            out.append(comp)
    out.sort(key=lambda c: -c.delta.shape[0])  # finest first: the more the layer below knows, the simpler the DFA's
    return out[:MAX_SINK_FREE], done and len(out) <= MAX_SINK_FREE


def direct_search(dfa: DFA, max_layers: int = 3, budget: WorkBudget | None = None,
                  max_register: int = MAX_REGISTER, conv: bool = False, _inner: bool = False) -> DirectResult:
    """The shallowest proved stack of at most ``max_layers`` layers (>= 2; >= 1 with ``conv``) for the minimal
    complete ``dfa`` (module doc), trying the shallowest depth first; among stacks of one depth, the first found.
    ``conv``: the width-2 convolution coupling, every layer reading through its convolution (:func:`_walk_conv`).
    ``budget`` pays for every step (``"direct"``)."""
    delta = np.asarray(dfa.delta, dtype=np.int64)
    n = delta.shape[0]
    if n > MAX_STATES_LARGE or n < 3 or max_layers < (1 if conv else 2):
        return DirectResult(None, None, complete=n <= MAX_STATES_LARGE)
    if (conv or n > MAX_STATES) and budget is not None and not _inner:
        # the convolution's search, and the search on more than MAX_STATES states, draw a capped share of the budget
        cap = min(CONV_STEPS if conv else budget.left, LARGE_STEPS if n > MAX_STATES else budget.left)
        local = WorkBudget(min(budget.left, cap))
        res = direct_search(dfa, max_layers, local, max_register, conv, _inner=True)
        budget.charge(local.used, WHO)
        if local.stopped:
            budget.stop(WHO)
        return res
    cons, complete = congruences(delta, budget)
    res = DirectResult(None, None, congruences=len(cons), complete=complete)
    coded: list[tuple[tuple[int, ...], tuple[int, ...]]] = []  # (congruence, bit code of its quotient)
    cut = False  # quotient code searches left out for want of budget
    for c in cons:
        if budget is not None and budget.left < QUOTIENT_STEPS:  # the cheaper candidates below are still tried
            res.complete, cut = False, True
            break
        qd = _quotient(delta, c)
        sr = search_bit_code(DFA(dfa.alphabet, None, 0, [False] * qd.shape[0], qd), QUOTIENT_STEPS)
        if budget is not None:
            budget.charge(sr.steps, WHO)
        if sr.status == "found":
            coded.append((c, sr.masks))
        elif sr.status == "undecided":
            res.complete = False
    # letter-pair quotients only up to MAX_STATES: on larger DFAs their bit-code searches cost seconds each before
    # any step is counted (a code table over 2^k subsets) and found no stack (random DFAs of 13-24 states)
    pair_comps = _pair_components(dfa, budget) if conv and n <= MAX_STATES else []
    sink_free, done = _sink_free_components(dfa, budget)
    res.complete = res.complete and done
    sf_spent = 0
    for depth in range(1 if conv else 2, max_layers + 1):
        for comps in _candidates(dfa, cons, coded, depth, max_register, conv, pair_comps, sink_free):
            if budget is not None and (budget.left == 0 or WHO in budget.stopped):
                res.complete = False
                budget.stop(WHO)
                return res
            free = any(c.sink_free for c in comps)
            if free and sf_spent >= SINK_FREE_STEPS:
                res.complete = False
                continue
            res.tried += 1
            used = budget.used if budget is not None else 0
            model = _stack(dfa, comps, budget, conv)
            if free and budget is not None:
                sf_spent += budget.used - used
            if model is not None:
                res.model, res.layers = model, depth
                res.chain = [c.name for c in comps]
                return res
    if cut and budget is not None:
        budget.stop(WHO)
    return res


__all__ = ["direct_search", "prefix_search", "congruences", "pair_separations", "separating_congruences", "register_component", "delayed_component",
           "quotient_component", "Component", "DirectResult", "MAX_STATES", "MAX_STATES_LARGE", "few_class_congruences",
           "sink_free_automaton", "sink_free_component", "product_component"]
