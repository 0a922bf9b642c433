"""What one token does to a one-layer model, as a function of the token window only.

In a one-layer :class:`~statetrack.lrnn.model.LRNNModel` the recurrence's inputs at time ``t`` (keys, values, betas
or diagonal transitions, queries, gates) depend on the last ``c`` tokens only, ``c`` being the short-convolution
width (1 without convolutions; the convolution's left zero padding is the start of the word). Per head the state
update of a token is affine, ``S -> A S + B`` with ``S [K, V]``, ``A [K, K]``, ``B [K, V]``, and the readout at
that token is ``o = S^T q (+ extra)`` followed by fixed per-token operations. :func:`window_steps` evaluates all of
these for given windows in float64.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..layers import DeltaProductLayer, DiagonalLayer
from ..model import LRNNModel


@dataclass
class WindowStep:
    """One token's affine update and readout inputs (float64), for one window of token ids.

    ``A [H, K, K]``, ``B [H, K, V]``: ``S_h -> A_h S_h + B_h``; ``q [H, K]`` (scale included) and ``extra [H, V]``:
    the scan output is ``o_h = S_h^T q_h + extra_h``; ``gate [H, V]``: ``silu(g)`` of the output gate (ones without
    a gate); ``x [d_model]``: the residual stream entering the block (the token's embedding).
    """

    A: np.ndarray
    B: np.ndarray
    q: np.ndarray
    extra: np.ndarray
    gate: np.ndarray
    x: np.ndarray


def window_width(model: LRNNModel) -> int:
    """Tokens that the per-token computation of the (first) layer reads: the convolution width, or 1."""
    cfg = model.config
    return int(cfg.conv_size) if cfg.use_short_conv else 1


def float64_copy(model: LRNNModel) -> LRNNModel:
    """A float64 copy in eval mode (the original is left as it is)."""
    return copy.deepcopy(model).double().eval()


def window_steps(model64: LRNNModel, windows: list[tuple[int, ...]]) -> list[WindowStep]:
    """The :class:`WindowStep` of the last token of each window (a tuple of 1..c token ids, oldest first; a window
    shorter than ``c`` is the start of a word). ``model64``: a float64 one-layer model (:func:`float64_copy`)."""
    out: list[WindowStep | None] = [None] * len(windows)
    by_len: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_len.setdefault(len(w), []).append(i)
    block = model64.blocks[0]
    mixer = block.mixer
    with torch.no_grad():
        for idx in by_len.values():
            ids = torch.tensor([windows[i] for i in idx], dtype=torch.long)
            x = model64.embedding(ids)
            h = block.norm1(x)
            steps = _householder(mixer, h) if isinstance(mixer, DeltaProductLayer) else _diagonal(mixer, h)
            for r, i in enumerate(idx):
                A, B, q, extra, gate = (t[r] for t in steps)
                out[i] = WindowStep(A, B, q, extra, gate, x[r, -1].numpy().copy())
    return out  # type: ignore[return-value]


def _householder(mixer: DeltaProductLayer, h: torch.Tensor) -> tuple[np.ndarray, ...]:
    q, k, v, beta = mixer.scan_inputs(h)
    n_h, H, K = mixer.num_householder, mixer.num_heads, mixer.head_dim
    N = h.shape[0]
    eye = torch.eye(K, dtype=torch.float64)
    A = eye.expand(N, H, K, K).clone()
    B = torch.zeros(N, H, K, K, dtype=torch.float64)
    T = h.shape[1]
    for j in range(n_h):
        r = (T - 1) * n_h + j
        kk, vv, bb = k[:, r], v[:, r], beta[:, r].double()  # [N, H, K], [N, H, V], [N, H]
        F = eye - bb[..., None, None] * kk[..., :, None] * kk[..., None, :]
        A = F @ A
        B = F @ B + bb[..., None, None] * kk[..., :, None] * vv[..., None, :]
    qs = q[:, -1] * K ** -0.5
    if mixer.use_output_gate:
        gate = torch.nn.functional.silu(mixer.g_proj(h)[:, -1].view(N, H, K))
    else:
        gate = torch.ones(N, H, K, dtype=torch.float64)
    extra = torch.zeros(N, H, K, dtype=torch.float64)
    return tuple(t.numpy().copy() for t in (A, B, qs, extra, gate))


def _diagonal(mixer: DiagonalLayer, h: torch.Tensor) -> tuple[np.ndarray, ...]:
    q, k, v, a = mixer.scan_inputs(h)
    N = h.shape[0]
    H, V = mixer.num_heads, mixer.head_dim
    a_t = a[:, -1].double()  # [N, H, K]
    A = torch.diag_embed(a_t)
    B = k[:, -1, :, :, None] * v[:, -1, :, None, :]
    extra = mixer.D * v[:, -1]
    gate = torch.nn.functional.silu(mixer.z_proj(h)[:, -1].view(N, H, V))
    return tuple(t.numpy().copy() for t in (A, B, q[:, -1], extra, gate))
