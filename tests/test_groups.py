"""Maximal subgroups and group analysis (names, solvability, simplicity)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from sympy.combinatorics import Permutation, PermutationGroup
from sympy.combinatorics.named_groups import (
    AbelianGroup,
    AlternatingGroup,
    CyclicGroup,
    DihedralGroup,
    SymmetricGroup,
)

from statetrack.automata.groups import distinct_groups, group_info, restrict_to_image
from statetrack.automata.monoid import closure, syntactic_monoid
try:  # shared hand-built languages (tests/ may or may not be a package)
    from test_monoid import a5, full_transformation_generators, generator_sets, s3, s5, tomita
except ImportError:  # pragma: no cover
    from tests.test_monoid import a5, full_transformation_generators, generator_sets, s3, s5, tomita


def _names(dfa) -> list[str]:
    return [s.info.name for s in distinct_groups(syntactic_monoid(dfa).maximal_subgroups())]


def test_tomita_groups():
    assert _names(tomita(3)) == ["Z2"]
    assert _names(tomita(5)) == ["Z2xZ2"]
    assert _names(tomita(6)) == ["Z3"]
    for i in (1, 2, 4, 7):
        assert _names(tomita(i)) == []


def test_s5_word_problem_is_not_solvable():
    subs = syntactic_monoid(s5()).maximal_subgroups()
    assert len(subs) == 1
    info = subs[0].info
    assert (info.order, info.name, info.solvable, info.perfect, info.simple) == (120, "S5", False, False, False)
    assert len(subs[0].points) == 120


def test_a5_is_perfect_and_simple():
    info = syntactic_monoid(a5()).maximal_subgroups()[0].info
    assert (info.order, info.name, info.perfect, info.simple, info.solvable) == (60, "A5", True, True, False)


def test_s3():
    info = syntactic_monoid(s3()).maximal_subgroups()[0].info
    assert (info.name, info.order, info.abelian, info.solvable) == ("S3", 6, False, True)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_full_transformation_monoid_has_every_symmetric_group(n):
    subs = closure(full_transformation_generators(n)).maximal_subgroups()
    orders = sorted(s.order for s in subs)
    assert orders == [1, 2, 6, 24, 120][:n]
    assert subs[0].info.name == f"S{n}"  # the group of units


@settings(max_examples=40)
@given(generator_sets(max_n=5, max_k=3))
def test_maximal_subgroups_are_the_idempotent_h_classes(gens):
    m = closure(gens)
    g = m.green()
    subs = m.maximal_subgroups()
    assert [s.d_class for s in subs] == np.flatnonzero(g.regular_d()).tolist()
    for s in subs:
        e = m.elements[s.idempotent]
        assert (e[e] == e).all()
        perms = restrict_to_image(m.elements[s.members], np.array(s.points))
        brute = {tuple(p) for p in perms.tolist()}
        assert len(brute) == s.members.size == s.order
        assert {tuple(p.array_form) for p in s.group.generate()} == brute


def _quaternion_group() -> PermutationGroup:
    """Left-regular action of Q8 on its 8 elements (id = basis index + 4 if negative; basis 1, i, j, k)."""
    basis = [[(1, 0), (1, 1), (1, 2), (1, 3)],
             [(1, 1), (-1, 0), (1, 3), (-1, 2)],
             [(1, 2), (-1, 3), (-1, 0), (1, 1)],
             [(1, 3), (1, 2), (-1, 1), (-1, 0)]]

    def mul(x: int, y: int) -> int:
        sign, idx = basis[x % 4][y % 4]
        sign *= (-1) ** (x // 4 + y // 4)
        return idx + (4 if sign < 0 else 0)

    return PermutationGroup([Permutation([mul(g, x) for x in range(8)]) for g in (1, 2)])


@pytest.mark.parametrize("group,name", [
    (CyclicGroup(6), "Z6"), (AbelianGroup(2, 2), "Z2xZ2"), (AbelianGroup(2, 4), "Z2xZ4"),
    (AbelianGroup(2, 6), "Z2xZ6"), (SymmetricGroup(3), "S3"), (DihedralGroup(4), "D4"),
    (DihedralGroup(5), "D5"), (DihedralGroup(6), "D6"), (AlternatingGroup(4), "A4"), (SymmetricGroup(4), "S4"),
    (AlternatingGroup(5), "A5"), (SymmetricGroup(5), "S5"), (SymmetricGroup(7), "S7"), (AlternatingGroup(6), "A6"),
])
def test_group_names(group, name):
    info = group_info(PermutationGroup(group.generators))
    assert info.name == name
    assert info.order == group.order()


def test_quaternion_and_regular_s3():
    q8 = _quaternion_group()
    assert q8.order() == 8
    info = group_info(q8)
    assert (info.name, info.abelian, info.solvable) == ("Q8", False, True)
    # S3 acting regularly on 6 points is still named S3
    regular = PermutationGroup([Permutation([1, 0, 3, 2, 5, 4]), Permutation([2, 4, 0, 5, 1, 3])])
    assert regular.order() == 6 and group_info(regular).name == "S3"


def test_simplicity_and_cyclicity():
    assert group_info(CyclicGroup(5)).simple is True
    assert group_info(CyclicGroup(6)).simple is False and group_info(CyclicGroup(6)).cyclic
    assert group_info(AbelianGroup(2, 2)).cyclic is False
    assert group_info(AlternatingGroup(4)).simple is False
    assert group_info(SymmetricGroup(5)).simple is False
    assert group_info(PermutationGroup([Permutation(list(range(3)))])).name == "1"


def test_symmetric_and_alternating_solvability_is_fast():
    start = time.perf_counter()
    for n in range(2, 11):
        for G, solvable in ((SymmetricGroup(n), n <= 4), (AlternatingGroup(n), n <= 4)):
            info = group_info(PermutationGroup(G.generators))
            assert info.solvable is solvable
    assert time.perf_counter() - start < 10  # generous bound for a loaded CI machine; typically < 1 s
