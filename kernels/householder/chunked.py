"""Chunked (WY / UT-transform) Householder-product scan in plain PyTorch, with a hand-written backward.

Same contract as :func:`statetrack.kernels.householder.reference.householder_scan_reference` (the truth it is
tested against); the derivation and the FLOP counts are in ``kernels/README.md``. For one chunk of ``C`` factor
rows with keys ``Kc [C, K]``, values ``Vc [C, V]``, betas ``b [C]`` and the state ``S0`` at the chunk start:

    G  = Kc Kc^T,  A = I + strict_tril(diag(b) G)        unit lower triangular [C, C]
    [W | U~] = A^{-1} diag(b) [Kc | Vc]                 (one triangular solve, batched over all chunks)
    U  = U~ - W S0                                      the chunk's new values (rows u_i)
    S_end = S0 + Kc^T U
    o_t   = scale * (q_t^T S0 + Attn_t U),  Attn_t,j = q_t . k_j for rows j <= last row of token t

Everything except the state recurrence (two small batched products per chunk) runs for all ``B * H * chunks`` at
once. Tokens never straddle chunks: a chunk holds ``chunk_size // n_h`` whole tokens; the tail is padded with
identity factors (k = 0, beta = 0, v = 0) and zero queries whose outputs are dropped.

Gradients come from :class:`_ChunkedScan`'s backward (derived in ``kernels/README.md`` section 1.5), which keeps
``G``, ``[W | U~]`` and the chunk start states from the forward and recomputes ``Attn`` and ``U``; it is checked
against autograd through the float64 reference and by ``gradcheck``. Accumulates in float64 for float64 inputs,
else float32.
"""
from __future__ import annotations

import torch

from .reference import (KernelInputError, accumulation_dtype, check_householder_inputs, check_scale,
                        no_autocast)

DEFAULT_CHUNK_SIZE = 64


