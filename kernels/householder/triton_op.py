"""Triton Householder-product scan: forward and backward kernels joined in a ``torch.autograd.Function``.

Contract and layout: :mod:`.reference` (the truth the tests compare against). Three kinds of kernels, each with a
forward in :mod:`.triton_fwd` (writing state checkpoints at chunk starts) and a backward in :mod:`.triton_bwd`
(walking chunks in reverse from them): ``chunk`` (WY / UT form, a sequential pass over chunk-boundary states plus a
pass parallel over chunks; the default), ``fused`` (the same algebra in one sequential kernel) and ``recurrent``
(one factor at a time, the plain form the others are checked against besides the reference). Inputs may be float32,
bfloat16 or float16 (any mix); everything inside is float32; ``o`` comes back in ``q``'s dtype and the final state
in float32. float64 is refused (use the ``reference`` or ``chunked`` backend): the kernels would silently round it.

Set ``STATETRACK_TRITON_DEBUG=1`` to allocate every output and scratch buffer filled with NaN, so a location a kernel
forgets to write shows up in the result (the tests do this).
"""
from __future__ import annotations

import contextlib
import os

import torch

from .reference import KernelInputError, check_householder_inputs, check_scale

_WHERE = "householder_scan_triton"
_DTYPES = (torch.float32, torch.bfloat16, torch.float16)
KERNEL_KINDS = ("chunk", "fused", "recurrent")
CHUNK_SIZES = (16, 32, 64)  # the blockwise triangular inverse works on 16x16 blocks, up to 4 x 4 of them


def _debug() -> bool:
    return os.environ.get("STATETRACK_TRITON_DEBUG", "0") not in ("", "0")


