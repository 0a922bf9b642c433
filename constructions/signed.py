"""Signed-permutation (monomial) representations of small groups: exact group layers with fewer GH factors.

A *signed permutation* of dimension ``d`` is stored as ``perm [d]``, ``sign [d]`` (int64, signs in {-1, 1}) and is
the matrix ``M`` with ``M e_i = sign[i] e_{perm[i]}``. Its entries are 0 and +-1, so a group layer built from it is
bit-exact in every float dtype, and the number of GH factors it needs is ``rank(I - M)``: a cycle of length ``L``
contributes ``L - 1`` when the product of its signs is +1 and ``L`` when it is -1 (:func:`signed_rank`).
:func:`signed_factors` realises exactly that many factors with integer keys: ``e_i - s e_j`` with ``beta = 1``
(swap with sign ``s``) and ``e_j`` with ``beta = 2`` (sign flip); every factor has eigenvalue -1.

Every transitive signed-permutation representation is induced from a subgroup ``H`` of index ``d`` and a character
``chi: H -> {+-1}``: with left coset representatives ``t_1..t_d``, ``g e_i = chi(t_j^-1 g t_i) e_j`` where
``g t_i`` lies in ``t_j H``. :func:`search_signed_representation` enumerates the group (order at most
:data:`MAX_REP_ORDER`), its subgroups of index at most ``max_dim`` (joins of cyclic subgroups), their characters,
and direct sums of at most three induced representations whose kernels meet in the identity (a faithful
representation), and returns the one with the fewest factors for the worst letter, then the smallest dimension.
Permutation actions are the case ``chi = 1``, so the result is never worse than the best permutation action of
degree <= ``max_dim``. Examples: Z4 in dimension 2 (rotation by 90 degrees, 2 factors), S4 as the symmetries of
the tetrahedron in dimension 3 (a transposition is one reflection), Q8 as left multiplication by unit quaternions in
dimension 4 (4 factors, the only faithful irreducible representation).

The search is exhaustive over the subgroups it generates but capped by a count of steps (``max_steps``: group
elements visited by subgroup closures and coset updates, induced components built, sums tried), so its result is the
same on every machine; a capped search reports ``complete = False``.
"""
from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass

import numpy as np

from statetrack.errors import StatetrackError

from .budget import WorkBudget
from .householder import GHFactors

#: the name under which the search's steps are counted
WHO = "signed"

#: the largest group order for which signed representations are searched
MAX_REP_ORDER = 200
#: the largest dimension of one induced component
DEFAULT_MAX_DIM = 8
#: default step cap of the search (a few seconds at most on a laptop core; every catalog group completes well within it)
DEFAULT_MAX_STEPS = 4_000_000


def signed_rank(perm: np.ndarray, sign: np.ndarray) -> int:
    """``rank(I - M)`` of the signed permutation ``M e_i = sign[i] e_{perm[i]}`` (the GH factors it needs)."""
    perm = [int(x) for x in perm]
    sign = [int(s) for s in sign]
    seen = [False] * len(perm)
    rank = 0
    for a in range(len(perm)):
        if seen[a]:
            continue
        length, prod, b = 0, 1, a
        while not seen[b]:
            seen[b] = True
            length += 1
            prod *= sign[b]
            b = perm[b]
        rank += length - 1 if prod == 1 else length
    return rank


def signed_matrix(perm: np.ndarray, sign: np.ndarray) -> np.ndarray:
    """The int64 ``[d, d]`` matrix with ``M e_i = sign[i] e_{perm[i]}``."""
    d = len(perm)
    M = np.zeros((d, d), dtype=np.int64)
    M[np.asarray(perm, dtype=np.int64), np.arange(d)] = np.asarray(sign, dtype=np.int64)
    return M


def signed_factors(perm: np.ndarray, sign: np.ndarray) -> GHFactors:
    """``rank(I - M)`` GH factors with integer keys whose product (factor 0 applied first) is the signed permutation.

    Reduction from the left: while ``C = R_r ... R_1 M`` moves some ``e_j`` to ``s e_i``: ``i != j`` takes the
    reflection with key ``e_i - s e_j`` (beta 1), which sends ``s e_i`` back to ``e_j``; ``i == j`` (so ``s = -1``)
    takes the flip with key ``e_j`` (beta 2). Then ``M = R_1 ... R_r``, i.e. ``R_r`` is applied first. Checked
    exactly in integers.
    """
    M = signed_matrix(perm, sign)
    d = M.shape[0]
    C = M.copy()
    keys, betas = [], []
    for j in range(d):
        while C[j, j] != 1:
            col = C[:, j]
            i = int(np.flatnonzero(col)[0])
            s = int(col[i])
            k = np.zeros(d, dtype=np.int64)
            if i != j:
                k[i], k[j] = 1, -s
                beta = 1
            else:
                k[j] = 1
                beta = 2
            C = C - beta * np.outer(k, k @ C)
            keys.append(k)
            betas.append(beta)
    keys, betas = keys[::-1], betas[::-1]
    P = np.eye(d, dtype=np.int64)
    for k, b in zip(keys, betas):
        P = P - b * np.outer(k, k @ P)
    if not (P == M).all():  # pragma: no cover - guarded by the algorithm
        raise AssertionError("signed permutation factorisation does not reproduce its target")
    if len(keys) != signed_rank(perm, sign):  # pragma: no cover - guarded by the algorithm
        raise AssertionError("signed permutation factorisation is not minimal")
    arr = np.array(keys, dtype=np.float64).reshape(len(keys), d)
    return GHFactors(arr, np.array(betas, dtype=np.float64))


