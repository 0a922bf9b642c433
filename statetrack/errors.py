"""Exceptions of statetrack.

Every error a user can cause derives from :class:`StatetrackError`; the CLI turns
those into a one-line message on stderr and exit code 2 (no traceback).
"""
from __future__ import annotations


class StatetrackError(Exception):
    """Base class of user-facing errors (bad input, bad usage, limits reached)."""


class RegexSyntaxError(StatetrackError, ValueError):
    """A regular expression that does not parse.

    Attributes:
        pattern: the pattern text.
        position: 0-based character offset of the problem.
        reason: what is wrong, without the position.
    """

    def __init__(self, reason: str, pattern: str, position: int):
        self.reason = reason
        self.pattern = pattern
        self.position = position
        caret = " " * position + "^"
        super().__init__(f"{reason} at position {position}\n  {pattern}\n  {caret}")


class AlphabetError(StatetrackError, ValueError):
    """A symbol outside the alphabet, or an alphabet that is missing or malformed."""


class DFAFormatError(StatetrackError, ValueError):
    """A DFA file or object that is malformed; the message names the state, symbol or line."""


class StateLimitError(StatetrackError, RuntimeError):
    """A construction (subset construction, minimisation, monoid closure, ...) exceeded its size guard."""


class ModelFormatError(StatetrackError, ValueError):
    """A compiled-model file that is malformed, tampered with or of an unknown version."""