def _empty(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Uninitialised buffer, or NaN-filled under ``STATETRACK_TRITON_DEBUG=1``."""
    if _debug():
        return torch.full(shape, float("nan"), dtype=dtype, device=device)
    return torch.empty(shape, dtype=dtype, device=device)


def _on_device(x: torch.Tensor):
    """Launch on ``x``'s GPU (Triton launches on the current CUDA device), or nothing for CPU tensors."""
    return torch.cuda.device(x.device) if x.is_cuda else contextlib.nullcontext()


def _blocks(K: int, V: int, kind: str) -> tuple[int, int]:
    """(BK, BV): all of K in one block (padded to a power of two >= 16); V split so the state tile fits."""
    from .triton_utils import next_pow2

    BK = next_pow2(K)
    if kind == "recurrent":
        BV = min(next_pow2(V), 32 if BK <= 64 else 16)
    else:
        BV = min(next_pow2(V), 64 if BK <= 64 else 32)
    return BK, BV


DOT_PRECISIONS = ("ieee", "tf32")


def _dot_precision(choice: str | None, *xs: torch.Tensor) -> str:
    """``tl.dot`` input precision: ``choice`` if given, else exact float32 ("ieee") when any input is float32 and
    "tf32" for 16-bit inputs (their values are exact in tf32; rounding the float32 intermediates to tf32 stays
    below the error the 16-bit inputs already carry)."""
    if choice is not None:
        return choice
    return "ieee" if any(x.dtype == torch.float32 for x in xs) else "tf32"


def _inverses(k, beta, cs, prec):
    """Per-chunk ``(I + strict_tril(diag(b) K K^T))^-1``: [B, H, NC, cs, cs] float32."""
    import triton

    from . import triton_fwd
    from .triton_utils import next_pow2

    B, NF, H, K = k.shape
    NC = triton.cdiv(NF, cs)
    m = _empty((B, H, NC, cs, cs), torch.float32, k.device)
    triton_fwd.chunk_inverse_kernel.launch((NC, B * H), k, beta, m, NF, H, K, NC, BT=cs, BK=next_pow2(K),
                                           DOT_PREC=prec)
    return m


def _forward(q, k, v, beta, h0, scale, n_h, cs, kind, store_ckpt, prec=None):
    """Launch the forward kernel(s) of ``kind``; returns ``(o [B,T,H,V] q.dtype, ht [B,H,K,V] f32,
    ckpt [B,H,NC,K,V] f32 or None, m [B,H,NC,cs,cs] f32 or None)``."""
    import triton

    from . import triton_fwd

    B, T, H, K = q.shape
    NF, V = k.shape[1], v.shape[-1]
    NC = triton.cdiv(NF, cs)
    BK, BV = _blocks(K, V, kind)
    NV = triton.cdiv(V, BV)
    dev = q.device
    o = _empty((B, T, H, V), q.dtype, dev)
    ht = _empty((B, H, K, V), torch.float32, dev)
    store_ckpt = store_ckpt or kind == "chunk"  # the split forward reads them back itself
    ckpt = _empty((B, H, NC, K, V), torch.float32, dev) if store_ckpt else ht  # ht: dummy pointer
    h0_arg = h0 if h0 is not None else ht
    m = None
    if kind == "recurrent":
        triton_fwd.fwd_recurrent_kernel.launch(
            (NV, B * H), q, k, v, beta, o, h0_arg, ht, ckpt, scale, T, NF, H, K, V, NC,
            NH=n_h, CS=cs, BK=BK, BV=BV, USE_H0=h0 is not None, STORE_HT=True, STORE_CKPT=store_ckpt)
        return o, ht, (ckpt if store_ckpt else None), m
    prec = _dot_precision(prec, q, k, v, beta)
    m = _inverses(k, beta, cs, prec)
    if kind == "fused":
        triton_fwd.fwd_chunk_kernel.launch(
            (NV, B * H), q, k, v, beta, m, o, h0_arg, ht, ckpt, scale, T, NF, H, K, V, NC,
            NH=n_h, BT=cs, BK=BK, BV=BV, USE_H0=h0 is not None, STORE_HT=True, STORE_CKPT=store_ckpt,
            DOT_PREC=prec)
    else:  # split: sequential states, then outputs in parallel over chunks
        x = _empty((B, NF, H, V), torch.float32, dev)
        triton_fwd.fwd_states_kernel.launch(
            (NV, B * H), k, v, beta, m, x, h0_arg, ht, ckpt, NF, H, K, V, NC,
            BT=cs, BK=BK, BV=BV, USE_H0=h0 is not None, DOT_PREC=prec)
        triton_fwd.fwd_output_kernel.launch(
            (NC, B * H), q, k, x, ckpt, o, scale, T, NF, H, K, V, NC, NH=n_h, BT=cs, BK=BK, BV=BV, DOT_PREC=prec)
    return o, ht, (ckpt if store_ckpt else None), m


def _backward(q, k, v, beta, ckpt, m, do, dht, scale, n_h, cs, kind, need_dh0, prec=None):
    """Launch the backward kernel(s) of ``kind``; returns float32 ``(dq, dk, dv, dbeta, dh0 or None)``.

    ``m`` (the chunk inverses) is needed by the chunk kernels and computed here when the forward did not.
    """
    import triton

    from . import triton_bwd

    B, T, H, K = q.shape
    NF, V = k.shape[1], v.shape[-1]
    NC = ckpt.shape[2]
    BK, BV = _blocks(K, V, kind)
    NV = triton.cdiv(V, BV)
    dev = q.device
    f32 = torch.float32
    dv = _empty((B, NF, H, V), f32, dev)
    dh0 = _empty((B, H, K, V), f32, dev) if need_dh0 else dv  # dv: dummy pointer
    dht_arg = dht if dht is not None else dh0
    flags = dict(NH=n_h, BK=BK, BV=BV, USE_DHT=dht is not None, STORE_DH0=need_dh0)
    if kind != "recurrent":
        prec = _dot_precision(prec, q, k, v, beta)
        if m is None:
            m = _inverses(k, beta, cs, prec)
    if kind == "chunk":  # split: sequential state gradients, then all gradients in parallel over chunks
        dq = _empty((B, T, H, K), f32, dev)
        dk = _empty((B, NF, H, K), f32, dev)
        dbeta = _empty((B, NF, H), f32, dev)
        dhs = _empty((B, H, NC, K, V), f32, dev)
        triton_bwd.bwd_states_kernel.launch(
            (NV, B * H), q, k, beta, m, do, dht_arg, dhs, dh0, scale, T, NF, H, K, V, NC,
            BT=cs, DOT_PREC=prec, **flags)
        triton_bwd.bwd_grads_kernel.launch(
            (NC, B * H), q, k, v, beta, m, do, ckpt, dhs, dq, dk, dv, dbeta, scale, T, NF, H, K, V, NC,
            NH=n_h, BT=cs, BK=BK, BV=BV, DOT_PREC=prec)
        return dq, dk, dv, dbeta, (dh0 if need_dh0 else None)
    dq = _empty((NV, B, T, H, K), f32, dev)  # partial sums over V-blocks
    dk = _empty((NV, B, NF, H, K), f32, dev)
    dbeta = _empty((NV, B, NF, H), f32, dev)
    if kind == "fused":
        triton_bwd.bwd_chunk_kernel.launch(
            (NV, B * H), q, k, v, beta, m, do, dht_arg, ckpt, dq, dk, dv, dbeta, dh0,
            scale, B, T, NF, H, K, V, NC, BT=cs, DOT_PREC=prec, **flags)
    else:
        scratch = _empty((B * H * NV, cs + 1, BK, BV), f32, dev)
        triton_bwd.bwd_recurrent_kernel.launch(
            (NV, B * H), q, k, v, beta, do, dht_arg, ckpt, scratch, dq, dk, dv, dbeta, dh0,
            scale, B, T, NF, H, K, V, NC, CS=cs, **flags)
    return dq.sum(0), dk.sum(0), dv, dbeta.sum(0), (dh0 if need_dh0 else None)


class HouseholderScanTriton(torch.autograd.Function):
    """Autograd glue: forward kernel (keeps checkpoints, and the chunk inverses, when a gradient is needed), then
    backward kernel."""

    @staticmethod
    def forward(ctx, q, k, v, beta, h0, scale, n_h, cs, fwd_kernel, bwd_kernel, prec):
        needs_grad = any(ctx.needs_input_grad[:5])
        with _on_device(q):
            o, ht, ckpt, m = _forward(q, k, v, beta, h0, scale, n_h, cs, fwd_kernel, store_ckpt=needs_grad,
                                      prec=prec)
        if needs_grad:
            keep_m = m if bwd_kernel != "recurrent" else None
            ctx.save_for_backward(q, k, v, beta, ckpt, keep_m)
        ctx.cfg = (scale, n_h, cs, bwd_kernel, None if h0 is None else h0.dtype, prec)
        return o, ht

    @staticmethod
    def backward(ctx, do, dht):
        q, k, v, beta, ckpt, m = ctx.saved_tensors
        scale, n_h, cs, bwd_kernel, h0_dtype, prec = ctx.cfg
        with _on_device(q):
            dq, dk, dv, dbeta, dh0 = _backward(q, k, v, beta, ckpt, m, do.contiguous(), dht.contiguous(), scale,
                                               n_h, cs, bwd_kernel, need_dh0=h0_dtype is not None, prec=prec)
        return (dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype), dbeta.to(beta.dtype),
                None if dh0 is None else dh0.to(h0_dtype), None, None, None, None, None, None)


