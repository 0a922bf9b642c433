"""Classification with construction sizes: the verdicts of :mod:`statetrack.automata.expressivity` completed with the
sizes of the models that :mod:`statetrack.constructions` actually builds.

``statetrack classify`` (CLI), :func:`statetrack.classify` (Python) and the reports all call
:func:`classify_language`; the Krohn-Rhodes sizes come from the same :func:`~statetrack.constructions.cascade.cascade_stack`
that ``compile --construction cascade`` uses, so the sizes printed and the models built cannot disagree.

Example:
    >>> from statetrack.automata.catalog import get_language
    >>> c = classify_language(get_language("parity"))
    >>> c.families["diagonal[-1,1]"]["verdict"]
    'constructible'
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from statetrack.automata.expressivity import DEFAULT_MAX_ELEMENTS, classify
from statetrack.errors import StatetrackError

#: largest minimal DFA for which the Krohn-Rhodes cascade is built to report its size
CASCADE_SIZE_LIMIT = 12


@dataclass
class Classification:
    """Verdict per LRNN family, with the sizes of the constructions behind the ``constructible`` ones.

    ``families`` maps a family name (``deltanet[-1,1]``, ...) to ``{verdict, theorem, reason, construction,
    min_layers, witness}``; ``construction`` is ``{layers, state_size, factors_per_token, note}`` or ``None``.
    """

    states: int
    monoid_size: int
    aperiodic: bool
    is_group: bool
    precision: str
    groups: list[dict[str, Any]]
    families: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``classify`` JSON object (docs/cli.md)."""
        return {"states": self.states, "monoid_size": self.monoid_size, "aperiodic": self.aperiodic,
                "is_group": self.is_group, "precision": self.precision, "groups": self.groups,
                "families": self.families}


def classify_language(dfa, precision: str = "finite", max_elements: int = DEFAULT_MAX_ELEMENTS) -> Classification:
    """Classify ``dfa`` (any DFA; it is minimised here) and fill in the cascade sizes of small DFAs.

    Raises StatetrackError when ``max_elements`` is not positive or the monoid outgrows it.
    """
    if max_elements < 1:
        raise StatetrackError(f"max_elements must be positive, got {max_elements}")
    raw = classify(dfa, precision=precision, max_elements=max_elements)
    _fill_cascade_sizes(dfa, raw)
    return Classification(**raw)


def _fill_cascade_sizes(dfa, result: dict) -> None:
    """Give the Krohn-Rhodes cascade verdicts their real size by compiling the cascade (small DFAs only).

    The cascade is built with the convolution coupling (``h`` layers; DeltaNet, DeltaProduct and Mamba
    layers have the short convolution it needs). Aperiodic languages: resets only, so every one-hot
    coordinate can be a scalar head with one GH projection per token; filled for every family with a
    pending cascade verdict. Otherwise only ``deltaproduct[-1,1]`` is filled (reflections and projections
    in one head: the factors per token are the largest count of a symbol).
    """
    fams = result["families"]
    pending = [f for f, v in fams.items()
               if v["verdict"] == "constructible" and v["construction"] and v["construction"]["layers"] is None
               and "cascade" in v["construction"].get("note", "")]
    if not result["aperiodic"]:
        pending = [f for f in pending if f == "deltaproduct[-1,1]"]
    if not pending or result["states"] > CASCADE_SIZE_LIMIT:
        return
    from .cascade import cascade_stack

    stack = cascade_stack(dfa.minimize(), coupling="conv")
    size = {"layers": len(stack.layers), "state_size": max(L.n for L in stack.layers),
            "factors_per_token": 1 if result["aperiodic"] else max(L.factors for L in stack.layers)}
    note = (f"holonomy cascade with {stack.depth} levels, each layer reading its input through a width-2 causal "
            "convolution (`statetrack compile --construction cascade --coupling conv`; without the convolution "
            f"the copy-layer coupling needs up to {max(1, 2 * stack.depth - 1)} layers)"
            + ("; resets only: each one-hot coordinate is a scalar head with one projection per token"
               if result["aperiodic"] else ""))
    for f in pending:
        fams[f]["construction"].update(size)
        fams[f]["construction"]["note"] = note
