"""LRNN layers and the model stack: shapes, gradients, eigenvalue ranges, hand-written recurrences, persistence."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from statetrack.errors import ModelFormatError, StatetrackError
from statetrack.lrnn import (DeltaNetLayer, DeltaProductLayer, DiagonalLayer, LRNNConfig, LRNNModel,
                             ShortConvolution, load_model)

D = 16


def layers():
    yield "deltanet-01", DeltaNetLayer(D, 2, 8, eigenvalue_range=(0, 1))
    yield "deltanet-11-noconv", DeltaNetLayer(D, 2, 8, eigenvalue_range=(-1, 1), use_short_conv=False)
    yield "deltaproduct-3", DeltaProductLayer(D, 2, 4, num_householder=3)
    yield "deltaproduct-2-nogate", DeltaProductLayer(D, 1, 8, num_householder=2, use_output_gate=False)
    yield "diagonal-01", DiagonalLayer(D, 2, 4, state_dim=3, eigenvalue_range=(0, 1))
    yield "diagonal-11-noconv", DiagonalLayer(D, 2, 4, state_dim=3, use_short_conv=False)


@pytest.mark.parametrize("name,layer", list(layers()), ids=[n for n, _ in layers()])
def test_shapes_and_gradients(name, layer):
    torch.manual_seed(0)
    x = torch.randn(2, 13, D, requires_grad=True)
    y = layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    y.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for pname, p in layer.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    # causality: changing the last token changes nothing before it
    x2 = x.detach().clone()
    x2[:, -1] += 1.0
    assert torch.allclose(layer(x2)[:, :-1], y.detach()[:, :-1], atol=1e-5)


def test_short_convolution_is_causal_depthwise():
    conv = ShortConvolution(3, kernel_size=4, activation=None)
    x = torch.randn(2, 9, 3)
    w = conv.conv.weight[:, 0, :]  # [C, kernel]
    want = torch.zeros_like(x)
    for t in range(9):
        for j in range(4):
            src = t - 3 + j
            if src >= 0:
                want[:, t] += w[:, j] * x[:, src]
    assert torch.allclose(conv(x), want, atol=1e-6)


@pytest.mark.parametrize("rng,beta_max", [((0, 1), 1.0), ((-1, 1), 2.0)])
def test_beta_range(rng, beta_max):
    layer = DeltaProductLayer(D, 2, 4, num_householder=2, eigenvalue_range=rng)
    x = torch.randn(3, 7, D)
    for bias, lo, hi in ((60.0, 0.99 * beta_max, beta_max), (-60.0, 0.0, 1e-6 * beta_max)):
        with torch.no_grad():
            layer.b_proj.bias.fill_(bias)
        b = layer.betas(x).detach()
        assert b.shape == (3, 14, 2)
        assert float(b.min()) >= lo and float(b.max()) <= hi
    with torch.no_grad():
        layer.b_proj.bias.zero_()
    b = layer.betas(x).detach()
    assert float(b.min()) > 0.0 and float(b.max()) < beta_max


@pytest.mark.parametrize("rng", [(0, 1), (-1, 1)])
def test_diagonal_transition_range(rng):
    layer = DiagonalLayer(D, 2, 4, state_dim=5, eigenvalue_range=rng)
    x = torch.randn(2, 11, D) * 10
    a, dt = (t.detach() for t in layer.transitions(x))
    assert a.shape == (2, 11, 2, 5) and (dt > 0).all()
    lo = 0.0 if rng == (0, 1) else -1.0
    assert float(a.min()) >= lo and float(a.max()) <= 1.0
    with torch.no_grad():  # a large step: a -> 0, i.e. 2a - 1 -> -1 (a sign flip) in the extended range
        layer.dt_bias.fill_(50.0)
    a = layer.transitions(x)[0].detach()
    assert float(a.max()) < lo + 1e-6


def test_diagonal_wide_dt_initialisation():
    torch.manual_seed(1)
    layer = DiagonalLayer(D, 64, 4, state_dim=4)
    dt0 = F.softplus(layer.dt_bias.detach())
    assert float(dt0.min()) >= 1e-3 * 0.99 and float(dt0.max()) <= 10.0 * 1.01
    assert float(dt0.max()) / float(dt0.min()) > 100  # spans orders of magnitude
    a = torch.exp(-dt0[:, None] * torch.exp(layer.A_log.detach()))
    assert float((2 * a - 1).min()) < -0.5 and float((2 * a - 1).max()) > 0.99


def _rms(x: torch.Tensor, w: torch.Tensor, eps: float) -> torch.Tensor:
    return x / torch.sqrt(x.square().mean(-1, keepdim=True) + eps) * w


def _causal_conv_silu(conv: ShortConvolution, x: torch.Tensor) -> torch.Tensor:
    w = conv.conv.weight[:, 0, :]
    Kc = w.shape[1]
    xp = F.pad(x, (0, 0, Kc - 1, 0))
    return F.silu(sum(w[:, j] * xp[:, j:j + x.shape[1]] for j in range(Kc)))


@pytest.mark.parametrize("n_h,rng", [(1, (-1, 1)), (1, (0, 1)), (2, (-1, 1))])
def test_deltanet_equals_handwritten_recurrence(n_h, rng):
    """The layer, computed from its weights with the classic delta rule written out by hand."""
    torch.manual_seed(2)
    H, K = 2, 4
    layer = DeltaProductLayer(D, H, K, num_householder=n_h, eigenvalue_range=rng, backend="reference").double()
    x = torch.randn(2, 9, D, dtype=torch.float64)
    B, T, _ = x.shape
    q = _causal_conv_silu(layer.q_conv, x @ layer.q_proj.weight.T).view(B, T, H, K)
    k = _causal_conv_silu(layer.k_conv, x @ layer.k_proj.weight.T).view(B, T, n_h, H, K)
    v = _causal_conv_silu(layer.v_conv, x @ layer.v_proj.weight.T).view(B, T, n_h, H, K)
    beta = (torch.sigmoid(x @ layer.b_proj.weight.T + layer.b_proj.bias) * (2.0 if rng == (-1, 1) else 1.0))
    beta = beta.view(B, T, n_h, H)
    q = q / q.norm(dim=-1, keepdim=True)
    k = k / k.norm(dim=-1, keepdim=True)
    o = torch.zeros(B, T, H, K, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            S = torch.zeros(K, K, dtype=torch.float64)  # S[key, value]
            for t in range(T):
                for j in range(n_h):
                    kk, vv, bb = k[b, t, j, h], v[b, t, j, h], beta[b, t, j, h]
                    S = S + bb * torch.outer(kk, vv - S.T @ kk)  # delta rule: move S^T k towards v
                o[b, t, h] = S.T @ q[b, t, h] / math.sqrt(K)
    g = (x @ layer.g_proj.weight.T).view(B, T, H, K)
    o = _rms(o, layer.o_norm.norm.weight, layer.o_norm.norm.eps) * F.silu(g)
    want = o.reshape(B, T, H * K) @ layer.o_proj.weight.T
    assert torch.allclose(layer(x), want, atol=1e-10, rtol=0)


def test_diagonal_equals_handwritten_recurrence():
    torch.manual_seed(3)
    H, V, K = 2, 3, 4
    layer = DiagonalLayer(D, H, V, state_dim=K, eigenvalue_range=(-1, 1), backend="reference").double()
    x = torch.randn(2, 10, D, dtype=torch.float64)
    B, T, _ = x.shape
    v = _causal_conv_silu(layer.x_conv, x @ layer.x_proj.weight.T).view(B, T, H, V)
    dt = F.softplus(x @ layer.dt_proj.weight.T + layer.dt_bias)  # [B, T, H]
    a = 2 * torch.exp(-dt[..., None] * torch.exp(layer.A_log)) - 1  # [B, T, H, K]
    Bm = (x @ layer.B_proj.weight.T).view(B, T, H, K) * dt[..., None]
    Cm = (x @ layer.C_proj.weight.T).view(B, T, H, K)
    o = torch.zeros(B, T, H, V, dtype=torch.float64)
    for b in range(B):
        for h in range(H):
            S = torch.zeros(K, V, dtype=torch.float64)
            for t in range(T):
                S = a[b, t, h][:, None] * S + torch.outer(Bm[b, t, h], v[b, t, h])
                o[b, t, h] = S.T @ Cm[b, t, h] + layer.D[h] * v[b, t, h]
    z = (x @ layer.z_proj.weight.T).view(B, T, H, V)
    o = _rms(o, layer.o_norm.norm.weight, layer.o_norm.norm.eps) * F.silu(z)
    want = o.reshape(B, T, H * V) @ layer.o_proj.weight.T
    assert torch.allclose(layer(x), want, atol=1e-10, rtol=0)


def test_backends_agree():
    """The layer on the chunked kernel equals the layer on the reference kernel (values and gradients)."""
    torch.manual_seed(4)
    ref = DeltaProductLayer(D, 2, 8, num_householder=2, backend="reference")
    fast = DeltaProductLayer(D, 2, 8, num_householder=2, backend="chunked")
    fast.load_state_dict(ref.state_dict())
    x = torch.randn(2, 70, D)
    y_ref, y_fast = ref(x), fast(x)
    assert torch.allclose(y_ref, y_fast, atol=1e-4, rtol=1e-4)
    g_ref = torch.autograd.grad(y_ref.square().sum(), ref.k_proj.weight)[0]
    g_fast = torch.autograd.grad(y_fast.square().sum(), fast.k_proj.weight)[0]
    assert torch.allclose(g_ref, g_fast, atol=1e-3, rtol=1e-3)


def test_bad_arguments():
    with pytest.raises(StatetrackError, match="eigenvalue_range"):
        DeltaNetLayer(D, 2, 4, eigenvalue_range=(0, 2))
    with pytest.raises(StatetrackError, match="DeltaProductLayer"):
        DeltaNetLayer(D, 2, 4, num_householder=2)
    with pytest.raises(StatetrackError, match="num_householder"):
        DeltaProductLayer(D, 2, 4, num_householder=0)
    with pytest.raises(StatetrackError, match="layer"):
        LRNNConfig(vocab_size=3, layer="lstm")
    with pytest.raises(StatetrackError, match="d_model"):
        LRNNConfig(vocab_size=3, d_model=0)


@pytest.mark.parametrize("kind", ["deltanet", "deltaproduct", "diagonal"])
def test_model_forward_and_safetensors_round_trip(kind, tmp_path):
    torch.manual_seed(5)
    cfg = LRNNConfig(vocab_size=5, n_classes=3, d_model=D, n_layers=2, layer=kind, num_heads=2, head_dim=4,
                     num_householder=2, state_dim=3, eigenvalue_range=(-1, 1), extra={"task": "parity"})
    model = LRNNModel(cfg)
    ids = torch.randint(0, 5, (3, 11))
    logits = model(ids)
    assert logits.shape == (3, 11, 3)
    logits.logsumexp(-1).sum().backward()
    path = tmp_path / "model.safetensors"
    model.save(path)
    assert path.read_bytes()[8:9] == b"{"  # a safetensors header (8-byte length, then JSON), not a pickle
    again = load_model(path)
    assert again.config == cfg
    assert torch.equal(again(ids), logits.detach())
    with pytest.raises(StatetrackError, match="token ids"):
        model(torch.tensor([[0, 5]]))


def test_load_rejects_foreign_and_tampered_files(tmp_path):
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFormatError, match="statetrack_lrnn"):
        load_model(foreign)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a model")
    with pytest.raises(ModelFormatError, match="garbage"):
        load_model(garbage)
    model = LRNNModel(LRNNConfig(vocab_size=3, d_model=D, num_heads=2, head_dim=4, n_layers=1))
    good = tmp_path / "good.safetensors"
    model.save(good)
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    tensors["head.weight"] = torch.zeros(5, 5)
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    with pytest.raises(ModelFormatError, match="head.weight"):
        load_model(bad)
