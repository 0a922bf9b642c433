"""statetrack: formal-language expressivity of linear RNNs.

The front door (:mod:`statetrack.api`): :func:`language` (a DFA from a catalog name, a regex or a DFA file),
:func:`classify`, :func:`monoid`, :func:`compile` (a :class:`CompiledModel` with ``prove()``, ``save()``,
``verify()`` and ``to_module()``), :func:`load` and :func:`verify` (exact and numeric checks of a compiled model,
numeric settings in :class:`NumericOptions`). Subpackages: :mod:`statetrack.automata` (regex, DFAs, monoids, sampling),
:mod:`statetrack.constructions` (exact Householder-product weights and proofs), :mod:`statetrack.lrnn` (PyTorch
layers, compiled models as modules, training, evaluation) and :mod:`statetrack.kernels` (the recurrences); the names
they share are in :mod:`statetrack.vocabulary`. Importing the package root is cheap: the public names below are
loaded on first use, and torch only when a model is run.

Example:
    >>> import statetrack
    >>> statetrack.language(regex="(ab)*").accepts("abab")
    True
"""
from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "language": ("statetrack.api", "language"),
    "classify": ("statetrack.api", "classify"),
    "monoid": ("statetrack.api", "monoid"),
    "compile": ("statetrack.api", "compile"),
    "load": ("statetrack.api", "load"),
    "verify": ("statetrack.api", "verify"),
    "NumericOptions": ("statetrack.lrnn.verify", "NumericOptions"),
    "VerifyResult": ("statetrack.lrnn.verify", "VerifyResult"),
    "CompiledModel": ("statetrack.api", "CompiledModel"),
    "Classification": ("statetrack.api", "Classification"),
    "MonoidReport": ("statetrack.api", "MonoidReport"),
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
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'statetrack' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
