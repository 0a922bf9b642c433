"""Chunked (WY / UT-transform) Householder-product scan in plain PyTorch.

Same contract as :func:`statetrack.kernels.householder.reference.householder_scan_reference` (the truth it is
tested against); the derivation is in ``kernels/README.md``. In short, for one chunk of ``C`` factor rows with
keys ``Kc [C, K]``, values ``Vc [C, V]``, betas ``b [C]`` and the state ``S0`` at the chunk start:

    A  = I + strict_tril(diag(b) Kc Kc^T)              unit lower triangular [C, C]
    W  = A^{-1} diag(b) Kc,   U~ = A^{-1} diag(b) Vc   (one triangular solve, batched over all chunks)
    U  = U~ - W S0                                      the chunk's new values (rows u_i)
    S_end = S0 + Kc^T U   (= M S0 + D with M = I - Kc^T W the product of the chunk's GH factors, D = Kc^T U~)
    o_t   = scale * (q_t^T S0 + Attn_t U),  Attn_t,j = q_t . k_j for rows j <= last row of token t

Gram matrices and the triangular solve are computed for all chunks at once; the sequential loop over chunks does
two small products per chunk (``W S0`` and ``Kc^T U``), and the outputs are again one batched product.
Tokens never straddle chunks: a chunk holds ``chunk_size // n_h`` whole tokens. The tail is padded
with identity factors (k = 0, beta = 0, v = 0) and zero queries whose outputs are dropped.
Differentiable by autograd (plain torch ops). Accumulates in float64 for float64 inputs, else float32.
"""
from __future__ import annotations

import torch

from .reference import (KernelInputError, accumulation_dtype, check_householder_inputs, check_scale,
                        no_autocast)

DEFAULT_CHUNK_SIZE = 64


@no_autocast
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

    # chunk-major [N*B*H, rows per chunk, .] in the accumulation dtype, padded with identity factors / zero queries
    def prep(x: torch.Tensor, rows: int) -> torch.Tensor:
        x = x.to(acc)
        if x.dim() == 3:
            x = x.unsqueeze(-1)
        pad = rows - x.shape[1]
        if pad:
            x = torch.nn.functional.pad(x, (0, 0, 0, 0, 0, pad))
        x = x.reshape(B, N, rows // N, H, x.shape[-1]).permute(1, 0, 3, 2, 4)  # [N, B, H, rows/N, .]
        return x.reshape(N * B * H, rows // N, x.shape[-1])

    qc = prep(q, Tp)  # [NBH, tok, K]
    kc = prep(k, Tp * n_h)  # [NBH, C, K]
    vc = prep(v, Tp * n_h)  # [NBH, C, V]
    bc = prep(beta, Tp * n_h)  # [NBH, C, 1]
    kT = kc.transpose(-1, -2)  # [NBH, K, C]

    # UT transform, batched over all chunks: A X = diag(b) [Kc | Vc] with A = I + strict_tril(diag(b) Kc Kc^T);
    # solve_triangular reads only the strict lower triangle (lower, unit diagonal), so A need not be masked
    A = bc * (kc @ kT)  # [NBH, C, C]
    X = torch.linalg.solve_triangular(A, bc * torch.cat([kc, vc], dim=-1), upper=False, unitriangular=True)
    # X = [W | U~]: [NBH, C, K + V]

    W = X[..., :K].reshape(N, B * H, C, K)
    U_tilde = X[..., K:].reshape(N, B * H, C, V)

    # sequential state passing, per chunk: U = U~ - W S0 (the chunk's new values), S <- S0 + Kc^T U
    # (= M S0 + D with M = I - Kc^T W the chunk's product, without forming the K x K matrix M)
    S = torch.zeros(B * H, K, V, dtype=acc, device=dev)
    if initial_state is not None:
        S = S + initial_state.to(acc).reshape(B * H, K, V)
    starts, news = [], []
    for W_c, Ut_c, kT_c in zip(W.unbind(0), U_tilde.unbind(0), kT.reshape(N, B * H, K, C).unbind(0)):
        starts.append(S)  # unbind + stack keep the backward linear in N
        U_c = torch.baddbmm(Ut_c, W_c, S, alpha=-1.0)
        news.append(U_c)
        S = torch.baddbmm(S, kT_c, U_c)
    S0 = torch.stack(starts, dim=0).reshape(N * B * H, K, V)
    U = torch.stack(news, dim=0).reshape(N * B * H, C, V)

    # outputs, all chunks at once; token t of a chunk sees rows j <= t*n_h + n_h - 1
    last_row = torch.arange(tok, device=dev) * n_h + (n_h - 1)
    mask = torch.arange(C, device=dev)[None, :] <= last_row[:, None]  # [tok, C]
    o = (((qc @ kT) * mask) @ U + qc @ S0) * scale  # [NBH, tok, V]
    o = o.reshape(N, B, H, tok, V).permute(1, 0, 3, 2, 4).reshape(B, Tp, H, V)[:, :T].to(q.dtype)
    return o, (S.reshape(B, H, K, V) if output_final_state else None)
