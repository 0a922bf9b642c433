"""statetrack.kernels: the LRNN recurrences (reference, chunked PyTorch, Triton)."""
from __future__ import annotations

from .householder import householder_scan_reference


def householder_scan(q, k, v, beta, *, num_householder=1, scale=None, initial_state=None,
                     output_final_state=False, backend="auto"):
    """Householder-product scan; see :mod:`statetrack.kernels.householder.reference` for the contract."""
    return householder_scan_reference(q, k, v, beta, num_householder=num_householder, scale=scale,
                                      initial_state=initial_state, output_final_state=output_final_state)


__all__ = ["householder_scan", "householder_scan_reference"]
