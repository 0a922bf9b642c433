"""statetrack: formal-language expressivity of linear RNNs.

Subpackages: :mod:`statetrack.automata` (regex, DFAs, monoids, sampling),
:mod:`statetrack.constructions` (exact Householder-product weights and proofs),
:mod:`statetrack.lrnn` (PyTorch layers, training, evaluation) and
:mod:`statetrack.kernels` (the recurrences). Importing the package root is cheap:
the public names below are loaded on first use.
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "DFA": ("statetrack.automata.dfa", "DFA"),
    "Equivalence": ("statetrack.automata.dfa", "Equivalence"),
    "StatetrackError": ("statetrack.errors", "StatetrackError"),
    "RegexSyntaxError": ("statetrack.errors", "RegexSyntaxError"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        return getattr(importlib.import_module(mod), attr)
    raise AttributeError(f"module 'statetrack' has no attribute {name!r}")
