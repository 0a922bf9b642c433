"""statetrack.kernels: the LRNN recurrences, each with a float64-capable reference and faster backends.

* :func:`householder_scan` -- products of generalized Householder factors (DeltaNet ``n_h = 1``, DeltaProduct
  ``n_h > 1``), in the layout of flash-linear-attention's DeltaProduct op. Backends: ``reference`` (sequential loop,
  the truth), ``chunked`` (WY / UT transform in PyTorch), ``triton`` (forward and backward kernels), ``auto``.
* :func:`diagonal_scan` -- diagonal transitions with signed gates and exact resets. Backends: ``reference``,
  ``chunked``, ``auto``.

``auto`` picks ``triton`` for CUDA tensors (``chunked`` when an input is float64, which the Triton kernels refuse)
and ``chunked`` otherwise (the diagonal scan has no Triton kernel, so its
``auto`` is always ``chunked``). Bad inputs raise :class:`KernelInputError` naming the argument.
"""
if __name__ == "kernels":  # imported by its bare name from the repository root: see statetrack/_shadow.py
    from statetrack._shadow import defer_to_installed

    defer_to_installed(__name__, __path__[0])
else:
    from .dispatch import (DIAGONAL_BACKENDS, HOUSEHOLDER_BACKENDS, KernelInputError, diagonal_scan,
                           diagonal_scan_chunked, diagonal_scan_reference, householder_scan,
                           householder_scan_chunked, householder_scan_reference)

    __all__ = ["householder_scan", "diagonal_scan", "householder_scan_reference", "householder_scan_chunked",
               "diagonal_scan_reference", "diagonal_scan_chunked", "KernelInputError", "HOUSEHOLDER_BACKENDS",
               "DIAGONAL_BACKENDS"]
