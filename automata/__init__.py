"""Automata: regular expressions, DFAs, formats, catalog, monoids, sampling.

The stable surface is :class:`DFA` (``DFA.from_regex``, ``DFA.from_json``, ``DFA.load``,
``accepts``, ``minimize``, ``to_json``, boolean operators, ``equivalent``).
"""
from .dfa import DFA, Equivalence
from .errors import (
    AlphabetError,
    DFAFormatError,
    ModelFormatError,
    RegexSyntaxError,
    StateLimitError,
    StatetrackError,
)

__all__ = [
    "DFA",
    "Equivalence",
    "AlphabetError",
    "DFAFormatError",
    "ModelFormatError",
    "RegexSyntaxError",
    "StateLimitError",
    "StatetrackError",
]
