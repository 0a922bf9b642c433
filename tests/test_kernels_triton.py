"""Triton Householder-scan kernels against the sequential reference (through the interpreter when there is no GPU).

Shapes are tiny (the interpreter is slow) but chosen to hit every edge: T*n_h not a multiple of the chunk, K and V
not powers of two, several V-blocks, initial and final states. Every buffer the op allocates is NaN-filled
(STATETRACK_TRITON_DEBUG=1), so an element a kernel forgets to write surfaces as NaN in a result.
"""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("triton")

from statetrack.kernels.householder.reference import KernelInputError, householder_scan_reference  # noqa: E402
from statetrack.kernels.householder.triton_op import householder_scan_triton  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
KERNELS = ("recurrent", "fused", "chunk")
CS = 16  # chunk / checkpoint size used in the tests (smallest legal: several chunks at tiny T)


@pytest.fixture(autouse=True)
def _nan_buffers(monkeypatch):
    monkeypatch.setenv("STATETRACK_TRITON_DEBUG", "1")


def make_inputs(B, T, H, K, V, n_h, *, beta="uniform", keys="random", dtype=torch.float64, seed=0, h0=True):
    """Random float64 inputs in the op's layout; unit keys; beta uniform in [0, 2] or in [1.9, 2]."""
    g = torch.Generator().manual_seed(seed)
    NF = T * n_h
    q = torch.randn(B, T, H, K, generator=g, dtype=torch.float64)
    if keys == "correlated":  # all keys close to one direction: the chunk's triangular system is ill-conditioned
        base = torch.randn(B, 1, H, K, generator=g, dtype=torch.float64)
        k = base + 0.1 * torch.randn(B, NF, H, K, generator=g, dtype=torch.float64)
    else:
        k = torch.randn(B, NF, H, K, generator=g, dtype=torch.float64)
    k = torch.nn.functional.normalize(k, dim=-1)
    v = torch.randn(B, NF, H, V, generator=g, dtype=torch.float64)
    u = torch.rand(B, NF, H, generator=g, dtype=torch.float64)
    b = 2.0 * u if beta == "uniform" else 1.9 + 0.1 * u
    s = torch.randn(B, H, K, V, generator=g, dtype=torch.float64) if h0 else None
    out = [x.to(dtype).to(DEVICE) for x in (q, k, v, b)]
    return out + [None if s is None else s.to(dtype).to(DEVICE)]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def scaled_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Error relative to max(|b|, sqrt(numel)): inputs are O(1) per entry, so a result that nearly cancels (a single
    channel with beta close to 1, say) is judged against the size of its terms, not its own tiny norm."""
    a, b = a.double().cpu(), b.double().cpu()
    return ((a - b).norm() / max(b.norm().item(), b.numel() ** 0.5)).item()


def run_ref(q, k, v, b, h0, n_h):
    return householder_scan_reference(q.double(), k.double(), v.double(), b.double(), num_householder=n_h,
                                      initial_state=None if h0 is None else h0.double(), output_final_state=True)


@pytest.mark.parametrize("fk", KERNELS)
@pytest.mark.parametrize("n_h", [1, 2, 3])
def test_forward_float32_matches_reference(fk, n_h):
    # T*n_h in {21, 42, 63}: never a multiple of the chunk; K=20, V=40 (two V-blocks of the recurrent kernel)
    q, k, v, b, h0 = make_inputs(1, 21, 1, 20, 40, n_h, dtype=torch.float32, seed=n_h)
    o, ht = householder_scan_triton(q, k, v, b, num_householder=n_h, initial_state=h0, output_final_state=True,
                                    chunk_size=CS, forward_kernel=fk)
    o_ref, ht_ref = run_ref(q, k, v, b, h0, n_h)
    assert o.dtype == torch.float32 and ht.dtype == torch.float32 and o.shape == o_ref.shape
    assert rel_err(o, o_ref) < 2e-6
    assert rel_err(ht, ht_ref) < 2e-6


@pytest.mark.parametrize("fk", KERNELS)
@pytest.mark.parametrize("keys", ["random", "correlated"])
def test_forward_beta_near_two(fk, keys):
    q, k, v, b, h0 = make_inputs(1, 19, 1, 12, 9, 2, beta="near2", keys=keys, dtype=torch.float32, seed=7)
    o, ht = householder_scan_triton(q, k, v, b, num_householder=2, initial_state=h0, output_final_state=True,
                                    chunk_size=CS, forward_kernel=fk)
    o_ref, ht_ref = run_ref(q, k, v, b, h0, 2)
    assert rel_err(o, o_ref) < 1e-5
    assert rel_err(ht, ht_ref) < 1e-5


@pytest.mark.parametrize("fk", KERNELS)
@pytest.mark.parametrize("dtype,tol", [(torch.bfloat16, 3e-2), (torch.float16, 4e-3)])
def test_forward_half_precision(fk, dtype, tol):
    q, k, v, b, h0 = make_inputs(2, 18, 1, 16, 24, 1, dtype=dtype, seed=3)
    o, ht = householder_scan_triton(q, k, v, b, initial_state=h0, output_final_state=True, chunk_size=CS,
                                    forward_kernel=fk)
    o_ref, ht_ref = run_ref(q, k, v, b, h0, 1)  # reference on the same (rounded) inputs, in float64
    assert o.dtype == dtype and ht.dtype == torch.float32
    assert rel_err(o, o_ref) < tol
    assert rel_err(ht, ht_ref) < 1e-5  # the state itself is float32 inside


def test_forward_without_state_and_default_scale():
    q, k, v, b, _ = make_inputs(2, 9, 1, 8, 8, 1, dtype=torch.float32, seed=11, h0=False)
    o, ht = householder_scan_triton(q, k, v, b, chunk_size=CS, forward_kernel="recurrent")
    assert ht is None
    o_ref, _ = run_ref(q, k, v, b, None, 1)
    assert rel_err(o, o_ref) < 2e-6
    o2, _ = householder_scan_triton(q, k, v, b, scale=1.0, chunk_size=CS, forward_kernel="recurrent")
    assert rel_err(o2, o_ref * 8 ** 0.5) < 2e-6


@pytest.mark.parametrize("fk,bk", [("chunk", "chunk"), ("fused", "fused"), ("recurrent", "recurrent"),
                                   ("recurrent", "chunk"), ("fused", "recurrent")])
@pytest.mark.parametrize("n_h,keys", [(1, "random"), (3, "correlated"), (2, "near2")])
def test_gradients_match_float64_reference(fk, bk, n_h, keys):
    B, T, H, K, V = 1, 9, 2, 12, 20  # T*n_h in {9, 18, 27}: one or two chunks, a partial last one
    q, k, v, b, h0 = make_inputs(B, T, H, K, V, n_h, keys="random" if keys == "near2" else keys,
                                 beta="near2" if keys == "near2" else "uniform", seed=20 + n_h)
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, b, h0)]
    o_ref, ht_ref = householder_scan_reference(*ins64[:4], num_householder=n_h, initial_state=ins64[4],
                                               output_final_state=True)
    g = torch.Generator().manual_seed(5)
    do = torch.randn(o_ref.shape, generator=g, dtype=torch.float64).to(DEVICE)
    dht = torch.randn(ht_ref.shape, generator=g, dtype=torch.float64).to(DEVICE)
    grads_ref = torch.autograd.grad((o_ref * do).sum() + (ht_ref * dht).sum(), ins64)

    ins32 = [x.float().requires_grad_() for x in (q, k, v, b, h0)]
    o, ht = householder_scan_triton(*ins32[:4], num_householder=n_h, initial_state=ins32[4],
                                    output_final_state=True, chunk_size=CS, forward_kernel=fk,
                                    backward_kernel=bk)
    grads = torch.autograd.grad((o * do.float()).sum() + (ht * dht.float()).sum(), ins32)
    for name, gr, gr_ref in zip(("q", "k", "v", "beta", "initial_state"), grads, grads_ref):
        assert gr.dtype == torch.float32 and not torch.isnan(gr).any(), name
        assert rel_err(gr, gr_ref) < 1e-5, name


@pytest.mark.parametrize("config", [0, 1, 2])
def test_every_launch_config(config, monkeypatch):
    """Each kernel's fixed launch config i (``STATETRACK_TRITON_CONFIG``; the autotuner's list on a GPU) launches
    and gives the reference's outputs and gradients, every kind, forward and backward."""
    from statetrack.kernels.householder import triton_utils

    monkeypatch.setenv("STATETRACK_TRITON_CONFIG", str(config))
    assert triton_utils.fixed_config_index() == config
    n_h = 2
    q, k, v, b, h0 = make_inputs(1, 20, 1, 12, 20, n_h, seed=40 + config)  # 40 factor rows: two chunks of 32
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, b, h0)]
    o_ref, ht_ref = householder_scan_reference(*ins64[:4], num_householder=n_h, initial_state=ins64[4],
                                               output_final_state=True)
    do = torch.randn(o_ref.shape, generator=torch.Generator().manual_seed(config), dtype=torch.float64).to(DEVICE)
    grads_ref = torch.autograd.grad((o_ref * do).sum() + ht_ref.sum(), ins64)
    for kind in KERNELS:
        ins32 = [x.float().requires_grad_() for x in (q, k, v, b, h0)]
        o, ht = householder_scan_triton(*ins32[:4], num_householder=n_h, initial_state=ins32[4],
                                        output_final_state=True, chunk_size=32, forward_kernel=kind,
                                        backward_kernel=kind)
        assert rel_err(o, o_ref) < 2e-6 and rel_err(ht, ht_ref) < 2e-6, kind
        grads = torch.autograd.grad((o * do.float()).sum() + ht.sum(), ins32)
        for name, gr, gr_ref in zip(("q", "k", "v", "beta", "initial_state"), grads, grads_ref):
            assert not torch.isnan(gr).any() and rel_err(gr, gr_ref) < 1e-5, (kind, name)


