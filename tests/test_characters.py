"""The fewest reflections of a faithful real representation, from character tables (automata/characters.py)."""
from __future__ import annotations

import numpy as np
import pytest

from statetrack.automata.catalog import get_language
from statetrack.automata.characters import least_reflections
from statetrack.automata.dfa import DFA
from statetrack.constructions.auto import size_of
from statetrack.constructions.group import minimal_dfa
from statetrack.constructions.sizing import classify_language


@pytest.mark.parametrize("lang, factors, dim", [
    ("group:Q8", 4, 4),      # the only faithful irreducible is the 4-dim quaternion representation
    ("group:S5", 4, 4),      # a 5-cycle moves every vector of the standard representation
    ("group:A5", 2, 3),      # rotations of the icosahedron (irrational), 2 reflections per rotation
    ("group:S4", 2, 3),
    ("mod:5", 2, 2),         # a rotation by 2 pi / 5
    ("tomita:5", 1, 2),      # Z2 x Z2: two sign flips
    ("parity", 1, 1),
])
def test_known_groups(lang, factors, dim):
    d = minimal_dfa(get_language(lang))
    b = least_reflections(np.asarray(d.delta).T)
    assert b is not None and (b.factors, b.dimension) == (factors, dim)


def test_bound_never_exceeds_the_built_group_layer_and_respects_periods():
    rng = np.random.default_rng(11)
    seen = 0
    for _ in range(12):
        n = int(rng.integers(3, 6))
        perms = np.stack([rng.permutation(n) for _ in range(2)], axis=1)
        d = minimal_dfa(DFA("ab", None, 0, rng.random(n) < 0.5, perms))
        if d.n_states < 2:
            continue
        b = least_reflections(np.asarray(d.delta).T)
        assert b is not None
        built = size_of("group", d)["factors_per_token"]
        assert b.factors <= built  # the built layer is itself a faithful orthogonal representation
        for a in range(2):  # an orthogonal matrix of order >= 3 has a non-real eigenvalue pair: rank >= 2
            p, order = np.asarray(d.delta)[:, a], 1
            q = p.copy()
            while not (q == np.arange(d.n_states)).all():
                q, order = p[q], order + 1
            assert b.per_letter[a] >= (0 if order == 1 else 1 if order == 2 else 2)
        seen += 1
    assert seen >= 6


def test_classify_marks_optimal_among_representations():
    c = classify_language(get_language("group:Q8")).families["deltaproduct[-1,1]"]["construction"]
    assert c["lower_bound"]["representations"]["factors_per_token"] == 4
    assert c["optimal_among_representations"] is True and c["factors_per_token"] == 4


def test_groups_over_the_order_limit_give_no_bound():
    perms = np.array([[1, 2, 3, 4, 5, 6, 0], [1, 0, 2, 3, 4, 5, 6]])  # S7, order 5040
    assert least_reflections(perms) is None
