"""How a letter acts on a bit code, and the GH factors that realise it exactly.

A letter acts on a code of ``d`` bits when each new bit is a constant, a copy or a negation of one old bit, no old bit
used twice (:class:`LetterAction`). In the centred code ``u = h - 1/2`` a copy is ``u_i <- u_j`` and a negation
``u_i <- -u_j``, so the copied bits move by a signed permutation ``Sigma`` (completed over the constant slots, whose
free signs make each cycle's sign product +1): ``rank(I - Sigma)`` reflections with integer keys whose values give the
offset ``(I - Sigma) 1 / 2`` (solved exactly: it lies in the span of the keys), then one projection per constant bit
writing it (:func:`layer_arrays`). Used by :mod:`.bitcode` (one layer for a DFA) and :mod:`.partial_code` (one layer
for a run of merged layers).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from statetrack.exact_linalg import solve_exact

from .signed import signed_factors, signed_rank


@dataclass(frozen=True)
class LetterAction:
    """How one letter acts on a bit code of dimension ``d``: ``source [d]`` (old coordinate copied into coordinate
    ``i``, or -1 for a constant), ``negate [d]`` (bool: ``1 - old``), ``const [d]`` (the constant where
    ``source == -1``)."""

    source: np.ndarray
    negate: np.ndarray
    const: np.ndarray

    def permutation(self) -> np.ndarray:
        """A permutation ``perm [d]`` (``e_j -> e_{perm[j]}``: new coordinate ``perm[j]`` holds old ``h_j``) that
        extends ``i <- source[i]`` with as many cycles as possible: each maximal chain of the partial map is closed
        into one cycle (its free end sends to its constant coordinate)."""
        d = self.source.size
        fwd = -np.ones(d, dtype=np.int64)
        for i, j in enumerate(self.source.tolist()):
            if j >= 0:
                fwd[j] = i
        targets = set(np.flatnonzero(self.source >= 0).tolist())
        perm = fwd.copy()
        for start in range(d):  # chains start at a coordinate with no source (a constant output)
            if start in targets:
                continue
            j = start
            while fwd[j] >= 0:
                j = int(fwd[j])
            perm[j] = start  # close the chain: its last old coordinate (used by nobody) goes to its constant slot
        return perm

    def signs(self) -> np.ndarray:
        """Signs ``[d]`` for :meth:`permutation` (``e_j -> sign[j] e_{perm[j]}``): -1 where a bit is negated; on the
        edge that closes a chain the sign is free and is chosen so that the cycle's product is +1 (a cycle with
        product -1 costs one reflection more)."""
        perm = self.permutation()
        sign = np.ones(perm.size, dtype=np.int64)
        free = np.zeros(perm.size, dtype=bool)
        for j in range(perm.size):
            i = int(perm[j])
            if self.source[i] == j:
                sign[j] = -1 if self.negate[i] else 1
            else:
                free[j] = True  # old h_j lands in a constant slot: overwritten later
        seen = np.zeros(perm.size, dtype=bool)
        for a in range(perm.size):
            if seen[a]:
                continue
            cycle, b = [], a
            while not seen[b]:
                seen[b] = True
                cycle.append(b)
                b = int(perm[b])
            spare = [j for j in cycle if free[j]]
            if spare and np.prod(sign[cycle]) < 0:
                sign[spare[0]] = -sign[spare[0]]
        return sign

    def factors(self) -> int:
        """GH factors this action needs: ``rank(I - Sigma)`` reflections for the signed permutation ``Sigma`` (a
        negation rides on a signed swap: in the centred code ``h - 1/2`` it is a sign), one projection per
        constant."""
        return int(signed_rank(self.permutation(), self.signs()) + (self.source < 0).sum())


def shift_register_actions(S: int, k: int) -> list[LetterAction]:
    """The letter actions of a register of the last ``k`` letters over ``S`` symbols held as ``k`` one-hot blocks of
    ``S`` bits, oldest first: letter ``a`` copies each block into the older one and writes itself into the newest."""
    d = k * S
    acts = []
    for a in range(S):
        source, negate, const = -np.ones(d, dtype=np.int64), np.zeros(d, dtype=bool), np.zeros(d)
        source[:d - S] = np.arange(S, d)
        const[d - S + a] = 1.0
        acts.append(LetterAction(source, negate, const))
    return acts


def _letter_factors(act: LetterAction, d: int, signed_done: dict | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """``keys [F, d]``, ``betas [F]``, ``values [F]`` of one letter (factor 0 first): the signed permutation's
    reflections with values that produce the offset ``(I - Sigma) 1 / 2`` (so a negated copy is ``1 - h``), then one
    projection per constant bit writing it. ``signed_done`` (optional) memoises the signed-permutation part, which
    depends only on ``(permutation, signs)``: letters that differ only in their constants share it."""
    perm, sign = act.permutation(), act.signs()
    if signed_done is None:
        keys, betas, values = _signed_part(perm, sign, d)
    else:
        key = perm.tobytes() + sign.tobytes()
        if key not in signed_done:
            signed_done[key] = _signed_part(perm, sign, d)
        keys, betas, values = signed_done[key]
    consts = np.flatnonzero(act.source < 0)
    ck = np.zeros((consts.size, d))
    ck[np.arange(consts.size), consts] = 1.0
    return (np.concatenate([keys, ck]), np.concatenate([betas, np.ones(consts.size)]),
            np.concatenate([values, act.const[consts]]))


def _signed_part(perm: np.ndarray, sign: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keys [G, d]``, ``betas [G]``, ``values [G]``: the reflections of the signed permutation ``(perm, sign)`` and
    the exact values that give the offset ``(I - Sigma) 1 / 2``."""
    g = signed_factors(perm, sign)
    keys, betas = g.keys, g.betas
    values = np.zeros(g.count)
    if g.count:
        # w_f = G_{F-1} ... G_{f+1} beta_f k_f: the offset factor f's value adds
        W = np.zeros((d, g.count))
        P = np.eye(d)
        for f in range(g.count - 1, -1, -1):
            W[:, f] = P @ (betas[f] * keys[f])
            P = P @ (np.eye(d) - betas[f] * np.outer(keys[f], keys[f]))
        M = np.zeros((d, d))
        M[perm, np.arange(d)] = sign
        target = [Fraction(int(round(x)), 2) for x in (np.ones(d) - M @ np.ones(d))]
        sol = solve_exact([[Fraction(int(x)) for x in row] for row in np.rint(W)], [[t] for t in target])
        v = None if sol is None else [row[0] for row in sol]
        if v is None or any(x.denominator not in (1, 2, 4) for x in v):  # pragma: no cover - range(I - Sigma)
            raise AssertionError("bitcode: no dyadic values for the signed permutation's offset")
        values = np.array([float(x) for x in v])
    return keys, betas, values


def layer_arrays(masks: tuple[int, ...], actions: list[LetterAction]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keys [S, F, d]``, ``betas [S, F]``, ``values [S, F]`` of a householder layer whose symbol ``a`` acts on the
    bit code ``masks`` as ``actions[a]`` (:func:`_letter_factors`; unused factor slots are zero)."""
    d, S = len(masks), len(actions)
    done: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # symbols with one action share its factors
    signed_done: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # and actions with one signed permutation
    per = []
    for act in actions:
        key = act.source.tobytes() + act.negate.tobytes() + np.asarray(act.const, dtype=np.float64).tobytes()
        if key not in done:
            done[key] = _letter_factors(act, d, signed_done)
        per.append(done[key])
    F = max(1, max((k.shape[0] for k, _, _ in per), default=0))
    keys, betas, values = np.zeros((S, F, d)), np.zeros((S, F)), np.zeros((S, F))
    for a, (k, b, v) in enumerate(per):
        keys[a, :k.shape[0]], betas[a, :k.shape[0]], values[a, :k.shape[0]] = k, b, v
    return keys, betas, values


__all__ = ["LetterAction", "layer_arrays"]
