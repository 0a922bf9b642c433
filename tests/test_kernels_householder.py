"""Householder-product scan: the chunked backend and the dispatcher against the sequential reference.

Every comparison draws fresh random inputs (beta uniform in [0, 2], beta near 2, correlated keys, unnormalised keys,
n_h in {1, 2, 3}, initial states, T not a multiple of the chunk) and measures the relative error
``max|x - ref| / max(max|ref|, 1)`` against the float64 reference. The Triton kernels have their own tests
(tests/test_kernels_triton.py); here only the dispatcher's routing to them is checked.
"""
from __future__ import annotations

import os

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.kernels import KernelInputError, householder_scan
from statetrack.kernels.householder.chunked import householder_scan_chunked
from statetrack.kernels.householder.reference import householder_scan_reference

F64 = torch.float64
TOL = {torch.float64: 1e-11, torch.float32: 2e-5, torch.bfloat16: 3e-2, torch.float16: 5e-3}


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    assert x.shape == ref.shape
    if ref.numel() == 0:
        return 0.0
    return ((x.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1.0)).item()


def make_inputs(B, T, H, K, V, n_h, *, seed, beta="uniform", keys="unit", h0=True, dtype=F64):
    """Random inputs in the kernel layout (float64, then cast to ``dtype``)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, T, H, K, generator=g, dtype=F64)
    k = torch.randn(B, T * n_h, H, K, generator=g, dtype=F64)
    if keys == "correlated":  # nearly parallel keys: the hard case for the triangular solve
        k = torch.randn(1, 1, H, K, generator=g, dtype=F64) + 0.05 * k
    k = torch.nn.functional.normalize(k, dim=-1)
    if keys == "scaled":  # keys of any norm, beta chosen so that beta |k|^2 stays in [0, 2]
        k = k * (0.3 + 1.2 * torch.rand(B, T * n_h, H, 1, generator=g, dtype=F64))
    v = torch.randn(B, T * n_h, H, V, generator=g, dtype=F64)
    u = torch.rand(B, T * n_h, H, generator=g, dtype=F64)
    b = {"uniform": 2 * u, "near2": 2 - 1e-3 * u, "small": 0.1 * u}[beta]
    if keys == "scaled":
        b = b / (k * k).sum(-1)
    s0 = torch.randn(B, H, K, V, generator=g, dtype=F64) if h0 else None
    cast = (lambda x: None if x is None else x.to(dtype))
    return tuple(cast(x) for x in (q, k, v, b, s0))


def run_both(inputs, n_h, chunk_size=16, scale=None):
    q, k, v, b, s0 = inputs
    ref = householder_scan_reference(*(x.double() for x in (q, k, v, b)), num_householder=n_h, scale=scale,
                                     initial_state=None if s0 is None else s0.double(), output_final_state=True)
    out = householder_scan_chunked(q, k, v, b, num_householder=n_h, scale=scale, initial_state=s0,
                                   output_final_state=True, chunk_size=chunk_size)
    return out, ref


@pytest.mark.parametrize("n_h", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("beta,keys", [("uniform", "unit"), ("near2", "unit"), ("uniform", "correlated"),
                                       ("near2", "correlated"), ("uniform", "scaled")])
def test_chunked_matches_reference(n_h, dtype, beta, keys):
    inputs = make_inputs(2, 37, 2, 8, 6, n_h, seed=hash((n_h, beta, keys)) % 2**31, beta=beta, keys=keys,
                         dtype=dtype)
    (o, s), (o_ref, s_ref) = run_both(inputs, n_h, chunk_size=16)  # 37 tokens: not a multiple of the chunk
    assert o.dtype == dtype and s.dtype == dtype
    assert o.shape == o_ref.shape and s.shape == s_ref.shape
    assert rel_err(o, o_ref) < TOL[dtype]
    assert rel_err(s, s_ref) < TOL[dtype]


@pytest.mark.parametrize("chunk_size", [1, 2, 5, 64])
def test_chunk_sizes_and_no_initial_state(chunk_size):
    inputs = make_inputs(1, 23, 3, 5, 7, 2, seed=chunk_size, h0=False)
    (o, s), (o_ref, s_ref) = run_both(inputs, 2, chunk_size=chunk_size, scale=0.7)
    assert rel_err(o, o_ref) < 1e-12 and rel_err(s, s_ref) < 1e-12


def test_float32_long_sequence_default_chunk():
    """float32 at T = 600 over the default chunk (64), beta in [0, 2]: rounding stays at the float32 level."""
    inputs = make_inputs(1, 600, 2, 16, 16, 1, seed=7, dtype=torch.float32)
    q, k, v, b, s0 = inputs
    o, s = householder_scan_chunked(q, k, v, b, initial_state=s0, output_final_state=True)
    o_ref, s_ref = householder_scan_reference(q.double(), k.double(), v.double(), b.double(),
                                              initial_state=s0.double(), output_final_state=True)
    assert rel_err(o, o_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16bit_inputs_accumulate_in_float32(dtype):
    inputs = make_inputs(2, 20, 2, 8, 8, 2, seed=3, dtype=dtype)
    (o, s), (o_ref, s_ref) = run_both(inputs, 2, chunk_size=8)  # reference on the same rounded inputs
    assert o.dtype == dtype and s.dtype == torch.float32
    assert rel_err(o, o_ref) < TOL[dtype] and rel_err(s, s_ref) < 1e-5


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 2), T=st.integers(0, 20), H=st.integers(1, 2), K=st.integers(1, 6), V=st.integers(1, 5),
       n_h=st.integers(1, 3), chunk=st.integers(1, 9), seed=st.integers(0, 2**31 - 1), h0=st.booleans())
def test_chunked_matches_reference_hypothesis(B, T, H, K, V, n_h, chunk, seed, h0):
    inputs = make_inputs(B, T, H, K, V, n_h, seed=seed, h0=h0)
    (o, s), (o_ref, s_ref) = run_both(inputs, n_h, chunk_size=chunk)
    assert o.shape == (B, T, H, V) and torch.isfinite(o).all()
    assert rel_err(o, o_ref) < 1e-11 and rel_err(s, s_ref) < 1e-11


def test_empty_sequence_returns_initial_state():
    q, k, v, b, s0 = make_inputs(2, 0, 2, 4, 3, 2, seed=0)
    o, s = householder_scan_chunked(q, k, v, b, num_householder=2, initial_state=s0, output_final_state=True)
    assert o.shape == (2, 0, 2, 3)
    assert torch.equal(s, s0)


def test_identity_factors_pass_state_through():
    """beta = 0 factors are the identity: the state never changes and o_t = scale * S0^T q_t."""
    q, k, v, b, s0 = make_inputs(1, 9, 2, 4, 3, 2, seed=1)
    o, s = householder_scan_chunked(q, k, v, torch.zeros_like(b), num_householder=2, scale=1.0, initial_state=s0,
                                    output_final_state=True, chunk_size=4)
    assert torch.allclose(s, s0, atol=1e-14)
    assert torch.allclose(o, torch.einsum("bthk,bhkv->bthv", q, s0), atol=1e-13)


# --- exactness on permutations -------------------------------------------------------------------------------

def permutation_inputs(T, n, n_h, seed, dtype=torch.float32):
    """Transposition keys e_i - e_j with beta = 1 (exact reflections), integer values, queries and state."""
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(0, n, (1, T * n_h, 2), generator=g)
    j = (i + torch.randint(1, n, i.shape, generator=g)) % n
    k = (torch.nn.functional.one_hot(i, n) - torch.nn.functional.one_hot(j, n)).to(dtype)
    v = torch.randint(-3, 4, (1, T * n_h, 2, n), generator=g).to(dtype)
    q = torch.randint(-2, 3, (1, T, 2, n), generator=g).to(dtype)
    s0 = torch.randint(-5, 6, (1, 2, n, n), generator=g).to(dtype)
    return q, k, v, torch.ones(1, T * n_h, 2, dtype=dtype), s0


@pytest.mark.parametrize("n,n_h", [(4, 1), (8, 3), (16, 2)])
def test_float32_chunked_is_exact_on_integer_permutations(n, n_h):
    q, k, v, b, s0 = permutation_inputs(300, n, n_h, seed=n)
    o, s = householder_scan_chunked(q, k, v, b, num_householder=n_h, scale=1.0, initial_state=s0,
                                    output_final_state=True)
    o_ref, s_ref = householder_scan_reference(q.double(), k.double(), v.double(), b.double(), num_householder=n_h,
                                              scale=1.0, initial_state=s0.double(), output_final_state=True)
    assert torch.equal(o.double(), o_ref) and torch.equal(s.double(), s_ref)


def test_pure_permutation_moves_labels():
    """With v = 0 a transposition factor swaps two state rows exactly (checked against an explicit permutation)."""
    n, T = 5, 70
    g = torch.Generator().manual_seed(11)
    pairs = [tuple(torch.randperm(n, generator=g)[:2].tolist()) for _ in range(T)]
    k = torch.stack([torch.eye(n)[i] - torch.eye(n)[j] for i, j in pairs])[None, :, None]
    labels = torch.arange(n, dtype=torch.float32)[:, None].repeat(1, 1)
    o, s = householder_scan_chunked(torch.zeros(1, T, 1, n), k, torch.zeros(1, T, 1, 1), torch.ones(1, T, 1),
                                    initial_state=labels[None, None], output_final_state=True, chunk_size=16)
    perm = list(range(n))
    for i, j in pairs:
        perm[i], perm[j] = perm[j], perm[i]
    assert s[0, 0, :, 0].tolist() == [float(p) for p in perm]


# --- gradients -----------------------------------------------------------------------------------------------

def grads(fn, inputs, n_h, chunk_size=None):
    q, k, v, b, s0 = (x.detach().clone().requires_grad_(True) for x in inputs)
    kw = {} if chunk_size is None else {"chunk_size": chunk_size}
    o, s = fn(q, k, v, b, num_householder=n_h, initial_state=s0, output_final_state=True, **kw)
    g = torch.Generator().manual_seed(5)
    wo = torch.randn(o.shape, generator=g, dtype=F64).to(o.dtype)
    ws = torch.randn(s.shape, generator=g, dtype=F64).to(s.dtype)
    loss = (o * wo).sum() + (s * ws).sum()
    return torch.autograd.grad(loss, (q, k, v, b, s0))


@pytest.mark.parametrize("n_h", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_chunked_gradients_match_float64_reference(n_h, dtype):
    inputs = make_inputs(2, 13, 2, 5, 4, n_h, seed=20 + n_h, beta="near2" if n_h == 2 else "uniform")
    ref = grads(householder_scan_reference, inputs, n_h)
    got = grads(householder_scan_chunked, tuple(x.to(dtype) for x in inputs), n_h, chunk_size=4)
    tol = 1e-10 if dtype == F64 else 1e-4
    for name, g, r in zip(("q", "k", "v", "beta", "initial_state"), got, ref):
        assert g.dtype == dtype, name
        assert rel_err(g, r) < tol, name


@settings(max_examples=25, deadline=None)
@given(T=st.integers(1, 40), n_h=st.integers(1, 3), chunk=st.sampled_from([1, 3, 8, 16, 64]),
       seed=st.integers(0, 10_000), h0=st.booleans(), use_final=st.booleans(),
       beta=st.sampled_from(["uniform", "near2"]), keys=st.sampled_from(["unit", "correlated", "scaled"]))
def test_chunked_backward_matches_reference_autograd(T, n_h, chunk, seed, h0, use_final, beta, keys):
    """The hand-written backward against autograd through the float64 reference, fresh inputs each example:
    T not a multiple of the chunk (padding), with and without an initial state, with and without a loss on the
    final state."""
    q, k, v, b, s0 = make_inputs(2, T, 2, 5, 3, n_h, seed=seed, beta=beta, keys=keys, h0=h0)
    g = torch.Generator().manual_seed(seed + 1)
    wo = torch.randn(2, T, 2, 3, generator=g, dtype=F64)
    ws = torch.randn(2, 2, 5, 3, generator=g, dtype=F64)
    results = []
    for fn, kw in ((householder_scan_reference, {}), (householder_scan_chunked, {"chunk_size": chunk})):
        xs = [x.detach().clone().requires_grad_(True) for x in (q, k, v, b, s0) if x is not None]
        o, s = fn(*xs[:4], num_householder=n_h, initial_state=xs[4] if h0 else None, output_final_state=True, **kw)
        loss = (o * wo).sum() + ((s * ws).sum() if use_final else 0.0)
        results.append(torch.autograd.grad(loss, xs))
    for name, got, ref in zip(("q", "k", "v", "beta", "initial_state"), results[1], results[0]):
        assert rel_err(got, ref) < 1e-10, name


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_chunked_backward_16bit_inputs(dtype):
    """16-bit inputs: gradients come back in each input's dtype and agree with the float64 reference's."""
    inputs = make_inputs(1, 20, 2, 8, 8, 2, seed=31)
    ref = grads(householder_scan_reference, inputs, 2)
    got = grads(householder_scan_chunked, tuple(x.to(dtype) for x in inputs), 2, chunk_size=8)
    for name, g, r in zip(("q", "k", "v", "beta", "initial_state"), got, ref):
        assert g.dtype == dtype, name
        assert rel_err(g, r) < 5e-2, name


def test_chunked_gradcheck_float64():
    q, k, v, b, s0 = (x.requires_grad_(True) for x in make_inputs(1, 5, 1, 3, 2, 2, seed=9))

    def f(q, k, v, b, s0):
        return householder_scan_chunked(q, k, v, b, num_householder=2, initial_state=s0, output_final_state=True,
                                        chunk_size=4)

    assert torch.autograd.gradcheck(f, (q, k, v, b, s0))


# --- dispatcher ----------------------------------------------------------------------------------------------

def test_dispatcher_backends_agree():
    q, k, v, b, s0 = make_inputs(1, 30, 2, 6, 5, 2, seed=4, dtype=torch.float32)
    kw = dict(num_householder=2, initial_state=s0, output_final_state=True)
    auto = householder_scan(q, k, v, b, **kw)
    chunked = householder_scan_chunked(q, k, v, b, **kw)
    ref = householder_scan(q, k, v, b, backend="reference", **kw)
    assert torch.equal(auto[0], chunked[0]) and torch.equal(auto[1], chunked[1])  # auto = chunked on a CPU
    assert rel_err(auto[0], ref[0]) < 1e-5
    assert householder_scan(q, k, v, b, num_householder=2)[1] is None


def test_dispatcher_triton_route():
    """backend='triton' reaches the Triton op (through the interpreter on a CPU) and agrees with the reference."""
    pytest.importorskip("triton")
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no GPU and no Triton interpreter")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    q, k, v, b, s0 = (x.to(device) for x in make_inputs(1, 5, 1, 16, 16, 2, seed=8, dtype=torch.float32))
    o, s = householder_scan(q, k, v, b, num_householder=2, initial_state=s0, output_final_state=True,
                            backend="triton")
    o_ref, s_ref = householder_scan(q, k, v, b, num_householder=2, initial_state=s0, output_final_state=True,
                                    backend="reference")
    assert rel_err(o, o_ref) < 1e-4 and rel_err(s, s_ref) < 1e-4


def test_dispatcher_triton_without_gpu_or_interpreter(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("has a GPU")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    q, k, v, b, _ = make_inputs(1, 2, 1, 4, 4, 1, seed=0, dtype=torch.float32)
    with pytest.raises(KernelInputError, match="triton"):
        householder_scan(q, k, v, b, backend="triton")


@pytest.mark.parametrize("change,needle", [
    (lambda a: a.update(backend="fast"), "backend"),
    (lambda a: a.update(q=a["q"][0]), "q must be"),
    (lambda a: a.update(k=a["k"][:, :-1]), "k must be"),
    (lambda a: a.update(v=a["v"][:, :-1]), "v must be"),
    (lambda a: a.update(beta=a["beta"][..., None]), "beta must be"),
    (lambda a: a.update(num_householder=0), "num_householder"),
    (lambda a: a.update(num_householder=2), "num_householder=2"),
    (lambda a: a.update(initial_state=torch.zeros(1, 2, 3)), "initial_state"),
    (lambda a: a.update(q=a["q"].long()), "floating-point"),
    (lambda a: a.update(scale=float("nan")), "scale"),
])
@pytest.mark.parametrize("backend", ["auto", "reference", "chunked"])
def test_bad_inputs_raise_named_errors(change, needle, backend):
    q, k, v, b, _ = make_inputs(1, 4, 2, 3, 2, 1, seed=0, h0=False, dtype=torch.float32)
    args = dict(q=q, k=k, v=v, beta=b, num_householder=1, backend=backend, scale=None, initial_state=None)
    change(args)
    with pytest.raises(KernelInputError, match=needle) as info:
        householder_scan(**args)
    assert isinstance(info.value, ValueError)  # kernels know nothing of statetrack's error classes


# --- the forward in cache-sized groups of chunks ------------------------------------------------------------

@pytest.mark.parametrize("n_h", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_forward_in_small_groups_matches_reference(monkeypatch, n_h, dtype):
    """Groups of one or two chunks (forced small) give the reference's outputs, state and gradients; T is not a
    multiple of the chunk, so the last group is padded."""
    import statetrack.kernels.householder.chunked as chunked

    inputs = make_inputs(2, 101, 2, 8, 6, n_h, seed=70 + n_h, dtype=F64)
    ref_o, ref_s = householder_scan_reference(*inputs[:4], num_householder=n_h, initial_state=inputs[4],
                                              output_final_state=True)
    ref_g = grads(householder_scan_reference, inputs, n_h)
    cast = tuple(x.to(dtype) for x in inputs)
    for group_bytes in (1, 2 * 2 * 48 * 14 * 8):  # one chunk per group; two chunks per group
        monkeypatch.setattr(chunked, "GROUP_BYTES", group_bytes)
        with torch.no_grad():
            o, s = householder_scan_chunked(*cast[:4], num_householder=n_h, initial_state=cast[4],
                                            output_final_state=True, chunk_size=48)
        tol = 1e-11 if dtype == F64 else 2e-5
        assert rel_err(o, ref_o) < tol and rel_err(s, ref_s) < tol
        got = grads(householder_scan_chunked, cast, n_h, chunk_size=48)
        for name, gg, r in zip(("q", "k", "v", "beta", "initial_state"), got, ref_g):
            assert rel_err(gg, r) < (1e-10 if dtype == F64 else 1e-4), name


@pytest.mark.parametrize("n_h", [1, 2, 3])
@pytest.mark.parametrize("chunk_size", [None, 7, 32])
@pytest.mark.parametrize("beta,keys", [("uniform", "unit"), ("near2", "correlated"), ("uniform", "scaled")])
def test_no_gradient_forward_and_gradient_forward_match_reference(n_h, chunk_size, beta, keys):
    """Without a gradient the forward solves for the new values inside the state loop (its own chunk size); with one
    it forms ``[W | U~]`` for the backward. Both give the float64 reference's outputs and state (T not a multiple of
    any chunk, initial state), in float64 tightly and in float32 to rounding, and agree with each other."""
    inputs = make_inputs(2, 77, 2, 12, 10, n_h, seed=300 + 7 * n_h, beta=beta, keys=keys, dtype=F64)
    ref_o, ref_s = householder_scan_reference(*inputs[:4], num_householder=n_h, initial_state=inputs[4],
                                              output_final_state=True)
    for dtype in (F64, torch.float32):
        q, k, v, b, s0 = (x.to(dtype) for x in inputs)
        with torch.no_grad():
            o1, s1 = householder_scan_chunked(q, k, v, b, num_householder=n_h, initial_state=s0,
                                              output_final_state=True, chunk_size=chunk_size)
        o2, s2 = householder_scan_chunked(q.requires_grad_(), k, v, b, num_householder=n_h, initial_state=s0,
                                          output_final_state=True, chunk_size=chunk_size)
        assert not o1.requires_grad and o2.requires_grad
        # the gradient path's solve for [W | U~] on nearly parallel keys at chunk 64 rounds worse in float32
        # (measured up to 3.8e-5; the no-gradient path 1.5e-5)
        tol_grad = TOL[dtype] if dtype == F64 else 1e-4
        assert rel_err(o1, ref_o) < TOL[dtype] and rel_err(s1, ref_s) < TOL[dtype]
        assert rel_err(o2.detach(), ref_o) < tol_grad and rel_err(s2.detach(), ref_s) < tol_grad
        assert rel_err(o1, o2.detach()) < tol_grad and rel_err(s1, s2.detach()) < tol_grad


def test_no_gradient_forward_default_chunk_and_small_groups(monkeypatch):
    """The no-gradient forward at its default chunk (more than one chunk per group, and groups of one chunk) and
    with an input that requires a gradient under ``torch.no_grad`` (no gradient wanted: same path)."""
    import statetrack.kernels.householder.chunked as chunked

    inputs = make_inputs(1, 150, 3, 8, 5, 2, seed=41, dtype=F64)
    ref_o, ref_s = householder_scan_reference(*inputs[:4], num_householder=2, initial_state=inputs[4],
                                              output_final_state=True)
    for group_bytes in (chunked.GROUP_BYTES, 1):
        monkeypatch.setattr(chunked, "GROUP_BYTES", group_bytes)
        with torch.no_grad():
            o, s = householder_scan_chunked(inputs[0].clone().requires_grad_(), *inputs[1:4], num_householder=2,
                                            initial_state=inputs[4], output_final_state=True)
        assert rel_err(o, ref_o) < 1e-11 and rel_err(s, ref_s) < 1e-11


@pytest.mark.parametrize("grad", [False, True])
def test_empty_batch(grad):
    """B = 0 (allowed by the input checks): empty outputs and final state, with and without a gradient."""
    q = torch.randn(0, 5, 2, 4, requires_grad=grad)
    k, v, b = torch.randn(0, 10, 2, 4), torch.randn(0, 10, 2, 3), torch.rand(0, 10, 2)
    o, s = householder_scan_chunked(q, k, v, b, num_householder=2, output_final_state=True)
    assert o.shape == (0, 5, 2, 3) and s.shape == (0, 2, 4, 3)
    if grad:
        (q_grad,) = torch.autograd.grad(o.sum(), q)
        assert q_grad.shape == q.shape
