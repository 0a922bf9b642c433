"""Token-mixing LRNN layers on the statetrack kernels.

All layers map ``x [B, T, d_model] -> y [B, T, d_model]`` and are causal.

- :class:`DeltaProductLayer`: per head a state ``S [head_dim, head_dim]``; each token applies ``num_householder``
  generalized Householder factors ``S <- (I - beta k k^T) S + beta k v^T`` (L2-normalised keys) through
  :func:`statetrack.kernels.householder_scan`, then reads ``o_t = scale * S_t^T q_t``.
  ``eigenvalue_range=(0, 1)``: ``beta = sigmoid(.)`` (factor eigenvalue ``1 - beta`` in (0, 1), DeltaNet as published);
  ``(-1, 1)``: ``beta = 2 sigmoid(.)`` (eigenvalue in (-1, 1): reflections become reachable, parity becomes learnable).
  ``gate="saturating"`` replaces ``sigmoid`` by :func:`gate_unit`, which reaches 0 and 1 exactly, so ``beta = 2``
  (an exact reflection) and ``beta = 0`` (the identity) are reachable.
- :class:`DeltaNetLayer`: the same with one factor per token.
- :class:`DiagonalLayer`: Mamba-style selective diagonal recurrence ``S_t = diag(a_t) S_{t-1} + k_t v_t^T`` through
  :func:`statetrack.kernels.diagonal_scan` with ``a = exp(-softplus(dt) * A)`` in (0, 1), or ``2a - 1`` in (-1, 1);
  ``gate="saturating"``: ``e = gate_unit(exp(-dt A))``, transition ``e`` (or ``2e - 1``) and input weight ``1 - e``,
  so that the identity (``e = 1``) and ``a = 0`` (``2a - 1 = -1``, an exact sign flip) are reachable exactly.
- :class:`ShortConvolution`: depthwise causal convolution with SiLU, used before the projections' scans.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from statetrack.errors import StatetrackError
from statetrack import vocabulary

from ..kernels import diagonal_scan, householder_scan

EIGENVALUE_RANGES = tuple(vocabulary.EIGENVALUE_RANGES.values())
GATES = vocabulary.GATES
#: the saturating gate's overshoot ``m``: ``u = (1 + 2m) sigmoid(z) - m`` is clamped to [0, 1], so the gate is exactly
#: 0 for ``sigmoid(z) <= m / (1 + 2m)`` (z <= -1.61) and exactly 1 for ``sigmoid(z) >= (1 + m) / (1 + 2m)`` (z >= 1.61)
GATE_OVERSHOOT = 0.25
#: initial bias of the beta projection with the saturating gate: sigmoid(b) where the gate is SATURATING_INIT_GATE
SATURATING_INIT_GATE = 0.5
#: initial ``softplus(dt_bias)`` range of a saturating diagonal layer (with ``A = 1``: ``exp(-dt)`` in (0.25, 0.78),
#: inside the unclamped part of the gate)
SATURATING_DT_RANGE = (0.25, 1.4)


def _check_gate(gate: str) -> str:
    if gate not in GATES:
        raise StatetrackError(f"gate must be one of {', '.join(GATES)}; got {gate!r}")
    return gate


def gate_level(s: torch.Tensor, gate: str) -> torch.Tensor:
    """The saturating gate before its clamp, ``(1 + 2m) s - m``, for ``s`` in (0, 1); ``s`` itself for
    ``gate="sigmoid"``. The gate is exactly 0 where this is <= 0 and exactly 1 where it is >= 1 (the certifier reads
    it to decide which gates are exact)."""
    if gate == "sigmoid":
        return s
    m = GATE_OVERSHOOT
    return s * (1 + 2 * m) - m


def gate_unit(s: torch.Tensor, gate: str) -> torch.Tensor:
    """A gate in [0, 1] from ``s`` in (0, 1) (a sigmoid, or ``exp(-dt A)`` of a diagonal layer).

    ``gate="sigmoid"`` (as published): ``s`` itself, never exactly 0 or 1. ``gate="saturating"``:
    ``clamp((1 + 2m) s - m, 0, 1)`` with ``m = GATE_OVERSHOOT``: ``s`` stretched around 1/2 in the middle, exactly 0
    and exactly 1 near the ends. A clamped gate has zero gradient, so a gate that reached an end stays there unless
    the loss of another input moves the shared weights."""
    if gate == "sigmoid":
        return s
    return torch.clamp(gate_level(s, gate), 0.0, 1.0)


def _check_range(eigenvalue_range: Sequence[float]) -> tuple[int, int]:
    """Normalise ``eigenvalue_range`` to ``(0, 1)`` or ``(-1, 1)``; anything else is a :class:`StatetrackError`."""
    try:
        rng = tuple(int(x) for x in eigenvalue_range)
        ok = rng in EIGENVALUE_RANGES and all(float(x) == int(x) for x in eigenvalue_range)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise StatetrackError(f"eigenvalue_range must be (0, 1) or (-1, 1); got {eigenvalue_range!r}")
    return rng  # type: ignore[return-value]


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    """Gates (beta, dt, a) are computed in float32, or float64 for a float64 model."""
    return x.to(torch.promote_types(x.dtype, torch.float32))


class ShortConvolution(nn.Module):
    """Depthwise causal 1-D convolution over time: ``[B, T, C] -> [B, T, C]``.

    Output at time t depends on inputs ``t - kernel_size + 1 .. t`` only (left zero padding), followed by SiLU
    when ``activation="silu"``.
    """

    def __init__(self, channels: int, kernel_size: int = 4, activation: str | None = "silu", bias: bool = False):
        super().__init__()
        if kernel_size < 1:
            raise StatetrackError(f"ShortConvolution: kernel_size must be >= 1, got {kernel_size}")
        if activation not in (None, "silu"):
            raise StatetrackError(f"ShortConvolution: activation must be None or 'silu', got {activation!r}")
        self.kernel_size = int(kernel_size)
        self.activation = activation
        self.conv = nn.Conv1d(channels, channels, self.kernel_size, groups=channels, bias=bias,
                              padding=self.kernel_size - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T = x.shape[1]
        y = self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)
        return F.silu(y) if self.activation == "silu" else y


class GatedRMSNorm(nn.Module):
    """Per-head RMS norm of the scan output times a SiLU gate: ``norm(o) * silu(g)``, both ``[..., head_dim]``."""

    def __init__(self, head_dim: int, eps: float = 1e-5):
        super().__init__()
        self.norm = nn.RMSNorm(head_dim, eps=eps)

    def forward(self, o: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return self.norm(o) * F.silu(g)


class DeltaProductLayer(nn.Module):
    """DeltaProduct token mixer: ``num_householder`` generalized Householder factors per token.

    Args:
        d_model: model width.
        num_heads: heads H; each keeps a state ``[head_dim, head_dim]`` (K = V = head_dim).
        head_dim: K = V per head.
        num_householder: factors per token n_h (1 = DeltaNet).
        eigenvalue_range: ``(0, 1)`` -> ``beta = sigmoid``; ``(-1, 1)`` -> ``beta = 2 sigmoid``.
        gate: ``sigmoid`` (as published) or ``saturating`` (``beta = beta_max * gate_unit(sigmoid(.))``: exactly 0
            and exactly ``beta_max`` are reachable).
        use_short_conv: causal depthwise convolutions (with SiLU) on q, k, v before the scan.
        conv_size: their width.
        use_output_gate: per-head RMS norm of the scan output times ``silu(g_proj(x))``; otherwise a plain RMS norm.
        backend: passed to :func:`statetrack.kernels.householder_scan` (``auto`` | ``reference`` | ``chunked`` |
            ``triton``).
        norm_eps: epsilon of the output norm.
        value_dim: V per head (default ``head_dim``; flash-linear-attention checkpoints may use ``V != K``).
        beta_bias: whether ``b_proj`` has a bias (flash-linear-attention's has none).
        qk_silu: apply SiLU to q and k when there is no short convolution (flash-linear-attention does; with a
            convolution the SiLU is part of it either way).
        qk_norm_eps: ``None``: q and k are divided by their norm (``F.normalize``); a number ``eps``: by
            ``sqrt(|x|^2 + eps)``, flash-linear-attention's L2 norm (eps 1e-6), so keys are slightly shorter than 1.

    Layout handed to the kernel: q ``[B, T, H, K]``; k ``[B, T*n_h, H, K]``, v ``[B, T*n_h, H, V]``,
    beta ``[B, T*n_h, H]`` with the n_h factors of token t in rows ``t*n_h .. t*n_h + n_h - 1``. Queries and keys
    are L2-normalised per head (so every factor has spectral norm <= 1 for beta in [0, 2]), and the kernel's
    default scale ``head_dim ** -0.5`` is used.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 4,
        head_dim: int = 32,
        num_householder: int = 1,
        eigenvalue_range: Sequence[float] = (-1, 1),
        use_short_conv: bool = True,
        conv_size: int = 4,
        use_output_gate: bool = True,
        backend: str = "auto",
        norm_eps: float = 1e-5,
        value_dim: int | None = None,
        beta_bias: bool = True,
        qk_silu: bool = False,
        qk_norm_eps: float | None = None,
        gate: str = "sigmoid",
    ):
        super().__init__()
        self.gate = _check_gate(gate)
        if num_householder < 1:
            raise StatetrackError(f"num_householder must be >= 1, got {num_householder}")
        self.d_model, self.num_heads, self.head_dim = int(d_model), int(num_heads), int(head_dim)
        self.num_householder = int(num_householder)
        self.eigenvalue_range = _check_range(eigenvalue_range)
        self.beta_max = 2.0 if self.eigenvalue_range == (-1, 1) else 1.0
        self.backend = backend
        self.value_dim = int(value_dim) if value_dim is not None else self.head_dim
        if self.value_dim < 1:
            raise StatetrackError(f"value_dim must be >= 1, got {value_dim}")
        self.qk_silu = bool(qk_silu)
        self.qk_norm_eps = None if qk_norm_eps is None else float(qk_norm_eps)
        H, K, V, n_h = self.num_heads, self.head_dim, self.value_dim, self.num_householder
        self.q_proj = nn.Linear(d_model, H * K, bias=False)
        self.k_proj = nn.Linear(d_model, n_h * H * K, bias=False)
        self.v_proj = nn.Linear(d_model, n_h * H * V, bias=False)
        self.b_proj = nn.Linear(d_model, n_h * H, bias=bool(beta_bias))
        if self.gate == "saturating" and self.b_proj.bias is not None:
            with torch.no_grad():  # start the gates at SATURATING_INIT_GATE (the clamp is inactive there)
                s = (SATURATING_INIT_GATE + GATE_OVERSHOOT) / (1 + 2 * GATE_OVERSHOOT)
                self.b_proj.bias.fill_(math.log(s / (1 - s)))
        self.use_short_conv = bool(use_short_conv)
        if self.use_short_conv:
            self.q_conv = ShortConvolution(H * K, conv_size)
            self.k_conv = ShortConvolution(n_h * H * K, conv_size)
            self.v_conv = ShortConvolution(n_h * H * V, conv_size)
        self.use_output_gate = bool(use_output_gate)
        if self.use_output_gate:
            self.g_proj = nn.Linear(d_model, H * V, bias=False)
            self.o_norm = GatedRMSNorm(V, eps=norm_eps)
        else:
            self.o_norm = nn.RMSNorm(V, eps=norm_eps)
        self.o_proj = nn.Linear(H * V, d_model, bias=False)

    def betas(self, x: torch.Tensor) -> torch.Tensor:
        """``beta [B, T*n_h, H]`` in ``(0, beta_max)`` (``[0, beta_max]`` with the saturating gate) for
        ``x [B, T, d_model]``."""
        B, T, _ = x.shape
        b = gate_unit(torch.sigmoid(_at_least_float32(self.b_proj(x))), self.gate) * self.beta_max
        return b.view(B, T * self.num_householder, self.num_heads)

    def gate_levels(self, x: torch.Tensor) -> torch.Tensor:
        """The gates before their clamp (:func:`gate_level`), ``[B, T, n_h * H]`` for ``x [B, T, d_model]``: with
        the saturating gate a level <= 0 or >= 1 is a clamped gate, whose gradient is 0."""
        return gate_level(torch.sigmoid(_at_least_float32(self.b_proj(x))), self.gate)

    def gate_usage(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of ``beta / beta_max`` over ``x [B, T, d_model]`` (a scalar): how far the tokens' maps are from the
        identity (``beta = 0``); the training's gate penalty (``TrainConfig.gate_penalty``)."""
        return self.betas(x).mean() / self.beta_max

    def scan_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The kernel's inputs ``(q [B,T,H,K], k [B,T*n_h,H,K], v [B,T*n_h,H,V], beta [B,T*n_h,H])``."""
        B, T, _ = x.shape
        H, K, V, n_h = self.num_heads, self.head_dim, self.value_dim, self.num_householder
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.use_short_conv:
            q, k, v = self.q_conv(q), self.k_conv(k), self.v_conv(v)
        else:
            v = F.silu(v)
            if self.qk_silu:
                q, k = F.silu(q), F.silu(k)
        q, k = self._l2(q.reshape(B, T, H, K)), self._l2(k.reshape(B, T * n_h, H, K))
        v = v.reshape(B, T * n_h, H, V)
        return q, k, v, self.betas(x)

    def _l2(self, x: torch.Tensor) -> torch.Tensor:
        """Per-head L2 normalisation of q or k over the last dim (see ``qk_norm_eps``)."""
        if self.qk_norm_eps is None:
            return F.normalize(x, dim=-1)
        return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + self.qk_norm_eps)

    def output(self, o: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Norm (and gate) the scan output ``o [B, T, H, V]`` and project back to ``[B, T, d_model]``."""
        B, T = x.shape[:2]
        o = o.to(x.dtype)
        if self.use_output_gate:
            o = self.o_norm(o, self.g_proj(x).view(B, T, self.num_heads, self.value_dim))
        else:
            o = self.o_norm(o)
        return self.o_proj(o.reshape(B, T, self.num_heads * self.value_dim))

    def forward(self, x: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, d_model] -> [B, T, d_model]``; ``initial_state [B, H, K, K]`` (zeros when None)."""
        q, k, v, beta = self.scan_inputs(x)
        o, _ = householder_scan(q, k, v, beta, num_householder=self.num_householder, initial_state=initial_state,
                                backend=self.backend)
        return self.output(o, x)


class DeltaNetLayer(DeltaProductLayer):
    """DeltaNet token mixer: :class:`DeltaProductLayer` with one Householder factor per token."""

    def __init__(self, d_model: int, num_heads: int = 4, head_dim: int = 32, num_householder: int = 1, **kwargs):
        if num_householder != 1:
            raise StatetrackError(f"DeltaNetLayer has one factor per token; use DeltaProductLayer for "
                                  f"num_householder={num_householder}")
        super().__init__(d_model, num_heads, head_dim, num_householder=1, **kwargs)


class DiagonalLayer(nn.Module):
    """Mamba-style selective diagonal recurrence (per head, per key channel).

    ``S_t = diag(a_t) S_{t-1} + k_t v_t^T`` with ``S [K = state_dim, V = head_dim]`` per head, run through
    :func:`statetrack.kernels.diagonal_scan`; output ``o_t = S_t^T q_t + D * v_t`` (scale 1, skip term D), per-head
    RMS norm times ``silu(z)``, projection back to ``d_model``.

    Discretisation (Mamba): ``dt = softplus(dt_proj(x) + dt_bias)``, one per head ``[B, T, H]`` (Mamba-2), or one
    per state channel ``[B, T, H, K]`` with ``dt_per_channel=True`` (Mamba-1: each channel's gate has its own
    dependence on the token), ``A = exp(A_log) > 0 [H, K]``, ``a = exp(-dt * A)`` in (0, 1]; keys
    ``k = dt * B_proj(x)``. With ``eigenvalue_range=(-1, 1)`` the transition is
    ``2a - 1`` in (-1, 1) (a sign flip is approached with large ``dt``), carried with its sign by the kernel.

    ``gate="saturating"``: ``e = gate_unit(exp(-dt A))`` in [0, 1], transition ``e`` (or ``2e - 1``) and keys
    ``k = (1 - e) * B_proj(x)`` (a convex update ``s -> e s + (1 - e) b v^T`` per channel instead of ``dt * B``):
    ``e = 1`` is an exact identity (``a = 1`` with ``k = 0``; an exact ``a = 1`` with ``k = dt B != 0`` would add
    ``k v^T`` for ever) and ``e = 0`` an exact reset, or sign flip ``2e - 1 = -1``. Initialisation: ``A = 1`` on
    every channel and ``softplus(dt_bias)`` log-uniform in :data:`SATURATING_DT_RANGE`, where no gate is clamped.

    Wide ``dt`` initialisation: ``softplus(dt_bias)`` is log-uniform in ``[dt_min, dt_max] = [1e-3, 10]`` (Mamba uses
    ``[1e-3, 0.1]``), so that at initialisation some channels hold memory (``a`` near 1) and some are near ``a = 0``,
    i.e. near ``2a - 1 = -1`` in the extended range.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int = 4,
        head_dim: int = 32,
        state_dim: int = 16,
        eigenvalue_range: Sequence[float] = (-1, 1),
        use_short_conv: bool = True,
        conv_size: int = 4,
        dt_min: float = 1e-3,
        dt_max: float = 10.0,
        backend: str = "auto",
        norm_eps: float = 1e-5,
        gate: str = "sigmoid",
        dt_per_channel: bool = False,
    ):
        super().__init__()
        self.gate = _check_gate(gate)
        self.d_model, self.num_heads, self.head_dim = int(d_model), int(num_heads), int(head_dim)
        self.state_dim = int(state_dim)
        self.dt_per_channel = bool(dt_per_channel)
        n_dt = num_heads * state_dim if self.dt_per_channel else num_heads
        self.eigenvalue_range = _check_range(eigenvalue_range)
        self.backend = backend
        H, K, V = self.num_heads, self.state_dim, self.head_dim
        self.x_proj = nn.Linear(d_model, H * V, bias=False)
        self.z_proj = nn.Linear(d_model, H * V, bias=False)
        self.B_proj = nn.Linear(d_model, H * K, bias=False)
        self.C_proj = nn.Linear(d_model, H * K, bias=False)
        self.dt_proj = nn.Linear(d_model, n_dt, bias=False)
        self.use_short_conv = bool(use_short_conv)
        if self.use_short_conv:
            self.x_conv = ShortConvolution(H * V, conv_size)
        if self.gate == "saturating":
            dt_min, dt_max = SATURATING_DT_RANGE
        # dt_bias = softplus^{-1}(dt0) with dt0 log-uniform in [dt_min, dt_max]
        dt0 = torch.exp(torch.rand(n_dt) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.dt_bias = nn.Parameter(dt0 + torch.log(-torch.expm1(-dt0)))
        A0 = torch.ones(K) if self.gate == "saturating" else torch.arange(1, K + 1, dtype=torch.float32)
        self.A_log = nn.Parameter(torch.log(A0).repeat(H, 1))
        self.D = nn.Parameter(torch.ones(H, V))
        self.o_norm = GatedRMSNorm(V, eps=norm_eps)
        self.o_proj = nn.Linear(H * V, d_model, bias=False)

    def step_sizes(self, x: torch.Tensor) -> torch.Tensor:
        """``dt [B, T, H, 1]`` (one per head) or ``[B, T, H, K]`` (``dt_per_channel``), > 0, for ``x [B, T, d]``."""
        B, T, _ = x.shape
        return F.softplus(_at_least_float32(self.dt_proj(x)) + self.dt_bias).view(B, T, self.num_heads, -1)

    def gates(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(e [B, T, H, K] = gate_unit(exp(-dt A)), dt)`` for ``x [B, T, d_model]``; ``dt`` as :meth:`step_sizes`."""
        dt = self.step_sizes(x)
        return gate_unit(torch.exp(-dt * torch.exp(self.A_log)), self.gate), dt

    def gate_levels(self, x: torch.Tensor) -> torch.Tensor:
        """The gates ``e`` before their clamp (:func:`gate_level`), ``[B, T, H, K]`` for ``x [B, T, d_model]``."""
        return gate_level(torch.exp(-self.step_sizes(x) * torch.exp(self.A_log)), self.gate)

    def gate_usage(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of ``1 - e`` over ``x [B, T, d_model]`` and the channels (a scalar): how far the maps are from the
        identity (``e = 1``); the training's gate penalty (``TrainConfig.gate_penalty``)."""
        return (1 - self.gates(x)[0]).mean()

    def transitions(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(a [B, T, H, K] in the layer's eigenvalue range, dt)`` for ``x [B, T, d_model]``; ``dt`` as
        :meth:`step_sizes`."""
        e, dt = self.gates(x)
        return (2 * e - 1 if self.eigenvalue_range == (-1, 1) else e), dt

    def scan_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The kernel's inputs ``(q [B,T,H,K], k [B,T,H,K], v [B,T,H,V], a [B,T,H,K])``."""
        B, T, _ = x.shape
        H, K, V = self.num_heads, self.state_dim, self.head_dim
        v = self.x_proj(x)
        v = self.x_conv(v) if self.use_short_conv else F.silu(v)
        e, dt = self.gates(x)
        a = 2 * e - 1 if self.eigenvalue_range == (-1, 1) else e
        weight = (1 - e) if self.gate == "saturating" else dt
        k = self.B_proj(x).view(B, T, H, K) * weight.to(x.dtype)
        q = self.C_proj(x).view(B, T, H, K)
        return q, k, v.reshape(B, T, H, V), a

    def forward(self, x: torch.Tensor, initial_state: torch.Tensor | None = None) -> torch.Tensor:
        """``x [B, T, d_model] -> [B, T, d_model]``; ``initial_state [B, H, K, V]`` (zeros when None)."""
        B, T, _ = x.shape
        q, k, v, a = self.scan_inputs(x)
        o, _ = diagonal_scan(q, k, v, a, scale=1.0, initial_state=initial_state, backend=self.backend)
        o = o.to(x.dtype) + self.D * v
        o = self.o_norm(o, self.z_proj(x).view(B, T, self.num_heads, self.head_dim))
        return self.o_proj(o.reshape(B, T, self.num_heads * self.head_dim))


__all__ = ["ShortConvolution", "GatedRMSNorm", "DeltaProductLayer", "DeltaNetLayer", "DiagonalLayer",
           "EIGENVALUE_RANGES", "GATES", "GATE_OVERSHOOT", "gate_unit", "gate_level"]
