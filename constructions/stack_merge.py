"""Shallower stacks: merge runs of consecutive layers of a compiled model into one bit-code layer.

A compiled stack is a chain of finite transducers: layer ``l`` moves its code ``c_l`` by the symbol ``s_l`` it reads
(its transition table) and hands ``s_{l+1} = next_l(c_l', s_l)`` to the layer above; the last layer hands the DFA
state. A run of layers ``l1..l2`` is therefore one automaton over the symbols ``s_{l1}``: its states are the tuples
``(c_l1, ..., c_l2)`` that occur, and a symbol occurs only at some of them (its *domain*). When that partial automaton
has a bit code (:func:`statetrack.constructions.partial_code.partial_bit_code`: every symbol copies, negates or sets
bits, on its domain), the run becomes one householder layer with the same input and output symbols, so the depth drops by
``l2 - l1``. This applies to any stack without convolutions -- in particular to the Krohn-Rhodes cascade with copy
layers (the paper's eq. (1) layers), where a level, its copy layer and the level below often merge.

:func:`merge_layers` scans from the input side, extends each run as far as a code is found, rebuilds the model and
proves it with :func:`statetrack.constructions.verify_exact.prove` (the merge is only kept when the proof holds).
The search is greedy and bounded by a number of tries (deterministic, so sizes and models agree): a run it does not
merge may still have a code.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from statetrack.errors import StateLimitError

from .bit_actions import layer_arrays, shift_register_actions
from .budget import WorkBudget
from .partial_code import PartialLetter, partial_bit_code
from .model_format import CompiledModel, build_model

#: the most reachable configurations (tuples of all layers' codes) explored; larger stacks are left unmerged
MAX_CONFIGS = 20_000
#: the most tuple states of a run that is tried as one layer
MAX_RUN_STATES = 1024


@dataclass
class StackWalk:
    """The reachable behaviour of a stack: ``configs [M, W]`` (the codes of every layer, then the previous raw symbol
    of every layer read through a convolution, ``R`` before the first token; row 0 the start), ``succ [M, S]``
    (successor configuration per letter), ``sym [M, S, L]`` (the symbol each layer reads on that step, after its
    convolution), ``emit [M, S, L]`` (the symbol each layer hands up, before the next layer's convolution; for the
    last layer the DFA state) and ``pcol`` (layer -> column of its previous raw symbol)."""

    configs: np.ndarray
    succ: np.ndarray
    sym: np.ndarray
    emit: np.ndarray
    pcol: dict[int, int]


def stack_tables(model: CompiledModel) -> tuple[list[np.ndarray], list[np.ndarray], list[int], list]:
    """Exact transition tables ``[C_l, S_l]`` (code index after reading a symbol, -1 where the step leaves the codes:
    never on a reachable step of a proved model), ``next`` tables, start codes and convolution tables (None for a
    layer without one) of every layer (from :mod:`.verify_exact`)."""
    from .verify_exact import layer_maps, transition_table

    tables, nexts, h0, convs = [], [], [], []
    for l in range(model.num_layers):
        T, c0 = transition_table(layer_maps(model, l))
        if c0 < 0:
            raise ValueError(f"stack_merge: layer {l} does not start on one of its codes")
        tables.append(T)
        nexts.append(np.asarray(model.tensors[f"layers.{l}.next"], dtype=np.int64))
        h0.append(int(c0))
        cv = model.tensors.get(f"layers.{l}.conv")
        convs.append(None if cv is None else np.asarray(cv, dtype=np.int64))
    return tables, nexts, h0, convs


def walk(tables: list[np.ndarray], nexts: list[np.ndarray], h0: list[int], n_letters: int,
         max_configs: int = MAX_CONFIGS, convs: list | None = None) -> StackWalk:
    """Breadth-first search of the reachable configurations (see :class:`StackWalk`), a frontier at a time."""
    L = len(tables)
    S = n_letters
    convs = convs or [None] * L
    pcol = {}
    start = list(h0)
    for l, cv in enumerate(convs):
        if cv is not None:
            pcol[l] = len(start)
            start.append(cv.shape[1])  # the start row R
    W = len(start)
    configs = np.array([start], dtype=np.int64).reshape(1, W)
    index: dict[bytes, int] = {configs[0].tobytes(): 0}
    succ = np.zeros((0, S), dtype=np.int64)
    sym = np.zeros((0, S, L), dtype=np.int64)
    emit = np.zeros((0, S, L), dtype=np.int64)
    done = 0
    while done < configs.shape[0]:
        front = configs[done:]
        F = front.shape[0]
        cur = np.repeat(front, S, axis=0)  # [F*S, W]
        s = np.tile(np.arange(S, dtype=np.int64), F)
        new = np.empty_like(cur)
        syms = np.empty((F * S, L), dtype=np.int64)
        emits = np.empty((F * S, L), dtype=np.int64)
        for l in range(L):
            if convs[l] is not None:
                new[:, pcol[l]] = s
                s = convs[l][cur[:, pcol[l]], s]
            syms[:, l] = s
            c = tables[l][cur[:, l], s]
            if (c < 0).any():
                raise ValueError(f"stack_merge: layer {l} leaves its codes on a reachable step")
            new[:, l] = c
            s = nexts[l][c, s]
            emits[:, l] = s
        ids = np.empty(F * S, dtype=np.int64)
        fresh = []
        for i, row in enumerate(new):
            key = row.tobytes()
            j = index.get(key)
            if j is None:
                j = len(index)
                if j >= max_configs:
                    raise StateLimitError(f"stack_merge: more than {max_configs} reachable configurations")
                index[key] = j
                fresh.append(row)
            ids[i] = j
        done = configs.shape[0]
        if fresh:
            configs = np.concatenate([configs, np.array(fresh, dtype=np.int64)])
        succ = np.concatenate([succ, ids.reshape(F, S)])
        sym = np.concatenate([sym, syms.reshape(F, S, L)])
        emit = np.concatenate([emit, emits.reshape(F, S, L)])
    return StackWalk(configs, succ, sym, emit, pcol)


@dataclass
class MergedLayer:
    """The run ``first..last`` as one layer over its ``S_in`` input symbols and the ``k`` classes of its tuple
    states: ``keys [S_in, F, d]``, ``betas [S_in, F]``, ``values [S_in, F]``, ``codes [k, d]`` (each class's bit
    code), ``next [k, S_in]`` (the symbol handed on, from the new class and the symbol read), ``h0 [d]``."""

    first: int
    last: int
    keys: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    codes: np.ndarray
    next: np.ndarray
    h0: np.ndarray


def _rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(inverse [M], distinct rows [m, W])`` of the non-negative int64 rows of ``a [M, W]``, rows packed into one
    integer each (the row space is small: a few codes per layer) and sorted."""
    sizes = [int(v) + 1 for v in a.max(axis=0)] if a.shape[0] else [1] * a.shape[1]
    if math.prod(sizes) >= 2 ** 62:
        rows, inv = np.unique(a, axis=0, return_inverse=True)
        return inv.ravel(), rows
    radix = np.ones(a.shape[1], dtype=np.int64)
    for i in range(a.shape[1] - 2, -1, -1):
        radix[i] = radix[i + 1] * sizes[i + 1]
    _, first, inv = np.unique(a @ radix, return_index=True, return_inverse=True)
    return inv.ravel(), a[first]


