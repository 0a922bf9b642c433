"""Triton backward kernels of the Householder-product scan (contract: :mod:`.reference`).

Every kind walks the chunks of ``CS`` factors in reverse from the forward's checkpoints (state before each chunk),
carrying the state gradient. ``fused`` (:func:`bwd_chunk_kernel`) differentiates the chunk's WY / UT form with dense
``tl.dot`` tiles in one sequential kernel (formulas in its docstring); ``chunk`` splits the same algebra into a light
sequential pass for the state gradients at chunk ends (:func:`bwd_states_kernel`) and a pass parallel over chunks for
all input gradients (:func:`bwd_grads_kernel`); ``recurrent`` (:func:`bwd_recurrent_kernel`) goes one factor at a
time, as follows.

A factor ``S' = S + beta k u^T`` with ``u = v - S^T k`` has, for the incoming state gradient ``G = dL/dS'`` and
``w = G^T k``::

    dS    = G - beta k w^T          dv    = beta w
    dbeta = w . u                   dk    = beta (G u - S w)

and a token output ``o_t = scale S'^T q_t`` adds ``scale q_t do_t^T`` to ``G`` and gives ``dq_t = scale S' do_t``.
The factors with ``beta = 1`` and unit keys are projections (singular), so states cannot be recovered by inverting
factors: the forward stores checkpoints (state before every ``CS``-th factor, see :mod:`.triton_fwd`), and the backward
walks chunks in reverse; for each it replays the chunk forward from its checkpoint, writing the ``CS + 1`` states
into a per-program scratch buffer, then walks the chunk's factors in reverse reading them back.

``recurrent`` and ``fused`` use one program per (V-block, batch*head), state tiles ``[BK, BV]``. ``dv`` is complete
per V-block; ``dq``, ``dk`` and ``dbeta`` are sums over V, so each program writes its partial sum (leading ``NV``
axis) and the caller adds them up. All float32.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .triton_tiles import chunk_rows, load_tile, load_vec
from .triton_utils import launcher

_BWD_CONFIGS = [dict(num_warps=1), dict(num_warps=2), dict(num_warps=4)]


@launcher(_BWD_CONFIGS, key=["H", "K", "V", "NH", "BV"])
@triton.jit
def bwd_recurrent_kernel(
    q, k, v, beta, do, dht, ckpt, scratch,
    dq, dk, dv, dbeta, dh0,
    scale, B, T, NF, H, K, V, NC,
    NH: tl.constexpr, CS: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_DHT: tl.constexpr, STORE_DH0: tl.constexpr,
):
    """Inputs as the forward plus do [B,T,H,V], dht [B,H,K,V], ckpt [B,H,NC,K,V], scratch [B*H*NV, CS+1, BK, BV].

    Outputs: dq [NV,B,T,H,K], dk [NV,B,NF,H,K], dbeta [NV,B,NF,H] (partials over V-blocks), dv [B,NF,H,V],
    dh0 [B,H,K,V] (all float32).
    """
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    NV = tl.num_programs(0)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]
    scr = scratch + (i_bh * NV + i_v) * (CS + 1) * BK * BV  # this program's [CS + 1, BK, BV] states
    o_bv = tl.arange(0, BV)
    p_scr = scr + o_k[:, None] * BV + o_bv[None, :]
    kbase = i_b * NF * H + i_h  # row index of factor 0 of this (batch, head) in [B, NF, H]
    qbase = i_b * T * H + i_h

    b_dh = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_DHT:
        b_dh += load_tile(dht + i_bh * K * V, o_k, m_k, o_v, V)

    for cc in range(NC):
        c = NC - 1 - cc
        i0 = c * CS
        # replay the chunk forward from its checkpoint; scratch[s] = state before factor i0 + s
        b_h = load_tile(ckpt + (i_bh * NC + c) * K * V, o_k, m_k, o_v, V)
        for s in range(CS):
            tl.store(p_scr + s * BK * BV, b_h)
            # past the end (last chunk): re-read the last factor with beta = 0, an identity update
            row = kbase + tl.minimum(i0 + s, NF - 1) * H
            b_k = load_vec(k + row * K, o_k, m_k)
            b_v = load_vec(v + row * V, o_v, m_v)
            b_beta = tl.where(i0 + s < NF, tl.load(beta + row).to(tl.float32), 0.0)
            b_u = b_v - tl.sum(b_k[:, None] * b_h, 0)
            b_h += (b_beta * b_k)[:, None] * b_u[None, :]
        tl.store(p_scr + CS * BK * BV, b_h)
        tl.debug_barrier()
        # reverse walk
        for ss in range(CS):
            s = CS - 1 - ss
            i = i0 + s
            if i < NF:
                if i % NH == NH - 1:
                    t = i // NH
                    b_do = load_vec(do + (qbase + t * H) * V, o_v, m_v)
                    b_q = load_vec(q + (qbase + t * H) * K, o_k, m_k)
                    b_after = load_tile(scr + (s + 1) * BK * BV, o_k, o_k < BK, o_bv, BV)
                    b_dq = tl.sum(b_after * b_do[None, :], 1) * scale
                    tl.store(dq + ((i_v * B * T * H) + qbase + t * H) * K + o_k, b_dq, mask=m_k)
                    b_dh += (scale * b_q)[:, None] * b_do[None, :]
                row = kbase + i * H
                b_k = load_vec(k + row * K, o_k, m_k)
                b_v = load_vec(v + row * V, o_v, m_v)
                b_beta = tl.load(beta + row).to(tl.float32)
                b_s = load_tile(scr + s * BK * BV, o_k, o_k < BK, o_bv, BV)
                b_u = b_v - tl.sum(b_k[:, None] * b_s, 0)
                b_w = tl.sum(b_k[:, None] * b_dh, 0)
                tl.store(dv + row * V + o_v, b_beta * b_w, mask=m_v)
                tl.store(dbeta + i_v * B * NF * H + row, tl.sum(b_w * b_u, 0))
                b_dk = b_beta * (tl.sum(b_dh * b_u[None, :], 1) - tl.sum(b_s * b_w[None, :], 1))
                tl.store(dk + (i_v * B * NF * H + row) * K + o_k, b_dk, mask=m_k)
                b_dh -= (b_beta * b_k)[:, None] * b_w[None, :]
        tl.debug_barrier()
    if STORE_DH0:
        tl.store(dh0 + i_bh * K * V + o_kv, b_dh, mask=m_kv)


_CHUNK_BWD_CONFIGS = [dict(num_warps=4, num_stages=1), dict(num_warps=8, num_stages=1), dict(num_warps=4, num_stages=2)]


@launcher(_CHUNK_BWD_CONFIGS, key=["H", "K", "V", "NH", "BV", "BT"])
@triton.jit
def bwd_chunk_kernel(
    q, k, v, beta, m, do, dht, ckpt,
    dq, dk, dv, dbeta, dh0,
    scale, B, T, NF, H, K, V, NC,
    NH: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_DHT: tl.constexpr, STORE_DH0: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """Chunked backward (WY / UT form) of :func:`statetrack.kernels.householder.triton_fwd.fwd_chunk_kernel`.

    Per chunk, with S0 its checkpoint, M its inverse (``m`` [B,H,NC,BT,BT]), ``Y = diag(b)(V - K S0)``,
    ``X = M Y``, ``P = tril(Q K^T)``, ``O = scale (Q S0 + P X)``, ``S1 = S0 + K^T X`` and ``G = dL/dS1``::

        dX = scale P^T dO + K G            dP = tril(scale dO X^T)
        dY = M^T dX                        dL = strict_tril(-M^T (dX Y^T) M^T)
        dQ = scale dO S0^T + dP K          dV = diag(b) dY
        dK = dP^T Q + X G^T - diag(b) dY S0^T + D K + D^T K      with D = diag(b) dL
        db = rowsum(dY * (V - K S0)) + rowsum(dL * K K^T)
        dS0 = G + scale Q^T dO - K^T diag(b) dY

    Chunks are walked in reverse carrying G. dq, dk, dbeta are partial sums over V-blocks (leading NV axis, as in
    :func:`bwd_recurrent_kernel`), dv is complete. All tiles float32.
    """
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    o_t = tl.arange(0, BT)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]
    strict = o_t[:, None] > o_t[None, :]
    causal = o_t[:, None] >= o_t[None, :]

    b_g = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_DHT:
        b_g += load_tile(dht + i_bh * K * V, o_k, m_k, o_v, V)

    for cc in range(NC):
        c = NC - 1 - cc
        m_r, is_q, kv_rows, q_rows = chunk_rows(c, i_b, i_h, T, NF, H, NH, BT)
        b_k = load_tile(k, kv_rows, m_r, o_k, K)
        b_v = load_tile(v, kv_rows, m_r, o_v, V)
        b_b = load_vec(beta, kv_rows, m_r)
        b_q = load_tile(q, q_rows, is_q, o_k, K)
        b_do = load_tile(do, q_rows, is_q, o_v, V)
        b_m = load_tile(m + (i_bh * NC + c) * BT * BT, o_t, o_t < BT, o_t, BT)
        b_s0 = load_tile(ckpt + (i_bh * NC + c) * K * V, o_k, m_k, o_v, V)

        # recompute the chunk's forward quantities
        b_r = b_v - tl.dot(b_k, b_s0, input_precision=DOT_PREC)  # V - K S0      [BT, BV]
        b_y = b_b[:, None] * b_r
        b_x = tl.dot(b_m, b_y, input_precision=DOT_PREC)  # [BT, BV]
        b_p = tl.where(causal, tl.dot(b_q, tl.trans(b_k), input_precision=DOT_PREC), 0.0)  # [BT, BT]
        b_kk = tl.dot(b_k, tl.trans(b_k), input_precision=DOT_PREC)

        # gradients
        b_dx = scale * tl.dot(tl.trans(b_p), b_do, input_precision=DOT_PREC) + tl.dot(b_k, b_g,
                                                                                       input_precision=DOT_PREC)
        b_dp = tl.where(causal, scale * tl.dot(b_do, tl.trans(b_x), input_precision=DOT_PREC), 0.0)
        b_dy = tl.dot(tl.trans(b_m), b_dx, input_precision=DOT_PREC)
        b_dmm = tl.dot(tl.trans(b_m), tl.dot(b_dx, tl.trans(b_y), input_precision=DOT_PREC),
                       input_precision=DOT_PREC)
        b_dl = tl.where(strict, -tl.dot(b_dmm, tl.trans(b_m), input_precision=DOT_PREC), 0.0)
        b_d = b_b[:, None] * b_dl
        b_bdy = b_b[:, None] * b_dy

        b_dq = scale * tl.dot(b_do, tl.trans(b_s0), input_precision=DOT_PREC) + tl.dot(b_dp, b_k,
                                                                                        input_precision=DOT_PREC)
        b_dk = (tl.dot(tl.trans(b_dp), b_q, input_precision=DOT_PREC)
                + tl.dot(b_x, tl.trans(b_g), input_precision=DOT_PREC)
                - tl.dot(b_bdy, tl.trans(b_s0), input_precision=DOT_PREC)
                + tl.dot(b_d + tl.trans(b_d), b_k, input_precision=DOT_PREC))
        b_db = tl.sum(b_dy * b_r, 1) + tl.sum(b_dl * b_kk, 1)

        tl.store(dq + (i_v * B * T * H + q_rows[:, None]) * K + o_k[None, :], b_dq, mask=is_q[:, None] & m_k[None, :])
        tl.store(dk + (i_v * B * NF * H + kv_rows[:, None]) * K + o_k[None, :], b_dk,
                 mask=m_r[:, None] & m_k[None, :])
        tl.store(dv + kv_rows[:, None] * V + o_v[None, :], b_bdy, mask=m_r[:, None] & m_v[None, :])
        tl.store(dbeta + i_v * B * NF * H + kv_rows, b_db, mask=m_r)

        b_g += scale * tl.dot(tl.trans(b_q), b_do, input_precision=DOT_PREC) - tl.dot(
            tl.trans(b_k), b_bdy, input_precision=DOT_PREC)
    if STORE_DH0:
        tl.store(dh0 + i_bh * K * V + o_kv, b_g, mask=m_kv)


_SPLIT_CONFIGS = [dict(num_warps=4, num_stages=2), dict(num_warps=8, num_stages=2), dict(num_warps=4, num_stages=3)]


@launcher(_SPLIT_CONFIGS, key=["H", "K", "V", "NH", "BV", "BT"])
@triton.jit
def bwd_states_kernel(
    q, k, beta, m, do, dht, dhs, dh0,
    scale, T, NF, H, K, V, NC,
    NH: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_DHT: tl.constexpr, STORE_DH0: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """Sequential half of the split chunk backward: the state gradient at every chunk end.

    One program per (V-block, batch*head) walks the chunks in reverse carrying ``G = dL/dS1``; it stores
    ``dhs[c] = G`` ([B,H,NC,K,V] float32) and updates ``G <- G + scale Q^T dO - K^T diag(b) dY`` with
    ``dY = M^T (scale P^T dO + K G)``, ``P = tril(Q K^T)`` (no state needed: the recursion is linear in G).
    """
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    o_t = tl.arange(0, BT)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]

    b_g = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_DHT:
        b_g += load_tile(dht + i_bh * K * V, o_k, m_k, o_v, V)
    for cc in range(NC):
        c = NC - 1 - cc
        tl.store(dhs + (i_bh * NC + c) * K * V + o_kv, b_g, mask=m_kv)
        m_r, is_q, kv_rows, q_rows = chunk_rows(c, i_b, i_h, T, NF, H, NH, BT)
        b_k = load_tile(k, kv_rows, m_r, o_k, K)
        b_b = load_vec(beta, kv_rows, m_r)
        b_q = load_tile(q, q_rows, is_q, o_k, K)
        b_do = load_tile(do, q_rows, is_q, o_v, V)
        b_m = load_tile(m + (i_bh * NC + c) * BT * BT, o_t, o_t < BT, o_t, BT)
        b_p = tl.where(o_t[:, None] >= o_t[None, :], tl.dot(b_q, tl.trans(b_k), input_precision=DOT_PREC), 0.0)
        b_dx = scale * tl.dot(tl.trans(b_p), b_do, input_precision=DOT_PREC) + tl.dot(b_k, b_g,
                                                                                       input_precision=DOT_PREC)
        b_bdy = b_b[:, None] * tl.dot(tl.trans(b_m), b_dx, input_precision=DOT_PREC)
        b_g += scale * tl.dot(tl.trans(b_q), b_do, input_precision=DOT_PREC) - tl.dot(
            tl.trans(b_k), b_bdy, input_precision=DOT_PREC)
    if STORE_DH0:
        tl.store(dh0 + i_bh * K * V + o_kv, b_g, mask=m_kv)


@launcher(_SPLIT_CONFIGS, key=["H", "K", "V", "NH", "BV", "BT"])
@triton.jit
def bwd_grads_kernel(
    q, k, v, beta, m, do, ckpt, dhs,
    dq, dk, dv, dbeta,
    scale, T, NF, H, K, V, NC,
    NH: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """Parallel half of the split chunk backward: all input gradients of one chunk, given its start state S0
    (``ckpt``) and end-state gradient G (``dhs``); formulas as in :func:`bwd_chunk_kernel`.

    One program per (chunk, batch*head), looping over V-blocks and accumulating the V-sums (dq, dk, dbeta, dP,
    dM) in registers, so every output is complete (no partial sums). dq [B,T,H,K], dk [B,NF,H,K], dv [B,NF,H,V],
    dbeta [B,NF,H], all float32.
    """
    i_c = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_t = tl.arange(0, BT)
    m_k = o_k < K
    m_r, is_q, kv_rows, q_rows = chunk_rows(i_c, i_b, i_h, T, NF, H, NH, BT)
    strict = o_t[:, None] > o_t[None, :]
    causal = o_t[:, None] >= o_t[None, :]
    b_k = load_tile(k, kv_rows, m_r, o_k, K)
    b_q = load_tile(q, q_rows, is_q, o_k, K)
    b_b = load_vec(beta, kv_rows, m_r)
    b_m = load_tile(m + (i_bh * NC + i_c) * BT * BT, o_t, o_t < BT, o_t, BT)
    b_p = tl.where(causal, tl.dot(b_q, tl.trans(b_k), input_precision=DOT_PREC), 0.0)

    b_dq = tl.zeros([BT, BK], dtype=tl.float32)
    b_dk = tl.zeros([BT, BK], dtype=tl.float32)
    b_dp = tl.zeros([BT, BT], dtype=tl.float32)
    b_dm = tl.zeros([BT, BT], dtype=tl.float32)
    b_db = tl.zeros([BT], dtype=tl.float32)
    for i_v in range(tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        state = (i_bh * NC + i_c) * K * V
        b_s0 = load_tile(ckpt + state, o_k, m_k, o_v, V)
        b_g = load_tile(dhs + state, o_k, m_k, o_v, V)
        b_v = load_tile(v, kv_rows, m_r, o_v, V)
        b_do = load_tile(do, q_rows, is_q, o_v, V)
        b_r = b_v - tl.dot(b_k, b_s0, input_precision=DOT_PREC)
        b_y = b_b[:, None] * b_r
        b_x = tl.dot(b_m, b_y, input_precision=DOT_PREC)
        b_dx = scale * tl.dot(tl.trans(b_p), b_do, input_precision=DOT_PREC) + tl.dot(b_k, b_g,
                                                                                       input_precision=DOT_PREC)
        b_dy = tl.dot(tl.trans(b_m), b_dx, input_precision=DOT_PREC)
        b_bdy = b_b[:, None] * b_dy
        b_dp += scale * tl.dot(b_do, tl.trans(b_x), input_precision=DOT_PREC)
        b_dm += tl.dot(b_dx, tl.trans(b_y), input_precision=DOT_PREC)
        b_dq += scale * tl.dot(b_do, tl.trans(b_s0), input_precision=DOT_PREC)
        b_dk += tl.dot(b_x, tl.trans(b_g), input_precision=DOT_PREC) - tl.dot(b_bdy, tl.trans(b_s0),
                                                                               input_precision=DOT_PREC)
        b_db += tl.sum(b_dy * b_r, 1)
        tl.store(dv + kv_rows[:, None] * V + o_v[None, :], b_bdy, mask=m_r[:, None] & m_v[None, :])
    b_dp = tl.where(causal, b_dp, 0.0)
    b_dl = tl.where(strict, -tl.dot(tl.dot(tl.trans(b_m), b_dm, input_precision=DOT_PREC), tl.trans(b_m),
                                    input_precision=DOT_PREC), 0.0)
    b_d = b_b[:, None] * b_dl
    b_dq += tl.dot(b_dp, b_k, input_precision=DOT_PREC)
    b_dk += tl.dot(tl.trans(b_dp), b_q, input_precision=DOT_PREC) + tl.dot(b_d + tl.trans(b_d), b_k,
                                                                           input_precision=DOT_PREC)
    b_db += tl.sum(b_dl * tl.dot(b_k, tl.trans(b_k), input_precision=DOT_PREC), 1)
    tl.store(dq + q_rows[:, None] * K + o_k[None, :], b_dq, mask=is_q[:, None] & m_k[None, :])
    tl.store(dk + kv_rows[:, None] * K + o_k[None, :], b_dk, mask=m_r[:, None] & m_k[None, :])
    tl.store(dbeta + kv_rows, b_db, mask=m_r)
