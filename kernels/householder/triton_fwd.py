"""Triton forward kernels of the Householder-product scan (contract: :mod:`.reference`).

Three kinds compute the same thing; each also writes *checkpoints*, the state before every ``CS``-th factor
(``ckpt [B, H, NC, K, V]`` float32, ``NC = ceil(T*n_h / CS)``), which the backward kernels (:mod:`.triton_bwd`) start
from. The flat factor index is ``i = t*n_h + j``; token ``t`` emits its output after factor ``t*n_h + n_h - 1``.

* ``recurrent`` (:func:`fwd_recurrent_kernel`): one program per (V-block, batch*head); the state tile ``[BK, BV]``
  (all of K, a block of V; columns of S evolve independently) stays in registers while the program walks the
  factors one by one: ``u = v - S^T k;  S += beta k u^T``; ``o_t = scale S^T q_t``.
* WY / UT form, chunks of ``BT = CS`` factors, dense ``tl.dot`` tiles: with ``L = strict_tril(diag(b) K K^T)`` and
  ``M = (I + L)^-1`` (all chunks in parallel by :func:`chunk_inverse_kernel`, blockwise forward substitution),
  the chunk's effective rows are ``X = M diag(b) (V - K S0)``, outputs ``O = scale (Q S0 + tril(Q K^T) X)`` (Q holds
  a query only on rows that end a token) and ``S1 = S0 + K^T X``.

  - ``fused`` (:func:`fwd_chunk_kernel`): one program per (V-block, batch*head) walks the chunks doing all of it;
  - ``chunk`` (:func:`fwd_states_kernel` then :func:`fwd_output_kernel`): the sequential walk only produces the
    checkpoints and ``X``; the outputs follow in a kernel parallel over chunks.

All arithmetic is float32 whatever the input dtype (tiles are cast before ``tl.dot``: the interpreter's bf16 dot is
wrong). ``DOT_PREC`` picks ``tl.dot``'s input precision on a GPU ("ieee" keeps float32 exact to rounding, "tf32" is
faster); the interpreter ignores it.
"""
from __future__ import annotations

import triton
import triton.language as tl

from .triton_tiles import chunk_rows, load_tile, load_vec
from .triton_utils import launcher

_FWD_CONFIGS = [dict(num_warps=1), dict(num_warps=2), dict(num_warps=4)]
_CHUNK_CONFIGS = [dict(num_warps=4, num_stages=2), dict(num_warps=8, num_stages=2), dict(num_warps=4, num_stages=3)]