def test_config_switch_rejects_garbage(monkeypatch):
    from statetrack.kernels.householder import triton_utils

    monkeypatch.setenv("STATETRACK_TRITON_CONFIG", "fast")
    with pytest.raises(ValueError, match="STATETRACK_TRITON_CONFIG"):
        triton_utils.fixed_config_index()


@pytest.mark.parametrize("kind", ["chunk", "fused"])  # recurrent: the chunk is only its checkpoint interval
def test_default_chunk_size(kind):
    """chunk_size 64 (the default): 80 factors, two chunks, the second partial; K = 40 pads to 64, V = 33 to 64."""
    q, k, v, b, h0 = make_inputs(1, 40, 1, 40, 33, 2, seed=41)
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, b, h0)]
    o_ref, ht_ref = householder_scan_reference(*ins64[:4], num_householder=2, initial_state=ins64[4],
                                               output_final_state=True)
    grads_ref = torch.autograd.grad(o_ref.square().sum() + ht_ref.sum(), ins64)
    ins = [x.float().requires_grad_() for x in (q, k, v, b, h0)]
    o, ht = householder_scan_triton(*ins[:4], num_householder=2, initial_state=ins[4], output_final_state=True,
                                    forward_kernel=kind, backward_kernel=kind)
    grads = torch.autograd.grad(o.square().sum() + ht.sum(), ins)
    assert rel_err(o, o_ref) < 2e-6 and rel_err(ht, ht_ref) < 2e-6
    for name, gr, gr_ref in zip(("q", "k", "v", "beta", "initial_state"), grads, grads_ref):
        assert rel_err(gr, gr_ref) < 1e-5, name


