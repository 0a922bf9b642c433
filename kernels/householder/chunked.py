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
once; the backward takes the same groups in reverse order. Tokens never straddle chunks: a chunk holds
``chunk_size // n_h`` whole tokens; the tail is padded with identity factors (k = 0, beta = 0, v = 0) and zero
queries whose outputs are dropped.

Without a gradient (grad mode off or no input requiring one) :func:`_forward_no_grad` runs instead: it keeps
nothing for a backward and never forms ``W`` or ``U~``; each chunk solves ``A U = diag(b) (V_c - K_c S0)`` inside the
state loop (``V`` right-hand sides instead of ``K + V``), with chunks of :data:`NO_GRAD_CHUNK_SIZE` rows by default.

Gradients come from :class:`_ChunkedScan`'s backward (derived in ``kernels/README.md`` section 1.5), which keeps
``G``, ``[W | U~]`` and the chunk start states from the forward (only when a gradient is wanted), cuts the inputs
into chunks again and recomputes ``Attn`` and ``U``; it is checked against autograd through the float64 reference
and by ``gradcheck``. Accumulates in float64 for float64 inputs, else float32.
"""
from __future__ import annotations

import torch

from .reference import (KernelInputError, accumulation_dtype, check_householder_inputs, check_scale,
                        no_autocast)
from ..chunk_layout import ChunkLayout, grad_wanted

DEFAULT_CHUNK_SIZE = 64
# chunk of the forward when no gradient is wanted (it solves for the new values U inside the state loop, so its
# triangular solves have V right-hand sides, not K + V; at B=4, H=4, T=4096, K=V=64 chunks of 32 rows were fastest)
NO_GRAD_CHUNK_SIZE = 32
# bytes of the largest per-group tensor of the forward and backward: about half of a CPU core's L2 cache
# (measured at B=4, H=4, T=4096: 1-2 MiB fastest; one group for the whole sequence 1.4-2x slower: memory traffic)
GROUP_BYTES = 1 << 20


def _group_chunks(BH: int, C: int, K: int, V: int) -> int:
    """Chunks per group (forward and backward): the group's largest tensor (``[chunks * BH, C, K + V]`` float32)
    stays near :data:`GROUP_BYTES`, so its passes run from cache; at least one chunk."""
    return max(1, GROUP_BYTES // (max(BH, 1) * C * (K + V) * 4))  # (BH = 0: an empty batch)


def _masked_scores(qc: torch.Tensor, kc: torch.Tensor, mask: torch.Tensor, n_h: int) -> torch.Tensor:
    """``Attn = mask * (Qc Kc^T)`` [NBH, tok, C]."""
    P = qc @ kc.transpose(-1, -2)
    return P.tril_() if n_h == 1 else P.mul_(mask)


def _forward_no_grad(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, h0: torch.Tensor | None,
                     scale: float, n_h: int, chunk_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward when no gradient is wanted (inference, evaluation): same contract as :class:`_ChunkedScan`'s.

    Nothing is kept for a backward, so ``W`` and ``U~`` are never formed: inside the state loop each chunk solves
    ``A U = diag(b) (V_c - K_c S0)`` for its new values directly (``V`` right-hand sides instead of ``K + V``; the
    same unit-triangular forward substitution), then ``S_end = S0 + K_c^T U``. The Gram and score matrices and the
    outputs ``Attn U + Q_c S0`` are batched over cache-sized groups of chunks as in the gradient path.
    Returns ``(o [B, T, H, V] in q.dtype, final state [B*H, K, V] in the accumulation dtype)``.
    """
    B, T, H, K = q.shape
    V = v.shape[-1]
    lay = ChunkLayout(B, T, H, n_h, chunk_size)
    N, C, BH = lay.N, lay.C, B * H
    acc = accumulation_dtype(q, k, v, beta, h0)
    dev = q.device
    step = _group_chunks(BH, C, K, V)
    S0 = lay.start_states(step, K, V, acc, dev, h0)  # S0[i]: the state at the start of the group's chunk i
    o = torch.empty(B, T, H, V, dtype=q.dtype, device=dev)
    mask = lay.read_mask(dev)
    for n0 in range(0, N, step):
        n1 = min(N, n0 + step)
        m = n1 - n0
        if n0:
            S0[0].copy_(S0[step])
        qc = lay.chunk_group(q, n0, n1, 1, acc)  # [m*BH, tok, K]
        kc = lay.chunk_group(k, n0, n1, n_h, acc)  # [m*BH, C, K]
        vc = lay.chunk_group(v, n0, n1, n_h, acc)  # [m*BH, C, V]
        bc = lay.chunk_group(beta, n0, n1, n_h, acc)  # [m*BH, C, 1]
        kb = kc * bc  # diag(b) K_c
        A = torch.bmm(kb, kc.transpose(-1, -2))  # diag(b) G; its strict lower triangle is A - I (all the solver reads)
        vb = vc.mul_(bc)  # diag(b) V_c
        U = torch.empty(m, BH, C, V, dtype=acc, device=dev)
        An, kn, kbn, vbn = A.view(m, BH, C, C), kc.view(m, BH, C, K), kb.view(m, BH, C, K), vb.view(m, BH, C, V)
        for i in range(m):  # sequential state passing
            rhs = torch.baddbmm(vbn[i], kbn[i], S0[i], alpha=-1.0)  # diag(b) (V_c - K_c S0)
            torch.linalg.solve_triangular(An[i], rhs, upper=False, unitriangular=True, out=U[i])
            torch.baddbmm(S0[i], kn[i].transpose(-1, -2), U[i], out=S0[i + 1])
        out = torch.bmm(qc, S0[:m].view(-1, K, V)).baddbmm_(_masked_scores(qc, kc, mask, n_h), U.view(-1, C, V))
        lay.put_group(o, out, n0, scale)
    return o, S0[m].clone()


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
        if keep:  # the backward re-cuts q, k, v, beta from the inputs and keeps G, [W | U~] and the states
            G_all = torch.empty(N * BH, C, C, dtype=acc, device=dev)
            X_all = torch.empty(N * BH, C, K + V, dtype=acc, device=dev)
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
                G_all[rows] = G
                X_all[rows] = X
        o = lay.from_chunks(o.mul_(scale), T, q.dtype)

        if keep:
            ctx.save_for_backward(q, k, v, beta, G_all, X_all, S0s)
        ctx.lay, ctx.scale, ctx.dims = lay, scale, (K, V)
        ctx.dtypes = (q.dtype, k.dtype, v.dtype, beta.dtype, None if h0 is None else h0.dtype)
        final = S0s[N].reshape(B, H, K, V).clone()
        return o, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, do, dfinal):
        q, k, v, beta, G_all, X_all, S0s = ctx.saved_tensors
        lay, scale = ctx.lay, ctx.scale
        K, V = ctx.dims
        N, C, tok, n_h, T = lay.N, lay.C, lay.tok, lay.n_h, lay.T
        BH = lay.B * lay.H
        acc, dev = G_all.dtype, G_all.device
        if do is None:
            do = torch.zeros(lay.B, T, lay.H, V, dtype=acc, device=dev)
        dq = torch.empty(N * BH, tok, K, dtype=acc, device=dev)
        dk = torch.empty(N * BH, C, K, dtype=acc, device=dev)
        dv = torch.empty(N * BH, C, V, dtype=acc, device=dev)
        db = torch.empty(N * BH, C, 1, dtype=acc, device=dev)
        mask = lay.read_mask(dev)
        # g = dL/dS at the end of the chunk being processed (the reverse state recurrence carries it)
        g = torch.zeros(BH, K, V, dtype=acc, device=dev) if dfinal is None else dfinal.reshape(BH, K, V).to(acc)
        step = _group_chunks(BH, C, K, V)
        for n0 in reversed(range(0, N, step)):  # groups of chunks, last group first
            n1 = min(N, n0 + step)
            m = n1 - n0
            rows = slice(n0 * BH, n1 * BH)
            qc = lay.chunk_group(q, n0, n1, 1, acc)
            kc = lay.chunk_group(k, n0, n1, n_h, acc)
            vc = lay.chunk_group(v, n0, n1, n_h, acc)
            bc = lay.chunk_group(beta, n0, n1, n_h, acc)
            doc = lay.chunk_group(do, n0, n1, 1, acc).mul_(scale)  # [m*BH, tok, V], scale folded in
            G, X = G_all[rows], X_all[rows]
            W = X[..., :K]
            S0 = S0s[n0:n1].reshape(m * BH, K, V)
            U = torch.baddbmm(X[..., K:], W, S0, alpha=-1.0)  # recomputed new values [m*BH, C, V]
            P = _masked_scores(qc, kc, mask, n_h)  # [m*BH, tok, C]

            dU = P.transpose(-1, -2) @ doc  # [m*BH, C, V]
            dP = doc @ U.transpose(-1, -2)
            dP = dP.tril_() if n_h == 1 else dP.mul_(mask)
            torch.baddbmm(dP @ kc, doc, S0.transpose(-1, -2), out=dq[rows])
            dkg = dP.transpose(-1, -2) @ qc  # [m*BH, C, K]
            dS_out = (qc.transpose(-1, -2) @ doc).view(m, BH, K, V)  # what the outputs put on each start state
            del P, dP, doc

            # reverse state recurrence: dU_n += Kc_n g; dL/dS_n = g + dS_out_n - W_n^T dU_n
            dSnext = torch.empty(m, BH, K, V, dtype=acc, device=dev)
            dUn = dU.view(m, BH, C, V)
            kn = kc.view(m, BH, C, K)
            Wn = W.view(m, BH, C, K)
            for i in range(m - 1, -1, -1):
                dSnext[i].copy_(g)
                dUn[i].baddbmm_(kn[i], g)
                g = torch.baddbmm(g + dS_out[i], Wn[i].transpose(-1, -2), dUn[i], alpha=-1.0)

            dkg.baddbmm_(U, dSnext.view(m * BH, K, V).transpose(-1, -2))  # from S_end = S0 + Kc^T U
            del U, dSnext
            dX = torch.empty_like(X)
            torch.bmm(dU, S0.transpose(-1, -2), out=dX[..., :K]).neg_()  # dW = -dU S0^T
            dX[..., K:].copy_(dU)  # dU~ = dU
            del dU
            dR = torch.linalg.solve_triangular((G * bc).transpose(-1, -2), dX, upper=True, unitriangular=True)
            del dX
            dA = torch.bmm(dR, X.transpose(-1, -2)).neg_().tril_(-1)  # only A's strict lower triangle is used
            dbg = (dA * G).sum(-1, keepdim=True)  # from A = I + strict_tril(diag(b) G)
            dG = dA.mul_(bc)
            dkg.baddbmm_(dG, kc).baddbmm_(dG.transpose(-1, -2), kc)
            dbg += (dR[..., :K] * kc).sum(-1, keepdim=True) + (dR[..., K:] * vc).sum(-1, keepdim=True)
            dk[rows] = dkg.addcmul_(dR[..., :K], bc)
            torch.mul(dR[..., K:], bc, out=dv[rows])
            db[rows] = dbg

        qd, kd, vd, bd, hd = ctx.dtypes
        rows = T * n_h
        dq_out = lay.from_chunks(dq, T, qd)
        dk_out = lay.from_chunks(dk, rows, kd)
        dv_out = lay.from_chunks(dv, rows, vd)
        db_out = lay.from_chunks(db, rows, bd, squeeze=True)
        dh0_out = None if hd is None else g.reshape(lay.B, lay.H, K, V).to(hd)
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
    chunk_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Chunked scan: q [B, T, H, K], k [B, T*n_h, H, K], v [B, T*n_h, H, V], beta [B, T*n_h, H].

    ``chunk_size`` counts factor rows; it is rounded down to a multiple of ``n_h`` (at least ``n_h``). ``None``:
    :data:`DEFAULT_CHUNK_SIZE` when a gradient is wanted (grad mode on and some input requires one), else the
    no-gradient forward's :data:`NO_GRAD_CHUNK_SIZE`.
    Returns ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype or None)``.
    """
    where = "householder_scan_chunked"
    B, T, H, K, V, n_h = check_householder_inputs(q, k, v, beta, num_householder, initial_state, where)
    scale = check_scale(scale, K, where)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise KernelInputError(f"{where}: chunk_size must be a positive int, got {chunk_size!r}")
    if not grad_wanted(q, k, v, beta, initial_state):
        o, final = _forward_no_grad(q, k, v, beta, initial_state, scale, n_h,
                                    NO_GRAD_CHUNK_SIZE if chunk_size is None else chunk_size)
        return o, (final.view(B, H, K, V) if output_final_state else None)
    o, final = _ChunkedScan.apply(q, k, v, beta, initial_state, scale, n_h,
                                  DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size)
    return o, (final if output_final_state else None)