@dataclass(frozen=True)
class SignedRepresentation:
    """A faithful signed-permutation representation of the group generated by the letters.

    ``perm [S, d]``, ``sign [S, d]``: letter ``a`` acts as ``e_i -> sign[a, i] e_{perm[a, i]}``. ``blocks`` lists the
    dimensions of the induced components (block diagonal), ``order`` the group order, ``complete`` whether the search
    ran to the end (False: stopped by its step cap; the result is still faithful and exact); ``steps`` the steps
    it used.
    """

    perm: np.ndarray
    sign: np.ndarray
    blocks: tuple[int, ...]
    order: int
    complete: bool
    steps: int = 0

    @property
    def dim(self) -> int:
        return int(self.perm.shape[1])

    @property
    def ranks(self) -> list[int]:
        """GH factors per letter, ``rank(I - rho(letter))``."""
        return [signed_rank(p, s) for p, s in zip(self.perm, self.sign)]

    @property
    def max_factors(self) -> int:
        return max(self.ranks, default=0)

    @property
    def is_permutation(self) -> bool:
        return bool((self.sign == 1).all())


class _Group:
    """The elements of the group generated by ``letters [S, n]`` (BFS order, element 0 = identity) and its table."""

    def __init__(self, letters: np.ndarray, max_order: int):
        letters = np.asarray(letters, dtype=np.int64)
        n = letters.shape[1]
        ident = tuple(range(n))
        index = {ident: 0}
        elems = [np.arange(n)]
        queue = deque([0])
        while queue:
            e = elems[queue.popleft()]
            for p in letters:
                t = p[e]  # letter applied after e
                key = tuple(t.tolist())
                if key not in index:
                    if len(elems) >= max_order:
                        raise StatetrackError(f"group order exceeds {max_order}")
                    index[key] = len(elems)
                    elems.append(t)
                    queue.append(len(elems) - 1)
        self.N = len(elems)
        E = np.array(elems)
        # mul[i, j] = index of e_i o e_j (e_j first)
        self.mul = np.empty((self.N, self.N), dtype=np.int64)
        for i in range(self.N):
            comp = E[i][E]
            self.mul[i] = [index[tuple(r)] for r in comp.tolist()]
        self.inv = np.argmin(self.mul, axis=1)  # identity is element 0
        self.letters = [index[tuple(p.tolist())] for p in letters]

    def closure(self, gens: list[int]) -> frozenset[int]:
        seen = {0}
        queue = deque([0])
        while queue:
            h = queue.popleft()
            for g in gens:
                t = int(self.mul[h, g])
                if t not in seen:
                    seen.add(t)
                    queue.append(t)
        return frozenset(seen)


