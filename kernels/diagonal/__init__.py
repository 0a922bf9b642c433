"""Sign-aware diagonal scans (``S_t = diag(a_t) S_{t-1} + k_t v_t^T``, ``a`` in [-1, 1]): reference and chunked."""
from .chunked import diagonal_scan_chunked, span_products
from .reference import check_diagonal_inputs, diagonal_scan_reference

__all__ = ["diagonal_scan_reference", "diagonal_scan_chunked", "check_diagonal_inputs", "span_products"]
