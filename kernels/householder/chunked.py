"""Chunked (WY / UT-transform) Householder-product scan in plain PyTorch.

Same contract as :func:`statetrack.kernels.householder.reference.householder_scan_reference` (the truth it is
tested against); the derivation is in ``kernels/README.md``. In short, for one chunk of ``C`` factor rows with
keys ``Kc [C, K]``, values ``Vc [C, V]``, betas ``b [C]`` and the state ``S0`` at the chunk start:

    A  = I + strict_tril(diag(b) Kc Kc^T)              unit lower triangular [C, C]
    Wk = A^{-1} diag(b) Kc,   Uv = A^{-1} diag(b) Vc   (one triangular solve, batched over all chunks)
    S_end = M S0 + D,  M = I - Kc^T Wk  [K, K],  D = Kc^T Uv  [K, V]
    o_t   = scale * (Attn_t Uv + (q_t - Attn_t Wk) S0),  Attn_t,j = q_t . k_j for rows j <= last row of token t

Everything except ``S <- M S + D`` is computed for all chunks at once; the sequential loop over chunks does one
``[K, K] @ [K, V]`` product per chunk. ``M`` is the product of the chunk's GH factors and ``D`` the state the chunk
writes from zero. Tokens never straddle chunks: a chunk holds ``chunk_size // n_h`` whole tokens. The tail is padded
with identity factors (k = 0, beta = 0, v = 0) and zero queries whose outputs are dropped.
Differentiable by autograd (plain torch ops). Accumulates in float64 for float64 inputs, else float32.
"""
from __future__ import annotations

import torch

from .reference import KernelInputError, accumulation_dtype, check_householder_inputs, check_scale

DEFAULT_CHUNK_SIZE = 64


def householder_scan_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    num_householder: int = 1,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Chunked scan: q [B, T, H, K], k [B, T*n_h, H, K], v [B, T*n_h, H, V], beta [B, T*n_h, H].

    ``chunk_size`` counts factor rows; it is rounded down to a multiple of ``n_h`` (at least ``n_h``).
    Returns ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype or None)``.
    """
    where = "householder_scan_chunked"
    B, T, H, K, V, n_h = check_householder_inputs(q, k, v, beta, num_householder, initial_state, where)
    scale = check_scale(scale, K, where)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise KernelInputError(f"{where}: chunk_size must be a positive int, got {chunk_size!r}")
    acc = accumulation_dtype(q, k, v, beta, initial_state)
    dev = q.device

    tok = max(1, chunk_size // n_h)  # whole tokens per chunk
    C = tok * n_h  # factor rows per chunk
    N = max(1, -(-T // tok))  # number of chunks
    Tp = N * tok  # padded token count

    # [B, H, rows, .] in the accumulation dtype, padded with identity factors / zero queries
    def prep(x: torch.Tensor, rows: int) -> torch.Tensor:
        x = x.to(acc).transpose(1, 2)
        pad = rows - x.shape[2]
        if pad:
            x = torch.nn.functional.pad(x, (0, 0, 0, pad) if x.dim() == 4 else (0, pad))
        return x

    qc = prep(q, Tp).reshape(B, H, N, tok, K)
    kc = prep(k, Tp * n_h).reshape(B, H, N, C, K)
    vc = prep(v, Tp * n_h).reshape(B, H, N, C, V)
    bc = prep(beta, Tp * n_h).reshape(B, H, N, C, 1)

    # UT transform, batched over all chunks: A X = diag(b) [Kc | Vc]
    gram = kc @ kc.transpose(-1, -2)  # [B, H, N, C, C]
    A = torch.tril(bc * gram, diagonal=-1) + torch.eye(C, dtype=acc, device=dev)
    rhs = bc * torch.cat([kc, vc], dim=-1)
    X = torch.linalg.solve_triangular(A, rhs, upper=False, unitriangular=True)
    wk, uv = X[..., :K], X[..., K:]  # [B, H, N, C, K], [B, H, N, C, V]

    kT = kc.transpose(-1, -2)  # [B, H, N, K, C]
    M = torch.eye(K, dtype=acc, device=dev) - kT @ wk  # chunk transition [B, H, N, K, K]
    D = kT @ uv  # chunk input [B, H, N, K, V]

    # intra-chunk outputs; token t of a chunk sees rows j <= t*n_h + n_h - 1
    last_row = torch.arange(tok, device=dev) * n_h + (n_h - 1)
    mask = torch.arange(C, device=dev)[None, :] <= last_row[:, None]  # [tok, C]
    attn = (qc @ kT) * mask  # [B, H, N, tok, C]
    o_intra = attn @ uv  # [B, H, N, tok, V]
    q_eff = qc - attn @ wk  # [B, H, N, tok, K]

    # sequential state passing: one [K, K] @ [K, V] per chunk
    S = torch.zeros(B, H, K, V, dtype=acc, device=dev)
    if initial_state is not None:
        S = S + initial_state.to(acc)
    starts = []
    for c in range(N):
        starts.append(S)
        S = M[:, :, c] @ S + D[:, :, c]
    S0 = torch.stack(starts, dim=2)  # [B, H, N, K, V]

    o = (o_intra + q_eff @ S0) * scale  # [B, H, N, tok, V]
    o = o.reshape(B, H, Tp, V)[:, :, :T].transpose(1, 2).to(q.dtype)
    return o, (S if output_final_state else None)