@settings(max_examples=5, deadline=None)
@given(T=st.integers(1, 12), n_h=st.integers(1, 3), K=st.integers(1, 20), V=st.integers(1, 20),
       fk=st.sampled_from(KERNELS), bk=st.sampled_from(KERNELS), seed=st.integers(0, 2 ** 16))
def test_gradients_random_shapes(T, n_h, K, V, fk, bk, seed):
    q, k, v, b, h0 = make_inputs(1, T, 1, K, V, n_h, seed=seed)
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, b, h0)]
    o_ref, ht_ref = householder_scan_reference(*ins64[:4], num_householder=n_h, initial_state=ins64[4],
                                               output_final_state=True)
    w = torch.linspace(-1.0, 1.0, o_ref.numel(), dtype=torch.float64).reshape(o_ref.shape)
    grads_ref = torch.autograd.grad((o_ref * w).sum() + ht_ref.square().sum(), ins64)
    ins = [x.float().requires_grad_() for x in (q, k, v, b, h0)]
    o, ht = householder_scan_triton(*ins[:4], num_householder=n_h, initial_state=ins[4], output_final_state=True,
                                    chunk_size=CS, forward_kernel=fk, backward_kernel=bk)
    grads = torch.autograd.grad((o * w.float()).sum() + ht.square().sum(), ins)
    for name, gr, gr_ref in zip(("q", "k", "v", "beta", "initial_state"), grads, grads_ref):
        assert scaled_err(gr, gr_ref) < 3e-5, name  # float32 rounding measured up to ~1e-5 on longer inputs


