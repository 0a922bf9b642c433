"""Verify a compiled model: the result of ``statetrack verify`` as a library function.

:func:`verify_model` runs up to three checks on a compiled model (a file or a loaded
:class:`~statetrack.constructions.model_format.CompiledModel`) and returns a :class:`VerifyResult`:

* ``language`` -- with a ``dfa``, whether the model's DFA denotes the same language (and a shortest word on which
  they differ, written in the source DFA's symbols);
* ``exact`` -- with ``exact=True``, the proof of :func:`statetrack.constructions.prove` (every length, exact
  arithmetic), its counterexample written in the model DFA's symbols;
* ``numeric`` -- with ``numeric=NumericOptions(...)``, the float run of
  :func:`statetrack.lrnn.verify_numeric.run_numeric` on random and adversarial words.

``ok`` holds when every check that ran passed. ``VerifyResult.to_json()`` is exactly the object that
``statetrack verify --json`` prints (fields ``model``, ``construction``, ``language``, ``exact``, ``numeric``, ``ok``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from statetrack.automata.dfa import DFA
from statetrack.constructions.model_format import CompiledModel, load_model
from statetrack.constructions.verify_exact import prove
from statetrack.errors import StatetrackError
from statetrack.vocabulary import VERIFY_KERNEL

from .verify_numeric import NumericResult, run_numeric


@dataclass(frozen=True)
class NumericOptions:
    """Settings of the numeric run (the arguments of :func:`~statetrack.lrnn.verify_numeric.run_numeric`).

    ``samples`` test words of length ``max_len`` (``samples`` x ``max_len`` tokens), drawn with ``seed``; run in
    ``dtype`` (``float64``, ``float32``, ``bfloat16``, ``float16`` or a torch dtype) with ``kernel`` (``all``, the
    default: every available kernel on the same words, the worst reported; or one Householder-scan backend, or
    ``direct``) on the torch ``device``. The defaults are the command line's.
    """

    dtype: Any = "float32"
    max_len: int = 1000
    samples: int = 32
    kernel: str = VERIFY_KERNEL
    device: Any = "cpu"
    seed: int = 0


@dataclass(frozen=True)
class LanguageCheck:
    """Whether the model's DFA denotes the language of the given DFA; ``counterexample``: a shortest word (a string
    in the given DFA's symbols) in exactly one of the two languages, or None when they are equal."""

    equivalent: bool
    counterexample: str | None

    def to_json(self) -> dict[str, Any]:
        """``{"equivalent", "counterexample"}``."""
        return {"equivalent": self.equivalent, "counterexample": self.counterexample}


@dataclass(frozen=True)
class ExactCheck:
    """The exact proof: ``proved``; ``counterexample`` (a string in the model DFA's symbols) or None; ``reachable``
    (reachable state tuples explored); ``detail`` (what was proved, or what failed and where)."""

    proved: bool
    counterexample: str | None
    reachable: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        """``{"proved", "counterexample", "reachable", "detail"}``."""
        return {"proved": self.proved, "counterexample": self.counterexample, "reachable": self.reachable,
                "detail": self.detail}


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify_model`. ``model``: the file checked (as given; None for an in-memory model);
    ``construction``: the construction that built it; ``language``, ``exact``, ``numeric``: the checks that ran (None
    for those that did not)."""

    model: str | None
    construction: str
    language: LanguageCheck | None = None
    exact: ExactCheck | None = None
    numeric: NumericResult | None = None

    @property
    def ok(self) -> bool:
        """True when every check that ran passed (language equal, proof found, no wrong word in the float run)."""
        return bool((self.language is None or self.language.equivalent)
                    and (self.exact is None or self.exact.proved)
                    and (self.numeric is None or self.numeric.errors == 0))

    def to_json(self) -> dict[str, Any]:
        """The ``statetrack verify --json`` object: ``model``, ``construction``, ``language``, ``exact``,
        ``numeric`` (each None when that check did not run) and ``ok``."""
        return {"model": self.model, "construction": self.construction,
                "language": None if self.language is None else self.language.to_json(),
                "exact": None if self.exact is None else self.exact.to_json(),
                "numeric": None if self.numeric is None else self.numeric.to_json(),
                "ok": self.ok}


def verify_model(model: "str | os.PathLike | CompiledModel", dfa: DFA | None = None, exact: bool = False,
                 numeric: NumericOptions | None = None, progress: bool = False) -> VerifyResult:
    """Check a compiled model against ``dfa`` (language equality), exactly (``exact=True``) and in floats
    (``numeric``); see the module doc. ``model``: a compiled-model file or a loaded model; ``progress``: progress
    bars on stderr for the proof and the float run. Raises :class:`~statetrack.errors.StatetrackError` when there is
    nothing to check or a parameter is invalid, and the model-format errors of
    :func:`~statetrack.constructions.load_model` for a bad file.
    """
    if dfa is not None and not isinstance(dfa, DFA):
        raise StatetrackError(f"dfa must be a statetrack DFA or None; got {type(dfa).__name__}")
    if numeric is not None and not isinstance(numeric, NumericOptions):
        raise StatetrackError(f"numeric must be a NumericOptions or None; got {type(numeric).__name__}")
    if not (exact or numeric is not None or dfa is not None):
        raise StatetrackError("nothing to check: give exact=True, a dfa, or numeric=NumericOptions(...)")
    if numeric is not None:
        for name in ("max_len", "samples", "seed"):
            value = getattr(numeric, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise StatetrackError(f"numeric.{name} must be a non-negative integer; got {value!r}")
    if isinstance(model, CompiledModel):
        weights, where = model, None
    elif isinstance(model, (str, os.PathLike)):
        where = os.fspath(model)
        weights = load_model(where)
    else:
        raise StatetrackError(f"model must be a compiled-model file path or a loaded CompiledModel; got "
                              f"{type(model).__name__}")
    model_dfa = weights.dfa()
    language = None
    if dfa is not None:
        eq = model_dfa.equivalent(dfa)
        language = LanguageCheck(eq.equivalent,
                                 None if eq.counterexample is None else dfa.word_str(eq.counterexample))
    proof = None
    if exact:
        res = prove(weights, progress=progress)
        proof = ExactCheck(res.proved, None if res.counterexample is None else model_dfa.word_str(res.counterexample),
                           res.reachable, res.detail)
    num = None
    if numeric is not None:
        num = run_numeric(weights, numeric.dtype, max_len=numeric.max_len, samples=numeric.samples,
                          kernel=numeric.kernel, device=numeric.device, seed=numeric.seed, progress=progress)
    return VerifyResult(model=where, construction=weights.construction, language=language, exact=proof, numeric=num)


__all__ = ["verify_model", "VerifyResult", "NumericOptions", "LanguageCheck", "ExactCheck"]
