"""GH factorisations (Proposition 1): counts, exact reproduction, eigenvalues, exactness in low precision."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.errors import StatetrackError
from statetrack.constructions.householder import (contraction_factors, cycles, factor_eigenvalues, factors_matrix,
                                                  orthogonal_factors, permutation_factors, permutation_matrix,
                                                  transposition_count)

perms = st.integers(1, 10).flatmap(lambda n: st.permutations(list(range(n))))


def _moved_minus_cycles(p):
    moved = sum(1 for i, x in enumerate(p) if i != x)
    return moved - len(cycles(p))


@settings(max_examples=60)
@given(perms)
def test_permutation_factors_reproduce_exactly_with_minimum_count(p):
    f = permutation_factors(p)
    assert f.count == _moved_minus_cycles(p) == transposition_count(p)
    # integer keys e_i - e_j, beta = 1, eigenvalue -1
    assert np.all(f.keys == np.round(f.keys)) and np.all(np.abs(f.keys).sum(1) == 2) and np.all(f.keys.sum(1) == 0)
    assert np.all(f.betas == 1.0)
    assert np.all(f.eigenvalues == -1.0)
    assert np.array_equal(f.matrix(), permutation_matrix(p).astype(float))


@settings(max_examples=15)
@given(perms)
def test_permutation_factors_are_exact_in_every_dtype(p):
    f = permutation_factors(p)
    n = len(p)
    labels = torch.arange(1, n + 1, dtype=torch.float64)
    want = torch.empty(n, dtype=torch.float64)
    want[torch.tensor(p)] = labels  # (P h)[perm[x]] = h[x]
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        h = labels.to(dt)
        for k, b in zip(torch.as_tensor(f.keys).to(dt), torch.as_tensor(f.betas).to(dt)):
            G = torch.eye(n, dtype=dt) - (b * k)[:, None] * k[None, :]
            h = G @ h
        assert torch.equal(h.to(torch.float64), want), dt


def test_integer_key_beta_one_equals_unit_key_beta_two():
    k = np.array([1.0, -1.0, 0.0])
    a = factors_matrix(k[None], np.array([1.0]))
    b = factors_matrix((k / np.sqrt(2))[None], np.array([2.0]))
    assert np.allclose(a, b, atol=1e-15)
    assert factor_eigenvalues(k[None], np.array([1.0]))[0] == -1.0


def test_identity_and_invalid_permutations():
    assert permutation_factors([0, 1, 2]).count == 0
    with pytest.raises(StatetrackError):
        permutation_factors([0, 0, 1])


@settings(max_examples=40)
@given(st.integers(1, 7), st.integers(0, 2 ** 31 - 1))
def test_orthogonal_factors(n, seed):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    f = orthogonal_factors(Q)
    assert f.count <= n
    assert np.allclose(f.matrix(), Q, atol=1e-10)
    assert np.allclose(np.linalg.norm(f.keys, axis=1), 1.0) and np.all(f.betas == 2.0)
    assert np.allclose(f.eigenvalues, -1.0)


@settings(max_examples=40)
@given(st.integers(1, 7), st.integers(0, 2 ** 31 - 1), st.floats(0.0, 1.0))
def test_contraction_factors(n, seed, scale):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    M = M / np.linalg.norm(M, 2) * scale
    f = contraction_factors(M)
    assert f.count <= 3 * n
    assert np.allclose(f.matrix(), M, atol=1e-9)
    assert np.all((f.betas >= 0) & (f.betas <= 2))
    ev = f.eigenvalues
    assert np.all((ev >= -1 - 1e-12) & (ev <= 1 + 1e-12))


def test_contraction_rejects_norm_above_one():
    with pytest.raises(StatetrackError, match="exceeds 1"):
        contraction_factors(np.diag([1.5, 0.2]))
    with pytest.raises(StatetrackError, match="not orthogonal"):
        orthogonal_factors(np.diag([1.0, 0.5]))
