"""Certificates that a model recognises a language at every length (see docs/certify.md).

:func:`certify` (trained LRNNs, one layer or a stack without convolutions (:mod:`.stack`): counterexample
search, then invariant regions per DFA state and token window -- anchored at representative words where gates are
exact, boxes otherwise -- then interval bounds on the readout), :func:`certify_compiled` (the constructions' exact
proof) and :func:`certify_path` (a run directory or a compiled-model file) return a :class:`Certificate`.
"""
from .api import certify, certify_compiled, certify_path, state_classes
from .certificate import STATUSES, Certificate
from .training import UntilCertified

__all__ = ["certify", "certify_compiled", "certify_path", "state_classes", "Certificate", "STATUSES", "UntilCertified"]
