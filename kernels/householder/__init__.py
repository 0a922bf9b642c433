"""Householder-product (DeltaNet / DeltaProduct) scans."""
from .reference import householder_scan_reference

__all__ = ["householder_scan_reference"]
