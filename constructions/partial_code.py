"""Bit codes of partial automata, found greedily: the engine behind merging runs of layers (:mod:`.stack_merge`).

A *partial* letter occurs only on some states (its domain); a bit code must let it copy, negate or set bits on its
domain only (:mod:`.bit_actions`). Unlike the exhaustive search of :mod:`.bitcode` for complete DFAs, the search here
is greedy and sound: every code it returns is checked by the proof of the model it goes into.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .bit_actions import LetterAction
from .budget import WorkBudget


@dataclass(frozen=True)
class PartialLetter:
    """A letter defined on part of the states: ``domain [k]`` (int64: the states where it can occur) and
    ``target [k]`` (int64: the successor of each of them)."""

    domain: np.ndarray
    target: np.ndarray


class _Bits:
    """A growing set of bits over ``n`` states, each kept with state 0 off (a bit and its complement are one)."""

    def __init__(self, n: int):
        self.n = n
        self.rows: list[np.ndarray] = []
        self.keys: set[bytes] = set()

    def add(self, bits: np.ndarray) -> bool:
        bits = np.asarray(bits, dtype=bool)
        if bits[0]:
            bits = ~bits
        key = np.packbits(bits).tobytes()
        if not bits.any() or bits.all() or key in self.keys:
            return False
        self.keys.add(key)
        self.rows.append(bits)
        return True

    def matrix(self) -> np.ndarray:
        return np.stack(self.rows) if self.rows else np.zeros((0, self.n), dtype=bool)


def _keys(rows: np.ndarray) -> list[bytes]:
    """A key per row of ``rows [d, k]`` (bool) that is the same for a row and its complement."""
    flip = rows[:, :1] if rows.shape[1] else np.zeros((rows.shape[0], 1), dtype=bool)
    packed = np.packbits(rows ^ flip, axis=1)
    return [r.tobytes() for r in packed]


def partial_bit_code(n: int, letters: list[PartialLetter], seeds: np.ndarray, max_bits: int = 64,
                     max_rounds: int = 8, budget: WorkBudget | None = None,
                     who: str = "merge") -> tuple[np.ndarray, list[LetterAction]] | None:
    """A bit code of a partial automaton, found greedily (sound, not exhaustive): start from ``seeds`` (``[k, n]``
    bool, telling every two states apart), add for every bit and letter the restricted preimage when no bit agrees
    with it (up to complement) on the letter's domain, then give each letter's copied bits distinct sources by a
    bipartite matching; a bit left without a source gets a fresh copy (the restricted preimage extended differently
    outside the domain) and the closure runs again. Returns ``(bits [d, n], actions)`` (each letter's
    :class:`LetterAction`, valid on its domain; a letter with an empty domain is the identity) or None when no code
    of at most ``max_bits`` bits is found, or ``budget`` ran out (a step is one bit looked at on one domain state;
    charged to ``who``)."""
    code = _Bits(n)

    def pay(bits: int, L: PartialLetter) -> bool:
        return budget is None or budget.take(bits * max(1, L.domain.size), who)

    for s in np.asarray(seeds, dtype=bool):
        code.add(s)
    if len(code.rows) > max_bits:
        return None
    live = [L for L in letters if L.domain.size]
    for _ in range(max_rounds):
        changed = True
        while changed:  # closure: every restricted preimage agrees with some bit on the letter's domain
            changed = False
            for L in live:
                M = code.matrix()
                if not pay(M.shape[0], L):
                    return None
                pre = M[:, L.target]
                have = set(_keys(M[:, L.domain]))
                nonconst = pre.any(axis=1) & ~pre.all(axis=1)
                for i, key in zip(np.flatnonzero(nonconst), _keys(pre[nonconst])):
                    if key in have:
                        continue
                    ext = np.zeros(n, dtype=bool)
                    ext[L.domain] = pre[i]
                    if code.add(ext):
                        have.add(key)
                        changed = True
                        if len(code.rows) > max_bits:
                            return None
        M = code.matrix()
        actions, repairs = [], []
        for L in letters:
            if not pay(M.shape[0], L):
                return None
            act, unmatched = _match(M, L)
            actions.append(act)
            repairs.extend((L, r) for r in unmatched)
        if not repairs:
            return M, actions
        grew = False
        for L, r in repairs:  # a fresh bit that agrees with r on the domain and differs from every bit
            outside = np.ones(n, dtype=bool)
            outside[L.domain] = False
            for fill in [outside] + [row & outside for row in code.rows]:
                ext = fill.copy()
                ext[L.domain] = r
                if code.add(ext):
                    grew = True
                    break
            if len(code.rows) > max_bits:
                return None
        if not grew:
            return None
    return None


def _match(M: np.ndarray, L: PartialLetter) -> tuple[LetterAction, list[np.ndarray]]:
    """Sources for one letter on the bit code ``M [d, n]``: new bit ``i`` copies old bit ``j`` where ``j`` agrees with
    the restricted preimage of ``i`` on the domain (or negates it when it agrees with its complement); distinct sources
    by augmenting paths. Returns the action and the restricted preimages of the bits left without a source."""
    d = M.shape[0]
    source, negate, const = -np.ones(d, dtype=np.int64), np.zeros(d, dtype=bool), np.zeros(d)
    if not L.domain.size:
        return LetterAction(np.arange(d, dtype=np.int64), negate, const), []
    on = M[:, L.domain]  # [d, k]
    pre = M[:, L.target]  # [d, k]: restricted preimage of every bit
    by_key: dict[bytes, list[int]] = {}
    for j, key in enumerate(_keys(on)):
        by_key.setdefault(key, []).append(j)
    pre_keys = _keys(pre)
    full, empty = pre.all(axis=1), ~pre.any(axis=1)
    cand: dict[int, list[tuple[int, bool]]] = {}
    for i in range(d):
        if full[i] or empty[i]:
            const[i] = float(full[i])
            continue
        r0 = bool(pre[i, 0])
        cand[i] = [(j, bool(on[j, 0]) != r0) for j in by_key.get(pre_keys[i], [])]
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, _ in cand[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    unmatched = [pre[i] for i in cand if not augment(i, set())]
    for j, i in owner.items():
        source[i] = j
        negate[i] = dict(cand[i])[j]
    return LetterAction(source, negate, const), unmatched


__all__ = ["PartialLetter", "partial_bit_code"]
