"""Backend dispatch of the scans: validates the backend name and calls the reference, chunked or Triton form."""
from __future__ import annotations

import os

import torch

from .diagonal import diagonal_scan_chunked, diagonal_scan_reference
from .householder import householder_scan_chunked, householder_scan_reference
from .householder.reference import KernelInputError, check_householder_inputs, check_scale
from .diagonal.reference import check_diagonal_inputs

HOUSEHOLDER_BACKENDS = ("auto", "reference", "chunked", "triton")
DIAGONAL_BACKENDS = ("auto", "reference", "chunked")


def _triton_householder():
    """The Triton backend's entry point, imported on first use; a clear error when it cannot run here."""
    try:
        from .householder.triton_op import householder_scan_triton
    except (ImportError, RuntimeError) as exc:  # triton missing, or not importable on this platform
        raise KernelInputError(f"householder_scan: backend 'triton' is unavailable ({exc}); "
                               "use backend='chunked' or 'reference'") from exc
    return householder_scan_triton


def _triton_importable() -> bool:
    """True when the Triton package imports (checked once)."""
    global _TRITON_OK
    if _TRITON_OK is None:
        try:
            import triton  # noqa: F401

            _TRITON_OK = True
        except ImportError:
            _TRITON_OK = False
    return _TRITON_OK


_TRITON_OK: bool | None = None


def householder_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    *,
    num_householder: int = 1,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scan of generalized Householder products with value writes.

    Shapes: q ``[B, T, H, K]``; k ``[B, T*n_h, H, K]``, v ``[B, T*n_h, H, V]``, beta ``[B, T*n_h, H]`` (the
    ``n_h = num_householder`` factors of token t are rows ``t*n_h .. t*n_h + n_h - 1``); initial_state
    ``[B, H, K, V]``. Each factor does ``S <- (I - beta k k^T) S + beta k v^T``; after token t's last factor
    ``o_t = scale * S^T q_t`` (default scale ``K ** -0.5``). Keys are not normalised and beta is not clamped
    (beta in [0, 2] gives eigenvalues in [-1, 1] for unit keys).

    Any float dtype in; accumulation in float32 (float64 when an input is float64). Returns
    ``(o [B, T, H, V] in q.dtype, final_state [B, H, K, V] in the accumulation dtype, or None)``.
    """
    check_householder_inputs(q, k, v, beta, num_householder, initial_state, "householder_scan")
    check_scale(scale, q.shape[-1], "householder_scan")
    if backend not in HOUSEHOLDER_BACKENDS:
        raise KernelInputError(f"householder_scan: backend must be one of {', '.join(HOUSEHOLDER_BACKENDS)}, "
                               f"got {backend!r}")
    if backend == "auto":
        float64 = any(x is not None and x.dtype == torch.float64 for x in (q, k, v, beta, initial_state))
        # the Triton kernels refuse float64 and are tuned for head sizes up to 128
        use_triton = q.is_cuda and not float64 and q.shape[-1] <= 128 and v.shape[-1] <= 128 and _triton_importable()
        backend = "triton" if use_triton else "chunked"
    kwargs = dict(num_householder=num_householder, scale=scale, initial_state=initial_state,
                  output_final_state=output_final_state)
    if backend == "reference":
        return householder_scan_reference(q, k, v, beta, **kwargs)
    if backend == "chunked":
        return householder_scan_chunked(q, k, v, beta, **kwargs)
    if not q.is_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise KernelInputError("householder_scan: backend 'triton' needs CUDA tensors "
                               "(or TRITON_INTERPRET=1 for the slow CPU interpreter); got tensors on "
                               f"{q.device}")
    return _triton_householder()(q, k, v, beta, **kwargs)


def diagonal_scan(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    a: torch.Tensor,
    *,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    output_final_state: bool = False,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Scan of diagonal transitions with signed gates: ``S_t = diag(a_t) S_{t-1} + k_t v_t^T``.

    Shapes: q, k, a ``[B, T, H, K]``, v ``[B, T, H, V]``, initial_state ``[B, H, K, V]``;
    ``o_t = scale * S_t^T q_t`` (default scale ``K ** -0.5``). ``a`` is meant to lie in [-1, 1]: negative gates
    flip a channel's sign, a zero resets it (both exact; no logarithms are taken). Dtypes as in
    :func:`householder_scan`. Returns ``(o [B, T, H, V] in q.dtype, final_state or None)``.
    """
    check_diagonal_inputs(q, k, v, a, initial_state, "diagonal_scan")
    check_scale(scale, q.shape[-1], "diagonal_scan")
    if backend not in DIAGONAL_BACKENDS:
        raise KernelInputError(f"diagonal_scan: backend must be one of {', '.join(DIAGONAL_BACKENDS)}, "
                               f"got {backend!r}")
    kwargs = dict(scale=scale, initial_state=initial_state, output_final_state=output_final_state)
    if backend == "reference":
        return diagonal_scan_reference(q, k, v, a, **kwargs)
    return diagonal_scan_chunked(q, k, v, a, **kwargs)


__all__ = [
    "householder_scan",
    "diagonal_scan",
    "householder_scan_reference",
    "householder_scan_chunked",
    "diagonal_scan_reference",
    "diagonal_scan_chunked",
    "KernelInputError",
    "HOUSEHOLDER_BACKENDS",
    "DIAGONAL_BACKENDS",
]
