"""The syntactic-monoid report of a language: :func:`monoid_report` -> :class:`MonoidReport`.

The report is what ``statetrack monoid`` prints: the size of the minimal complete DFA, the monoid's size, idempotents,
aperiodicity, the numbers of Green's R-, L- and H-classes, the distinct maximal subgroups (each with its degree and
the shortest word of its idempotent) and one summary per D-class; optionally every element with its shortest word.

Example:
    >>> from statetrack.automata.catalog import get_language
    >>> r = monoid_report(get_language("parity"))
    >>> r.monoid_size, r.is_group, [g["name"] for g in r.groups]
    (2, True, ['Z2'])
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from statetrack.errors import StatetrackError

from .groups import distinct_groups
from .monoid import DEFAULT_MAX_ELEMENTS, Monoid, minimal_complete_dfa, transition_monoid

if TYPE_CHECKING:  # pragma: no cover
    from .dfa import DFA


@dataclass
class MonoidReport:
    """The syntactic monoid of a language, summarised.

    ``groups``: one dict per distinct maximal subgroup (``order``, ``abelian``, ``solvable``, ``name``, ... as
    :class:`statetrack.automata.groups.GroupInfo` gives them, plus ``degree`` and ``idempotent_word``);
    ``d_classes``: one dict per D-class (``rank``, ``size``, ``r_classes``, ``l_classes``, ``h_size``, ``regular``,
    ``representative`` -- its shortest word, ``""`` for the identity); ``elements``: ``None`` unless asked for, else
    one ``{word, map, idempotent}`` per element (``map`` lists the image of each state of the minimal DFA).
    ``monoid`` is the :class:`~statetrack.automata.monoid.Monoid` itself (not part of the JSON).
    """

    states: int
    alphabet: list[str]
    monoid_size: int
    idempotents: int
    aperiodic: bool
    is_group: bool
    r_classes: int
    l_classes: int
    h_classes: int
    groups: list[dict[str, Any]]
    d_classes: list[dict[str, Any]]
    elements: list[dict[str, Any]] | None = None
    monoid: Monoid | None = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        """The ``monoid`` JSON object (docs/cli.md); ``elements`` only when it was computed."""
        out: dict[str, Any] = {
            "states": self.states, "alphabet": list(self.alphabet), "monoid_size": self.monoid_size,
            "idempotents": self.idempotents, "aperiodic": self.aperiodic, "is_group": self.is_group,
            "r_classes": self.r_classes, "l_classes": self.l_classes, "h_classes": self.h_classes,
            "groups": self.groups, "d_classes": self.d_classes,
        }
        if self.elements is not None:
            out["elements"] = self.elements
        return out


def monoid_report(dfa: "DFA", max_elements: int = DEFAULT_MAX_ELEMENTS, with_elements: bool = False,
                  progress: bool = False) -> MonoidReport:
    """The syntactic monoid of the language of ``dfa`` (the transition monoid of its minimal complete DFA).

    ``max_elements``: stop (with a :class:`StatetrackError`) when the monoid grows beyond it; ``with_elements``: list
    every element with its shortest word; ``progress``: a progress bar on stderr while the monoid is enumerated.
    """
    if max_elements < 1:
        raise StatetrackError(f"max_elements must be positive, got {max_elements}")
    mdfa = minimal_complete_dfa(dfa)
    m = transition_monoid(mdfa, max_elements=max_elements, progress=progress)
    g = m.green()
    groups = []
    for s in distinct_groups(m.maximal_subgroups()):
        entry = s.info.to_json()
        entry["degree"] = len(s.points)
        entry["idempotent_word"] = mdfa.word_str(m.word(s.idempotent))
        groups.append(entry)
    d_classes = []
    for dc in range(g.n_d):
        info = g.d_summary(dc)
        info["representative"] = mdfa.word_str(m.word(info.pop("first")))
        d_classes.append(info)
    elements = None
    if with_elements:
        elements = [{"word": mdfa.word_str(m.word(i)), "map": m.elements[i].tolist(),
                     "idempotent": bool(g.idempotent[i])} for i in range(m.size)]
    return MonoidReport(states=mdfa.n_states, alphabet=list(mdfa.alphabet), monoid_size=m.size,
                        idempotents=int(g.idempotent.sum()), aperiodic=bool(g.is_aperiodic()),
                        is_group=bool(m.is_group()), r_classes=g.n_r, l_classes=g.n_l, h_classes=g.n_h,
                        groups=groups, d_classes=d_classes, elements=elements, monoid=m)


__all__ = ["MonoidReport", "monoid_report"]
