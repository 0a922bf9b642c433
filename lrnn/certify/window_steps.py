"""What one token does to a one-layer model, as a function of the token window only.

In a one-layer :class:`~statetrack.lrnn.model.LRNNModel` the recurrence's inputs at time ``t`` (keys, values, betas
or diagonal transitions, queries, gates) depend on the last ``c`` tokens only, ``c`` being the short-convolution
width (1 without convolutions; the convolution's left zero padding is the start of the word). Per head the state
update of a token is affine, ``S -> A S + B`` with ``S [K, V]``, ``A [K, K]``, ``B [K, V]``, and the readout at
that token is ``o = S^T q (+ extra)`` followed by fixed per-token operations. :func:`window_steps` evaluates all of
these for given windows in float64.

**Exact maps.** With the saturating gate (:func:`statetrack.lrnn.layers.gate_unit`) some gates are exactly 0 or 1
in real arithmetic: wherever the gate's level before its clamp is at most ``-EXACT_MARGIN`` or at least
``1 + EXACT_MARGIN`` (its float64 evaluation is accurate to about 1e-15, so the margin decides the real value).
``kinds [H, K]`` records, per head and state row, what the token's map then is exactly, whatever the irrational
values of keys and values: ``IDENTITY`` (every factor has ``beta = 0``: ``A = I``, ``B = 0``), ``INVOLUTION`` (one
factor with ``beta = 2`` and a unit key, ``f(S) = (I - 2 k k^T) S + 2 k v^T``, so ``f(f(S)) = S``; a diagonal row
with ``a = -1``: ``s -> -s + b``), ``IDEMPOTENT`` (one factor with ``beta = 1``: ``f(f(S)) = f(S)``) or ``RESET``
(a diagonal row with ``a = 0``: ``s -> b``); a diagonal row with gate ``e = 1`` is the identity (``a = 1`` and
key ``(1 - e) b = 0``). Householder heads have one kind for all their rows.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from ..layers import DeltaProductLayer, DiagonalLayer, gate_level
from ..model import LRNNModel

#: kinds of exact per-row maps (see the module docstring)
PLAIN, IDENTITY, INVOLUTION, IDEMPOTENT, RESET = 0, 1, 2, 3, 4
KIND_NAMES = ("plain", "identity", "involution", "idempotent", "reset")
#: how far past 0 or 1 the saturating gate's level must be for the gate to count as exactly 0 or 1
EXACT_MARGIN = 1e-9
#: keys shorter than this (before normalisation) are not taken to be exactly unit (``F.normalize``'s floor is 1e-12)
KEY_FLOOR = 1e-10


@dataclass
class WindowStep:
    """One token's affine update and readout inputs (float64), for one window of token ids.

    ``A [H, K, K]``, ``B [H, K, V]``: ``S_h -> A_h S_h + B_h``; ``q [H, K]`` (scale included) and ``extra [H, V]``:
    the scan output is ``o_h = S_h^T q_h + extra_h``; ``gate [H, V]``: ``silu(g)`` of the output gate (ones without
    a gate); ``x [d_model]``: the residual stream entering the block (the token's embedding). ``kinds [H, K]``: the
    exact kind of the map on each state row (``PLAIN`` when nothing exact is known); ``a_exact [H, K]``: rows of
    ``A`` known exactly (identity rows; diagonal entries that are exactly -1, 0); ``b_exact [H, K]``: rows of ``B``
    known exactly (``IDENTITY``: 0). ``A_rad``, ``B_rad``, ``q_rad``, ``extra_rad``, ``x_rad``, ``gate_rad`` (same
    shapes, zeros by default): how far the real values may be from the given ones beyond the float64 allowance,
    where the layer's input is only known to lie in a box (layers above the first, :mod:`.stack`).
    """

    A: np.ndarray
    B: np.ndarray
    q: np.ndarray
    extra: np.ndarray
    gate: np.ndarray
    x: np.ndarray
    kinds: np.ndarray | None = None
    a_exact: np.ndarray | None = None
    b_exact: np.ndarray | None = None
    A_rad: np.ndarray | None = None
    B_rad: np.ndarray | None = None
    q_rad: np.ndarray | None = None
    extra_rad: np.ndarray | None = None
    x_rad: np.ndarray | None = None
    gate_rad: np.ndarray | None = None

    def __post_init__(self) -> None:
        H, K = self.B.shape[:2]
        for name in ("A", "B", "q", "extra", "x", "gate"):
            if getattr(self, f"{name}_rad") is None:
                setattr(self, f"{name}_rad", np.zeros_like(getattr(self, name)))
        if self.kinds is None:
            self.kinds = np.zeros((H, K), dtype=np.int8)
        if self.a_exact is None:
            self.a_exact = np.zeros((H, K), dtype=bool)
        if self.b_exact is None:
            self.b_exact = np.zeros((H, K), dtype=bool)


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
                A, B, q, extra, gate, kinds, a_exact, b_exact = (t[r] for t in steps)
                out[i] = WindowStep(A, B, q, extra, gate, x[r, -1].numpy().copy(), kinds, a_exact, b_exact)
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
    kinds = _householder_kinds(mixer, h)  # [N, H]
    kinds_rows = np.repeat(kinds[:, :, None], K, axis=2)
    a_exact = kinds_rows == IDENTITY
    return tuple(t.numpy().copy() for t in (A, B, qs, extra, gate)) + (kinds_rows, a_exact, a_exact.copy())


def _householder_kinds(mixer: DeltaProductLayer, h: torch.Tensor) -> np.ndarray:
    """Per window and head (``[N, H]``) the exact kind of the last token's map (module docstring)."""
    N, T = h.shape[:2]
    n_h, H, K = mixer.num_householder, mixer.num_heads, mixer.head_dim
    kinds = np.zeros((N, H), dtype=np.int8)
    if mixer.gate != "saturating":
        return kinds
    z = mixer.b_proj(h)[:, -1].double().view(N, n_h, H)
    u = gate_level(torch.sigmoid(z), mixer.gate).numpy()
    zero, full = u <= -EXACT_MARGIN, u >= 1 + EXACT_MARGIN
    # unit keys: normalised with F.normalize from a key longer than its floor
    k_raw = mixer.k_proj(h)
    if mixer.use_short_conv:
        k_raw = mixer.k_conv(k_raw)
    elif mixer.qk_silu:
        k_raw = torch.nn.functional.silu(k_raw)
    length = k_raw.view(N, T, n_h, H, K)[:, -1].norm(dim=-1).numpy()  # [N, n_h, H]
    unit = (length >= KEY_FLOOR) & (mixer.qk_norm_eps is None)
    n_full, n_zero = full.sum(1), zero.sum(1)  # [N, H]
    unit_full = (full & unit).sum(1)
    kinds[n_zero == n_h] = IDENTITY
    one_full = (n_full == 1) & (n_zero == n_h - 1) & (unit_full == 1)
    kinds[one_full & (mixer.beta_max == 2.0)] = INVOLUTION
    kinds[one_full & (mixer.beta_max == 1.0)] = IDEMPOTENT
    return kinds


def _diagonal(mixer: DiagonalLayer, h: torch.Tensor) -> tuple[np.ndarray, ...]:
    q, k, v, a = mixer.scan_inputs(h)
    N = h.shape[0]
    H, V = mixer.num_heads, mixer.head_dim
    a_t = a[:, -1].double()  # [N, H, K]
    A = torch.diag_embed(a_t)
    B = k[:, -1, :, :, None] * v[:, -1, :, None, :]
    extra = mixer.D * v[:, -1]
    gate = torch.nn.functional.silu(mixer.z_proj(h)[:, -1].view(N, H, V))
    K = mixer.state_dim
    kinds = np.zeros((N, H, K), dtype=np.int8)
    if mixer.gate == "saturating":
        dt = torch.nn.functional.softplus(mixer.dt_proj(h)[:, -1].double() + mixer.dt_bias.double()).view(N, H, -1)
        u = gate_level(torch.exp(-dt * torch.exp(mixer.A_log.double())), mixer.gate).numpy()
        kinds[u <= -EXACT_MARGIN] = INVOLUTION if mixer.eigenvalue_range == (-1, 1) else RESET  # e = 0
        kinds[u >= 1 + EXACT_MARGIN] = IDENTITY  # e = 1: a = 1 and k = (1 - e) B = 0
    a_exact = kinds != PLAIN
    return tuple(t.numpy().copy() for t in (A, B, q[:, -1], extra, gate)) + (kinds, a_exact, kinds == IDENTITY)