def _triples(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """The distinct triples ``[3, N]`` of three non-negative int64 arrays, sorted lexicographically."""
    by, bz = int(y.max(initial=0)) + 1, int(z.max(initial=0)) + 1
    key = np.unique((x.astype(np.int64) * by + y) * bz + z)
    return np.stack([key // (by * bz), (key // bz) % by, key % bz])


def _classes(m: int, trans: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """Class of each of the ``m`` tuple states under the coarsest partition that keeps the run exact: two states are
    merged only when they are entered with the same symbols giving the same outputs and every symbol is defined on
    both and leads to merged states (partition refinement; undefined counts as a value, so it is conservative).
    ``trans [3, E]``: distinct ``(symbol, state, successor)``; ``entries [3, N]``: distinct ``(successor, symbol,
    output)``."""
    by_state: list[list[tuple[int, int]]] = [[] for _ in range(m)]
    for sym, old, new in trans.T.tolist():
        by_state[old].append((sym, new))
    entered: list[list[tuple[int, int]]] = [[] for _ in range(m)]
    for new, sym, out in entries.T.tolist():
        entered[new].append((sym, out))
    ids: dict[tuple, int] = {}
    cls = [ids.setdefault(tuple(sorted(e)), len(ids)) for e in entered]
    count = len(ids)
    while True:
        ids = {}
        ref = [ids.setdefault((cls[q], tuple(sorted((sym, cls[t]) for sym, t in by_state[q]))), len(ids))
               for q in range(m)]
        if len(ids) == count:
            return np.array(ref, dtype=np.int64)
        cls, count = ref, len(ids)


#: the most classes :func:`_coarsen` tries to merge further
MAX_COARSEN = 24


def _coarsen(k: int, pairs: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """A coarser partition of ``k`` classes that still keeps the run exact, merging classes that are never entered
    by one symbol with different outputs (an incompletely specified machine reduced greedily): for each pair of
    classes in order, merge them and, while a symbol leads merged classes to different classes, merge those too;
    keep the merge unless some class is then entered by one symbol with two outputs. ``pairs [3, E]``: distinct
    ``(symbol, class, successor class)``; ``entries [3, N]``: ``(class, symbol, output)``. Returns the new class of
    each class (dense ids)."""
    step = [dict() for _ in range(k)]
    for sym, a, b in pairs.T.tolist():
        step[a][sym] = b
    enter = [dict() for _ in range(k)]
    for c, sym, o in entries.T.tolist():
        enter[c][sym] = o
    lab = list(range(k))

    def merged(x: int, y: int) -> list[int] | None:
        cur = list(lab)
        todo = [(x, y)]
        while todo:
            a, b = todo.pop()
            a, b = cur[a], cur[b]
            if a == b:
                continue
            cur = [a if v == b else v for v in cur]
            out: dict[tuple[int, int], int] = {}
            nxt: dict[tuple[int, int], int] = {}
            for c in range(k):
                g = cur[c]
                for sym, o in enter[c].items():
                    if out.setdefault((g, sym), o) != o:
                        return None
                for sym, t in step[c].items():
                    u = nxt.setdefault((g, sym), cur[t])
                    if u != cur[t]:
                        todo.append((u, cur[t]))
        return cur

    for x in range(k):
        for y in range(x + 1, k):
            if lab[x] != lab[y] and lab[x] == x and lab[y] == y:
                got = merged(x, y)
                if got is not None:
                    lab = got
    return np.array(_canon_ids(lab), dtype=np.int64)


def _canon_ids(lab: list[int]) -> list[int]:
    seen: dict[int, int] = {}
    return [seen.setdefault(v, len(seen)) for v in lab]


def _seeds(states: np.ndarray, cls: np.ndarray, k: int) -> np.ndarray:
    """Bits over the ``k`` classes that tell them apart: each layer's one-hot code bits where every class has one
    code of that layer, then one-hot class bits for classes still confused."""
    seeds = []
    for col in states.T:
        per = [set() for _ in range(k)]
        for c, v in zip(cls.tolist(), col.tolist()):
            per[c].add(v)
        if all(len(p) == 1 for p in per):
            vals = np.array([next(iter(p)) for p in per])
            seeds += [vals == v for v in np.unique(vals)]
    rows = np.array(seeds, dtype=bool).reshape(len(seeds), k)
    keys = {}
    for c in range(k):
        keys.setdefault(rows[:, c].tobytes(), []).append(c)
    extra = [np.arange(k) == c for group in keys.values() for c in group[1:]]
    return np.concatenate([rows, np.array(extra, dtype=bool).reshape(len(extra), k)])


def merge_run(w: StackWalk, l1: int, l2: int, n_in: int, budget: WorkBudget | None = None,
              who: str = "merge", coarsen: bool = False) -> MergedLayer | None:
    """The layers ``l1..l2`` of the walked stack as one bit-code layer over their ``n_in`` input symbols (after
    ``l1``'s convolution, if any), or None (no code found, or ``budget`` ran out: one step per walked transition, then
    the code search's own steps; charged to ``who``). The run's states are the codes of its layers and the previous raw symbols of the
    layers inside it that read through a convolution (the merged layer keeps them in its state). ``coarsen``: first
    try the coarser classes of :func:`_coarsen` (at most ``MAX_COARSEN`` classes), then the plain ones."""
    inner = [w.pcol[l] for l in range(l1 + 1, l2 + 1) if l in w.pcol]
    sub = w.configs[:, list(range(l1, l2 + 1)) + inner]
    S = w.succ.shape[1]
    if budget is not None and not budget.take(sub.shape[0] * S, who):
        return None
    sid, states = _rows(sub)
    m = states.shape[0]
    if m > MAX_RUN_STATES:
        return None
    old = np.repeat(sid, S)
    new = sid[w.succ.ravel()]
    sig = w.sym[:, :, l1].ravel()
    out = w.emit[:, :, l2].ravel()
    trans = _triples(sig, old, new)
    entries = _triples(new, sig, out)
    cls = _classes(m, trans, entries)
    if coarsen and int(cls.max()) + 1 <= MAX_COARSEN:
        k = int(cls.max()) + 1
        pairs = _triples(trans[0], cls[trans[1]], cls[trans[2]])
        ent = _triples(cls[entries[0]], entries[1], entries[2])
        g = _coarsen(k, pairs, ent)
        if int(g.max()) + 1 < k:
            got = _code_run(g[cls], sid, states, trans, entries, n_in, budget, who, l1, l2)
            if got is not None:
                return got
    return _code_run(cls, sid, states, trans, entries, n_in, budget, who, l1, l2)


def _code_run(cls: np.ndarray, sid: np.ndarray, states: np.ndarray, trans: np.ndarray, entries: np.ndarray,
              n_in: int, budget: WorkBudget | None, who: str, l1: int, l2: int) -> MergedLayer | None:
    """The bit-code layer of a run on the classes ``cls`` of its tuple states (:func:`merge_run`)."""
    k = int(cls.max()) + 1
    pairs = _triples(trans[0], cls[trans[1]], cls[trans[2]])  # sorted by symbol, then class
    if _triples(pairs[0], pairs[1], np.zeros_like(pairs[1])).shape[1] != pairs.shape[1]:  # pragma: no cover
        raise AssertionError("stack_merge: a run is not deterministic on its classes")
    cut = np.searchsorted(pairs[0], np.arange(n_in + 1))
    letters = [PartialLetter(pairs[1, cut[s]:cut[s + 1]], pairs[2, cut[s]:cut[s + 1]]) for s in range(n_in)]
    found = partial_bit_code(k, letters, _seeds(states, cls, k), budget=budget, who=who)
    if found is None:
        return None
    bits, actions = found
    keys, betas, values = layer_arrays(tuple(range(bits.shape[0])), actions)
    nxt = np.zeros((k, n_in), dtype=np.int64)
    cnew, esig, eout = cls[entries[0]], entries[1], entries[2]
    nxt[cnew, esig] = eout
    if (nxt[cnew, esig] != eout).any():  # pragma: no cover - the classes keep the entry outputs
        raise AssertionError("stack_merge: a run's output is not a function of its new class and symbol")
    return MergedLayer(l1, l2, keys, betas, values, bits.T.astype(np.float64), nxt,
                       bits[:, cls[sid[0]]].astype(np.float64))


def _table_cost(model: CompiledModel) -> int:
    """Steps of the exact layer tables of ``model``: one per code, symbol and coordinate of every layer."""
    return sum(int(i["symbols"]) * int(i["codes"]) * int(i["n"]) for i in model.meta["layers"])


#: the most letters a register layer keeps (:func:`definite_prefix`)
MAX_REGISTER = 4


def definite_prefix(w: StackWalk, L: int, max_k: int = MAX_REGISTER,
                    budget: WorkBudget | None = None) -> MergedLayer | None:
    """The longest run ``0..l2`` (``l2 >= 1``) whose codes (and the previous raw symbols its inner convolutions keep)
    are a function of the last ``k <= max_k`` letters read
    (fewer at the start), as one **register layer**: ``k`` one-hot blocks of letters (all zero before a letter
    arrived), every letter copying each block into the older one (reflections) and writing itself into the newest
    (projections) -- a bit-code action. The symbol the run hands up is then a function of the register too (it is
    computed from the run's new codes and the letter). Checked on every reachable pair (configuration, last ``k``
    letters) by a breadth-first search (one step per pair and letter, paid from ``budget``). Ties keep the smaller
    ``k``; None when no run of at least two layers is such a function."""
    S = w.succ.shape[1]
    layer_of = np.arange(w.configs.shape[1])  # the layer each column of a configuration belongs to
    for l, c in w.pcol.items():
        layer_of[c] = l
    best: tuple[int, int, dict] | None = None  # (l2, k, register -> (configuration, letter) first reaching it)
    for k in range(1, max_k + 1):
        start = (0, (-1,) * k)
        seen = {start}
        queue = [start]
        first: dict[tuple, tuple[int, int, int]] = {}  # register -> (configuration reached, from, letter)
        good = L - 1  # the longest run still a function of the register
        i = 0
        while i < len(queue) and good >= 1:
            cfg, regs = queue[i]
            i += 1
            if budget is not None and not budget.take(S, "merge"):
                return None if best is None else _register(w, *best, S)
            for a in range(S):
                nc, nr = int(w.succ[cfg, a]), regs[1:] + (a,)
                other = first.setdefault(nr, (nc, cfg, a))[0]
                if other != nc:
                    diff = layer_of[w.configs[nc] != w.configs[other]]
                    if diff.size:
                        good = min(good, int(diff.min()) - 1)
                if (nc, nr) not in seen:
                    seen.add((nc, nr))
                    queue.append((nc, nr))
        if good >= 1 and (best is None or good > best[0]):
            best = (good, k, first)
    return None if best is None else _register(w, *best, S)


def _register(w: StackWalk, l2: int, k: int, first: dict, S: int) -> MergedLayer:
    """The register layer of :func:`definite_prefix` for the run ``0..l2`` over the last ``k`` letters: codes are
    the registers reached, then the empty register (the start)."""
    regs = sorted(first)
    d = k * S
    codes = np.zeros((len(regs) + 1, d))
    nxt = np.zeros((len(regs) + 1, S), dtype=np.int64)
    for r_id, r in enumerate(regs):
        for b, a in enumerate(r):
            if a >= 0:
                codes[r_id, b * S + a] = 1.0
        _, cfg, a = first[r]
        nxt[r_id, :] = w.emit[cfg, a, l2]
    acts = shift_register_actions(S, k)
    keys, betas, values = layer_arrays(tuple(range(d)), acts)
    return MergedLayer(0, l2, keys, betas, values, codes, nxt, np.zeros(d))


def merge_layers(model: CompiledModel, max_tries: int | None = None,
                 budget: WorkBudget | None = None) -> tuple[CompiledModel, dict]:
    """Merge runs of consecutive layers of ``model`` (no convolutions) into bit-code layers, greedily from the input
    side (module doc): each run is extended while a code is found, giving up after two misses in a row, at most
    ``max_tries`` runs in all (default ``4 L``). ``budget`` (steps, deterministic) pays for the exact layer tables
    (one step per code, symbol and coordinate), the walk, the proof (reserved first: one step per configuration,
    letter and layer) and every try; when it runs out the runs merged so far are kept. Returns the new model (proved)
    and ``{merged: [[l1, l2], ...], layers_before, layers_after, complete}`` (``complete``: neither the try cap nor
    the budget was hit); the model is returned unchanged when nothing merges."""
    from .verify_exact import prove

    L = model.num_layers
    S0 = len(model.meta["alphabet"])

    def unmerged(note: str) -> tuple[CompiledModel, dict]:
        return model, {"layers_before": L, "merged": [], "complete": False, "layers_after": L, "note": note}

    if budget is not None and not budget.take(_table_cost(model), "merge"):
        return unmerged("not merged: the work budget does not cover the exact layer tables")
    tables, nexts, h0, convs = stack_tables(model)
    tries = 4 * L if max_tries is None else max_tries
    dfa = model.dfa()
    try:
        w = walk(tables, nexts, h0, dfa.n_symbols, convs=convs)
    except StateLimitError:
        return unmerged(f"not merged: more than {MAX_CONFIGS} reachable configurations")
    walk_cost = w.configs.shape[0] * S0 * L
    if budget is not None and not budget.take(2 * walk_cost, "merge"):  # the walk, and the proof reserved
        return unmerged("not merged: the work budget does not cover the walk and the proof")
    n_in = [tables[l].shape[1] for l in range(L)]  # symbols each layer reads (after its convolution)
    runs: list[MergedLayer | int] = []
    l1, complete = 0, True
    if convs[0] is None and L > 1:  # a first run that only remembers the last few letters: one register layer
        reg = definite_prefix(w, L, budget=budget)
        if reg is not None:
            runs.append(reg)
            l1 = reg.last + 1
    while l1 < L:
        best, l2, misses = None, l1 + 1, 0
        while l2 < L and misses < 2:
            if tries <= 0 or (budget is not None and budget.left == 0):
                complete = False
                break
            tries -= 1
            got = merge_run(w, l1, l2, n_in[l1], budget)
            if got is not None:
                best, misses = got, 0
            else:
                misses += 1
            l2 += 1
        if best is None:
            runs.append(l1)
            l1 += 1
        else:
            runs.append(best)
            l1 = best.last + 1
    if budget is not None and "merge" in budget.stopped:
        complete = False
    report = {"layers_before": L, "merged": [[r.first, r.last] for r in runs if isinstance(r, MergedLayer)],
              "complete": complete}
    if not report["merged"]:
        report["layers_after"] = L
        return model, report
    layers = []
    for r in runs:
        if isinstance(r, MergedLayer):
            arrays = {"keys": r.keys, "betas": r.betas, "values": r.values, "h0": r.h0, "codes": r.codes,
                      "next": r.next}
            meta = {"kind": "householder", "role": f"merged {r.first}-{r.last}",
                    "note": "layers merged into one bit-code layer"}
            if convs[r.first] is not None:  # the run reads what its first layer read, through the same convolution
                arrays["conv"] = convs[r.first]
                meta["conv"] = 2
            layers.append((meta, arrays))
        else:
            t = model.layer(r)
            info = dict(model.meta["layers"][r])
            meta = {k: v for k, v in info.items() if k not in ("n", "symbols", "codes", "factors")}
            layers.append((meta, {k: t[k] for k in ("keys", "betas", "values", "h0", "codes", "next", "conv")
                                   if k in t}))
    extra = {k: v for k, v in model.meta.items()
             if k not in ("format_version", "construction", "alphabet", "dfa", "dfa_sha256", "layers")}
    merged = build_model(dfa, model.construction, layers, extra or None)
    proof = prove(merged)
    if not proof.proved:  # pragma: no cover - each run is checked on its reachable tuples
        report.update(merged=[], layers_after=L, note=f"merge rejected by the proof: {proof.detail}")
        return model, report
    report["layers_after"] = merged.num_layers
    return merged, report


def _memoryless(T: np.ndarray, nxt: np.ndarray) -> np.ndarray | None:
    """``g [S]``: the symbol a layer hands up after reading ``s``, when that does not depend on its code (every
    symbol resets the layer to one code; ``T [C, S]`` from :func:`stack_tables`, -1 off the codes), else None."""
    g = np.zeros(T.shape[1], dtype=np.int64)
    for s in range(T.shape[1]):
        col = T[:, s]
        to = np.unique(col[col >= 0])
        if to.size > 1:
            return None
        outs = np.unique(nxt[to, s]) if to.size else np.zeros(1, dtype=np.int64)
        if outs.size != 1:
            return None
        g[s] = int(outs[0])
    return g


def drop_memoryless(model: CompiledModel, budget: WorkBudget | None = None) -> tuple[CompiledModel, list[int]]:
    """Remove the layers whose output is a function of the symbol they read (every symbol a reset: the layer
    remembers nothing), composing that function into the layer above: its per-symbol tensors are re-indexed, or,
    when it reads through a convolution, the convolution's table (``conv'[s', s] = conv[g(s'), g(s)]``). A layer
    that reads through a convolution itself is kept when the layer above has one too (that would need a width-3
    window), and the last layer is kept. Returns the new model (proved; unchanged when nothing drops or the proof,
    paid from ``budget``, does not fit) and the dropped layer indices of the input model. Typical case: the top
    holonomy level of a DFA whose letters each reset it, with the convolution coupling."""
    from .verify_exact import prove

    L = model.num_layers
    if L < 2:
        return model, []
    if budget is not None and not budget.take(_table_cost(model), "merge"):
        return model, []
    tables, nexts, h0, convs = stack_tables(model)
    layers = []
    for l in range(L):
        info = dict(model.meta["layers"][l])
        meta = {k: v for k, v in info.items() if k not in ("n", "symbols", "codes", "factors")}
        layers.append([meta, dict(model.layer(l)), l])
    dropped: list[int] = []
    i = 0
    while i < len(layers) - 1:
        meta, arr, orig = layers[i]
        T = tables[orig] if orig is not None else None
        g = None if T is None else _memoryless(T, np.asarray(arr["next"], dtype=np.int64))
        up_meta, up, _ = layers[i + 1]
        if g is None or ("conv" in arr and "conv" in up):
            i += 1
            continue
        if "conv" in up:  # the layer above sees (g(s'), g(s)) through its convolution
            cv = np.asarray(up["conv"], dtype=np.int64)
            R = cv.shape[1]
            S = g.size
            new = np.empty((S + 1, S), dtype=np.int64)
            new[:S] = cv[g[:, None], g[None, :]]
            new[S] = cv[R, g]
            up["conv"] = new
        else:  # the layer above reads g(s): re-index its per-symbol tensors
            for name in ("keys", "betas", "values", "matrices", "bias", "diag"):
                if name in up:
                    up[name] = np.asarray(up[name])[g]
            up["next"] = np.asarray(up["next"])[:, g]
            if "conv" in arr:  # it now reads what the dropped layer read, through the same convolution
                up["conv"] = arr["conv"]
                up_meta["conv"] = 2
        layers[i + 1][2] = None  # its table changed: not tested again
        dropped.append(orig)
        del layers[i]
    if not dropped:
        return model, []
    if budget is not None:  # the proof: one step per reachable configuration, letter and layer
        try:
            configs = walk(tables, nexts, h0, len(model.meta["alphabet"]), convs=convs).configs.shape[0]
        except StateLimitError:
            return model, []
        if not budget.take(configs * len(model.meta["alphabet"]) * L, "merge"):
            return model, []
    extra = {k: v for k, v in model.meta.items()
             if k not in ("format_version", "construction", "alphabet", "dfa", "dfa_sha256", "layers")}
    out = build_model(model.dfa(), model.construction, [(m, a) for m, a, _ in layers], extra or None)
    if not prove(out).proved:  # pragma: no cover - the composition is exact
        return model, []
    return out, dropped


__all__ = ["merge_layers", "drop_memoryless", "merge_run", "walk", "stack_tables", "StackWalk", "MergedLayer", "MAX_CONFIGS"]
