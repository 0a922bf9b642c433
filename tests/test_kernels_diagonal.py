"""Sign-aware diagonal scan: the chunked backend and the dispatcher against the sequential reference.

Gates are drawn in [-1, 1] with exact zeros (resets), exact +-1 and tiny magnitudes mixed in, so both the
factorised path and the exact span-product fallback of the chunked form are exercised.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from statetrack.kernels import KernelInputError, diagonal_scan
from statetrack.kernels.diagonal.chunked import diagonal_scan_chunked, span_products
from statetrack.kernels.diagonal.reference import diagonal_scan_reference

F64 = torch.float64


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    assert x.shape == ref.shape
    if ref.numel() == 0:
        return 0.0
    return ((x.double() - ref.double()).abs().max() / ref.double().abs().max().clamp_min(1.0)).item()


def make_inputs(B, T, H, K, V, *, seed, gates="mixed", h0=True, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    q, k = (torch.randn(B, T, H, K, generator=g, dtype=F64) for _ in range(2))
    v = torch.randn(B, T, H, V, generator=g, dtype=F64)
    a = 2 * torch.rand(B, T, H, K, generator=g, dtype=F64) - 1
    if gates == "mixed":  # exact zeros, exact +-1 and tiny gates beside ordinary ones
        u = torch.rand(a.shape, generator=g, dtype=F64)
        a = torch.where(u < 0.05, torch.zeros_like(a), a)
        a = torch.where((u >= 0.05) & (u < 0.15), torch.sign(a), a)
        a = torch.where((u >= 0.15) & (u < 0.18), 1e-120 * a, a)
    elif gates == "negative":
        a = -a.abs()
    elif gates == "near_one":
        a = torch.sign(a) * (1 - 1e-3 * a.abs())
    s0 = torch.randn(B, H, K, V, generator=g, dtype=F64) if h0 else None
    return tuple(None if x is None else x.to(dtype) for x in (q, k, v, a, s0))


def run_both(inputs, **kw):
    q, k, v, a, s0 = inputs
    ref = diagonal_scan_reference(*(x.double() for x in (q, k, v, a)),
                                  initial_state=None if s0 is None else s0.double(), output_final_state=True,
                                  scale=kw.get("scale"))
    out = diagonal_scan_chunked(q, k, v, a, initial_state=s0, output_final_state=True, **kw)
    return out, ref


def test_span_products_brute_force():
    x = torch.tensor([[0.5], [-2.0], [0.0], [3.0]], dtype=F64)
    R = span_products(x)
    for i in range(5):
        for j in range(5):
            expect = torch.prod(x[i:j, 0]) if j > i else torch.tensor(1.0, dtype=F64)
            assert R[i, j, 0].item() == expect.item()


@pytest.mark.parametrize("gates", ["mixed", "uniform", "negative", "near_one"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("chunk_size", [1, 7, 32])
def test_chunked_matches_reference(gates, dtype, tol, chunk_size):
    inputs = make_inputs(2, 45, 2, 6, 5, seed=hash((gates, chunk_size)) % 2**31, gates=gates, dtype=dtype)
    (o, s), (o_ref, s_ref) = run_both(inputs, chunk_size=chunk_size)
    assert o.dtype == dtype and s.dtype == dtype
    assert rel_err(o, o_ref) < tol and rel_err(s, s_ref) < tol


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_16bit_inputs(dtype):
    inputs = make_inputs(1, 40, 2, 8, 8, seed=2, dtype=dtype)
    (o, s), (o_ref, s_ref) = run_both(inputs)
    assert o.dtype == dtype and s.dtype == torch.float32
    assert rel_err(o, o_ref) < 3e-2 and rel_err(s, s_ref) < 1e-5


@settings(max_examples=25, deadline=None)
@given(B=st.integers(1, 2), T=st.integers(0, 40), H=st.integers(1, 2), K=st.integers(1, 5), V=st.integers(1, 4),
       chunk=st.integers(1, 12), seed=st.integers(0, 2**31 - 1), h0=st.booleans(),
       gates=st.sampled_from(["mixed", "uniform", "negative"]))
def test_chunked_matches_reference_hypothesis(B, T, H, K, V, chunk, seed, h0, gates):
    inputs = make_inputs(B, T, H, K, V, seed=seed, gates=gates, h0=h0)
    (o, s), (o_ref, s_ref) = run_both(inputs, chunk_size=chunk)
    assert o.shape == (B, T, H, V) and torch.isfinite(o).all()
    assert rel_err(o, o_ref) < 1e-12 and rel_err(s, s_ref) < 1e-12


@pytest.mark.parametrize("chunk_size", [4, 32])
def test_sign_flips_are_exact(chunk_size):
    """a = -1 everywhere with integer inputs: float32 matches float64 bit for bit, and the state alternates."""
    g = torch.Generator().manual_seed(0)
    T = 101
    q, k = (torch.randint(-2, 3, (1, T, 1, 3), generator=g).float() for _ in range(2))
    v = torch.randint(-2, 3, (1, T, 1, 2), generator=g).float()
    a = -torch.ones(1, T, 1, 3)
    o, s = diagonal_scan_chunked(q, k, v, a, scale=1.0, output_final_state=True, chunk_size=chunk_size)
    o_ref, s_ref = diagonal_scan_reference(q.double(), k.double(), v.double(), a.double(), scale=1.0,
                                           output_final_state=True)
    assert torch.equal(o.double(), o_ref) and torch.equal(s.double(), s_ref)
    # only the sign of the past survives: S_T = sum_t (-1)^(T-1-t) k_t v_t^T
    signs = (-1.0) ** torch.arange(T - 1, -1, -1)
    expect = torch.einsum("t,tk,tv->kv", signs, k[0, :, 0], v[0, :, 0])
    assert torch.equal(s[0, 0], expect)


@pytest.mark.parametrize("chunk_size", [5, 32])
def test_zero_gate_resets_exactly(chunk_size):
    """After a = 0 at step r (all channels), outputs equal a fresh scan started at r: the past contributes exactly
    nothing (a 1e30 initial state would show through any leak)."""
    q, k, v, a, s0 = make_inputs(1, 50, 2, 4, 3, seed=5, gates="uniform")
    r = 23
    a = a.clone()
    a[:, r] = 0.0
    o, s = diagonal_scan_chunked(q, k, v, a, initial_state=s0, output_final_state=True, chunk_size=chunk_size)
    o2, s2 = diagonal_scan_chunked(q[:, r:], k[:, r:], v[:, r:], a[:, r:], output_final_state=True,
                                   chunk_size=chunk_size)
    assert torch.allclose(o[:, r:], o2, atol=1e-13)
    assert torch.allclose(s, s2, atol=1e-13)
    # the zero's own channel forgets even an enormous initial state
    big = s0 * 1e30
    o3, _ = diagonal_scan_chunked(q, k, v, a, initial_state=big, chunk_size=chunk_size)
    assert torch.allclose(o3[:, r:], o2, atol=1e-13)


def test_reset_in_one_channel_only():
    q, k, v, a, s0 = make_inputs(1, 20, 1, 3, 2, seed=6, gates="uniform")
    a = a.clone()
    a[0, 9, 0, 1] = 0.0  # channel 1 resets at step 9
    (o, s), (o_ref, s_ref) = run_both((q, k, v, a, s0), chunk_size=16)
    assert rel_err(o, o_ref) < 1e-13 and rel_err(s, s_ref) < 1e-13


def grads(fn, inputs, **kw):
    q, k, v, a, s0 = (x.detach().clone().requires_grad_(True) for x in inputs)
    o, s = fn(q, k, v, a, initial_state=s0, output_final_state=True, **kw)
    g = torch.Generator().manual_seed(1)
    loss = (o * torch.randn(o.shape, generator=g, dtype=F64).to(o.dtype)).sum() \
        + (s * torch.randn(s.shape, generator=g, dtype=F64).to(s.dtype)).sum()
    return torch.autograd.grad(loss, (q, k, v, a, s0))


@pytest.mark.parametrize("gates", ["mixed", "uniform"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-11), (torch.float32, 1e-4)])
def test_chunked_gradients_match_float64_reference(gates, dtype, tol):
    """Including the gradient with respect to gates that are exactly zero (the fallback path)."""
    inputs = make_inputs(2, 19, 2, 4, 3, seed=31, gates=gates)
    ref = grads(diagonal_scan_reference, inputs)
    got = grads(diagonal_scan_chunked, tuple(x.to(dtype) for x in inputs), chunk_size=6)
    for name, g, r in zip(("q", "k", "v", "a", "initial_state"), got, ref):
        assert g.dtype == dtype, name
        assert torch.isfinite(g).all(), name
        assert rel_err(g, r) < tol, name


def test_chunked_gradcheck_float64():
    q, k, v, a, s0 = make_inputs(1, 7, 1, 2, 2, seed=4, gates="mixed")
    a = a.clone()
    a[0, 3, 0, 0] = 0.0
    args = tuple(x.requires_grad_(True) for x in (q, k, v, a, s0))

    def f(q, k, v, a, s0):
        return diagonal_scan_chunked(q, k, v, a, initial_state=s0, output_final_state=True, chunk_size=3)

    assert torch.autograd.gradcheck(f, args)


def test_dispatcher():
    q, k, v, a, s0 = make_inputs(1, 30, 2, 4, 3, seed=8, dtype=torch.float32)
    auto = diagonal_scan(q, k, v, a, initial_state=s0, output_final_state=True)
    chunked = diagonal_scan_chunked(q, k, v, a, initial_state=s0, output_final_state=True)
    ref = diagonal_scan(q, k, v, a, initial_state=s0, output_final_state=True, backend="reference")
    assert torch.equal(auto[0], chunked[0]) and torch.equal(auto[1], chunked[1])
    assert rel_err(auto[0], ref[0]) < 1e-5
    assert diagonal_scan(q, k, v, a)[1] is None


@pytest.mark.parametrize("change,needle", [
    (lambda d: d.update(backend="triton"), "backend"),
    (lambda d: d.update(a=d["a"][..., :-1]), "a must be"),
    (lambda d: d.update(k=d["k"][:, :-1]), "k must be"),
    (lambda d: d.update(v=d["v"][:, :-1]), "v must be"),
    (lambda d: d.update(initial_state=torch.zeros(1, 2, 3, 3)), "initial_state"),
    (lambda d: d.update(a=d["a"].int()), "floating-point"),
])
def test_bad_inputs_raise_named_errors(change, needle):
    q, k, v, a, _ = make_inputs(1, 4, 2, 3, 2, seed=0, h0=False, dtype=torch.float32)
    args = dict(q=q, k=k, v=v, a=a, backend="auto")
    change(args)
    with pytest.raises(KernelInputError, match=needle):
        diagonal_scan(**args)


def test_small_gates_give_finite_gradients_matching_the_reference():
    """Gates of size ~1e-4 over a chunk drive the running product to ~1e-250: the factorised backward would divide by
    its square (inf, then NaN); such chunks must take the exact span-product path."""
    torch.manual_seed(0)
    B, T, H, K, V = 2, 200, 2, 4, 4
    q, k, v = (torch.randn(B, T, H, d, dtype=torch.float64, requires_grad=True) for d in (K, K, V))
    sign = torch.where(torch.rand(B, T, H, K) < 0.5, -1.0, 1.0).double()
    a = ((torch.rand(B, T, H, K, dtype=torch.float64) * 2e-4 + 5e-5) * sign).requires_grad_(True)
    grads = []
    for backend in ("chunked", "reference"):
        o, _ = diagonal_scan(q, k, v, a, backend=backend)
        grads.append(torch.autograd.grad(o.square().sum(), (q, k, v, a)))
    for g_chunked, g_ref in zip(*grads):
        assert torch.isfinite(g_chunked).all()
        torch.testing.assert_close(g_chunked, g_ref, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("gates", ["mixed", "uniform", "negative", "near_one"])
@pytest.mark.parametrize("group_bytes", [1, 1 << 20])
def test_float32_forward_without_gradient_matches_reference(monkeypatch, gates, group_bytes):
    """float32 without gradients takes the grouped forward (groups of one chunk when forced): outputs and final state
    match the float64 reference and the autograd path; zeros, exact +-1 and tiny gates included; T is not a multiple
    of the chunk (padded steps must keep the state)."""
    import statetrack.kernels.diagonal.chunked as chunked

    monkeypatch.setattr(chunked, "GROUP_BYTES", group_bytes)
    inputs = make_inputs(2, 45, 3, 6, 5, seed=hash(gates) % 1000, gates=gates)
    ref_o, ref_s = diagonal_scan_reference(*inputs[:4], initial_state=inputs[4], output_final_state=True)
    x32 = tuple(x.float() for x in inputs)
    with torch.no_grad():
        o, s = diagonal_scan_chunked(*x32[:4], initial_state=x32[4], output_final_state=True, chunk_size=8)
    assert o.dtype == torch.float32 and s.dtype == torch.float32
    assert rel_err(o, ref_o) < 2e-6 and rel_err(s, ref_s) < 2e-6
    o2, s2 = diagonal_scan_chunked(x32[0].requires_grad_(), *x32[1:4], initial_state=x32[4],
                                   output_final_state=True, chunk_size=8)
    assert rel_err(o, o2.detach().double()) < 2e-6 and rel_err(s, s2.detach().double()) < 2e-6


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_float32_forward_without_gradient_all_three_score_forms(monkeypatch, chunk_size):
    """One batch whose chunks take each form of the float32 no-gradient forward: ordinary gates (float32 scores),
    gates of magnitude 0.01 (running products below float32's range within a chunk: float64 scores), exact zeros and
    gates of 1e-200 (span products); T odd, initial state, groups of one chunk and the default group size."""
    import statetrack.kernels.diagonal.chunked as chunked

    B, T, H, K, V = 2, 101, 4, 5, 3
    q, k, v, a, s0 = make_inputs(B, T, H, K, V, seed=17, gates="uniform")
    g = torch.Generator().manual_seed(18)
    sign = torch.where(torch.rand(B, T, K, generator=g, dtype=F64) < 0.5, -1.0, 1.0)
    a[:, :, 1] = 0.01 * sign  # head 1: 0.01^16 < 1e-30 (chunks of 16 and 32), above 1e-150
    a[:, :, 2] = torch.where(torch.rand(B, T, K, generator=g, dtype=F64) < 0.1, 0.0, a[:, :, 2])  # head 2: resets
    a[:, 40:45, 3] = 1e-200 * sign[:, 40:45]  # head 3: products below 1e-150 in one chunk
    ref_o, ref_s = diagonal_scan_reference(q, k, v, a, initial_state=s0, output_final_state=True)
    x32 = tuple(x.float() for x in (q, k, v, a, s0))
    for group_bytes in (1, chunked.GROUP_BYTES):
        monkeypatch.setattr(chunked, "GROUP_BYTES", group_bytes)
        with torch.no_grad():
            o, s = diagonal_scan_chunked(*x32[:4], initial_state=x32[4], output_final_state=True,
                                         chunk_size=chunk_size)
        assert torch.isfinite(o).all() and torch.isfinite(s).all()
        assert rel_err(o, ref_o) < 2e-6 and rel_err(s, ref_s) < 2e-6
        for h in range(H):  # each head on its own: the small outputs of head 1 measured against their own size
            assert rel_err(o[:, :, h], ref_o[:, :, h]) < 2e-6 and rel_err(s[:, h], ref_s[:, h]) < 2e-6


@pytest.mark.parametrize("chunk_size", [None, 16])
def test_float32_forward_without_gradient_large_keys_and_tiny_queries(chunk_size):
    """The float32 scores' range test counts the queries' and keys' sizes, not only the running products': keys of
    size 1e9 with gates 0.12 (k / P overflows float32 within a chunk of 32) and queries of size 1e-15 (q P subnormal)
    take float64 scores; each head matches the float64 reference relative to its own size."""
    B, T, H, K, V = 1, 70, 3, 8, 4
    q, k, v, a, s0 = make_inputs(B, T, H, K, V, seed=23, gates="uniform")
    a[:, :, :2] = 0.12
    k[:, :, 0] *= 1e9  # head 0: large keys
    q[:, :, 1] *= 1e-15  # head 1: tiny queries; head 2 ordinary
    ref_o, ref_s = diagonal_scan_reference(q, k, v, a, initial_state=s0, output_final_state=True)
    x32 = tuple(x.float() for x in (q, k, v, a, s0))
    with torch.no_grad():
        o, s = diagonal_scan_chunked(*x32[:4], initial_state=x32[4], output_final_state=True, chunk_size=chunk_size)
    assert torch.isfinite(o).all() and torch.isfinite(s).all()
    for h in range(H):
        assert rel_err(o[:, :, h], ref_o[:, :, h]) < 2e-6 and rel_err(s[:, h], ref_s[:, h]) < 2e-6


@pytest.mark.parametrize("grad", [False, True])
def test_empty_batch(grad):
    """B = 0 (allowed by the input checks): empty outputs and final state, with and without a gradient."""
    q = torch.randn(0, 5, 2, 4, requires_grad=grad)
    o, s = diagonal_scan_chunked(q, torch.randn(0, 5, 2, 4), torch.randn(0, 5, 2, 3), torch.rand(0, 5, 2, 4),
                                 output_final_state=True)
    assert o.shape == (0, 5, 2, 3) and s.shape == (0, 2, 4, 3)
    if grad:
        (q_grad,) = torch.autograd.grad(o.sum(), q)
        assert q_grad.shape == q.shape