class _Layout:
    """Chunk-major layout ``[N*B*H, rows, .]`` (``N`` chunks, chunk index slowest) and its inverse.

    ``tok`` tokens and ``C = tok * n_h`` factor rows per chunk; ``Tp = N * tok`` padded tokens.
    """

    def __init__(self, B: int, T: int, H: int, n_h: int, chunk_size: int):
        self.B, self.T, self.H, self.n_h = B, T, H, n_h
        self.tok = max(1, chunk_size // n_h)
        self.C = self.tok * n_h
        self.N = max(1, -(-T // self.tok))
        self.Tp = self.N * self.tok

    def to_chunks(self, x: torch.Tensor, rows: int, dtype: torch.dtype) -> torch.Tensor:
        """``x [B, L, H, d]`` or ``[B, L, H]`` -> ``[N*B*H, rows/N, d]`` in ``dtype`` (zero-padded to ``rows``)."""
        B, H, N = self.B, self.H, self.N
        if x.dim() == 3:
            x = x.unsqueeze(-1)
        d = x.shape[-1]
        out = torch.zeros(N, B, H, rows // N, d, dtype=dtype, device=x.device) if rows != x.shape[1] else \
            torch.empty(N, B, H, rows // N, d, dtype=dtype, device=x.device)
        L = x.shape[1]
        full, rest = divmod(L, rows // N)
        view = out.permute(1, 0, 3, 2, 4)  # [B, N, rows/N, H, d]
        if full:
            view[:, :full].copy_(x[:, :full * (rows // N)].reshape(B, full, rows // N, H, d))
        if rest:
            view[:, full, :rest].copy_(x[:, full * (rows // N):])
        return out.reshape(N * B * H, rows // N, d)

    def from_chunks(self, x: torch.Tensor, length: int, dtype: torch.dtype, squeeze: bool = False) -> torch.Tensor:
        """Inverse of :meth:`to_chunks`: ``[N*B*H, r, d]`` -> ``[B, length, H, d]`` (``[B, length, H]`` if squeeze)."""
        B, H, N = self.B, self.H, self.N
        r, d = x.shape[-2], x.shape[-1]
        y = x.reshape(N, B, H, r, d).permute(1, 0, 3, 2, 4).reshape(B, N * r, H, d)[:, :length]
        y = y.to(dtype) if y.dtype != dtype else y.contiguous()
        return y.squeeze(-1) if squeeze else y

    def read_mask(self, device: torch.device) -> torch.Tensor:
        """``[tok, C]`` bool: token t of a chunk reads rows ``j <= t*n_h + n_h - 1``."""
        last_row = torch.arange(self.tok, device=device) * self.n_h + (self.n_h - 1)
        return torch.arange(self.C, device=device)[None, :] <= last_row[:, None]


def _masked_scores(qc: torch.Tensor, kc: torch.Tensor, mask: torch.Tensor, n_h: int) -> torch.Tensor:
    """``Attn = mask * (Qc Kc^T)`` [NBH, tok, C]."""
    P = qc @ kc.transpose(-1, -2)
    return P.tril_() if n_h == 1 else P.mul_(mask)


class _ChunkedScan(torch.autograd.Function):
    """Forward and backward of the chunked scan on chunk-major tensors (see the module docstring). The backward is
    itself not differentiable (``once_differentiable``: no double backward)."""

    @staticmethod
    def forward(ctx, q, k, v, beta, h0, scale: float, n_h: int, chunk_size: int):  # noqa: D401
        B, T, H, K = q.shape
        V = v.shape[-1]
        lay = _Layout(B, T, H, n_h, chunk_size)
        N, C = lay.N, lay.C
        acc = accumulation_dtype(q, k, v, beta, h0)
        dev = q.device
        BH = B * H

        qc = lay.to_chunks(q, lay.Tp, acc)  # [NBH, tok, K]
        kc = lay.to_chunks(k, lay.Tp * n_h, acc)  # [NBH, C, K]
        vc = lay.to_chunks(v, lay.Tp * n_h, acc)  # [NBH, C, V]
        bc = lay.to_chunks(beta, lay.Tp * n_h, acc)  # [NBH, C, 1]

        G = kc @ kc.transpose(-1, -2)  # [NBH, C, C]
        R = torch.empty(N * BH, C, K + V, dtype=acc, device=dev)
        torch.mul(kc, bc, out=R[..., :K])
        torch.mul(vc, bc, out=R[..., K:])
        # solve_triangular reads only the strict lower triangle of A (lower, unit diagonal)
        X = torch.linalg.solve_triangular(G * bc, R, upper=False, unitriangular=True)  # [W | U~]
        del R

        # sequential state passing: U = U~ - W S0, S <- S0 + Kc^T U; S0s[n] = state at the start of chunk n
        S0s = torch.empty(N + 1, BH, K, V, dtype=acc, device=dev)
        if h0 is None:
            S0s[0].zero_()
        else:
            S0s[0].copy_(h0.reshape(BH, K, V))
        U = torch.empty(N, BH, C, V, dtype=acc, device=dev)
        Xn = X.view(N, BH, C, K + V)
        kn = kc.view(N, BH, C, K)
        for n in range(N):
            torch.baddbmm(Xn[n, :, :, K:], Xn[n, :, :, :K], S0s[n], alpha=-1.0, out=U[n])
            torch.baddbmm(S0s[n], kn[n].transpose(-1, -2), U[n], out=S0s[n + 1])
        S0 = S0s[:N].reshape(N * BH, K, V)
        U = U.view(N * BH, C, V)

        mask = lay.read_mask(dev)
        o = torch.baddbmm(qc @ S0, _masked_scores(qc, kc, mask, n_h), U).mul_(scale)  # [NBH, tok, V]
        o = lay.from_chunks(o, T, q.dtype)

        ctx.save_for_backward(qc, kc, vc, bc, G, X, S0s)
        ctx.lay, ctx.scale, ctx.dims = lay, scale, (K, V)
        ctx.dtypes = (q.dtype, k.dtype, v.dtype, beta.dtype, None if h0 is None else h0.dtype)
        final = S0s[N].reshape(B, H, K, V).clone()
        return o, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, do, dfinal):
        qc, kc, vc, bc, G, X, S0s = ctx.saved_tensors
        lay, scale = ctx.lay, ctx.scale
        K, V = ctx.dims
        N, C, n_h, T = lay.N, lay.C, lay.n_h, lay.T
        BH = lay.B * lay.H
        acc, dev = qc.dtype, qc.device
        W, Ut = X[..., :K], X[..., K:]
        S0 = S0s[:N].reshape(N * BH, K, V)

        if do is None:
            do = torch.zeros(lay.B, T, lay.H, V, dtype=acc, device=dev)
        doc = lay.to_chunks(do, lay.Tp, acc).mul_(scale)  # [NBH, tok, V], scale folded in
        U = torch.baddbmm(Ut, W, S0, alpha=-1.0)  # recomputed new values [NBH, C, V]
        mask = lay.read_mask(dev)
        P = _masked_scores(qc, kc, mask, n_h)  # [NBH, tok, C]

        dU = P.transpose(-1, -2) @ doc  # [NBH, C, V]
        dP = doc @ U.transpose(-1, -2)
        dP = dP.tril_() if n_h == 1 else dP.mul_(mask)
        dq = torch.baddbmm(dP @ kc, doc, S0.transpose(-1, -2))  # [NBH, tok, K]
        dk = dP.transpose(-1, -2) @ qc  # [NBH, C, K]
        dS_out = qc.transpose(-1, -2) @ doc  # [NBH, K, V]: what the outputs put on each chunk's start state
        del P, dP, doc
        qd, kd, vd, bd, hd = ctx.dtypes
        dq_out = lay.from_chunks(dq, T, qd)
        del dq

        # reverse state recurrence: g = dL/dS_{n+1}; dU_n += Kc_n g; dL/dS_n = g + dS_out_n - W_n^T dU_n
        g = torch.zeros(BH, K, V, dtype=acc, device=dev) if dfinal is None else dfinal.reshape(BH, K, V).to(acc)
        dSnext = torch.empty(N, BH, K, V, dtype=acc, device=dev)
        dUn = dU.view(N, BH, C, V)
        kn = kc.view(N, BH, C, K)
        Wn = X.view(N, BH, C, K + V)[..., :K]
        dSo = dS_out.view(N, BH, K, V)
        for n in range(N - 1, -1, -1):
            dSnext[n].copy_(g)
            dUn[n].baddbmm_(kn[n], g)
            g = torch.baddbmm(g + dSo[n], Wn[n].transpose(-1, -2), dUn[n], alpha=-1.0)
        dh0 = g
        del dS_out, dSo

        dSnext = dSnext.view(N * BH, K, V)
        dk.baddbmm_(U, dSnext.transpose(-1, -2))  # from S_end = S0 + Kc^T U
        del U, dSnext
        dX = torch.empty_like(X)
        torch.bmm(dU, S0.transpose(-1, -2), out=dX[..., :K]).neg_()  # dW = -dU S0^T
        dX[..., K:].copy_(dU)  # dU~ = dU
        del dU

        A = G * bc
        dR = torch.linalg.solve_triangular(A.transpose(-1, -2), dX, upper=True, unitriangular=True)
        del dX
        dA = torch.bmm(dR, X.transpose(-1, -2)).neg_().tril_(-1)  # only A's strict lower triangle is used
        db = (dA * G).sum(-1, keepdim=True)  # from A = I + strict_tril(diag(b) G)
        dG = dA.mul_(bc)
        dk.baddbmm_(dG, kc).baddbmm_(dG.transpose(-1, -2), kc)
        db += (dR[..., :K] * kc).sum(-1, keepdim=True) + (dR[..., K:] * vc).sum(-1, keepdim=True)
        dk.addcmul_(dR[..., :K], bc)
        dv = dR[..., K:] * bc

        rows = T * n_h
        dk_out = lay.from_chunks(dk, rows, kd)
        dv_out = lay.from_chunks(dv, rows, vd)
        db_out = lay.from_chunks(db, rows, bd, squeeze=True)
        dh0_out = None if hd is None else dh0.reshape(lay.B, lay.H, K, V).to(hd)
        return dq_out, dk_out, dv_out, db_out, dh0_out, None, None, None


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
    o, final = _ChunkedScan.apply(q, k, v, beta, initial_state, scale, n_h, chunk_size)
    return o, (final if output_final_state else None)