def test_gradients_outputs_only_and_bfloat16():
    """No initial state, final state unused; bf16 inputs get bf16 gradients close to the float64 ones."""
    q, k, v, b, _ = make_inputs(1, 10, 1, 16, 16, 2, seed=31, h0=False)
    ins64 = [x.clone().requires_grad_() for x in (q, k, v, b)]
    o_ref, _ = householder_scan_reference(*ins64, num_householder=2)
    grads_ref = torch.autograd.grad(o_ref.square().sum(), ins64)
    for dtype, tol in ((torch.float32, 1e-5), (torch.bfloat16, 5e-2)):
        ins = [x.to(dtype).requires_grad_() for x in (q, k, v, b)]
        o, _ = householder_scan_triton(*ins, num_householder=2, chunk_size=CS)
        grads = torch.autograd.grad(o.float().square().sum(), ins)
        for name, gr, gr_ref in zip(("q", "k", "v", "beta"), grads, grads_ref):
            assert gr.dtype == dtype, name
            assert rel_err(gr, gr_ref) < tol, (dtype, name)


@pytest.mark.parametrize("fk", KERNELS)
def test_permutation_products_are_integer_exact(fk):
    """Transpositions as GH factors with integer entries (key e_i - e_j, beta = 1, v = 0): exact in float32."""
    n, T, n_h = 5, 40, 2
    g = torch.Generator().manual_seed(4)
    pairs = torch.stack([torch.randperm(n, generator=g)[:2] for _ in range(T * n_h)])  # [T*n_h, 2]
    k = torch.zeros(1, T * n_h, 1, n)
    k[0, torch.arange(T * n_h), 0, pairs[:, 0]] = 1.0
    k[0, torch.arange(T * n_h), 0, pairs[:, 1]] = -1.0
    beta = torch.ones(1, T * n_h, 1)
    v = torch.zeros(1, T * n_h, 1, n)
    labels = torch.arange(1.0, n + 1.0)
    h0 = torch.diag(labels)[None, None]  # S = diag(labels): columns follow the permutation
    q = torch.eye(n)[torch.randint(0, n, (T,), generator=g)][None, :, None, :]
    args = [x.to(DEVICE) for x in (q, k, v, beta)]
    o, ht = householder_scan_triton(*args, num_householder=n_h, scale=1.0, initial_state=h0.to(DEVICE),
                                    output_final_state=True, chunk_size=CS, forward_kernel=fk)
    perm = torch.eye(n)
    outs = []
    for t in range(T):
        for j in range(n_h):
            a, c = pairs[t * n_h + j].tolist()
            perm[[a, c]] = perm[[c, a]]
        outs.append(q[0, t, 0] @ (perm @ torch.diag(labels)))
    assert torch.equal(ht.cpu()[0, 0], perm @ torch.diag(labels))
    assert torch.equal(o.cpu()[0, :, 0], torch.stack(outs))


@settings(max_examples=6, deadline=None)
@given(T=st.integers(1, 20), n_h=st.integers(1, 3), K=st.integers(1, 18), V=st.integers(1, 18),
       fk=st.sampled_from(KERNELS), seed=st.integers(0, 2 ** 16))
def test_forward_random_shapes(T, n_h, K, V, fk, seed):
    q, k, v, b, h0 = make_inputs(1, T, 1, K, V, n_h, dtype=torch.float32, seed=seed)
    o, ht = householder_scan_triton(q, k, v, b, num_householder=n_h, initial_state=h0, output_final_state=True,
                                    chunk_size=CS, forward_kernel=fk)
    o_ref, ht_ref = run_ref(q, k, v, b, h0, n_h)
    assert scaled_err(o, o_ref) < 1e-5 and scaled_err(ht, ht_ref) < 1e-5


