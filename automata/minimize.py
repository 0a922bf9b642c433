"""DFA minimisation by partition refinement.

:func:`minimize` is the public entry: it completes the DFA, keeps the reachable
states in breadth-first order, refines the partition ``{accepting, rejecting}`` to the
Myhill-Nerode classes and returns the quotient.

Three refinement engines compute the same partition:

* :func:`refine_moore` (the fast path): Moore rounds over numpy arrays. A round gives
  each state the signature ``(block, block of each successor)`` and renumbers the
  signatures exactly (mixed-radix packing into int64, compressed to dense ids by a sort
  whenever the next column would overflow). It stops when a round splits nothing.
* :func:`refine_moore_small`: the same rounds in plain Python, used for tables of at most
  :data:`SMALL_MOORE` entries, where numpy's per-call costs dominate.
  Each round costs O(n k log n); the number of rounds is the depth of the shortest
  distinguishing suffixes, so for very deep automata (long chains) it hands over to
  Hopcroft after :data:`MOORE_ROUNDS` rounds.
* :func:`refine_hopcroft` (the reference and the fallback): Hopcroft's algorithm with
  the "smaller half" rule, O(n k log n) total, in plain Python over inverse edges.

At 524,288 states and two symbols (``(a|b)*a(a|b){18}``, already minimal, 20 rounds) numpy
Moore takes 0.36 s on the 2-core test machine against 3.3 s for Hopcroft in Python and 4.3 s
for Moore in Python (``benchmarks/RESULTS.md``).

Result conventions: states in breadth-first order from the start (symbols in alphabet
order); each block is named after its first member in that order (so a DFA whose states
are pairwise distinguishable keeps its names); the alphabet is unchanged; a partial input
is completed first with a rejecting sink named ``"sink"`` (``"_sink"``... if taken).
"""
from __future__ import annotations

import numpy as np

from .dfa import DFA
from statetrack.errors import StateLimitError

#: Default guard on the number of states a minimisation accepts.
MAX_STATES: int = 1 << 23
#: Moore rounds before handing the remaining refinement to Hopcroft.
MOORE_ROUNDS: int = 64
#: Transition tables with at most this many entries are refined in plain Python.
SMALL_MOORE: int = 480


def bfs_order(delta: np.ndarray, start: int) -> np.ndarray:
    """Reachable states of a complete ``delta [n, k]`` in breadth-first order (symbols in column order).

    Returns int64 ids, first the start. Vectorised per layer: a layer's successors are
    scanned row-major and new states are kept in order of first occurrence.
    """
    n = delta.shape[0]
    if delta.size <= SMALL_MOORE:  # plain Python BFS
        rows = delta.tolist()
        pos = {start: 0}
        order = [start]
        for q in order:
            for t in rows[q]:
                if t not in pos:
                    pos[t] = len(order)
                    order.append(t)
        return np.asarray(order, dtype=np.int64)
    seen = np.zeros(n, dtype=bool)
    seen[start] = True
    layers = [np.array([start], dtype=np.int64)]
    frontier = layers[0]
    while frontier.size:
        if frontier.size < 32:  # narrow layer (deep automata): plain Python is cheaper than numpy calls
            new_list = []
            for t in delta[frontier].ravel().tolist():
                if not seen[t]:
                    seen[t] = True
                    new_list.append(t)
            new = np.asarray(new_list, dtype=np.int64)
        else:
            succ = delta[frontier].ravel()
            succ = succ[~seen[succ]]
            if succ.size > 1:
                _, first = np.unique(succ, return_index=True)
                succ = succ[np.sort(first)]
            new = succ
            seen[new] = True
        if new.size == 0:
            break
        layers.append(new)
        frontier = new
    return np.concatenate(layers)


