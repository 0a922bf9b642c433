"""Counting mod m (Theorem 3 for cyclic groups; Theorem 2 says a non-real eigenvalue is needed): a 2x2 rotation.

Applies when the letters of the minimal DFA generate a cyclic group acting regularly on its ``m`` states: the states
are ``q_j = g^j . start`` for a generator ``g`` and letter ``a`` acts as ``g^{r_a}``. The state is a point of the unit
circle, ``h0 = (1, 0)`` and code ``j`` is ``(cos 2 pi j/m, sin 2 pi j/m)`` (state ``q_j``). Letter ``a`` rotates by
``2 pi r_a / m`` as two reflections (``beta = 2``, unit keys): ``k_1 = (1, 0)`` then
``k_2 = (cos pi r_a/m, sin pi r_a/m)``, since ``(I - 2 k_2 k_2^T)(I - 2 k_1 k_1^T)`` is the rotation by twice the
angle from ``k_1`` to ``k_2``. Letters with ``r_a = 0`` get identity factors.

The entries are irrational: a float run drifts (nearest-code decoding absorbs it while the drift stays below the
decoding margin ``sin(pi/m)``). The layer's ``exact`` metadata gives every key and code as ``["cos", p, q]`` /
``["sin", p, q]`` (meaning ``cos(p pi/q)``), which the exact verifier evaluates in the cyclotomic field.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from statetrack.automata.dfa import DFA

from .group import letter_permutations
from .model_format import CompiledModel, ConstructionNotApplicable, build_model


def _perm_power(p: np.ndarray, k: int) -> np.ndarray:
    """``p^k`` by repeated squaring (``(p q)[x] = p[q[x]]``)."""
    out = np.arange(p.size)
    base = p.copy()
    while k:
        if k & 1:
            out = base[out]
        base = base[base]
        k >>= 1
    return out


def _cycle_order(p: np.ndarray) -> int:
    """The order of a permutation: the lcm of its cycle lengths."""
    seen = np.zeros(p.size, dtype=bool)
    order = 1
    for x in range(p.size):
        if not seen[x]:
            length, y = 0, x
            while not seen[y]:
                seen[y] = True
                y = int(p[y])
                length += 1
            order = order * length // math.gcd(order, length)
    return order


def _prime_powers(m: int) -> list[int]:
    out, p = [], 2
    while p * p <= m:
        if m % p == 0:
            q = 1
            while m % p == 0:
                m //= p
                q *= p
            out.append(q)
        p += 1
    if m > 1:
        out.append(m)
    return out


def cyclic_structure(dfa: DFA) -> tuple[list[int], list[int]] | None:
    """``(order, shifts)`` when the letters act as powers of one m-cycle ``g`` on the states (m = number of states):
    ``order[j]`` is the state ``g^j . start`` and letter ``a`` acts as ``g^{shifts[a]}``. None otherwise.

    A candidate ``g`` of order m is assembled prime power by prime power from powers of the letters (as in a cyclic
    group, by the Chinese remainder theorem); the final check that every letter is a power of ``g`` on a single
    m-cycle decides. Cost ``O(m (S + log m))``.
    """
    perms = letter_permutations(dfa)
    m = dfa.n_states
    if perms is None or m < 2:  # one state: nothing to count
        return None
    orders = [_cycle_order(p) for p in perms]
    full = [a for a, o in enumerate(orders) if o == m]
    g = perms[full[0]] if full else np.arange(m)  # a letter of order m is itself a generator (shift 1)
    for q in ([] if full else _prime_powers(m)):
        a = next((a for a, o in enumerate(orders) if o % q == 0), None)
        if a is None:
            return None
        g = _perm_power(perms[a], orders[a] // q)[g]
    order = [dfa.start]
    for _ in range(m - 1):
        order.append(int(g[order[-1]]))
    if len(set(order)) != m:
        return None
    pos = np.empty(m, dtype=np.int64)
    pos[order] = np.arange(m)
    idx = np.arange(m)
    shifts = []
    for p in perms:
        r = int(pos[p[dfa.start]])
        if not np.array_equal(pos[p[order]], (idx + r) % m):
            return None
        shifts.append(r)
    return order, shifts


def trig(kind: str, p: int, q: int) -> float:
    """``cos(p pi / q)`` or ``sin(p pi / q)`` as float64; the values 0, 1, -1 are returned exactly."""
    x = Fraction(p, q) % 2
    if kind == "cos":
        special = {Fraction(0): 1.0, Fraction(1): -1.0, Fraction(1, 2): 0.0, Fraction(3, 2): 0.0}
        return special.get(x, math.cos(math.pi * x))
    if kind == "sin":
        special = {Fraction(0): 0.0, Fraction(1): 0.0, Fraction(1, 2): 1.0, Fraction(3, 2): -1.0}
        return special.get(x, math.sin(math.pi * x))
    raise ValueError(f"unknown trigonometric function {kind!r}")


def circle_codes(m: int) -> tuple[np.ndarray, list]:
    """The ``m`` codes ``(cos 2 pi j/m, sin 2 pi j/m)`` as float64 ``[m, 2]`` and as exact entries."""
    exact = [[["cos", 2 * j, m], ["sin", 2 * j, m]] for j in range(m)]
    return np.array([[trig(*e) for e in row] for row in exact]), exact


def _structure(dfa: DFA) -> tuple[list[int], list[int]]:
    cyc = cyclic_structure(dfa)
    if cyc is None:
        raise ConstructionNotApplicable(
            "rotation does not apply: the letters of the minimal DFA do not act as powers of one cycle through "
            "all its states (the language is not a Z_m counter)")
    return cyc


def rotation_size(dfa: DFA) -> dict:
    """The size of the model :func:`compile_rotation` builds (``dfa`` minimal): ``{layers, state_size,
    factors_per_token, exact, note}``; raises ConstructionNotApplicable like it."""
    _, shifts = _structure(dfa)
    return {"layers": 1, "state_size": 2, "factors_per_token": 2 if any(shifts) else 0, "exact": False,
            "note": f"a 2x2 rotation by 2 pi r/{dfa.n_states} as two reflections (irrational entries)"}


def compile_rotation(dfa: DFA) -> tuple[CompiledModel, dict]:
    """One 2-dimensional householder layer (two reflections per letter) for a cyclic group DFA."""
    order, shifts = _structure(dfa)
    m, S = dfa.n_states, dfa.n_symbols
    keys = np.zeros((S, 2, 2))
    betas = np.zeros((S, 2))
    exact_keys = []
    for a, r in enumerate(shifts):
        if r == 0:
            exact_keys.append([[0, 0], [0, 0]])
            continue
        e = [[1, 0], [["cos", r, m], ["sin", r, m]]]
        exact_keys.append(e)
        keys[a] = [[1.0, 0.0], [trig("cos", r, m), trig("sin", r, m)]]
        betas[a] = 2.0
    codes, exact_codes = circle_codes(m)
    state = np.array(order, dtype=np.int64)
    arrays = {"keys": keys, "betas": betas, "values": np.zeros((S, 2)), "h0": np.array([1.0, 0.0]),
              "codes": codes, "next": np.repeat(state[:, None], S, axis=1)}
    layer = {"kind": "householder", "note": f"rotation by 2 pi r/{m}: two reflections per letter",
             "exact": {"keys": exact_keys, "codes": exact_codes, "h0": [1, 0]}}
    model = build_model(dfa, "rotation", [(layer, arrays)])
    return model, {"modulus": m, "shifts": {dfa.alphabet[a]: r for a, r in enumerate(shifts)},
                   "decoding_margin": float(np.sin(np.pi / m)) if m > 1 else 1.0}


__all__ = ["cyclic_structure", "circle_codes", "compile_rotation", "rotation_size", "trig"]