def _subgroups(G: _Group, max_index: int, budget: WorkBudget) -> tuple[dict[frozenset, list[int]], bool]:
    """Subgroups (with generators) reachable as joins of cyclic subgroups; those of index <= max_index are kept.
    ``budget`` pays ``|H|`` per coset update and ``|J|`` per closure; False when it ran out."""
    subs: dict[frozenset, list[int]] = {}
    for g in range(G.N):
        H = G.closure([g])
        budget.charge(len(H), WHO)
        subs.setdefault(H, [g])
    frontier = list(subs)
    complete = True
    while frontier:
        new = []
        for H in frontier:
            if len(H) == G.N:
                continue
            done = set(H)
            Hl = sorted(H)
            for g in range(G.N):
                if g in done:
                    continue
                done.update(G.mul[g, Hl].tolist())  # <H, g h> = <H, g>: one element per coset gH
                if not budget.take(len(Hl), WHO):
                    complete = False
                    break
                J = G.closure(subs[H] + [g])
                budget.charge(len(J), WHO)
                if J not in subs:
                    subs[J] = subs[H] + [g]
                    new.append(J)
            if not complete:
                break
        if not complete:
            break
        frontier = new
    kept = {H: gens for H, gens in subs.items() if G.N // len(H) <= max_index}
    return kept, complete


def _characters(G: _Group, H: frozenset, gens: list[int]) -> list[dict[int, int]]:
    """The homomorphisms ``H -> {+-1}`` (as dicts), found by propagating signs of the generators."""
    out = []
    for signs in itertools.product((1, -1), repeat=len(gens)):
        chi = {0: 1}
        queue = deque([0])
        ok = True
        while queue and ok:
            h = queue.popleft()
            for g, s in zip(gens, signs):
                t = int(G.mul[h, g])
                v = chi[h] * s
                if t not in chi:
                    chi[t] = v
                    queue.append(t)
                elif chi[t] != v:
                    ok = False
                    break
        if ok and len(chi) == len(H):
            out.append(chi)
    return out


def _induced(G: _Group, H: frozenset, chi: dict[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``perm [N, d]``, ``sign [N, d]`` of every group element in the representation induced from ``(H, chi)``."""
    coset_of = np.full(G.N, -1, dtype=np.int64)
    reps = []
    Hl = sorted(H)
    for t in range(G.N):
        if coset_of[t] < 0:
            coset_of[G.mul[t, Hl]] = len(reps)
            reps.append(t)
    d = len(reps)
    perm = np.empty((G.N, d), dtype=np.int64)
    sign = np.empty((G.N, d), dtype=np.int64)
    for g in range(G.N):
        for i, t in enumerate(reps):
            gt = int(G.mul[g, t])
            j = int(coset_of[gt])
            h = int(G.mul[G.inv[reps[j]], gt])
            perm[g, i] = j
            sign[g, i] = chi[h]
    return perm, sign


def search_signed_representation(letters: np.ndarray, max_dim: int = DEFAULT_MAX_DIM,
                                 max_steps: int = DEFAULT_MAX_STEPS) -> SignedRepresentation | None:
    """The faithful signed-permutation representation with the fewest factors for the worst letter (then the
    smallest dimension) among direct sums of at most three induced components of dimension <= ``max_dim``.

    ``letters [S, n]`` are the letters as permutations of any faithful action (e.g. of the minimal DFA's states).
    Returns None when the group order exceeds :data:`MAX_REP_ORDER` or no faithful sum was found. Results are
    cached per input (the search is deterministic: the cache only saves time).
    """
    letters = np.asarray(letters, dtype=np.int64)
    key = (letters.shape, letters.tobytes(), max_dim, max_steps)
    if key in _CACHE:
        return _CACHE[key]
    result = _search(letters, max_dim, max_steps)
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = result
    return result


_CACHE: dict[tuple, "SignedRepresentation | None"] = {}
_CACHE_SIZE = 32


def _search(letters: np.ndarray, max_dim: int, max_steps: int) -> SignedRepresentation | None:
    budget = WorkBudget(int(max_steps))
    try:
        G = _Group(letters, MAX_REP_ORDER)
    except StatetrackError:
        return None
    if G.N == 1:
        return None
    full = (1 << G.N) - 1
    subs, complete = _subgroups(G, max_dim, budget)
    comps: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
    for H, gens in sorted(subs.items(), key=lambda kv: -len(kv[0])):
        if not budget.take(G.N, WHO):
            complete = False
            break
        for chi in _characters(G, H, gens):
            budget.charge(G.N, WHO)  # one induced component: a signed permutation of each element's coset
            perm, sign = _induced(G, H, chi)
            d = perm.shape[1]
            ident = (perm == np.arange(d)).all(1) & (sign == 1).all(1)
            kernel = int(sum(1 << g for g in np.flatnonzero(ident).tolist()))
            ranks = tuple(signed_rank(perm[a], sign[a]) for a in G.letters)
            key = (kernel, ranks, d)
            if kernel != full and key not in comps:
                comps[key] = (perm[G.letters], sign[G.letters])
    items = sorted(comps, key=lambda k: (max(k[1], default=0), k[2]))
    best: tuple | None = None

    def consider(combo: tuple) -> None:
        nonlocal best
        kernel = full
        for c in combo:
            kernel &= c[0]
        if kernel != 1:  # only the identity (element 0) may remain
            return
        ranks = [sum(c[1][a] for c in combo) for a in range(len(G.letters))]
        cost = (max(ranks, default=0), sum(c[2] for c in combo), len(combo))
        if best is None or cost < best[0]:
            best = (cost, combo)

    for c in items:
        consider((c,))
    for c1, c2 in itertools.combinations(items, 2):
        consider((c1, c2))
    budget.charge(len(items) * (len(items) + 1) // 2, WHO)
    top = items[:40]
    for combo in itertools.combinations(top, 3):
        if not budget.take(1, WHO):
            complete = False
            break
        consider(combo)
    if best is None:
        return None
    combo = best[1]
    perms, signs, offset = [], [], 0
    for c in combo:
        p, s = comps[c]
        perms.append(p + offset)
        signs.append(s)
        offset += c[2]
    return SignedRepresentation(np.concatenate(perms, axis=1), np.concatenate(signs, axis=1),
                                tuple(c[2] for c in combo), G.N, complete, budget.used)


def apply_signed(perm: np.ndarray, sign: np.ndarray, h: tuple) -> tuple:
    """``M h`` for the signed permutation ``M e_i = sign[i] e_{perm[i]}`` (a tuple of numbers)."""
    out = [0] * len(h)
    for i, x in enumerate(h):
        out[int(perm[i])] = int(sign[i]) * x
    return tuple(out)


__all__ = ["SignedRepresentation", "search_signed_representation", "signed_rank", "signed_factors",
           "signed_matrix", "apply_signed", "MAX_REP_ORDER"]