def _factorize(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Dense ids ``0..u-1`` for the distinct values of ``key`` (order of values), and ``u``."""
    n = key.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), 0
    order = np.argsort(key)
    ks = key[order]
    fresh = np.empty(n, dtype=bool)
    fresh[0] = True
    np.not_equal(ks[1:], ks[:-1], out=fresh[1:])
    inv = np.empty(n, dtype=np.int64)
    inv[order] = np.cumsum(fresh) - 1
    return inv, int(inv[order[-1]]) + 1


def _signature_ids(cols: list[np.ndarray], ranges: list[int]) -> tuple[np.ndarray, int]:
    """Exact dense ids of the rows ``(cols[0][i], cols[1][i], ...)`` with ``0 <= cols[j] < ranges[j]``."""
    key = cols[0].astype(np.int64, copy=True)
    span = ranges[0]
    for c, r in zip(cols[1:], ranges[1:]):
        if span * r >= (1 << 62):
            key, span = _factorize(key)
        key *= r
        key += c
        span *= r
    return _factorize(key)


def refine_moore(delta: np.ndarray, accepting: np.ndarray, max_rounds: int | None = None) -> tuple[np.ndarray, int, bool]:
    """Moore refinement of a complete DFA. Returns ``(block [n], n_blocks, stable)``.

    ``stable`` is False when ``max_rounds`` ran out before a fixed point (the partition is
    then a correct coarsening of the final one, refining ``{accepting, rejecting}``).
    """
    n, k = delta.shape
    block, nb = _factorize(accepting.astype(np.int64))
    rounds = 0
    while True:
        if max_rounds is not None and rounds >= max_rounds:
            return block, nb, False
        cols = [block] + [block[delta[:, a]] for a in range(k)]
        new, new_nb = _signature_ids(cols, [nb] * (k + 1))
        rounds += 1
        if new_nb == nb:
            return block, nb, True
        block, nb = new, new_nb


def refine_moore_small(
    delta: np.ndarray, accepting: np.ndarray, max_rounds: int | None = None
) -> tuple[np.ndarray, int, bool]:
    """Moore refinement in plain Python (faster than numpy for a few thousand transitions or less).

    Same rounds and result convention as :func:`refine_moore`: ``(block [n], n_blocks, stable)``.
    """
    rows = delta.tolist()
    acc = accepting.tolist()
    first = acc[0] if acc else False
    block = [0 if a == first else 1 for a in acc]  # dense ids
    nb = len(set(block))
    rounds = 0
    while max_rounds is None or rounds < max_rounds:
        get = block.__getitem__
        sig: dict[tuple[int, ...], int] = {}
        new = [sig.setdefault((block[q], *map(get, row)), len(sig)) for q, row in enumerate(rows)]
        rounds += 1
        if len(sig) == nb:
            return np.asarray(block, dtype=np.int64), nb, True
        block, nb = new, len(sig)
    return np.asarray(block, dtype=np.int64), nb, False


def refine_hopcroft(delta: np.ndarray, accepting: np.ndarray, initial: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Hopcroft's partition refinement (plain Python). Returns ``(block [n], n_blocks)``.

    ``initial``: a starting partition (block id per state) that refines
    ``{accepting, rejecting}`` and is coarser than the final one; default the acceptance split.
    """
    n, k = delta.shape
    if initial is None:
        initial = accepting.astype(np.int64)
    # inverse edges: pred[a][q] = states p with delta[p, a] == q
    pred: list[list[list[int]]] = []
    for a in range(k):
        col = delta[:, a]
        order = np.argsort(col, kind="stable")
        ptr = np.searchsorted(col[order], np.arange(n + 1))
        ol = order.tolist()
        pl = ptr.tolist()
        pred.append([ol[pl[q] : pl[q + 1]] for q in range(n)])
    blocks: list[set[int]] = []
    where = [0] * n
    ids: dict[int, int] = {}
    for q, b in enumerate(initial.tolist()):
        j = ids.setdefault(b, len(blocks))
        if j == len(blocks):
            blocks.append(set())
        blocks[j].add(q)
        where[q] = j
    # all blocks but the largest, for every symbol
    largest = max(range(len(blocks)), key=lambda j: len(blocks[j])) if blocks else 0
    work = {(j, a) for j in range(len(blocks)) if j != largest for a in range(k)}
    stack = list(work)
    while stack:
        j, a = stack.pop()
        work.discard((j, a))
        hit: dict[int, set[int]] = {}
        pa = pred[a]
        for q in blocks[j]:
            for p in pa[q]:
                hit.setdefault(where[p], set()).add(p)
        for b, inside in hit.items():
            blk = blocks[b]
            if len(inside) == len(blk):
                continue
            # split off the smaller half in time O(|inside|), which the scan above already paid
            if 2 * len(inside) <= len(blk):
                blk.difference_update(inside)
                small = inside
            else:
                small = blk - inside
                blocks[b] = inside
            nj = len(blocks)
            blocks.append(small)
            for p in small:
                where[p] = nj
            # (b, c) pending: both halves must be used, b still is; otherwise the smaller half
            # suffices. Either way the new block nj (the smaller half) joins the worklist.
            for c in range(k):
                work.add((nj, c))
                stack.append((nj, c))
    return np.asarray(where, dtype=np.int64), len(blocks)


def minimize_arrays(
    delta: np.ndarray, accepting: np.ndarray, start: int, engine: str = "auto", *, bfs_ordered: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimal DFA of a complete ``delta [n, k]``: ``(delta_min [m, k], accepting_min [m], rep [m])``.

    States of the result are in breadth-first order (start = 0); ``rep[b]`` is the input
    state id of block ``b``'s first member in breadth-first order. ``bfs_ordered=True``
    promises that every state is reachable and already numbered breadth-first from
    ``start == 0`` (as the subset construction numbers them), which skips the renumbering.
    """
    n, k = delta.shape
    if bfs_ordered:
        order, d, acc = np.arange(n, dtype=np.int64), delta, accepting
    else:
        order = bfs_order(delta, start)
        inv = np.empty(n, dtype=np.int64)
        inv[order] = np.arange(order.size)
        d = inv[delta[order]]  # BFS-renumbered reachable part
        acc = accepting[order]
    if engine == "hopcroft":
        block, _ = refine_hopcroft(d, acc)
    elif engine == "moore":
        block, _, _ = refine_moore(d, acc)
    elif engine == "moore-small":
        block, _, _ = refine_moore_small(d, acc)
    elif engine == "auto":
        if d.size <= SMALL_MOORE:
            block, _, stable = refine_moore_small(d, acc, max_rounds=MOORE_ROUNDS)
        else:
            block, _, stable = refine_moore(d, acc, max_rounds=MOORE_ROUNDS)
        if not stable:
            block, _ = refine_hopcroft(d, acc, initial=block)
    else:
        raise ValueError(f"unknown engine {engine!r}")
    # blocks numbered by their first member in BFS order (= BFS order of the quotient)
    m = int(block.max()) + 1
    first = np.full(m, d.shape[0], dtype=np.int64)
    np.minimum.at(first, block, np.arange(d.shape[0]))
    first.sort()
    rank = np.empty(m, dtype=np.int64)
    rank[block[first]] = np.arange(m)
    delta_min = rank[block[d[first]]].reshape(m, k)
    return delta_min, acc[first], order[first]


def minimize(dfa: DFA, max_states: int | None = None, *, engine: str = "auto") -> DFA:
    """Minimal complete DFA of the language of ``dfa`` (see the module docstring for conventions).

    ``max_states`` (default :data:`MAX_STATES`) guards the input size (after completion):
    past it a :class:`StateLimitError` is raised. ``engine``: ``"auto"`` (Moore, then
    Hopcroft for deep automata; plain-Python Moore for small tables), ``"moore"``, ``"moore-small"``
    or ``"hopcroft"``.
    """
    limit = MAX_STATES if max_states is None else int(max_states)
    c = dfa.complete()
    if c.n_states > limit:
        raise StateLimitError(f"minimisation input has {c.n_states} states, more than max_states={limit}")
    delta, acc, rep = minimize_arrays(c.delta, c.accepting, c.start, engine)
    return DFA(c.alphabet, [c.states[q] for q in rep.tolist()], 0, acc, delta, validate=False)