@launcher(_FWD_CONFIGS, key=["H", "K", "V", "NH", "BV"])
@triton.jit
def fwd_recurrent_kernel(
    q, k, v, beta, o, h0, ht, ckpt,
    scale, T, NF, H, K, V, NC,
    NH: tl.constexpr, CS: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_H0: tl.constexpr, STORE_HT: tl.constexpr, STORE_CKPT: tl.constexpr,
):
    """q [B,T,H,K], k [B,NF,H,K], v [B,NF,H,V], beta [B,NF,H], o [B,T,H,V], h0/ht [B,H,K,V], ckpt [B,H,NC,K,V]."""
    i_v = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_v = i_v * BV + tl.arange(0, BV)
    m_k = o_k < K
    m_v = o_v < V
    m_kv = m_k[:, None] & m_v[None, :]
    o_kv = o_k[:, None] * V + o_v[None, :]

    b_h = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_H0:
        b_h += load_tile(h0 + i_bh * K * V, o_k, m_k, o_v, V)

    p_k = k + (i_b * NF * H + i_h) * K
    p_v = v + (i_b * NF * H + i_h) * V
    p_beta = beta + i_b * NF * H + i_h
    p_q = q + (i_b * T * H + i_h) * K
    p_o = o + (i_b * T * H + i_h) * V + o_v
    for i in range(NF):
        if STORE_CKPT:
            if i % CS == 0:
                tl.store(ckpt + (i_bh * NC + i // CS) * K * V + o_kv, b_h, mask=m_kv)
        b_k = load_vec(p_k, o_k, m_k)
        b_v = load_vec(p_v, o_v, m_v)
        b_beta = tl.load(p_beta).to(tl.float32)
        b_u = b_v - tl.sum(b_k[:, None] * b_h, 0)
        b_h += (b_beta * b_k)[:, None] * b_u[None, :]
        if i % NH == NH - 1:
            b_q = load_vec(p_q, o_k, m_k)
            b_o = tl.sum(b_q[:, None] * b_h, 0) * scale
            tl.store(p_o, b_o.to(p_o.dtype.element_ty), mask=m_v)
            p_q += H * K
            p_o += H * V
        p_k += H * K
        p_v += H * V
        p_beta += H
    if STORE_HT:
        tl.store(ht + i_bh * K * V + o_kv, b_h, mask=m_kv)


@triton.jit
def _inverse_unit_lower(b_a, BT: tl.constexpr):
    """Given ``b_a = -L`` (L strictly lower triangular, [BT, BT] float32) return ``(I + L)^-1``.

    Forward substitution: row r of the result minus the identity is ``a_r + sum_j a_r[j] row_j`` over the rows
    ``j < r`` already done, ``a_r`` being row r of ``-L``.
    """
    o_r = tl.arange(0, BT)
    for r in range(1, BT):
        row = tl.sum(tl.where(o_r[:, None] == r, b_a, 0.0), 0)
        row = row + tl.sum(row[:, None] * b_a, 0)
        b_a = tl.where(o_r[:, None] == r, row[None, :], b_a)
    return b_a + (o_r[:, None] == o_r[None, :]).to(tl.float32)


@triton.jit
def _load_rows(k, beta, i_b, i_h, NF, H, K, r0, BS: tl.constexpr, BK: tl.constexpr):
    """Keys [BS, BK] and betas [BS] of factors r0 .. r0+BS-1 (zeros past the end), float32."""
    rows = r0 + tl.arange(0, BS)
    m_r = rows < NF
    kv_rows = (i_b * NF + rows) * H + i_h
    return load_tile(k, kv_rows, m_r, tl.arange(0, BK), K), load_vec(beta, kv_rows, m_r)


@triton.jit
def _block_l(b_ki, b_bi, b_kj, DOT_PREC: tl.constexpr):
    """Off-diagonal block ``L_ij = diag(b_i) K_i K_j^T`` ([16, 16])."""
    return b_bi[:, None] * tl.dot(b_ki, tl.trans(b_kj), input_precision=DOT_PREC)


@triton.jit
def _block_inv(b_k, b_b, DOT_PREC: tl.constexpr):
    """Diagonal block ``(I + strict_tril(diag(b) K K^T))^-1`` ([16, 16]) by row-by-row substitution."""
    o = tl.arange(0, 16)
    b_l = tl.where(o[:, None] > o[None, :], _block_l(b_k, b_b, b_k, DOT_PREC), 0.0)
    return _inverse_unit_lower(-b_l, 16)


@triton.jit
def _mm(a, b, DOT_PREC: tl.constexpr):
    return tl.dot(a, b, input_precision=DOT_PREC)


@triton.jit
def _store_block(m, base, i: tl.constexpr, j: tl.constexpr, blk, BT: tl.constexpr):
    o = tl.arange(0, 16)
    tl.store(m + base + (i * 16 + o[:, None]) * BT + j * 16 + o[None, :], blk)


@launcher([dict(num_warps=2), dict(num_warps=1), dict(num_warps=4)], key=["H", "K", "BT"])
@triton.jit
def chunk_inverse_kernel(
    k, beta, m, NF, H, K, NC,
    BT: tl.constexpr, BK: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """``m[b, h, c] = (I + strict_tril(diag(beta_c) K_c K_c^T))^-1`` for the chunk c of BT in {16, 32, 64} factors
    ([B,H,NC,BT,BT] float32), blockwise: the 16x16 diagonal blocks by substitution (15 steps each instead of BT - 1
    steps over the whole chunk), then the blocks below them by block forward substitution with ``tl.dot``:
    ``M_ij = -M_ii sum_{j <= l < i} L_il M_lj``. One program per (chunk, batch*head); rows past the end have k = 0,
    beta = 0 (identity rows). Checked against :func:`chunk_inverse_rows_kernel`.
    """
    i_c = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    base = (i_bh * NC + i_c) * BT * BT
    r0 = i_c * BT
    k0, b0 = _load_rows(k, beta, i_b, i_h, NF, H, K, r0, 16, BK)
    m00 = _block_inv(k0, b0, DOT_PREC)
    _store_block(m, base, 0, 0, m00, BT)
    if BT >= 32:
        zero = tl.zeros([16, 16], dtype=tl.float32)
        k1, b1 = _load_rows(k, beta, i_b, i_h, NF, H, K, r0 + 16, 16, BK)
        m11 = _block_inv(k1, b1, DOT_PREC)
        l10 = _block_l(k1, b1, k0, DOT_PREC)
        m10 = -_mm(m11, _mm(l10, m00, DOT_PREC), DOT_PREC)
        _store_block(m, base, 0, 1, zero, BT)
        _store_block(m, base, 1, 0, m10, BT)
        _store_block(m, base, 1, 1, m11, BT)
        if BT >= 64:
            k2, b2 = _load_rows(k, beta, i_b, i_h, NF, H, K, r0 + 32, 16, BK)
            k3, b3 = _load_rows(k, beta, i_b, i_h, NF, H, K, r0 + 48, 16, BK)
            m22 = _block_inv(k2, b2, DOT_PREC)
            m33 = _block_inv(k3, b3, DOT_PREC)
            l20 = _block_l(k2, b2, k0, DOT_PREC)
            l21 = _block_l(k2, b2, k1, DOT_PREC)
            l30 = _block_l(k3, b3, k0, DOT_PREC)
            l31 = _block_l(k3, b3, k1, DOT_PREC)
            l32 = _block_l(k3, b3, k2, DOT_PREC)
            m21 = -_mm(m22, _mm(l21, m11, DOT_PREC), DOT_PREC)
            m20 = -_mm(m22, _mm(l20, m00, DOT_PREC) + _mm(l21, m10, DOT_PREC), DOT_PREC)
            m32 = -_mm(m33, _mm(l32, m22, DOT_PREC), DOT_PREC)
            m31 = -_mm(m33, _mm(l31, m11, DOT_PREC) + _mm(l32, m21, DOT_PREC), DOT_PREC)
            m30 = -_mm(m33, _mm(l30, m00, DOT_PREC) + _mm(l31, m10, DOT_PREC) + _mm(l32, m20, DOT_PREC),
                       DOT_PREC)
            for j in tl.static_range(2):
                _store_block(m, base, j, 2, zero, BT)
                _store_block(m, base, j, 3, zero, BT)
            _store_block(m, base, 2, 3, zero, BT)
            _store_block(m, base, 2, 0, m20, BT)
            _store_block(m, base, 2, 1, m21, BT)
            _store_block(m, base, 2, 2, m22, BT)
            _store_block(m, base, 3, 0, m30, BT)
            _store_block(m, base, 3, 1, m31, BT)
            _store_block(m, base, 3, 2, m32, BT)
            _store_block(m, base, 3, 3, m33, BT)


@launcher([dict(num_warps=4), dict(num_warps=2), dict(num_warps=8)], key=["H", "K", "BT"])
@triton.jit
def chunk_inverse_rows_kernel(
    k, beta, m, NF, H, K, NC,
    BT: tl.constexpr, BK: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """``m[b, h, c] = (I + strict_tril(diag(beta_c) K_c K_c^T))^-1`` for the chunk c of BT factors ([B,H,NC,BT,BT]).

    The plain form (row-by-row substitution over the whole chunk), kept beside :func:`chunk_inverse_kernel` as the
    reference the tests compare it with. One program per (chunk, batch*head); rows past the end have k = 0, beta = 0
    (identity rows).
    """
    i_c = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_t = tl.arange(0, BT)
    b_k, b_b = _load_rows(k, beta, i_b, i_h, NF, H, K, i_c * BT, BT, BK)
    b_kk = tl.dot(b_k, tl.trans(b_k), input_precision=DOT_PREC)
    b_m = _inverse_unit_lower(tl.where(o_t[:, None] > o_t[None, :], -b_b[:, None] * b_kk, 0.0), BT)
    tl.store(m + (i_bh * NC + i_c) * BT * BT + o_t[:, None] * BT + o_t[None, :], b_m)


@launcher(_CHUNK_CONFIGS, key=["H", "K", "V", "NH", "BV", "BT"])
@triton.jit
def fwd_chunk_kernel(
    q, k, v, beta, m, o, h0, ht, ckpt,
    scale, T, NF, H, K, V, NC,
    NH: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_H0: tl.constexpr, STORE_HT: tl.constexpr, STORE_CKPT: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """As :func:`fwd_recurrent_kernel` plus ``m`` [B,H,NC,BT,BT] from :func:`chunk_inverse_kernel`; the chunk size
    ``BT`` equals the checkpoint interval."""
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
    causal = o_t[:, None] >= o_t[None, :]

    b_h = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_H0:
        b_h += load_tile(h0 + i_bh * K * V, o_k, m_k, o_v, V)

    for c in range(NC):
        if STORE_CKPT:
            tl.store(ckpt + (i_bh * NC + c) * K * V + o_kv, b_h, mask=m_kv)
        m_r, is_q, kv_rows, q_rows = chunk_rows(c, i_b, i_h, T, NF, H, NH, BT)
        b_k = load_tile(k, kv_rows, m_r, o_k, K)
        b_v = load_tile(v, kv_rows, m_r, o_v, V)
        b_b = load_vec(beta, kv_rows, m_r)
        b_q = load_tile(q, q_rows, is_q, o_k, K)
        b_m = load_tile(m + (i_bh * NC + c) * BT * BT, o_t, o_t < BT, o_t, BT)
        b_y = b_b[:, None] * (b_v - tl.dot(b_k, b_h, input_precision=DOT_PREC))
        b_x = tl.dot(b_m, b_y, input_precision=DOT_PREC)
        b_qk = tl.where(causal, tl.dot(b_q, tl.trans(b_k), input_precision=DOT_PREC), 0.0)
        b_o = tl.dot(b_q, b_h, input_precision=DOT_PREC) + tl.dot(b_qk, b_x, input_precision=DOT_PREC)
        tl.store(o + q_rows[:, None] * V + o_v[None, :], (b_o * scale).to(o.dtype.element_ty),
                 mask=is_q[:, None] & m_v[None, :])
        b_h += tl.dot(tl.trans(b_k), b_x, input_precision=DOT_PREC)
    if STORE_HT:
        tl.store(ht + i_bh * K * V + o_kv, b_h, mask=m_kv)


_STATES_CONFIGS = [dict(num_warps=4, num_stages=2), dict(num_warps=8, num_stages=2), dict(num_warps=4, num_stages=3)]
_OUTPUT_CONFIGS = [dict(num_warps=4, num_stages=2), dict(num_warps=8, num_stages=2), dict(num_warps=4, num_stages=3)]


@launcher(_STATES_CONFIGS, key=["H", "K", "V", "BV", "BT"])
@triton.jit
def fwd_states_kernel(
    k, v, beta, m, x, h0, ht, ckpt,
    NF, H, K, V, NC,
    BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr,
    USE_H0: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """Sequential half of the split chunk forward: the chunk-boundary states and the chunks' effective rows.

    One program per (V-block, batch*head) walks the chunks: ``ckpt[c] = S0``, ``X = M diag(b)(V - K S0)`` (written to
    ``x`` [B,NF,H,V] float32), ``S0 += K^T X``; the last state goes to ``ht``. No outputs: those come from
    :func:`fwd_output_kernel`, parallel over chunks.
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

    b_h = tl.zeros([BK, BV], dtype=tl.float32)
    if USE_H0:
        b_h += load_tile(h0 + i_bh * K * V, o_k, m_k, o_v, V)
    for c in range(NC):
        tl.store(ckpt + (i_bh * NC + c) * K * V + o_kv, b_h, mask=m_kv)
        m_r, is_q, kv_rows, q_rows = chunk_rows(c, i_b, i_h, 0, NF, H, 1, BT)
        b_k = load_tile(k, kv_rows, m_r, o_k, K)
        b_v = load_tile(v, kv_rows, m_r, o_v, V)
        b_b = load_vec(beta, kv_rows, m_r)
        b_m = load_tile(m + (i_bh * NC + c) * BT * BT, o_t, o_t < BT, o_t, BT)
        b_y = b_b[:, None] * (b_v - tl.dot(b_k, b_h, input_precision=DOT_PREC))
        b_x = tl.dot(b_m, b_y, input_precision=DOT_PREC)
        tl.store(x + kv_rows[:, None] * V + o_v[None, :], b_x, mask=m_r[:, None] & m_v[None, :])
        b_h += tl.dot(tl.trans(b_k), b_x, input_precision=DOT_PREC)
    tl.store(ht + i_bh * K * V + o_kv, b_h, mask=m_kv)


@launcher(_OUTPUT_CONFIGS, key=["H", "K", "V", "NH", "BV", "BT"])
@triton.jit
def fwd_output_kernel(
    q, k, x, ckpt, o,
    scale, T, NF, H, K, V, NC,
    NH: tl.constexpr, BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, DOT_PREC: tl.constexpr,
):
    """Parallel half of the split chunk forward: ``O = scale (Q S0 + tril(Q K^T) X)`` for one chunk.

    One program per (chunk, batch*head), looping over V-blocks; Q holds a query only on the rows that end a token.
    """
    i_c = tl.program_id(0)
    i_bh = tl.program_id(1).to(tl.int64)
    i_b = i_bh // H
    i_h = i_bh % H
    o_k = tl.arange(0, BK)
    o_t = tl.arange(0, BT)
    m_k = o_k < K
    m_r, is_q, kv_rows, q_rows = chunk_rows(i_c, i_b, i_h, T, NF, H, NH, BT)
    b_k = load_tile(k, kv_rows, m_r, o_k, K)
    b_q = load_tile(q, q_rows, is_q, o_k, K)
    b_p = tl.where(o_t[:, None] >= o_t[None, :], tl.dot(b_q, tl.trans(b_k), input_precision=DOT_PREC), 0.0)
    for i_v in range(tl.cdiv(V, BV)):
        o_v = i_v * BV + tl.arange(0, BV)
        m_v = o_v < V
        b_s0 = load_tile(ckpt + (i_bh * NC + i_c) * K * V, o_k, m_k, o_v, V)
        b_x = load_tile(x, kv_rows, m_r, o_v, V)
        b_o = tl.dot(b_q, b_s0, input_precision=DOT_PREC) + tl.dot(b_p, b_x, input_precision=DOT_PREC)
        tl.store(o + q_rows[:, None] * V + o_v[None, :], (b_o * scale).to(o.dtype.element_ty),
                 mask=is_q[:, None] & m_v[None, :])
