"""The tile loads shared by every Triton Householder-scan kernel (imports triton: load lazily).

Every tensor the kernels read is row-major with a contiguous last axis, so one helper covers all of them:

* :func:`load_tile` -- a ``[R, Cb]`` float32 tile: rows ``rows`` (flat row indices, masked by ``row_mask``) and
  columns ``cols`` (masked by ``cols < n_cols``) of a ``[*, n_cols]`` array at ``ptr``; masked entries read 0.
  Keys, values, queries, output gradients (rows = flat ``[B, L, H]`` indices, ``n_cols`` = K or V), states and
  checkpoints (rows = the K index, ``n_cols`` = V, ``ptr`` offset to the state) and the chunk inverses
  (rows = columns = the chunk's ``BT`` indices) all go through it.
* :func:`load_vec` -- the 1-D case: entries ``idx`` (masked by ``mask``) as float32 (betas, single rows).
* :func:`chunk_rows` -- the flat factor rows of chunk ``c``: which exist, which end a token, their ``[B, NF, H]``
  and ``[B, T, H]`` row indices.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def load_tile(ptr, rows, row_mask, cols, n_cols):
    """``[R, Cb]`` float32 tile ``ptr[rows[:, None] * n_cols + cols[None, :]]``, 0 outside ``row_mask`` and
    ``cols < n_cols``."""
    return tl.load(ptr + rows[:, None] * n_cols + cols[None, :], mask=row_mask[:, None] & (cols < n_cols)[None, :],
                   other=0.0).to(tl.float32)


@triton.jit
def load_vec(ptr, idx, mask):
    """``[R]`` float32 vector ``ptr[idx]``, 0 where ``mask`` is false."""
    return tl.load(ptr + idx, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def chunk_rows(c, i_b, i_h, T, NF, H, NH: tl.constexpr, BT: tl.constexpr):
    """Factor rows ``c*BT .. c*BT + BT - 1``: ``(m_r, is_q, kv_rows, q_rows)`` -- rows that exist, rows that end a
    token (and so carry a query / output), the flat ``[B, NF, H]`` row of each factor and ``[B, T, H]`` row of its
    token."""
    rows = c * BT + tl.arange(0, BT)
    m_r = rows < NF
    is_q = m_r & (rows % NH == NH - 1)
    kv_rows = (i_b * NF + rows) * H + i_h
    q_rows = (i_b * T + rows // NH) * H + i_h
    return m_r, is_q, kv_rows, q_rows
