"""Theorem 3 (group automata in one layer): when the transition monoid is a group, one Householder layer suffices.

The transition monoid of the minimal complete DFA is a group iff every letter permutes its states. The layer's state
is a label vector that the letters move with (signed) permutation matrices; each letter is the product of
``rank(I - M)`` reflections with integer keys (:func:`statetrack.constructions.signed.signed_factors`; for a
permutation ``moved points - non-trivial cycles`` keys ``e_i - e_j`` with ``beta = 1``), so every run is exact in every
float dtype.

Which representation (:func:`choose_action`, the cheapest: fewest factors for the worst letter, then smallest
dimension):

* **on the DFA's states** (``n`` = number of states): ``h0 = e_start`` (the indicator of the start state); its orbit
  is ``{e_q}``, so the code is the one-hot of the DFA state and ``next[q, s] = q``.
* **a smaller faithful action** (:func:`statetrack.automata.groups.small_faithful_action`, the search classification
  uses too; or an action given by the caller, e.g. the catalog's generator permutations): the group acts on
  ``k < n`` points. Then ``h0 = (1, 2, ..., k)`` (distinct labels, exact in bfloat16 for k <= 256), a code is the
  label vector permuted by a group element, the codes are the ``|G|`` elements, and ``next[c, s]`` is the DFA state
  ``g . start`` of the element; that the code determines the DFA state is checked while the codes are enumerated.
* **a signed-permutation representation** (:mod:`.signed`): the letters act as ``e_i -> s_i e_{perm[i]}``, codes
  and ``h0`` as for a faithful action, ``rank(I - M)`` factors per letter with integer keys.

Permutation convention (as in :mod:`.householder`): ``perm[x] = y`` moves point ``x`` to ``y``; the matrix is
``P e_x = e_y``; reading ``a`` then ``b`` gives ``P_b P_a``.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.groups import (MAX_ACTION_SEARCH_POINTS, block_system, group_order, quotient_action,
                                        small_faithful_action, smaller_faithful_action)

from .model_format import CompiledModel, ConstructionNotApplicable, build_model
from .signed import MAX_REP_ORDER, apply_signed, search_signed_representation, signed_factors, signed_rank

#: the most codes (group elements) a faithful-action layer may have before falling back to the state action
MAX_GROUP_CODES = 100_000
#: the most entries of a group layer's key tensor [S, F, k]
MAX_KEY_ENTRIES = 50_000_000
#: the largest DFA on which the block-system search runs
MAX_SEARCH_STATES = MAX_ACTION_SEARCH_POINTS


def minimal_dfa(dfa: DFA) -> DFA:
    """The minimal complete DFA of the language (state ids in breadth-first order)."""
    from statetrack.automata.monoid import minimal_complete_dfa

    return minimal_complete_dfa(dfa)


def letter_permutations(dfa: DFA) -> np.ndarray | None:
    """``[S, n]`` int64: row ``a`` is the action ``q -> delta[q, a]`` of letter ``a``, or None when some letter is not a
    permutation of the states (or a transition is missing)."""
    perms = np.ascontiguousarray(dfa.delta.T)
    n = dfa.n_states
    for p in perms:
        if (p < 0).any() or np.bincount(p, minlength=n).max(initial=1) != 1:
            return None
    return perms


def is_group_dfa(dfa: DFA) -> bool:
    """True when every letter permutes the states of ``dfa`` (pass a minimal complete DFA for the language test)."""
    return letter_permutations(dfa) is not None


@dataclass(frozen=True)
class GroupAction:
    """The action a group layer uses: letter ``a`` maps ``e_i`` to ``sign[a, i] e_{perms[a, i]}`` (``perms``,
    ``sign [S, k]``; ``sign`` is all ones for a permutation action), ``kind`` (``"states"``, ``"faithful"`` or
    ``"signed"``), group order, and for ``signed`` the dimensions of its induced blocks."""

    perms: np.ndarray
    kind: str
    order: int
    sign: np.ndarray | None = None
    blocks: tuple[int, ...] = ()

    @property
    def signs(self) -> np.ndarray:
        return np.ones_like(self.perms) if self.sign is None else self.sign

    @property
    def dim(self) -> int:
        return int(self.perms.shape[1])

    @property
    def factor_counts(self) -> list[int]:
        """GH factors per letter, ``rank(I - rho(letter))``."""
        return [signed_rank(p, s) for p, s in zip(self.perms, self.signs)]

    @property
    def max_factors(self) -> int:
        return max(self.factor_counts, default=0)

    def describe(self) -> str:
        if self.kind == "states":
            return f"action on the {self.dim} DFA states (one-hot codes)"
        if self.kind == "signed":
            return (f"faithful signed-permutation representation of dimension {self.dim} (blocks "
                    f"{'+'.join(str(b) for b in self.blocks)}; label codes, one per group element)")
        return f"faithful action on {self.dim} points (label codes, one per group element)"


def choose_action(dfa: DFA, action: np.ndarray | None = None, search: bool = True) -> GroupAction:
    """The action for :func:`compile_group`, the cheapest (fewest factors for the worst letter, then smallest
    dimension; ties keep the earlier) of: the action on the DFA's states, the caller's (when it has fewer points),
    the smallest faithful permutation action found by :func:`small_faithful_action` and the best signed-permutation
    representation found by :func:`~statetrack.constructions.signed.search_signed_representation`.
    Classification reports the sizes of this choice (:mod:`.sizing`)."""
    perms = letter_permutations(dfa)
    if perms is None:
        raise ConstructionNotApplicable(
            "group (Theorem 3) does not apply: some letter does not permute the states of the minimal DFA, "
            "so its transition monoid is not a group")
    if action is not None:
        action = np.asarray(action, dtype=np.int64)
        if action.ndim != 2 or action.shape[0] != dfa.n_symbols:
            raise ConstructionNotApplicable(f"group: the given action must have one permutation per letter "
                                            f"({dfa.n_symbols}); got shape {action.shape}")
        for a, p in enumerate(action):
            if sorted(p.tolist()) != list(range(action.shape[1])):
                raise ConstructionNotApplicable(f"group: the given action of letter {dfa.alphabet[a]!r} "
                                                f"is not a permutation")
    order = group_order(perms)
    best = GroupAction(perms, "states", order)
    if action is not None and action.shape[1] < perms.shape[1]:
        given = GroupAction(action, "faithful", group_order(action))
        if given.order != order:
            raise ConstructionNotApplicable(f"group: the given action generates a group of order {given.order}, "
                                            f"the language's group has order {order}")
        best = given
    if search and order <= MAX_GROUP_CODES:
        small = small_faithful_action(perms, order=order)  # the same search classification uses
        cand = GroupAction(small, "faithful", order)
        if (cand.max_factors, cand.dim) < (best.max_factors, best.dim):
            best = cand
    if search and order <= MAX_REP_ORDER:
        rep = search_signed_representation(perms)
        if rep is not None:
            cand = GroupAction(rep.perm, "signed" if not rep.is_permutation else "faithful", order,
                               None if rep.is_permutation else rep.sign, rep.blocks)
            if (cand.max_factors, cand.dim) < (best.max_factors, best.dim):  # ties keep the earlier
                best = cand
    return best


def _faithful_codes(dfa: DFA, act: GroupAction) -> tuple[np.ndarray, np.ndarray]:
    """Codes (the label vector ``(1, ..., k)`` moved by the group elements, BFS order) and the DFA state of each;
    checks that the code determines the DFA state."""
    perms, signs = act.perms, act.signs
    k = perms.shape[1]
    h0 = tuple(range(1, k + 1))
    index = {h0: 0}
    codes, state = [h0], [dfa.start]
    queue = deque([0])
    while queue:
        c = queue.popleft()
        h = codes[c]
        for a in range(perms.shape[0]):
            t = apply_signed(perms[a], signs[a], h)
            q = int(dfa.delta[state[c], a])
            j = index.get(t)
            if j is None:
                if len(codes) >= MAX_GROUP_CODES:
                    raise ConstructionNotApplicable(f"group: more than {MAX_GROUP_CODES} group elements")
                index[t] = len(codes)
                codes.append(t)
                state.append(q)
                queue.append(len(codes) - 1)
            elif state[j] != q:
                raise ConstructionNotApplicable(
                    "group: the given action is not faithful enough: one code stands for DFA states "
                    f"{dfa.states[state[j]]!r} and {dfa.states[q]!r}")
    return np.array(codes, dtype=np.float64), np.array(state, dtype=np.int64)


def group_size(dfa: DFA, action: np.ndarray | None = None, search: bool = True) -> dict:
    """The size of the model :func:`compile_group` builds for ``dfa`` (minimal): ``{layers, state_size,
    factors_per_token, exact, note}``, from the same :func:`choose_action`."""
    act = choose_action(dfa, action, search)
    return {"layers": 1, "state_size": act.dim, "factors_per_token": act.max_factors, "exact": True,
            "note": f"Theorem 3: {act.describe()}; letter = rank(I - rho(letter)) reflections with integer keys"}


def compile_group(dfa: DFA, action: np.ndarray | None = None, search: bool = True) -> tuple[CompiledModel, dict]:
    """One householder layer for a DFA whose transition monoid is a group (Theorem 3).

    ``dfa`` should be minimal and complete (:func:`minimal_dfa`). ``action`` optionally gives the letters as
    permutations ``[S, k]`` of a faithful action (checked). Returns the model and report extras (``action``,
    ``group_order``, ``factor_counts``).
    """
    act = choose_action(dfa, action, search)
    S, k = act.perms.shape
    F = act.max_factors
    if S * F * k > MAX_KEY_ENTRIES:
        raise ConstructionNotApplicable(
            f"group: the action on {k} points needs keys of {S} x {F} x {k} entries (over {MAX_KEY_ENTRIES}); "
            f"pass a smaller faithful action (e.g. the group's generator permutations) as group_action")
    facs = [signed_factors(p, s) for p, s in zip(act.perms, act.signs)]
    keys = np.zeros((S, F, k))
    betas = np.zeros((S, F))
    for a, f in enumerate(facs):
        keys[a, :f.count] = f.keys
        betas[a, :f.count] = f.betas
    if act.kind == "states":
        h0 = np.zeros(k)
        h0[dfa.start] = 1.0
        codes = np.eye(k)
        state = np.arange(k, dtype=np.int64)
    else:
        codes, state = _faithful_codes(dfa, act)
        h0 = codes[0]
    desc = act.describe()
    layer = {"kind": "householder", "note": f"Theorem 3: {desc}"}
    arrays = {"keys": keys, "betas": betas, "values": np.zeros((S, F)), "h0": h0, "codes": codes,
              "next": np.repeat(state[:, None], S, axis=1)}
    model = build_model(dfa, "group", [(layer, arrays)])
    counts = {dfa.alphabet[a]: c for a, c in enumerate(act.factor_counts)}
    return model, {"action": desc, "group_order": act.order, "factor_counts": counts}


__all__ = ["minimal_dfa", "letter_permutations", "is_group_dfa", "group_order", "block_system", "quotient_action",
           "smaller_faithful_action", "small_faithful_action", "choose_action", "compile_group", "group_size",
           "GroupAction"]
