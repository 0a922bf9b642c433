"""Automata: regular expressions, DFAs, formats, catalog, monoids, sampling.

The stable surface is :class:`DFA` (``DFA.from_regex``, ``DFA.from_json``, ``DFA.load``,
``accepts``, ``minimize``, ``to_json``, boolean operators, ``equivalent``).
"""
if __name__ == "automata":  # imported by its bare name from the repository root: see statetrack/_shadow.py
    from statetrack._shadow import defer_to_installed

    defer_to_installed(__name__, __path__[0])
else:
    from .dfa import DFA, Equivalence
    from statetrack.errors import (
        AlphabetError,
        DFAFormatError,
        ModelFormatError,
        RegexSyntaxError,
        StateLimitError,
        StatetrackError,
    )

    # Heavier parts load on first use (so that `statetrack dfa` stays fast).
    _LAZY = {
        "get_language": "catalog", "list_languages": "catalog",
        "transition_monoid": "monoid", "syntactic_monoid": "monoid",
        "classify": "expressivity",
        "count_table": "counting",
        "WordSampler": "sampling", "sample_accepted": "sampling", "sample_rejected": "sampling",
        "enumerate_words": "sampling",
        "generate_suite": "suites", "write_suite": "suites", "SuiteOptions": "suites",
    }


    def __getattr__(name: str):
        if name in _LAZY:
            import importlib

            return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


    __all__ = [
        *_LAZY,
        "DFA",
        "Equivalence",
        "AlphabetError",
        "DFAFormatError",
        "ModelFormatError",
        "RegexSyntaxError",
        "StateLimitError",
        "StatetrackError",
    ]
