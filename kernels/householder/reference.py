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

This module also holds the input checks shared by every backend (:func:`check_householder_inputs`)
and :class:`KernelInputError`, the user-facing error of all kernels.
"""
from __future__ import annotations

import functools
import math
import operator

import torch


class KernelInputError(ValueError):
    """Tensors handed to a kernel with a wrong shape, dtype, device or option; the message names the argument."""


def no_autocast(fn):
    """Run a scan with autocast disabled: the scans choose their own accumulation dtype (float32 or float64), and an
    enclosing ``torch.autocast`` region would otherwise run their matmuls in bfloat16/float16."""

    @functools.wraps(fn)
    def wrapper(q, *args, **kwargs):
        with torch.autocast(device_type=q.device.type, enabled=False):
            return fn(q, *args, **kwargs)

    return wrapper


def accumulation_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """float64 when any given tensor is float64, else float32 (16-bit inputs accumulate in float32)."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def check_float_tensor(name: str, x: object, where: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise KernelInputError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise KernelInputError(f"{where}: {name} must be a floating-point tensor, got {x.dtype}")


def check_scale(scale: float | None, K: int, where: str) -> float:
    """The output scale: ``K ** -0.5`` by default; a finite real number otherwise."""
    if scale is None:
        return K ** -0.5
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise KernelInputError(f"{where}: scale must be a number, got {scale!r}") from None
    if not math.isfinite(s):
        raise KernelInputError(f"{where}: scale must be finite, got {scale!r}")
    return s


def check_initial_state(initial_state: torch.Tensor | None, shape: tuple[int, ...], device: torch.device,
                        where: str) -> None:
    """``initial_state`` is None or a float tensor of ``shape`` ([B, H, K, V]) on ``device``."""
    if initial_state is None:
        return
    check_float_tensor("initial_state", initial_state, where)
    if tuple(initial_state.shape) != shape:
        raise KernelInputError(
            f"{where}: initial_state must have shape [B, H, K, V] = {list(shape)}, got {list(initial_state.shape)}")
    if initial_state.device != device:
        raise KernelInputError(f"{where}: initial_state is on {initial_state.device}, q on {device}")


def check_feature_dims(H: int, K: int, V: int, where: str) -> None:
    """Heads ``H`` (dim 2 of q), keys ``K`` (last dim of q and k) and values ``V`` (last dim of v) must be >= 1;
    an empty batch (``B = 0``) or sequence (``T = 0``) is allowed."""
    for name, size, arg in (("H", H, "q (dim 2)"), ("K", K, "q and k (last dim)"), ("V", V, "v (last dim)")):
        if size < 1:
            raise KernelInputError(f"{where}: {name} = {size} in {arg}; the head and feature sizes H, K, V must be >= 1")


def check_householder_inputs(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor,
                             num_householder: int, initial_state: torch.Tensor | None,
                             where: str = "householder_scan") -> tuple[int, int, int, int, int, int]:
    """Validate the layout of the module docstring; returns ``(B, T, H, K, V, n_h)``.

    Raises :class:`KernelInputError` naming the offending argument.
    """
    for name, x in (("q", q), ("k", k), ("v", v), ("beta", beta)):
        check_float_tensor(name, x, where)
    try:
        n_h = operator.index(num_householder)
    except TypeError:
        n_h = 0
    if isinstance(num_householder, bool) or n_h < 1:
        raise KernelInputError(f"{where}: num_householder must be a positive int, got {num_householder!r}")
    if q.dim() != 4:
        raise KernelInputError(f"{where}: q must be [B, T, H, K], got shape {list(q.shape)}")
    B, T, H, K = q.shape
    if k.dim() != 4 or tuple(k.shape) != (B, T * n_h, H, K):
        raise KernelInputError(
            f"{where}: k must be [B, T*n_h, H, K] = {[B, T * n_h, H, K]} (num_householder={n_h}), "
            f"got {list(k.shape)}")
    if v.dim() != 4 or tuple(v.shape[:3]) != (B, T * n_h, H):
        raise KernelInputError(
            f"{where}: v must be [B, T*n_h, H, V] with [B, T*n_h, H] = {[B, T * n_h, H]} (num_householder={n_h}), "
            f"got {list(v.shape)}")
    if tuple(beta.shape) != (B, T * n_h, H):
        raise KernelInputError(
            f"{where}: beta must be [B, T*n_h, H] = {[B, T * n_h, H]} (num_householder={n_h}), got {list(beta.shape)}")
    V = v.shape[-1]
    check_feature_dims(H, K, V, where)
    for name, x in (("k", k), ("v", v), ("beta", beta)):
        if x.device != q.device:
            raise KernelInputError(f"{where}: {name} is on {x.device}, q on {q.device}")
    check_initial_state(initial_state, (B, H, K, V), q.device, where)
    return B, T, H, K, V, n_h


@no_autocast
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
    B, T, H, K, V, n_h = check_householder_inputs(q, k, v, beta, num_householder, initial_state,
                                                  "householder_scan_reference")
    acc = accumulation_dtype(q, k, v, beta, initial_state)
    scale = check_scale(scale, K, "householder_scan_reference")
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
