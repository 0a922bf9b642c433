"""Green's relations: the image/kernel orbit method against SCCs of the full Cayley graphs."""
from __future__ import annotations

from math import comb

import numpy as np
import pytest
from hypothesis import given, settings

from statetrack.automata.green import (
    connected_components,
    egg_box_dot,
    green_reference,
    green_structure,
    strongly_connected,
)
from statetrack.automata.monoid import closure, syntactic_monoid
try:  # shared hand-built languages (tests/ may or may not be a package)
    from test_monoid import flipflop, full_transformation_generators, generator_sets, tomita
except ImportError:  # pragma: no cover
    from tests.test_monoid import flipflop, full_transformation_generators, generator_sets, tomita


def _stirling2(n: int, k: int) -> int:
    if n == k:
        return 1
    if k == 0 or k > n:
        return 0
    return k * _stirling2(n - 1, k) + _stirling2(n - 1, k - 1)


@settings(max_examples=80)
@given(generator_sets(max_n=5, max_k=3))
def test_green_matches_reference_on_random_monoids(gens):
    m = closure(gens)
    fast, ref = green_structure(m), green_reference(m)
    assert fast.same_partition(ref)
    # H = R ∩ L and D ⊇ R, L
    for i in range(m.size):
        assert (fast.h == fast.h[i]).tolist() == ((fast.r == fast.r[i]) & (fast.l == fast.l[i])).tolist()
    assert all(len(set(fast.d[fast.r == c].tolist())) == 1 for c in range(fast.n_r))


@pytest.mark.parametrize("n", [3, 4, 5])
def test_full_transformation_monoid_green_counts(n):
    m = closure(full_transformation_generators(n))
    g = m.green()
    assert g.n_d == n  # one D-class per rank
    assert g.n_r == sum(_stirling2(n, k) for k in range(1, n + 1))  # kernels: Bell(n)
    assert g.n_l == 2 ** n - 1  # images: non-empty subsets
    assert g.n_h == sum(_stirling2(n, k) * comb(n, k) for k in range(1, n + 1))
    assert g.regular_d().all()
    assert g.same_partition(green_reference(m))


def test_non_regular_d_class_and_aperiodicity():
    g = syntactic_monoid(tomita(3)).green()
    assert not g.is_aperiodic()
    assert not g.regular_d().all()  # Tomita 3 has a D-class without idempotents
    for i in (1, 2, 4, 7):
        assert syntactic_monoid(tomita(i)).green().is_aperiodic()
    assert syntactic_monoid(flipflop()).is_aperiodic()


def test_d_summary_sizes_multiply():
    m = closure(full_transformation_generators(4))
    g = m.green()
    total = 0
    for dc in range(g.n_d):
        s = g.d_summary(dc)
        assert s["size"] == s["r_classes"] * s["l_classes"] * s["h_size"]
        total += s["size"]
    assert total == m.size


def test_scc_and_components_helpers():
    # two cycles joined by a one-way edge, plus an isolated node
    src = np.array([0, 1, 2, 3, 4, 2])
    dst = np.array([1, 2, 0, 4, 3, 3])
    lab = strongly_connected(6, src, dst)
    assert lab[0] == lab[1] == lab[2] and lab[3] == lab[4] and len(set(lab.tolist())) == 3
    cc = connected_components(6, np.array([0, 3, 4]), np.array([1, 4, 5]))
    assert cc.tolist() == [0, 0, 2, 3, 3, 3]


def test_egg_box_dot():
    m = closure(full_transformation_generators(3), alphabet=("c", "t", "k"))
    dot = egg_box_dot(m)
    assert dot.startswith('digraph "monoid" {') and dot.rstrip().endswith("}")
    assert all(f"  D{d} [label=<" in dot for d in range(3))
    assert "D0 -> D1;" in dot and "D1 -> D2;" in dot and "D0 -> D2;" not in dot  # covering relation only
    assert "*1<" in dot  # the identity's H-class is a group
    small = egg_box_dot(m, max_cells=2)
    assert "size 18" in small  # the rank-2 D-class (3 R x 3 L x |H| 2) drawn as a summary
