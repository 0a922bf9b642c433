"""The naive coupling, kept as a counter-example.

Wiring one cascade level per LRNN layer hands level ``j`` the *updated* coordinates ``y_{<j}`` of
the levels above, while the cascade's transition at level ``j`` is defined from their *previous*
coordinates ``x_{<j}``. A stack that treats what it receives as the previous coordinates computes
``y_j = f_j(y_{<j}, s)(x_j)`` instead of ``f_j(x_{<j}, s)(x_j)``. :func:`naive_errors` counts the
words on which that goes wrong, which is what the copy layers of :mod:`.layers` repair.
"""
from __future__ import annotations

import itertools

import numpy as np

from .coordinates import Cascade, cascade_of


def naive_step(cascade: Cascade, x: tuple[int, ...], letter: int) -> tuple[int, ...] | None:
    """One step of the naively wired stack; ``None`` when a level receives a coordinate that is
    not a valid chain (the stack is then already wrong)."""
    y: list[int] = []
    for j in range(cascade.depth):
        try:
            upper_new, _ = cascade.step(tuple(y), letter)  # the levels above, stepped from what layer j sees
            old = new = cascade.top
            for i in range(j):
                old = cascade.descend(old, i, y[i])
                new = cascade.descend(new, i, upper_new[i])
            m = cascade.level_map(j, letter, old, new)
            y.append(cascade.apply_map(m, x[j]))
        except (ValueError, KeyError, AssertionError, StopIteration):
            return None
    return tuple(y)


def naive_errors(delta: np.ndarray, start: int, max_len: int) -> tuple[int, int, tuple[int, ...] | None]:
    """Count the words of length ``1..max_len`` whose final state the naive stack gets wrong.

    Returns ``(wrong, total, shortest wrong word as letter ids or None)``.
    """
    delta = np.asarray(delta)
    cascade = cascade_of(delta)
    x0 = cascade.encode(start)
    wrong = total = 0
    first: tuple[int, ...] | None = None
    for length in range(1, max_len + 1):
        for w in itertools.product(range(delta.shape[1]), repeat=length):
            total += 1
            x: tuple[int, ...] | None = x0
            q = start
            for a in w:
                q = int(delta[q, a])
                x = naive_step(cascade, x, a) if x is not None else None
            ok = False
            if x is not None:
                try:
                    ok = cascade.decode(x) == q
                except (ValueError, KeyError, AssertionError):
                    ok = False
            if not ok:
                wrong += 1
                if first is None:
                    first = w
    return wrong, total, first
