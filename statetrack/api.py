"""The front door: a language in, a verdict, a monoid or a runnable model out.

* :func:`language` -- a DFA from a catalog name, a regular expression or a DFA file (the command line's sources);
* :func:`classify` -- which LRNN families can recognise it (:class:`~statetrack.constructions.sizing.Classification`);
* :func:`monoid` -- its syntactic monoid (:class:`~statetrack.automata.monoid_report.MonoidReport`);
* :func:`compile` -- exact LRNN weights for it (:class:`CompiledModel`), which :meth:`CompiledModel.prove` proves for
  every length and :meth:`CompiledModel.to_module` runs as a ``torch.nn.Module``; :func:`load` reads a saved one;
* :func:`verify` -- check a compiled model (a file or a :class:`CompiledModel`) against a language, exactly and in
  floats (:class:`~statetrack.lrnn.verify.VerifyResult`; ``statetrack verify --json`` is ``verify(...).to_json()``).

Every function here returns what the matching command prints: ``statetrack classify --json`` is
``classify(...).to_json()``, ``statetrack monoid --json`` is ``monoid(...).to_json()`` and ``statetrack compile
--json`` is ``compile(...).to_json()`` plus the ``output`` path. Torch is imported only by
:meth:`CompiledModel.to_module` and :func:`verify`.

Example:
    >>> import statetrack
    >>> parity = statetrack.language(lang="parity")
    >>> model = statetrack.compile(parity)
    >>> model.construction, model.dims, model.prove().proved
    ('parity', [1], True)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from statetrack.automata.dfa import DFA
from statetrack.automata.monoid import DEFAULT_MAX_ELEMENTS
from statetrack.automata.monoid_report import MonoidReport, monoid_report
from statetrack.constructions.auto import compile_language
from statetrack.constructions.model_format import CompiledModel as ModelWeights
from statetrack.constructions.model_format import load_model, save_model, summarize
from statetrack.constructions.sizing import Classification, classify_language
from statetrack.constructions.verify_exact import ProofResult, prove
from statetrack.errors import StatetrackError
from statetrack.vocabulary import CLASSIFY_PRECISIONS, CONSTRUCTIONS, DEFAULT_KERNEL

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from statetrack.lrnn.compiled import StateTracker
    from statetrack.lrnn.verify import NumericOptions, VerifyResult

#: the fields of a compile report that every construction gives (the others are the construction's own details)
REPORT_FIELDS = ("construction", "layers", "dims", "factors", "codes", "eigenvalue_range", "max_norm", "reason")


def parse_alphabet(alphabet: "str | Sequence[str] | None") -> list[str] | None:
    """An alphabet as a list of symbols: ``"01"`` -> ``['0', '1']``; ``"a,b,c"`` or ``"push pop"`` (separated by
    commas or spaces) -> those symbols; a sequence of symbols is taken as it is; ``None`` stays ``None``."""
    if alphabet is None:
        return None
    if not isinstance(alphabet, str):
        symbols = list(alphabet)
        if not all(isinstance(s, str) for s in symbols):
            raise StatetrackError(f"alphabet must be a string or a sequence of strings; got {symbols!r}")
        return symbols
    symbols = list(alphabet)
    for sep in (",", " "):
        if sep in alphabet:
            symbols = [s for s in (t.strip() for t in alphabet.split(sep)) if s]
            break
    if not symbols:
        from statetrack.errors import AlphabetError

        raise AlphabetError(f"alphabet {alphabet!r}: the alphabet has no symbols")
    return symbols


def language(lang: str | None = None, regex: str | None = None, dfa: "str | os.PathLike | DFA | None" = None,
             alphabet: "str | Sequence[str] | None" = None, *, minimize: bool = True) -> DFA:
    """The DFA of exactly one language source.

    Args:
        lang: a catalog name (``parity``, ``mod:3``, ``tomita:3``, ``group:S5``, ...; ``statetrack langs`` lists them).
        regex: a regular expression (full match; the dialect of docs/regex.md). Its DFA is minimal and complete.
        dfa: a DFA file (``.json``, ``.dot``, ``.jff``) or a :class:`~statetrack.automata.dfa.DFA`.
        alphabet: the alphabet (see :func:`parse_alphabet`): for ``regex``, the symbols that ``.``, negated classes
            and ``~`` range over; for ``lang`` and ``dfa``, the alphabet to extend the language to.
        minimize: return the minimal complete DFA (``lang`` and ``dfa``; a regex's DFA is always minimal).

    Raises :class:`StatetrackError` (naming the parameter) unless exactly one of ``lang``, ``regex``, ``dfa`` is given.
    """
    given = [name for name, value in (("lang", lang), ("regex", regex), ("dfa", dfa)) if value is not None]
    if len(given) != 1:
        raise StatetrackError(f"give exactly one language source (lang, regex or dfa); got "
                              f"{', '.join(given) if given else 'none'}")
    symbols = parse_alphabet(alphabet)
    if regex is not None:
        if not isinstance(regex, str):
            raise StatetrackError(f"regex must be a string; got {type(regex).__name__}")
        return DFA.from_regex(regex, alphabet=symbols)
    if dfa is not None:
        if isinstance(dfa, DFA):
            d = dfa
        elif isinstance(dfa, (str, os.PathLike)):
            d = DFA.load(dfa)
        else:
            raise StatetrackError(f"dfa must be a DFA or the path of a DFA file; got {type(dfa).__name__}")
    else:
        if not isinstance(lang, str):
            raise StatetrackError(f"lang must be a catalog name (a string); got {type(lang).__name__}")
        from statetrack.automata.catalog import get_language

        d = get_language(lang)
    if symbols is not None:
        d = d.with_alphabet(symbols)
    return d.minimize() if minimize else d


def _check_dfa(dfa: Any, where: str) -> DFA:
    if not isinstance(dfa, DFA):
        raise StatetrackError(f"{where}: dfa must be a DFA (see statetrack.language); got {type(dfa).__name__}")
    return dfa


def classify(dfa: DFA, precision: str = "finite", max_elements: int = DEFAULT_MAX_ELEMENTS) -> Classification:
    """Verdict per LRNN family for the language of ``dfa``, with the theorem, a witness and the construction sizes.

    ``precision``: ``finite`` (the paper's regime) or ``log``; ``max_elements``: the largest syntactic monoid
    enumerated. The same result as ``statetrack classify`` (its ``--json`` is ``.to_json()``).
    """
    _check_dfa(dfa, "classify")
    if precision not in CLASSIFY_PRECISIONS:
        raise StatetrackError(f"precision must be one of {', '.join(CLASSIFY_PRECISIONS)}; got {precision!r}")
    return classify_language(dfa, precision=precision, max_elements=max_elements)


def monoid(dfa: DFA, max_elements: int = DEFAULT_MAX_ELEMENTS, with_elements: bool = False) -> MonoidReport:
    """The syntactic monoid of the language of ``dfa`` (``statetrack monoid``; its ``--json`` is ``.to_json()``)."""
    return monoid_report(_check_dfa(dfa, "monoid"), max_elements=max_elements, with_elements=with_elements)


@dataclass
class CompiledModel:
    """Exact LRNN weights for a language, with the compile report.

    The report's common fields are attributes: ``construction`` (which construction built it), ``layers``, ``dims``
    (state size per layer), ``factors`` (most non-identity GH factors of a symbol, per layer), ``codes`` (decoder
    codes per layer), ``eigenvalue_range`` (``[min, max]`` over the factors), ``max_norm`` (largest spectral norm of a
    per-symbol transition), ``reason`` (why this construction); ``details`` holds the construction's own fields.
    ``weights`` is the compiled-model object of :mod:`statetrack.constructions.model_format` (metadata and tensors,
    the file format of docs/model-format.md).
    """

    weights: ModelWeights
    construction: str
    layers: int
    dims: list[int]
    factors: list[int]
    codes: list[int]
    eigenvalue_range: list[float]
    max_norm: float
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, weights: ModelWeights, report: dict[str, Any]) -> "CompiledModel":
        """Wrap ``weights`` and a compile report (the dict of :func:`statetrack.constructions.compile_language`)."""
        common = {k: report[k] for k in REPORT_FIELDS if k in report}
        details = {k: v for k, v in report.items() if k not in REPORT_FIELDS}
        return cls(weights=weights, details=details, **common)

    @property
    def dfa(self) -> DFA:
        """The DFA the model tracks (minimal and complete; its ``states`` order gives the state ids)."""
        return self.weights.dfa()

    def to_json(self) -> dict[str, Any]:
        """The compile report: the ``statetrack compile --json`` object without ``output`` (construction details
        after ``max_norm``, then ``reason``, as the command prints them)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in REPORT_FIELDS[:-1]}
        out.update(self.details)
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    def prove(self, progress: bool = False) -> ProofResult:
        """Prove (exact arithmetic, every length) that the model tracks its DFA: ``proved``, ``counterexample``."""
        return prove(self.weights, progress=progress)

    def save(self, path: "str | os.PathLike") -> None:
        """Write the compiled-model file (safetensors with the JSON metadata), atomically."""
        save_model(self.weights, path)

    def to_module(self, kernel: str = DEFAULT_KERNEL, dtype: "torch.dtype | str" = "float32") -> "StateTracker":
        """A ``torch.nn.Module`` mapping token ids ``[B, T]`` to ``(states [B, T], accept [B, T])``.

        ``kernel``: the Householder-scan backend (``auto``: chunked on a CPU, Triton on a GPU); ``dtype``: the run
        dtype (``float32``, ``bfloat16``, ...). ``module.encode(words)`` turns equal-length words into ids.
        """
        from statetrack.lrnn.compiled import StateTracker

        return StateTracker(self.weights, kernel=kernel, dtype=dtype)

    def verify(self, dfa: DFA | None = None, exact: bool = False, numeric: "NumericOptions | None" = None,
               progress: bool = False) -> "VerifyResult":
        """:func:`verify` of this model (its result's ``model`` field is None: there is no file)."""
        return verify(self, dfa=dfa, exact=exact, numeric=numeric, progress=progress)


def catalog_group_action(name: str, dfa: DFA) -> "np.ndarray | None":
    """The catalog's generator permutations ``[letters, degree]`` for ``group:NAME`` when its letters are the DFA's
    alphabet in order (a hint for the group construction, which otherwise searches for an action), else None."""
    if not name.lower().startswith("group:") or name.count(":") != 1:
        return None
    from statetrack.automata.groups_catalog import group_generators

    try:
        spec = group_generators(name.split(":", 1)[1])
    except StatetrackError:
        return None
    if list(spec.letters) != list(dfa.alphabet):
        return None
    return np.array(spec.perms, dtype=np.int64)


def compile(dfa: DFA, construction: str = "auto", *, group_action: "np.ndarray | None" = None,
            coupling: str | None = None) -> CompiledModel:
    """Exact LRNN weights (generalized Householder products) that recognise the language of ``dfa``.

    ``construction``: ``auto`` (the cheapest that applies) or one of ``parity``, ``rotation``, ``group``, ``modadd2``,
    ``cascade``, ``unconstrained``; ``group_action``: the letters as permutations ``[letters, points]`` of a faithful
    action, a hint for ``group`` (e.g. :func:`catalog_group_action`; without one the construction searches for an
    action); ``coupling``: ``copy`` or ``conv`` for the cascade. ``statetrack compile --lang NAME`` is
    ``compile(language(lang=NAME), group_action=catalog_group_action(NAME, dfa))``. Raises
    :class:`~statetrack.constructions.ConstructionNotApplicable` when the construction does not apply.
    """
    _check_dfa(dfa, "compile")
    if construction not in CONSTRUCTIONS:
        raise StatetrackError(f"construction must be one of {', '.join(CONSTRUCTIONS)}; got {construction!r}")
    weights, report = compile_language(dfa, construction, group_action=group_action, coupling=coupling)
    return CompiledModel.from_report(weights, report)


def load(path: "str | os.PathLike") -> CompiledModel:
    """Read a compiled-model file. The file keeps the weights and the DFA, not the compile report: the summary
    fields are recomputed from the weights, ``reason`` is ``None`` and ``details`` is empty."""
    weights = load_model(path)
    return CompiledModel.from_report(weights, summarize(weights))


def verify(model: "str | os.PathLike | CompiledModel | ModelWeights", dfa: DFA | None = None, exact: bool = False,
           numeric: "NumericOptions | None" = None, progress: bool = False) -> "VerifyResult":
    """Check a compiled model (``statetrack verify``; its ``--json`` is ``.to_json()``).

    ``model``: a compiled-model file, a :class:`CompiledModel` or its ``weights``; ``dfa``: a language to compare
    the model's DFA with (e.g. from :func:`language`); ``exact``: prove it for every length in exact arithmetic;
    ``numeric``: a :class:`~statetrack.lrnn.verify.NumericOptions` (``dtype``, ``max_len``, ``samples``, ``kernel``,
    ``device``, ``seed``) to run it in floats on test words. At least one check must be asked for. Returns a
    :class:`~statetrack.lrnn.verify.VerifyResult` (``language``, ``exact``, ``numeric`` and ``ok``, true when every
    check that ran passed). Imports torch (the numeric run lives in :mod:`statetrack.lrnn`).

    Example:
        >>> import statetrack
        >>> parity = statetrack.language(lang="parity")
        >>> result = statetrack.verify(statetrack.compile(parity), dfa=parity, exact=True)
        >>> result.language.equivalent, result.exact.proved, result.ok
        (True, True, True)
    """
    from statetrack.lrnn.verify import verify_model

    if isinstance(model, CompiledModel):
        model = model.weights
    return verify_model(model, dfa=dfa, exact=exact, numeric=numeric, progress=progress)


__all__ = ["language", "classify", "monoid", "compile", "load", "verify", "parse_alphabet", "catalog_group_action",
           "CompiledModel", "Classification", "MonoidReport"]