@pytest.mark.parametrize("bt", [16, 32, 64])
def test_blockwise_inverse_matches_row_substitution(bt):
    """The blockwise chunk inverse equals the row-by-row one and the float64 inverse (keys clustered, beta near 2,
    the worst case for the triangular system; a partial last chunk has identity rows)."""
    import triton

    from statetrack.kernels.householder import triton_fwd
    from statetrack.kernels.householder.triton_utils import next_pow2

    _, k, _, b, _ = make_inputs(1, bt + bt // 2, 2, 24, 4, 1, beta="near2", keys="correlated", seed=bt)
    k32, b32 = k.float(), b.float()
    NF, H, K = k.shape[1], k.shape[2], k.shape[3]
    NC = triton.cdiv(NF, bt)
    out = {}
    for name in ("chunk_inverse_kernel", "chunk_inverse_rows_kernel"):
        m = torch.full((1, H, NC, bt, bt), float("nan"), device=DEVICE)
        getattr(triton_fwd, name).launch((NC, H), k32, b32, m, NF, H, K, NC, BT=bt, BK=next_pow2(K),
                                         DOT_PREC="ieee")
        out[name] = m.cpu().double()
    kp = torch.nn.functional.pad(k.cpu(), (0, 0, 0, 0, 0, NC * bt - NF))  # [1, NC*bt, H, K], zero rows past the end
    bp = torch.nn.functional.pad(b.cpu(), (0, 0, 0, NC * bt - NF))
    for c in range(NC):
        for h in range(H):
            kc, bc = kp[0, c * bt:(c + 1) * bt, h], bp[0, c * bt:(c + 1) * bt, h]
            exact = torch.linalg.inv(torch.eye(bt, dtype=torch.float64) + torch.tril(bc[:, None] * (kc @ kc.T), -1))
            for name, m in out.items():
                assert rel_err(m[0, h, c], exact) < 1e-5, (name, c, h)
    assert rel_err(out["chunk_inverse_kernel"], out["chunk_inverse_rows_kernel"]) < 1e-5


def test_empty_sequence():
    q, k, v, b, h0 = make_inputs(1, 0, 1, 4, 3, 2, dtype=torch.float32)
    o, ht = householder_scan_triton(q, k, v, b, num_householder=2, initial_state=h0, output_final_state=True)
    assert o.shape == (1, 0, 1, 3) and torch.equal(ht, h0)


def test_input_errors(monkeypatch):
    q, k, v, b, h0 = make_inputs(1, 3, 1, 4, 4, 1, dtype=torch.float32)
    with pytest.raises(KernelInputError, match="float64"):
        householder_scan_triton(q.double(), k, v, b)
    with pytest.raises(KernelInputError, match="chunk_size"):
        householder_scan_triton(q, k, v, b, chunk_size=24)
    with pytest.raises(KernelInputError, match="chunk_size"):
        householder_scan_triton(q, k, v, b, chunk_size=128)
    with pytest.raises(KernelInputError, match="forward_kernel"):
        householder_scan_triton(q, k, v, b, forward_kernel="fast")
    with pytest.raises(KernelInputError, match="backward_kernel"):
        householder_scan_triton(q, k, v, b, backward_kernel="fast")
    with pytest.raises(KernelInputError, match="k must be"):
        householder_scan_triton(q, k, v, b, num_householder=2)
    if DEVICE == "cpu":
        monkeypatch.setenv("TRITON_INTERPRET", "0")
        with pytest.raises(KernelInputError, match="CUDA"):
            householder_scan_triton(q, k, v, b)


def test_dispatcher_routes_to_triton():
    from statetrack.kernels import householder_scan

    q, k, v, b, h0 = make_inputs(1, 6, 1, 8, 8, 2, dtype=torch.float32, seed=9)
    o, ht = householder_scan(q, k, v, b, num_householder=2, initial_state=h0, output_final_state=True,
                             backend="triton")
    o2, ht2 = householder_scan_triton(q, k, v, b, num_householder=2, initial_state=h0, output_final_state=True)
    assert torch.equal(o, o2) and torch.equal(ht, ht2)
    o_ref, _ = run_ref(q, k, v, b, h0, 2)
    assert rel_err(o, o_ref) < 2e-6


def test_kernels_package_does_not_import_triton():
    code = ("import sys, statetrack.kernels, statetrack.kernels.householder.triton_op; "
            "sys.exit(1 if 'triton' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
