"""Chunked (WY / UT-transform) Householder-product scan in plain PyTorch, with a hand-written backward.

Same contract as :func:`statetrack.kernels.householder.reference.householder_scan_reference` (the truth it is
tested against); the derivation and the FLOP counts are in ``kernels/README.md``. For one chunk of ``C`` factor
rows with keys ``Kc [C, K]``, values ``Vc [C, V]``, betas ``b [C]`` and the state ``S0`` at the chunk start:

    G  = Kc Kc^T,  A = I + strict_tril(diag(b) G)        unit lower triangular [C, C]
    [W | U~] = A^{-1} diag(b) [Kc | Vc]                 (one batched triangular solve per group of chunks)
    U  = U~ - W S0                                      the chunk's new values (rows u_i)
    S_end = S0 + Kc^T U
    o_t   = scale * (q_t^T S0 + Attn_t U),  Attn_t,j = q_t . k_j for rows j <= last row of token t

The forward runs in groups of consecutive chunks sized to stay in cache (:data:`GROUP_BYTES`): everything except
the state recurrence (two small batched products per chunk) runs for all ``B * H`` heads and chunks of a group at
once; the backward works on all chunks at once. Tokens never straddle chunks: a chunk holds ``chunk_size // n_h``
whole tokens; the tail is padded with identity factors (k = 0, beta = 0, v = 0) and zero queries whose outputs are
dropped.

Gradients come from :class:`_ChunkedScan`'s backward (derived in ``kernels/README.md`` section 1.5), which keeps
``G``, ``[W | U~]`` and the chunk start states from the forward (only when a gradient is wanted) and recomputes
``Attn`` and ``U``; it is checked against autograd through the float64 reference and by ``gradcheck``. Accumulates
in float64 for float64 inputs, else float32.
"""
from __future__ import annotations

import torch

from .reference import (KernelInputError, accumulation_dtype, check_householder_inputs, check_scale,
                        no_autocast)
from ..chunk_layout import ChunkLayout

DEFAULT_CHUNK_SIZE = 64
# bytes of the forward's largest per-group tensor: about half of a CPU core's L2 cache (measured at B=4, H=4,
# T=4096: 1-2 MiB fastest; one group for the whole sequence 1.4-2x slower, from memory traffic)
GROUP_BYTES = 1 << 20


def _group_chunks(BH: int, C: int, K: int, V: int) -> int:
    """Chunks per group of the forward: the group's largest tensor (``[chunks * BH, C, K + V]`` float32) stays near
    :data:`GROUP_BYTES`, so its passes run from cache; at least one chunk."""
    return max(1, GROUP_BYTES // (BH * C * (K + V) * 4))


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
        lay = ChunkLayout(B, T, H, n_h, chunk_size)
        N, C, tok = lay.N, lay.C, lay.tok
        acc = accumulation_dtype(q, k, v, beta, h0)
        dev = q.device
        BH = B * H
        keep = any(ctx.needs_input_grad[:5])  # the backward's tensors are kept only when a gradient is wanted

        S0s = torch.empty(N + 1, BH, K, V, dtype=acc, device=dev)  # S0s[n] = state at the start of chunk n
        if h0 is None:
            S0s[0].zero_()
        else:
            S0s[0].copy_(h0.reshape(BH, K, V))
        o = torch.empty(N * BH, tok, V, dtype=acc, device=dev)
        if keep:
            saved = {name: torch.empty(N * BH, rows, d, dtype=acc, device=dev) for name, rows, d in
                     (("qc", tok, K), ("kc", C, K), ("vc", C, V), ("bc", C, 1), ("G", C, C), ("X", C, K + V))}
        mask = lay.read_mask(dev)
        step = _group_chunks(BH, C, K, V)
        for n0 in range(0, N, step):  # groups of chunks small enough to stay in cache
            n1 = min(N, n0 + step)
            rows = slice(n0 * BH, n1 * BH)
            qc = lay.chunk_group(q, n0, n1, 1, acc)  # [(n1-n0)*BH, tok, K]
            kc = lay.chunk_group(k, n0, n1, n_h, acc)  # [.., C, K]
            vc = lay.chunk_group(v, n0, n1, n_h, acc)  # [.., C, V]
            bc = lay.chunk_group(beta, n0, n1, n_h, acc)  # [.., C, 1]
            G = kc @ kc.transpose(-1, -2)  # [.., C, C]
            R = torch.cat([kc * bc, vc * bc], dim=-1)
            # [W | U~] = A^-1 R; solve_triangular reads only the strict lower triangle of A (unit diagonal)
            X = torch.linalg.solve_triangular(G * bc, R, upper=False, unitriangular=True)
            del R
            # sequential state passing: U = U~ - W S0, S <- S0 + Kc^T U
            U = torch.empty(n1 - n0, BH, C, V, dtype=acc, device=dev)
            Xn = X.view(n1 - n0, BH, C, K + V)
            kn = kc.view(n1 - n0, BH, C, K)
            for i, n in enumerate(range(n0, n1)):
                torch.baddbmm(Xn[i, :, :, K:], Xn[i, :, :, :K], S0s[n], alpha=-1.0, out=U[i])
                torch.baddbmm(S0s[n], kn[i].transpose(-1, -2), U[i], out=S0s[n + 1])
            S0 = S0s[n0:n1].reshape(-1, K, V)
            torch.baddbmm(qc @ S0, _masked_scores(qc, kc, mask, n_h), U.view(-1, C, V), out=o[rows])
            if keep:
                for name, x in (("qc", qc), ("kc", kc), ("vc", vc), ("bc", bc), ("G", G), ("X", X)):
                    saved[name][rows] = x
        o = lay.from_chunks(o.mul_(scale), T, q.dtype)

        if keep:
            ctx.save_for_backward(*(saved[name] for name in ("qc", "kc", "vc", "bc", "G", "X")), S0s)
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

        dR = torch.linalg.solve_triangular((G * bc).transpose(-1, -2), dX, upper=True, unitriangular=True)
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
