"""Plain sequential Householder-product scan: the truth every fast path is tested against.

Layout (as flash-linear-attention's DeltaProduct op):
    q     [B, T, H, K]
    k     [B, T*n_h, H, K]     the n_h factors of token t are rows t*n_h .. t*n_h + n_h - 1
    v     [B, T*n_h, H, V]
    beta  [B, T*n_h, H]
    state [B, H, K, V]
Each factor does ``S <- S - beta k (k^T S) + beta k v^T`` = ``(I - beta k k^T) S + beta k v^T``;
after the last factor of token t the output is ``o_t = scale * S^T q_t`` (shape [B, T, H, V]).
Keys are used as given (no normalisation), beta is not clamped.
"""
from __future__ import annotations

import torch


def householder_scan_reference(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    num_householder: int = 1,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sequential reference. Accumulates in float64 when any input is float64, else float32.

    Returns ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype or None)``.
    Differentiable through autograd (slow; for tests).
    """
    B, T, H, K = q.shape
    n_h = int(num_householder)
    V = v.shape[-1]
    if k.shape != (B, T * n_h, H, K) or v.shape[:3] != (B, T * n_h, H) or beta.shape != (B, T * n_h, H):
        raise ValueError(
            f"shape mismatch: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, beta {tuple(beta.shape)}"
            f" for num_householder={n_h}"
        )
    acc = torch.float64 if torch.float64 in (q.dtype, k.dtype, v.dtype, beta.dtype) else torch.float32
    if scale is None:
        scale = K ** -0.5
    qf, kf, vf, bf = (x.to(acc) for x in (q, k, v, beta))
    S = torch.zeros(B, H, K, V, dtype=acc, device=q.device)
    if initial_state is not None:
        S = S + initial_state.to(acc)
    outs = []
    for t in range(T):
        for j in range(n_h):
            i = t * n_h + j
            kk = kf[:, i]  # [B, H, K]
            bb = bf[:, i, :, None, None]  # [B, H, 1, 1]
            kS = torch.einsum("bhk,bhkv->bhv", kk, S)
            S = S + bb * kk[..., :, None] * (vf[:, i, :, None, :] - kS[..., None, :])
        outs.append(torch.einsum("bhk,bhkv->bhv", qf[:, t], S) * scale)
    o = torch.stack(outs, dim=1) if outs else qf.new_zeros(B, 0, H, V)
    return o.to(q.dtype), (S if output_final_state else None)
