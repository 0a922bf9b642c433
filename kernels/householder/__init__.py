"""Householder-product (DeltaNet / DeltaProduct) scans: reference, chunked PyTorch, Triton (``triton_op``).

The Triton backend is imported lazily by :func:`statetrack.kernels.householder_scan` so that importing this
package never needs Triton.
"""
from .chunked import householder_scan_chunked
from .reference import KernelInputError, check_householder_inputs, householder_scan_reference

__all__ = ["householder_scan_reference", "householder_scan_chunked", "check_householder_inputs", "KernelInputError"]