def householder_scan_triton(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    num_householder: int = 1,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    chunk_size: int = 64,
    forward_kernel: str = "chunk",
    backward_kernel: str = "chunk",
    dot_precision: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Householder-product scan on Triton kernels (CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``).

    Shapes as :func:`~statetrack.kernels.householder.reference.householder_scan_reference`: q [B,T,H,K],
    k [B,T*n_h,H,K], v [B,T*n_h,H,V], beta [B,T*n_h,H], initial_state [B,H,K,V]. Returns
    ``(o [B,T,H,V] in q.dtype, final_state [B,H,K,V] float32 or None)``; differentiable in q, k, v, beta and
    initial_state. ``chunk_size`` (16, 32 or 64) is the chunk of factors of the ``chunk`` forward and the
    checkpoint interval of the backward; ``forward_kernel`` and ``backward_kernel`` are each ``"chunk"`` (WY/UT
    tiles with ``tl.dot``, split into a sequential pass over chunk states and a pass parallel over chunks),
    ``"fused"`` (the same algebra in one sequential kernel) or ``"recurrent"`` (one factor at a time); any pairing
    works. ``dot_precision`` ("ieee" or "tf32") overrides the chunk kernels' ``tl.dot`` precision (default: "ieee"
    when any input is float32, else "tf32"; "tf32" trades float32 exactness for tensor-core speed on a GPU).
    """
    B, T, H, K, V, n_h = check_householder_inputs(q, k, v, beta, num_householder, initial_state, _WHERE)
    scale = check_scale(scale, K, _WHERE)
    for name, x in (("q", q), ("k", k), ("v", v), ("beta", beta), ("initial_state", initial_state)):
        if x is not None and x.dtype not in _DTYPES:
            raise KernelInputError(
                f"{_WHERE}: {name} is {x.dtype}; the Triton kernels take float32, bfloat16 or float16 "
                f"(use backend='chunked' or 'reference' for float64)")
    for name, choice in (("forward_kernel", forward_kernel), ("backward_kernel", backward_kernel)):
        if choice not in KERNEL_KINDS:
            raise KernelInputError(f"{_WHERE}: {name} must be one of {KERNEL_KINDS}, got {choice!r}")
    if dot_precision is not None and dot_precision not in DOT_PRECISIONS:
        raise KernelInputError(
            f"{_WHERE}: dot_precision must be None or one of {DOT_PRECISIONS}, got {dot_precision!r}")
    if chunk_size not in CHUNK_SIZES or isinstance(chunk_size, bool):
        raise KernelInputError(f"{_WHERE}: chunk_size must be one of {CHUNK_SIZES}, got {chunk_size!r}")
    cs = int(chunk_size)
    try:
        import triton  # noqa: F401
    except ImportError as exc:
        raise KernelInputError(f"{_WHERE}: triton is not importable ({exc}); use backend='chunked'") from None
    if q.device.type != "cuda":
        from .triton_utils import interpreting

        if not interpreting():
            raise KernelInputError(
                f"{_WHERE}: tensors are on {q.device}; the Triton kernels need CUDA tensors "
                f"(or TRITON_INTERPRET=1, set before triton is imported, to run them slowly on the CPU)")
    if T == 0:
        o = q.new_zeros(B, 0, H, V)
        ht = (initial_state.float().clone() if initial_state is not None
              else torch.zeros(B, H, K, V, dtype=torch.float32, device=q.device))
        return o, (ht if output_final_state else None)
    h0 = None if initial_state is None else initial_state.contiguous()
    o, ht = HouseholderScanTriton.apply(q.contiguous(), k.contiguous(), v.contiguous(), beta.contiguous(), h0,
                                        scale, n_h, cs, forward_kernel, backward_kernel, dot_precision)
    return o, (ht if output_final_state else None)


__all__ = ["householder_scan_triton", "HouseholderScanTriton", "KERNEL_KINDS", "DOT_PRECISIONS", "CHUNK_SIZES"]
