"""Choose and run a construction: :func:`compile_language`.

``auto`` tries, cheapest first (state size, then factors per token): ``parity`` (n = 1), ``rotation`` (n = 2, two
reflections), ``group`` (Theorem 3, one layer of permutations), then the Krohn-Rhodes ``cascade`` (Theorem 4) when
:mod:`statetrack.constructions.cascade` provides ``compile_cascade``. ``modadd2`` (two layers) and ``unconstrained``
(not a GH product) are only built on request.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.vocabulary import CONSTRUCTIONS

from .group import compile_group, minimal_dfa
from .model_format import CompiledModel, ConstructionNotApplicable, summarize
from .modadd import compile_modadd2
from .parity import compile_parity
from .rotation import compile_rotation
from .unconstrained import compile_unconstrained

AUTO_ORDER = ("parity", "rotation", "group", "cascade")

_WHY = {
    "parity": "two states and every letter is the identity or the swap: one scalar reflection (eigenvalue -1)",
    "rotation": "the letters add mod m on a cycle of all states: a 2x2 rotation as two reflections "
                "(irrational entries; the group construction is exact but larger)",
    "group": "every letter permutes the states (the transition monoid is a group): Theorem 3, one layer of "
             "reflections with integer keys",
    "cascade": "the transition monoid is not a group: Krohn-Rhodes cascade (Theorem 4)",
}


def _builder(name: str) -> Callable[[DFA], tuple[CompiledModel, dict]]:
    if name == "cascade":
        from .cascade import compile_cascade

        return compile_cascade
    return {"parity": compile_parity, "rotation": compile_rotation, "group": compile_group,
            "modadd2": compile_modadd2, "unconstrained": compile_unconstrained}[name]


def _build(name: str, dfa: DFA, group_action, coupling) -> tuple[CompiledModel, dict]:
    if name == "group" and group_action is not None:
        return compile_group(dfa, action=group_action)
    if name == "cascade" and coupling is not None:
        return _builder(name)(dfa, coupling=coupling)
    return _builder(name)(dfa)


def compile_language(dfa: DFA, construction: str = "auto", *,
                     group_action: "np.ndarray | None" = None,
                     coupling: str | None = None) -> tuple[CompiledModel, dict]:
    """Compile the language of ``dfa`` (made minimal and complete first).

    Returns ``(model, report)``; the report has ``construction``, ``layers``, ``dims``, ``factors`` (per layer, the
    most non-identity factors of any symbol), ``codes``, ``eigenvalue_range``, ``max_norm``, ``reason`` and the
    construction's own details. Raises :class:`ConstructionNotApplicable` (a ``StatetrackError``) when the named
    construction does not apply, or, for ``auto``, when none of the available ones does (naming the missing one).
    ``group_action`` optionally gives the letters as permutations of a faithful action for ``group`` (e.g. the
    catalog's generators), checked while the codes are built. ``coupling`` (``copy`` | ``conv``) is handed to the
    cascade construction when it is used.
    """
    if construction not in CONSTRUCTIONS:
        raise StatetrackError(f"unknown construction {construction!r}; choose one of {', '.join(CONSTRUCTIONS)}")
    dfa = minimal_dfa(dfa)
    if construction != "auto":
        model, extra = _build(construction, dfa, group_action, coupling)
        reason = f"requested: {_WHY.get(construction, construction)}"
    else:
        tried = []
        for name in AUTO_ORDER:
            try:
                model, extra = _build(name, dfa, group_action, coupling)
            except ConstructionNotApplicable as exc:
                tried.append(str(exc).split(":")[0])
                continue
            reason = f"auto: {_WHY[name]}" + (f" (not {', '.join(tried)})" if tried else "")
            break
    report = summarize(model)
    detail = extra.pop("reason", None)  # a construction's own account of itself goes after the choice
    report.update(extra)
    report["reason"] = reason + (f"; {detail}" if detail else "")
    return model, report


__all__ = ["compile_language", "CONSTRUCTIONS", "AUTO_ORDER"]
