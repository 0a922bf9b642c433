"""From a holonomy cascade to an LRNN layer stack of generalized Householder products.

The coupling problem: a cascade level reads the *previous* coordinates of the levels above it
(and their new ones), but layer ``l`` of an LRNN stack only sees what layer ``l - 1`` outputs at
the same time step, i.e. the *updated* states. The stack built here fixes that with plain layers:

* **level layer j** — level ``j``'s permutation-reset automaton on one-hot states: a permutation
  is a product of reflections with integer keys ``e_a - e_b`` (beta = 1, exact in every dtype), a
  reset to ``r`` is ``m`` projections (key ``e_i``, beta = 1) writing the one-hot ``e_r`` through
  the values. Layer 0 also carries a **position-parity** coordinate (key ``e_p``, beta = 2, value
  1/2: ``p <- 1 - p``) when copy layers exist.
* **copy layer j** (after level layer ``j`` when a lower level needs level ``j``'s previous
  coordinate): two scalar buffers; at position ``t`` the buffer ``t mod 2`` is reset to the new
  coordinate ``y_j`` (one projection, value ``y_j``) and the other still holds ``y_j`` of ``t - 1``,
  which is the previous coordinate ``x_j``.
* **shift layer j** (default, instead of level layer j and its copy layer): one-hot blocks ``prev`` and ``new``.
  A reset copies ``new`` into ``prev`` and writes its target into ``new``; a permutation permutes ``new`` and clears
  ``prev``. Each old bit is used at most once, so every symbol is a bit-code action (:mod:`..bit_actions`) of norm
  <= 1, and the layer's ``next`` table reads the previous coordinate from ``prev`` after a reset and as ``g^-1`` of
  the new one after a permutation ``g``. No parity is needed.
* **copy skipping**: when, on every reachable step, the old context below level ``j`` is determined
  by the layer's symbol and its new coordinate (always so for a level that is only permuted:
  ``x_j = g^{-1}(y_j)``), that layer's ``next`` table hands it down and the copy layer is dropped.

Symbols passed between layers carry ``(letter, parity, old context, new context)`` of
:mod:`.coordinates`; the ``next`` tables are built from a breadth-first search over the reachable
cascade states, and the result is proved by :func:`statetrack.constructions.verify_exact.prove`.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from statetrack.errors import StateLimitError
from statetrack.untrusted import FILE_LIMITS, MAX_HEADER_BYTES
from statetrack.vocabulary import CASCADE_COUPLINGS

from .coordinates import Cascade, Context

#: Guard on the number of reachable cascade configurations explored while building the tables.
MAX_CONFIGS = 2_000_000
#: Guard on the walk that builds the tables: reachable cascade states x letters x levels (each a dictionary entry
#: or two), checked before a new state is taken in; about 50 bytes and 4 microseconds each (benchmarks/RESULTS.md).
MAX_CELLS = 16_000_000
#: Guard on the bytes of a stack's dense tensors (keys, betas, values, h0, codes, next, conv; float64/int64), so that
#: its model file (8-byte length, a header of at most ``MAX_HEADER_BYTES``, the tensors) can be read back by
#: ``load_model`` within ``FILE_LIMITS["model"]``: above it the symbols of each layer are merged into classes
#: (:func:`_symbol_classes`), and if that is still too large the build stops with a :class:`StateLimitError`.
MAX_STACK_BYTES = FILE_LIMITS["model"] - MAX_HEADER_BYTES - 8


@dataclass
class StackLayer:
    """One layer of the compiled stack (kernel-native Householder form, d = 1).

    Arrays: ``keys [S, F, n]``, ``betas [S, F]``, ``values [S, F]``, ``h0 [n]``, ``codes [C, n]``,
    ``next [C, S]`` (int64), and for a layer read through a width-2 causal convolution
    ``conv [R + 1, R]`` (int64). ``role`` is ``"level j"``, ``"copy j"`` or ``"trivial 0"``.
    """

    role: str
    n: int
    keys: np.ndarray
    betas: np.ndarray
    values: np.ndarray
    h0: np.ndarray
    codes: np.ndarray
    next: np.ndarray
    conv: np.ndarray | None = None  # [R + 1, R]: (previous raw symbol | start row R, raw symbol) -> symbol

    @property
    def symbols(self) -> int:
        return self.keys.shape[0]

    @property
    def factors(self) -> int:
        return self.keys.shape[1]


@dataclass
class CascadeStack:
    """The compiled stack and its cost report."""

    layers: list[StackLayer]
    depth: int  # holonomy levels
    reachable: int  # reachable (cascade state, parity) configurations
    copies_skipped: list[int] = field(default_factory=list)
    shifts: list[int] = field(default_factory=list)  # levels built as one shift layer (level and copy in one)
    level_widths: list[int] = field(default_factory=list)
    holonomy_groups: list[list[int]] = field(default_factory=list)  # per level: group orders of its components
    #: None, or when the per-symbol tensors were over ``max_bytes`` and the symbols were merged into classes:
    #: ``{limit_bytes, bytes_per_symbol, bytes, symbols_before}`` (bytes of the tensors without and with the merge)
    symbol_classes: dict | None = None


class _Registry:
    """Assigns consecutive ids to hashable keys."""

    def __init__(self) -> None:
        self.ids: dict = {}

    def __call__(self, key) -> int:
        ids = self.ids
        return ids.setdefault(key, len(ids))  # a new key gets the next id

    def __len__(self) -> int:
        return len(self.ids)


def _perm_factors(perm: dict[int, int]) -> list[tuple[int, int]]:
    """Transpositions ``(a, b)`` whose product, applied in order to one-hot vectors, maps ``e_x`` to
    ``e_{perm[x]}``; count = moved points - cycles."""
    seen: set[int] = set()
    out: list[tuple[int, int]] = []
    for s in sorted(perm):
        if s in seen or perm[s] == s:
            continue
        cyc = [s]
        seen.add(s)
        q = perm[s]
        while q != s:
            cyc.append(q)
            seen.add(q)
            q = perm[q]
        # cycle c0 -> c1 -> ... -> ck-1 -> c0: swap (c_{k-2}, c_{k-1}), ..., (c0, c1)
        for i in range(len(cyc) - 2, -1, -1):
            out.append((cyc[i], cyc[i + 1]))
    return out


def build_stack(cascade: Cascade, start: int, n_letters: int, *, coupling: str = "copy", copy_skip: bool = True,
                max_configs: int = MAX_CONFIGS, shift: bool = True, max_cells: int | None = None,
                max_bytes: int | None = None) -> CascadeStack:
    """Build the layer stack for the cascade of a DFA with start state ``start``.

    ``coupling="copy"``: position parity and copy layers (``2h - 1`` layers, fewer with
    ``copy_skip``). ``coupling="conv"``: each layer ``j >= 1`` reads its input through a width-2
    causal convolution (the ``conv`` table: previous and current symbol of the layer below ->
    this layer's symbol), which hands it the previous coordinates directly: ``h`` layers. ``shift`` (default): a
    level that needs a copy layer becomes one **shift layer** instead (module doc), so the copy scheme has ``h``
    layers too and no parity.

    Bounds, all counted before the memory is taken: ``max_configs`` reachable configurations, ``max_cells``
    (reachable cascade states x letters x levels: the walk's tables; None: ``MAX_CELLS``) and ``max_bytes`` (the
    dense tensors; None: ``MAX_STACK_BYTES``). Over ``max_bytes`` the symbols of every layer are first merged into
    classes that act and hand on alike (:func:`_symbol_classes`; the stack's ``symbol_classes`` says so); a bound
    that still does not hold raises :class:`StateLimitError` naming it.
    """
    if coupling not in CASCADE_COUPLINGS:
        raise ValueError(f"unknown coupling {coupling!r} (copy | conv)")
    max_cells = MAX_CELLS if max_cells is None else max_cells
    max_bytes = MAX_STACK_BYTES if max_bytes is None else max_bytes
    d = cascade.depth
    x0 = cascade.encode(start)
    # ---- pass 1: reachable cascade states, the maps each level applies, and the letters entering each state
    steps: dict[tuple[int, ...], list[tuple[tuple[int, ...], list]]] = {}
    entered: dict[tuple[int, ...], set] = {x0: {None}}
    queue = deque([x0])
    while queue:
        x = queue.popleft()
        row = []
        for a in range(n_letters):
            y, info = cascade.step(x, a)
            row.append((y, info))
            if y not in entered:
                if len(entered) >= max_configs:
                    raise StateLimitError(f"the cascade has more than {max_configs} reachable states")
                if (len(entered) + 1) * n_letters * max(d, 1) > max_cells:
                    raise StateLimitError(
                        f"the cascade's tables would exceed {max_cells} cells (reachable cascade states x "
                        f"{n_letters} letters x {d} levels; MAX_CELLS): more than {len(entered)} reachable states")
                entered[y] = set()
                queue.append(y)
            entered[y].add(a)
        steps[x] = row
    recoverable = [_previous_context_recoverable(cascade, steps, j) for j in range(d)]
    if coupling == "conv":
        needs_copy = [False] * d
    else:
        needs_copy = [j < d - 1 and not (copy_skip and recoverable[j]) for j in range(d)]
    resets_only = [shift and needs_copy[j] for j in range(d)]  # levels built as shift layers
    parity = any(c and not r for c, r in zip(needs_copy, resets_only))
    used = _used_level_states(steps, d)
    local = [{c: k for k, c in enumerate(u)} for u in used]

    # ---- layer plan
    plan: list[tuple[str, int]] = []
    for j in range(d):
        if resets_only[j]:
            plan.append(("shift", j))
            continue
        plan.append(("level", j))
        if needs_copy[j]:
            plan.append(("copy", j))
    if d == 0:
        plan.append(("trivial", 0))
    n_layers = len(plan)
    copies_below = [sum(1 for k, (kind, _) in enumerate(plan) if kind == "copy" and k > l) for l in range(n_layers)]
    conv_layer = [coupling == "conv" and kind == "level" and j > 0 for kind, j in plan]

    sym = [_Registry() for _ in range(n_layers)]  # input symbol keys per layer
    raw = [_Registry() for _ in range(n_layers)]  # for conv layers: symbols emitted by the layer below
    conv_tab: list[dict[tuple[int, int], int]] = [dict() for _ in range(n_layers)]  # (prev raw|-1, raw) -> sym
    codes = [_Registry() for _ in range(n_layers)]  # decoded state keys per layer
    action: list[dict[int, tuple]] = [dict() for _ in range(n_layers)]  # symbol id -> state transform
    nxt: list[dict[tuple[int, int], object]] = [dict() for _ in range(n_layers)]  # (code, sym) -> output key
    for a in range(n_letters):
        sym[0](a)  # layer 0 reads the DFA letters in order

    for l, (kind, j) in enumerate(plan):  # initial layer states are the first codes
        if kind == "level":
            codes[l]((local[j][x0[j]], 0) if (j == 0 and parity) else (local[j][x0[j]],))
        elif kind == "copy":
            codes[l]((local[j][x0[j]], local[j][x0[j]]))
        elif kind == "shift":  # nothing in the previous block yet
            codes[l]((-1, local[j][x0[j]]) + ((0,) if (j == 0 and parity) else ()))
        else:
            codes[l]((0,))
    # contexts of the initial state, for the conv layers' first step
    init_ctx = [cascade.top]
    for j in range(d):
        init_ctx.append(cascade.descend(init_ctx[-1], j, x0[j]))

    decoded_states: dict[tuple[int, ...], int] = {}

    def decoded(y: tuple[int, ...]) -> int:
        """The DFA state of cascade state ``y``, memoised."""
        q = decoded_states.get(y)
        if q is None:
            q = decoded_states[y] = cascade.decode(y)
        return q

    # ---- pass 2: walk every reachable (state, parity, letter) through the layer plan
    local_maps: dict[int, tuple] = {}  # id of a cached level map -> the map in local numbering

    def localised(m: tuple, j: int) -> tuple:
        """Level map ``m`` of level ``j`` in its layer's local state numbering, memoised by identity (maps are
        cached by :class:`Cascade`, one object per distinct map)."""
        mloc = local_maps.get(id(m))
        if mloc is None:
            loc = local[j]
            mloc = local_maps[id(m)] = (
                ("perm", {loc[u]: loc[v] for u, v in m[1].items() if u in loc}) if m[0] == "perm"
                else ("reset", loc[m[1]]))
        return mloc

    # the registries' dictionaries, bound once: ``ids.setdefault(key, len(ids))`` is ``registry(key)``
    sym_ids = [r.ids for r in sym]
    raw_ids = [r.ids for r in raw]
    code_ids = [r.ids for r in codes]
    layer_plan = [(l, kind, j, conv_layer[l], bool(copies_below[l]), j == 0 and parity)
                  for l, (kind, j) in enumerate(plan)]
    configs = deque([(x0, 0)])
    conf_seen = {(x0, 0)}
    while configs:
        x, p = configs.popleft()
        pn = 1 - p if parity else 0
        for a in range(n_letters):
            y, info = steps[x][a]
            key_in: object = a
            for l, kind, j, is_conv, keeps, with_parity in layer_plan:
                ids = sym_ids[l]
                if is_conv:
                    # key_in is the raw symbol (letter, new context of level j); the convolution adds the
                    # previous raw symbol, whose context is this step's old context
                    rids = raw_ids[l]
                    r_id = rids.setdefault(key_in, len(rids))
                    old_ctx, new_ctx = info[j][0], info[j][1]
                    s_id = ids.setdefault((a, old_ctx, new_ctx), len(ids))
                    for a_prev in entered[x]:
                        if a_prev is None:
                            assert old_ctx == init_ctx[j]
                            conv_tab[l][(-1, r_id)] = s_id
                        else:
                            conv_tab[l][(rids.setdefault((a_prev, old_ctx), len(rids)), r_id)] = s_id
                else:
                    s_id = ids.setdefault(key_in, len(ids))
                keep_p = pn if keeps else 0
                cids = code_ids[l]
                if kind == "level":
                    old, new, m = info[j]
                    mloc = local_maps.get(id(m)) or localised(m, j)
                    prev = action[l].setdefault(s_id, mloc)
                    assert prev is mloc or prev == mloc, "a layer symbol must determine its transformation"
                    yj = local[j][y[j]]
                    c_id = cids.setdefault((yj, pn) if with_parity else (yj,), len(cids))
                    # info[j + 1] holds the old and new contexts below level j (step has descended them)
                    if j == d - 1:
                        out: object = ("state", decoded(y))
                    elif coupling == "conv":
                        out = (a, info[j + 1][1])
                    elif needs_copy[j]:
                        out = (a, keep_p, old, info[j + 1][1], yj)
                    else:
                        out = (a, keep_p, info[j + 1][0], info[j + 1][1])
                elif kind == "shift":  # level j with its previous coordinate where a reset erased it
                    m = info[j][2]
                    mloc = local_maps.get(id(m)) or localised(m, j)
                    prev = action[l].setdefault(s_id, mloc)
                    assert prev is mloc or prev == mloc, "a layer symbol must determine its transformation"
                    yj = local[j][y[j]]
                    xj = local[j][x[j]] if mloc[0] == "reset" else -1  # a permutation: x_j = g^-1(y_j)
                    ck = (xj, yj, pn) if with_parity else (xj, yj)
                    c_id = cids.setdefault(ck, len(cids))
                    out = (a, keep_p, info[j + 1][0], info[j + 1][1])  # as the copy layer hands them on
                elif kind == "copy":
                    new_below, yj = key_in[3], key_in[4]  # type: ignore[index]
                    xj = local[j][x[j]]
                    action[l].setdefault(s_id, ("write", pn, yj))
                    bufs = (yj, xj) if pn == 0 else (xj, yj)
                    c_id = cids.setdefault(bufs, len(cids))
                    out = (a, keep_p, info[j + 1][0], new_below)  # old_j below coordinate x_j
                else:  # a one-state DFA: no level at all
                    action[l].setdefault(s_id, ("perm", {}))
                    c_id = cids.setdefault((0,), len(cids))
                    out = ("state", 0)
                prev_out = nxt[l].setdefault((c_id, s_id), out)
                assert prev_out == out, "next must be a function of (code, symbol)"
                key_in = out
            conf = (y, pn)
            if conf not in conf_seen:
                if len(conf_seen) >= max_configs:
                    raise StateLimitError(f"the cascade stack has more than {max_configs} reachable configurations")
                conf_seen.add(conf)
                configs.append(conf)

    # ---- tensors: one factor set per distinct action, sizes checked before the dense per-symbol arrays exist
    def width(kind: str, j: int) -> int:
        if kind in ("level", "shift"):  # one-hot level (a shift layer: its previous and new blocks), then the parity
            return (1 if kind == "level" else 2) * len(used[j]) + (1 if (j == 0 and parity) else 0)
        return 2 if kind == "copy" else 1

    widths = [width(kind, j) for kind, j in plan]
    sparse_next: list[dict[tuple[int, int], int]] = []
    for l in range(n_layers):
        last = l + 1 == n_layers
        out_reg = None if last else (raw[l + 1] if conv_layer[l + 1] else sym[l + 1])
        sparse_next.append({cs: (out[1] if last else out_reg(out))  # type: ignore[index, misc]
                            for cs, out in nxt[l].items()})
    act_ids, factor_sets = [], []
    for l, (kind, j) in enumerate(plan):
        ids, distinct = _distinct_actions(action[l], len(sym[l]))
        act_ids.append(ids)
        factor_sets.append(_factor_tensors(kind, j, widths[l], parity, len(used[j]) if d else 0, distinct))
    sparse_conv = [dict(tab) for tab in conv_tab]
    n_raw = [len(raw[l]) if conv_layer[l] else None for l in range(n_layers)]
    n_codes = [len(codes[l]) for l in range(n_layers)]

    def layer_bytes(l: int, S: int, R: "int | None") -> int:
        return stack_bytes([(widths[l], factor_sets[l][0].shape[1], S, n_codes[l], R)])

    def size(ids: list[np.ndarray], raws: list) -> int:
        return sum(layer_bytes(l, ids[l].size, raws[l]) for l in range(n_layers))

    needed = size(act_ids, n_raw)
    classes = None
    if needed > max_bytes:  # the dense tables would be too large: merge symbols that behave alike, then check again
        before = [int(i.size) for i in act_ids]
        got = _symbol_classes(act_ids, sparse_next, sparse_conv, n_raw, conv_layer, n_codes, layer_bytes, max_bytes)
        if got is None:
            raise StateLimitError(
                f"the cascade's layer tensors would take {_mib(needed)}, and more than {_mib(max_bytes)} with the "
                f"symbols merged into classes: over the limit of {_mib(max_bytes)} (MAX_STACK_BYTES)")
        act_ids, sparse_next, sparse_conv, n_raw = got
        merged_bytes = size(act_ids, n_raw)
        classes = {"limit_bytes": int(max_bytes), "bytes_per_symbol": int(needed), "bytes": int(merged_bytes),
                   "symbols_before": before}
    layers: list[StackLayer] = []
    for l, (kind, j) in enumerate(plan):
        n = widths[l]
        fkeys, fbetas, fvalues = factor_sets[l]
        ids = act_ids[l]
        keys, betas, values = fkeys[ids], fbetas[ids], fvalues[ids]
        code_keys = list(codes[l].ids)
        code_arr = np.zeros((len(code_keys), n))
        for c_id, ck in enumerate(code_keys):
            if kind == "level":
                code_arr[c_id, ck[0]] = 1.0
                if len(ck) == 2:
                    code_arr[c_id, n - 1] = ck[1]
            elif kind == "copy":
                code_arr[c_id] = ck
            elif kind == "shift":
                m = len(used[j])
                code_arr[c_id, m + ck[1]] = 1.0
                if ck[0] >= 0:
                    code_arr[c_id, ck[0]] = 1.0
                if len(ck) == 3:
                    code_arr[c_id, n - 1] = ck[2]
        next_ids = np.zeros((len(code_keys), ids.size), dtype=np.int64)
        for (c_id, s_id), o in sparse_next[l].items():
            next_ids[c_id, s_id] = o
        conv = None
        if conv_layer[l]:
            R = n_raw[l]
            conv = np.zeros((R + 1, R), dtype=np.int64)
            for (pr, r_id), s_id in sparse_conv[l].items():
                conv[R if pr < 0 else pr, r_id] = s_id
        layers.append(StackLayer(f"{kind} {j}", n, keys, betas, values, code_arr[0].copy(), code_arr, next_ids, conv))
    groups = [[cascade.hol.holonomy_group_order(r) for r in cascade.hol.levels[j]] for j in range(d)]
    return CascadeStack(
        layers=layers,
        symbol_classes=classes,
        depth=d,
        reachable=len(conf_seen),
        copies_skipped=[j for j in range(d - 1) if coupling == "copy" and not needs_copy[j]],
        shifts=[j for j in range(d) if resets_only[j]],
        level_widths=[len(u) for u in used],
        holonomy_groups=groups,
    )


def _previous_context_recoverable(cascade: Cascade, steps: dict, j: int) -> bool:
    """True when, on every reachable step, the old context below level ``j`` is a function of what level
    ``j``'s layer knows after its update: its input (letter, old and new contexts above) and its new
    coordinate. Then ``next`` can hand the lower levels their old context and level ``j`` needs no copy
    layer. This always holds for a level that is only permuted (``x_j = g^{-1}(y_j)``)."""
    seen: dict[tuple, Context] = {}
    for x, row in steps.items():
        for a, (y, info) in enumerate(row):
            old, new, _ = info[j]
            key = (a, old, new, y[j])
            below = cascade.descend(old, j, x[j])
            if seen.setdefault(key, below) is not below:
                return False
    return True


def _used_level_states(steps: dict, d: int) -> list[list[int]]:
    """Per level, the coordinates visited, closed under the permutations applied (drops unused tiles and STAR)."""
    used_sets = [{x[j] for x in steps} for j in range(d)]
    for j in range(d):
        maps = {id(info[j][2]): info[j][2] for row in steps.values() for _, info in row}  # level maps are shared
        perms = {tuple(sorted(m[1].items())) for m in maps.values() if m[0] == "perm"}
        frontier = list(used_sets[j])
        while frontier:
            u = frontier.pop()
            for pm in perms:
                v = dict(pm).get(u, u)
                if v not in used_sets[j]:
                    used_sets[j].add(v)
                    frontier.append(v)
    return [sorted(u) for u in used_sets]


def _factor_tensors(kind: str, j: int, n: int, parity: bool, m: int,
                    actions: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keys [A, F, n]``, ``betas [A, F]``, ``values [A, F]`` of a layer's distinct ``actions`` (``A`` of them; a
    symbol's row is its action's, :func:`_distinct_actions`)."""
    if kind == "shift":
        return _shift_tensors(n, parity and j == 0, m, actions)
    facs: list[list[tuple[np.ndarray, float, float]]] = []
    for act in actions:
        f: list[tuple[np.ndarray, float, float]] = []
        if act[0] == "perm":  # reflections with integer keys e_u - e_v, beta = 1
            for u, v in _perm_factors(act[1]):
                k = np.zeros(n)
                k[u], k[v] = 1.0, -1.0
                f.append((k, 1.0, 0.0))
        elif act[0] == "reset":  # m projections writing the one-hot target
            for i in range(m):
                k = np.zeros(n)
                k[i] = 1.0
                f.append((k, 1.0, 1.0 if i == act[1] else 0.0))
        else:  # copy layer: reset buffer b to the value
            _, b, val = act
            k = np.zeros(n)
            k[b] = 1.0
            f.append((k, 1.0, float(val)))
        if kind == "level" and j == 0 and parity:  # position parity p <- 1 - p
            k = np.zeros(n)
            k[n - 1] = 1.0
            f.append((k, 2.0, 0.5))
        facs.append(f)
    F = max(1, max((len(f) for f in facs), default=0))
    S = len(facs)
    keys, betas, values = np.zeros((S, F, n)), np.zeros((S, F)), np.zeros((S, F))
    for s_id, f in enumerate(facs):
        for i, (k, b, v) in enumerate(f):
            keys[s_id, i], betas[s_id, i], values[s_id, i] = k, b, v
    return keys, betas, values


def _shift_tensors(n: int, parity: bool, m: int,
                   actions: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factors of a shift layer (one-hot blocks ``prev [0, m)`` and ``new [m, 2m)``, then the parity when it has one):
    a reset copies ``new`` into ``prev`` and sets ``new`` to the one-hot of its target; a permutation permutes ``new``
    and clears ``prev`` (the old coordinate is ``g^-1`` of the new one). Either is a bit-code action (each old bit used
    at most once). The parity bit is negated."""
    from ..bit_actions import LetterAction, layer_arrays

    acts = []
    for kind, data in actions:
        source, negate, const = -np.ones(n, dtype=np.int64), np.zeros(n, dtype=bool), np.zeros(n)
        if kind == "reset":
            source[:m] = np.arange(m, 2 * m)
            const[m + data] = 1.0
        else:
            source[m:2 * m] = np.arange(m, 2 * m)
            for u, v in data.items():
                source[m + v] = m + u
        if parity:
            source[n - 1], negate[n - 1] = n - 1, True
        acts.append(LetterAction(source, negate, const))
    return layer_arrays(tuple(range(n)), acts)


_NO_ACTION = ("perm", {})  # a symbol no reachable step reads: the identity


def _distinct_actions(action: dict[int, tuple], S: int) -> tuple[np.ndarray, list[tuple]]:
    """``ids [S]`` (int64: each symbol's action, in order of first use) and the distinct actions. Permutations are
    compared without their fixed points."""
    acts = [action.get(s_id, _NO_ACTION) for s_id in range(S)]
    keys = [("perm", tuple(sorted((u, v) for u, v in act[1].items() if u != v))) if act[0] == "perm" else act
            for act in acts]
    ids, reps = _first_ids(keys)
    return ids, [acts[r] for r in reps]


def stack_bytes(layers: list[tuple[int, int, int, int, "int | None"]]) -> int:
    """Bytes of the dense float64/int64 tensors of layers given as ``(n, F, S, C, R)`` (``R``: raw symbols of a
    convolution, or None): ``keys``, ``betas``, ``values``, ``h0``, ``codes``, ``next`` and ``conv``."""
    total = 0
    for n, F, S, C, R in layers:
        total += S * F * n + 2 * S * F + n + C * n + C * S + (0 if R is None else (R + 1) * R)
    return 8 * total


def _mib(b: int) -> str:
    return f"{b / (1 << 20):.1f} MiB"


def _first_ids(keys: list) -> tuple[np.ndarray, list[int]]:
    """Class ids ``[N]`` numbered by first occurrence of equal ``keys``, and each class's first member."""
    index: dict = {}
    reps: list[int] = []
    out = np.empty(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        c = index.get(k)
        if c is None:
            c = index[k] = len(reps)
            reps.append(i)
        out[i] = c
    return out, reps


def _compatible_classes(acts: np.ndarray, entries: list[list[tuple[int, int]]], n_codes: int,
                        max_classes: int) -> tuple[np.ndarray, list[dict[int, int]]] | None:
    """Greedy classes of symbols (in id order, each joins the first class it fits): a symbol fits a class with the
    same action whose entries ``code -> output`` agree with its own wherever both are defined (codes a symbol is
    never read at are free). Returns the class of each symbol and each class's entries (the union of its members'),
    or None as soon as there would be more than ``max_classes``."""
    S = acts.size
    cls = np.empty(S, dtype=np.int64)
    where: list[tuple[int, int]] = []  # per class: (action, its row in that action's table)
    tables: dict[int, list] = {}  # action -> [class ids, their rows [K, C] (code -> output, -1: free; grown), K]
    same: dict[tuple, int] = {}  # symbols with equal action and entries: the class the first one joined
    for s in range(S):
        a = int(acts[s])
        key = (a, tuple(sorted(entries[s])))
        k = same.get(key, -1)
        if k < 0:
            cs = np.fromiter((c for c, _ in key[1]), dtype=np.int64, count=len(key[1]))
            os_ = np.fromiter((o for _, o in key[1]), dtype=np.int64, count=len(key[1]))
            t = tables.get(a)
            if t is None:
                t = tables[a] = [[], -np.ones((4, max(n_codes, 1)), dtype=np.int64), 0]
            sub = t[1][:t[2]][:, cs]  # [K, E]
            hit = np.flatnonzero(((sub == os_) | (sub < 0)).all(axis=1))
            if hit.size:
                i = int(hit[0])
                k = t[0][i]
            else:
                i, k = t[2], len(where)
                if k >= max_classes:
                    return None
                if i == t[1].shape[0]:
                    t[1] = np.concatenate([t[1], -np.ones_like(t[1])])
                t[0].append(k)
                t[2] += 1
                where.append((a, i))
            t[1][i, cs] = os_
            same[key] = k
        cls[s] = k
    out = []
    for a, i in where:
        row = tables[a][1][i]
        out.append({int(c): int(row[c]) for c in np.flatnonzero(row >= 0)})
    return cls, out


def _symbol_classes(act_ids: list[np.ndarray], nexts: list[dict], convs: list[dict], n_raw: list,
                    conv_layer: list[bool], n_codes: list[int], layer_bytes: Callable[[int, int, "int | None"], int],
                    max_bytes: int) -> tuple[list[np.ndarray], list[dict], list[dict], list] | None:
    """Merge the symbols of every layer that behave alike, from the last layer down: symbols of layer ``l`` are
    merged when they have the same action and their ``next`` entries (the class of layer ``l + 1``'s input, or the
    DFA state for the last layer) agree at every code both are read at (:func:`_compatible_classes`), so on every
    reachable step a class acts and hands on exactly as the member it stands for. The letters (layer 0's symbols) stay. Through a convolution, raw symbols
    are merged when they give the same symbol classes with every previous raw symbol (the start included) and as the
    previous raw symbol of every one: each block of the new convolution table then has one class.

    ``act_ids``: per layer, the action id of each symbol; ``nexts``: ``{(code, symbol): id of the next layer's input
    (raw symbol where it has a convolution) or DFA state}``; ``convs``: ``{(previous raw | -1, raw): symbol}``.
    Returns them for the classes (each class's action and entries are its first member's) and the new raw counts, or
    None as soon as the layers done so far (``layer_bytes(l, symbols, raws)``) and the least the others can take
    exceed ``max_bytes``."""
    L = len(act_ids)
    floor = [layer_bytes(l, act_ids[l].size if (l == 0 and not conv_layer[0]) else 1,
                         1 if conv_layer[l] else None) for l in range(L)]
    done = 0
    new_ids, new_next, new_conv, new_raw = [None] * L, [None] * L, [None] * L, list(n_raw)
    out_cls: np.ndarray | None = None  # class of each input id of layer l + 1 (None: the DFA states themselves)
    for l in range(L - 1, -1, -1):
        S = act_ids[l].size
        entries: list[list[tuple[int, int]]] = [[] for _ in range(S)]
        for (c, s), o in nexts[l].items():
            entries[s].append((c, int(o if out_cls is None else out_cls[o])))
        if l == 0 and not conv_layer[0]:  # the letters
            scls = np.arange(S, dtype=np.int64)
            new_ids[l] = act_ids[l]
            new_next[l] = {(c, s): o for s in range(S) for c, o in entries[s]}
        else:
            per_class = layer_bytes(l, 1, None) - layer_bytes(l, 0, None)
            room = max(0, max_bytes - done - sum(floor[:l]) - layer_bytes(l, 0, 1 if conv_layer[l] else None))
            # symbols read at one code with different actions or outputs there never share a class
            at_code: dict[int, set] = {}
            for s_id, row in enumerate(entries):
                a = int(act_ids[l][s_id])
                for c, o in row:
                    at_code.setdefault(c, set()).add((a, o))
            if max((len(v) for v in at_code.values()), default=0) > room // per_class:
                return None
            got = _compatible_classes(act_ids[l], entries, n_codes[l], room // per_class)
            if got is None:
                return None
            scls, merged = got
            reps = _first_ids(scls.tolist())[1]
            new_ids[l] = act_ids[l][reps]
            new_next[l] = {(c, k): o for k, row in enumerate(merged) for c, o in row.items()}
        if conv_layer[l]:
            R = n_raw[l]
            cur: list[list[tuple[int, int]]] = [[] for _ in range(R)]
            prev: list[list[tuple[int, int]]] = [[] for _ in range(R)]
            for (p, r), s in convs[l].items():
                cur[r].append((p, int(scls[s])))
                if p >= 0:
                    prev[p].append((r, int(scls[s])))
            rcls, rreps = _first_ids([(tuple(sorted(cur[r])), tuple(sorted(prev[r]))) for r in range(R)])
            new_conv[l] = {(int(rcls[p]) if p >= 0 else -1, int(rcls[r])): int(scls[s])
                           for (p, r), s in convs[l].items()}
            new_raw[l] = len(rreps)
            out_cls = rcls
        else:
            new_conv[l] = {}
            out_cls = scls
        done += layer_bytes(l, new_ids[l].size, new_raw[l])
        if done + sum(floor[:l]) > max_bytes:
            return None
    return new_ids, new_next, new_conv, new_raw  # type: ignore[return-value]
