"""Plain sequential diagonal scan: the truth the chunked diagonal scan is tested against.

Layout (the Householder scan's, with a per-channel transition instead of GH factors):
    q [B, T, H, K], k [B, T, H, K], v [B, T, H, V], a [B, T, H, K], state [B, H, K, V]
Recurrence per batch, head and key channel i:
    S_t[i, :] = a_t[i] * S_{t-1}[i, :] + k_t[i] * v_t        (S_t = diag(a_t) S_{t-1} + k_t v_t^T)
    o_t       = scale * S_t^T q_t                              (default scale K ** -0.5)
``a`` is any real number: meant to lie in [-1, 1] (negative entries flip the sign of a channel, 0 resets it), but
nothing clamps it. No logarithms are taken, so signs and exact zeros are carried exactly.
"""
from __future__ import annotations

import torch

from ..householder.reference import (
    KernelInputError,
    check_feature_dims,
    check_float_tensor,
    accumulation_dtype,
    check_initial_state,
    check_scale,
    no_autocast,
)


def check_diagonal_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, a: torch.Tensor,
                          initial_state: torch.Tensor | None,
                          where: str = "diagonal_scan") -> tuple[int, int, int, int, int]:
    """Validate the layout of the module docstring; returns ``(B, T, H, K, V)``.

    Raises :class:`~statetrack.kernels.householder.reference.KernelInputError` naming the offending argument.
    """
    for name, x in (("q", q), ("k", k), ("v", v), ("a", a)):
        check_float_tensor(name, x, where)
    if q.dim() != 4:
        raise KernelInputError(f"{where}: q must be [B, T, H, K], got shape {list(q.shape)}")
    B, T, H, K = q.shape
    for name, x in (("k", k), ("a", a)):
        if tuple(x.shape) != (B, T, H, K):
            raise KernelInputError(f"{where}: {name} must be [B, T, H, K] = {[B, T, H, K]}, got {list(x.shape)}")
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, T, H):
        raise KernelInputError(f"{where}: v must be [B, T, H, V] with [B, T, H] = {[B, T, H]}, got {list(v.shape)}")
    V = v.shape[-1]
    check_feature_dims(H, K, V, where)
    for name, x in (("k", k), ("v", v), ("a", a)):
        if x.device != q.device:
            raise KernelInputError(f"{where}: {name} is on {x.device}, q on {q.device}")
    check_initial_state(initial_state, (B, H, K, V), q.device, where)
    return B, T, H, K, V


@no_autocast
def diagonal_scan_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sequential reference. Accumulates in float64 when any input is float64, else float32.

    Returns ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype or None)``.
    Differentiable through autograd (slow; for tests).
    """
    where = "diagonal_scan_reference"
    B, T, H, K, V = check_diagonal_inputs(q, k, v, a, initial_state, where)
    scale = check_scale(scale, K, where)
    acc = accumulation_dtype(q, k, v, a, initial_state)
    qf, kf, vf, af = (x.to(acc) for x in (q, k, v, a))
    S = torch.zeros(B, H, K, V, dtype=acc, device=q.device)
    if initial_state is not None:
        S = S + initial_state.to(acc)
    outs = []
    for t in range(T):
        S = af[:, t, :, :, None] * S + kf[:, t, :, :, None] * vf[:, t, :, None, :]
        outs.append(torch.einsum("bhk,bhkv->bhv", qf[:, t], S) * scale)
    o = torch.stack(outs, dim=1) if outs else qf.new_zeros(B, 0, H, V)
    return o.to(q.dtype), (S if output_final_state else None)
