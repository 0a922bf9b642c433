"""Choose and run a construction: :func:`compile_language`.

``auto`` sizes the one-layer constructions that apply -- ``parity`` (n = 1), ``rotation`` (n = 2, two reflections,
irrational entries), ``group`` (Theorem 3: a faithful permutation action or signed-permutation representation,
integer keys), ``permreset`` (letters that permute or reset the states, one-hot), ``counter`` (saturating counters,
thermometer code) and ``bitcode`` (any 0/1 code on which every letter copies, negates or sets bits, found by an
exhaustive search) -- with each construction's own
size function (the one :mod:`.sizing` reports), and builds the cheapest under the ``prefer`` rule:

* ``balanced`` (default): fewest factors per token, then exact before inexact, then smallest state
  (mod:3 through a 3-cycle permutation, not a rotation; mod:5 through the rotation, 2 factors instead of 4);
* ``exact``: exact constructions before inexact ones, then fewest factors, then smallest state;
* ``small``: fewest factors, then smallest state, then exact.

When none applies it builds the Krohn-Rhodes ``cascade`` (Theorem 4).
``modadd2`` (two layers) and ``unconstrained`` (not a GH product) are only built on request.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.errors import StatetrackError
from statetrack.vocabulary import COMPILE_PREFERENCES, CONSTRUCTIONS

from .group import compile_group, group_size, minimal_dfa
from .model_format import CompiledModel, ConstructionNotApplicable, summarize
from .modadd import compile_modadd2
from .parity import compile_parity, parity_size
from .bitcode import SCOPE, bitcode_size, compile_bitcode, search_bit_code
from .budget import DEFAULT_WORK, WorkBudget
from .counter import compile_counter, counter_size
from .permreset import compile_permreset, permreset_size
from .rotation import compile_rotation, rotation_size
from .unconstrained import compile_unconstrained

AUTO_ORDER = ("parity", "rotation", "group", "permreset", "counter", "bitcode", "cascade")
PREFER = COMPILE_PREFERENCES
_ONE_LAYER = ("parity", "rotation", "group", "permreset", "counter", "bitcode")

_WHY = {
    "parity": "two states and every letter is the identity or the swap: one scalar reflection (eigenvalue -1)",
    "rotation": "the letters add mod m on a cycle of all states: a 2x2 rotation as two reflections "
                "(irrational entries; no exact construction found with as few factors)",
    "group": "every letter permutes the states (the transition monoid is a group): Theorem 3, one layer of "
             "reflections with integer keys (a faithful permutation action or signed-permutation representation)",
    "permreset": "every letter permutes the states or resets them to one state: one layer, reflections for "
                 "permutations and projections for resets",
    "counter": "the states form a chain on which every letter is the identity, an increment, a decrement or a "
               "reset: one layer, a thermometer code and the shift matrix as reflections and one projection",
    "bitcode": "a 0/1 code of the states on which every letter copies, negates or sets bits: one layer, "
               "reflections for the signed permutation of the centred code and a projection per constant",
    "direct": "no one-layer construction applies (no bit code found for the minimal DFA; `one_layer` says whether "
              "none exists in its scope or the search was undecided): a direct multi-layer search found a stack "
              "shallower than the Krohn-Rhodes cascade",
    "cascade": "no one-layer construction applies (no bit code found for the minimal DFA, every letter copying, "
               "negating or setting bits; `one_layer` says whether none exists in its scope or the search was "
               "undecided): Krohn-Rhodes cascade (Theorem 4)",
}
_REQUESTED = {"cascade": "Krohn-Rhodes cascade (Theorem 4)",
              "group": "Theorem 3, one layer of reflections with integer keys",
              "modadd2": "Theorem 6, two layers of one reflection per token"}


def size_of(name: str, dfa: DFA, group_action: "np.ndarray | None" = None) -> dict:
    """``{layers, state_size, factors_per_token, exact, note}`` of the model construction ``name`` (``parity``,
    ``rotation``, ``group``, ``permreset``, ``counter`` or ``bitcode``) builds for the minimal ``dfa``: the size
    function that construction's builder uses, so sizes reported by classification and models built by
    :func:`compile_language` agree. Raises :class:`ConstructionNotApplicable` when it does not apply."""
    if name == "parity":
        return parity_size(dfa)
    if name == "rotation":
        return rotation_size(dfa)
    if name == "group":
        return group_size(dfa, action=group_action)
    if name == "permreset":
        return permreset_size(dfa)
    if name == "counter":
        return counter_size(dfa)
    if name == "bitcode":
        return bitcode_size(dfa)
    raise StatetrackError(f"no size function for construction {name!r}")


def _rank(size: dict, prefer: str) -> tuple:
    f, inexact, n = size["factors_per_token"], not size["exact"], size["state_size"]
    return {"balanced": (f, inexact, n), "exact": (inexact, f, n), "small": (f, n, inexact)}[prefer]


def one_layer_sizes(dfa: DFA, group_action: "np.ndarray | None" = None) -> dict[str, dict]:
    """The sizes (:func:`size_of`) of the one-layer constructions that apply to the minimal ``dfa``, in the order
    parity, rotation, group, permreset, counter, bitcode (empty when none applies)."""
    out = {}
    for name in _ONE_LAYER:
        try:
            out[name] = size_of(name, dfa, group_action)
        except ConstructionNotApplicable:
            continue
    return out


def one_layer_decision(dfa: DFA, sizes: dict[str, dict] | None = None) -> dict:
    """Whether one layer of the ``[-1, 1]`` GH families is known to suffice for the minimal ``dfa``:
    ``{status, construction, scope, reason}`` with ``status`` ``found`` (``construction`` names the one-layer model
    ``auto`` would build), ``impossible`` (no bit code with distinct bits, of any dimension, exists: the exhaustive search of
    :mod:`.bitcode`, whose class the permutation-reset and counter codes belong to; ``scope`` says what that covers)
    or ``undecided`` (the search was stopped or the DFA is too large). ``sizes``: :func:`one_layer_sizes` when already
    computed. Group languages are always ``found`` (Theorem 3)."""
    sizes = one_layer_sizes(dfa) if sizes is None else sizes
    choice = pick(sizes)
    if choice is not None:
        return {"status": "found", "construction": choice[0], "scope": None,
                "reason": f"one layer: {_WHY[choice[0]]}"}
    res = search_bit_code(dfa)
    why = {"impossible": "one layer impossible for bit codes: " + res.reason,
           "undecided": "one layer undecided: " + res.reason}.get(res.status, res.reason)
    return {"status": res.status, "construction": None, "scope": SCOPE, "reason": why}


def pick(sizes: dict[str, dict], prefer: str = "balanced") -> tuple[str, dict] | None:
    """The entry of ``sizes`` (from :func:`one_layer_sizes`) that ``auto`` builds under ``prefer``; ties keep the
    earlier."""
    if prefer not in PREFER:
        raise StatetrackError(f"prefer must be one of {', '.join(PREFER)}, got {prefer!r}")
    best: tuple[str, dict] | None = None
    for name, size in sizes.items():
        if best is None or _rank(size, prefer) < _rank(best[1], prefer):
            best = (name, size)
    return best


def choose_one_layer(dfa: DFA, prefer: str = "balanced",
                     group_action: "np.ndarray | None" = None) -> tuple[str, dict] | None:
    """The one-layer construction ``auto`` builds for the minimal ``dfa`` under ``prefer`` and its size, or None
    when none applies (the letters are not all permutations and resets)."""
    if prefer not in PREFER:
        raise StatetrackError(f"prefer must be one of {', '.join(PREFER)}, got {prefer!r}")
    return pick(one_layer_sizes(dfa, group_action), prefer)


def _builder(name: str) -> Callable[[DFA], tuple[CompiledModel, dict]]:
    if name == "cascade":
        from .cascade import compile_cascade

        return compile_cascade
    return {"parity": compile_parity, "rotation": compile_rotation, "group": compile_group,
            "permreset": compile_permreset, "counter": compile_counter, "bitcode": compile_bitcode,
            "modadd2": compile_modadd2, "unconstrained": compile_unconstrained}[name]


def _build(name: str, dfa: DFA, group_action, coupling, prefer: str = "balanced",
           budget: WorkBudget | None = None, direct: bool = False) -> tuple[CompiledModel, dict]:
    if name == "group" and group_action is not None:
        return compile_group(dfa, action=group_action)
    if name == "cascade":  # merged runs trade factors per token for depth: not under prefer "small"
        return _builder(name)(dfa, coupling=coupling or "copy", merge=prefer != "small", budget=budget,
                              direct=direct)
    return _builder(name)(dfa)


def start_budget(dfa: DFA, construction: str = "auto", work: int = DEFAULT_WORK) -> WorkBudget:
    """The work budget of one compile of the minimal ``dfa``, as :func:`compile_language` hands it to the cascade:
    ``work`` steps, less those of the bit-code search that ``auto`` and ``bitcode`` run first (``classify`` sizes
    its cascades with the same budget, so it reports what ``compile`` builds)."""
    budget = WorkBudget(int(work))
    if construction in ("auto", "bitcode"):  # the bit-code search has a fixed cap inside the shared budget
        res = search_bit_code(dfa)
        budget.charge(res.steps, "bitcode")
        if res.status == "undecided" and res.steps:
            budget.stop("bitcode")
    return budget


def compile_language(dfa: DFA, construction: str = "auto", *,
                     group_action: "np.ndarray | None" = None,
                     coupling: str | None = None, prefer: str = "balanced",
                     work: int = DEFAULT_WORK) -> tuple[CompiledModel, dict]:
    """Compile the language of ``dfa`` (made minimal and complete first).

    Returns ``(model, report)``; the report has ``construction``, ``layers``, ``dims``, ``factors`` (per layer, the
    most non-identity factors of any symbol), ``codes``, ``eigenvalue_range``, ``max_norm``, ``reason``, for ``auto``
    ``one_layer`` (:func:`one_layer_decision`), and the construction's own details. Raises
    :class:`ConstructionNotApplicable` (a ``StatetrackError``) when the named construction does not apply, or, for
    ``auto``, when none of the available ones does (naming the missing one).
    ``group_action`` optionally gives the letters as permutations of a faithful action for ``group`` (e.g. the
    catalog's generators), a candidate the construction compares with its own search. ``coupling`` (``copy`` |
    ``conv``) is handed to the cascade construction when it is used. ``prefer`` (``balanced`` | ``exact`` |
    ``small``) is the rule ``auto`` chooses by (module doc); under ``small`` a cascade is not merged (merged runs
    have fewer layers but more factors per token). ``work``: the steps all searches of this compile share (the
    bit-code search, the merging of cascade layers; :mod:`.budget`): deterministic, so a DFA gets the same model on
    any machine; the report's ``search`` says how many were used and which search stopped early.
    """
    if construction not in CONSTRUCTIONS:
        raise StatetrackError(f"unknown construction {construction!r}; choose one of {', '.join(CONSTRUCTIONS)}")
    if prefer not in PREFER:
        raise StatetrackError(f"prefer must be one of {', '.join(PREFER)}, got {prefer!r}")
    dfa = minimal_dfa(dfa)
    budget = start_budget(dfa, construction, work)
    if construction != "auto":
        model, extra = _build(construction, dfa, group_action, coupling, prefer, budget)
        reason = f"requested: {_REQUESTED.get(construction, _WHY.get(construction, construction))}"
    else:
        choice = choose_one_layer(dfa, prefer, group_action)
        name = choice[0] if choice is not None else "cascade"
        model, extra = _build(name, dfa, group_action, coupling, prefer, budget, direct=True)
        reason = f"auto: {_WHY[extra.get('construction', name)]}"
        if choice is not None:
            reason += f" (prefer {prefer}: state {choice[1]['state_size']}, {choice[1]['factors_per_token']} " \
                      f"factors per token, {'exact' if choice[1]['exact'] else 'irrational entries'})"
    report = summarize(model)
    detail = extra.pop("reason", None)  # a construction's own account of itself goes after the choice
    report.update(extra)
    if construction == "auto":
        report["one_layer"] = one_layer_decision(dfa, {} if choice is None else {choice[0]: choice[1]})
    report["search"] = budget.report()
    if budget.stopped:
        detail = (f"{detail}; " if detail else "") + f"stopped early (work budget of {budget.total} steps): " \
                                                      f"{', '.join(budget.stopped)}"
    report["reason"] = reason + (f"; {detail}" if detail else "")
    return model, report


__all__ = ["compile_language", "CONSTRUCTIONS", "AUTO_ORDER", "PREFER", "size_of", "one_layer_sizes", "pick",
           "one_layer_decision", "choose_one_layer"]
