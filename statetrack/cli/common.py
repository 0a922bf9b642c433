"""Shared CLI helpers: language sources, JSON output, word parsing.

A *language source* is one of ``--regex R [--alphabet ABC]``, ``--dfa FILE`` or
``--lang NAME``; :func:`add_source` adds them (with a suffix such as ``2`` for a
second source) and :func:`load_source` returns the minimal complete DFA.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Callable


def add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def add_source(p: argparse.ArgumentParser, suffix: str = "", required: bool = True) -> None:
    """Add ``--regex{suffix}``, ``--alphabet{suffix}``, ``--dfa{suffix}``, ``--lang{suffix}``."""
    label = f" (source {suffix})" if suffix else ""
    g = p.add_argument_group(f"language source{label}")
    g.add_argument(f"--regex{suffix}", metavar="R", help="regular expression (full match)")
    g.add_argument(f"--alphabet{suffix}", metavar="ABC",
                   help="alphabet: a string of one-character symbols, or symbols separated by commas or spaces")
    g.add_argument(f"--dfa{suffix}", metavar="FILE", help="DFA file (.json, .dot, .jff)")
    g.add_argument(f"--lang{suffix}", metavar="NAME", help="catalog language (see `statetrack langs`)")
    p.set_defaults(**{f"_source_required{suffix}": required})


def parse_alphabet(text: str | None, option: str = "--alphabet") -> list[str] | None:
    """``"01"`` -> ['0', '1']; ``"a,b,c"`` or ``"push pop"`` -> symbols (:func:`statetrack.api.parse_alphabet`);
    an alphabet with no symbol (``''``, ``','``) is an AlphabetError naming ``option``."""
    from statetrack.api import parse_alphabet as parse
    from statetrack.errors import AlphabetError

    try:
        return parse(text)
    except AlphabetError:
        raise AlphabetError(f"{option} {text!r}: the alphabet has no symbols") from None


def source_given(args: argparse.Namespace, suffix: str = "") -> bool:
    return any(getattr(args, f"{k}{suffix}", None) is not None for k in ("regex", "dfa", "lang"))


def describe_source(args: argparse.Namespace, suffix: str = "") -> dict:
    """A JSON-able description of the source (for manifests and metadata)."""
    for k in ("regex", "dfa", "lang"):
        v = getattr(args, f"{k}{suffix}", None)
        if v is not None:
            out = {k: v}
            alpha = getattr(args, f"alphabet{suffix}", None)
            if k == "regex" and alpha is not None:
                out["alphabet"] = parse_alphabet(alpha, f"--alphabet{suffix}")
            return out
    return {}


def load_source(args: argparse.Namespace, suffix: str = "", minimize: bool = True):
    """The DFA of the language source (minimal and complete unless ``minimize=False``): :func:`statetrack.language`."""
    from statetrack.api import language
    from statetrack.errors import StatetrackError

    given = [k for k in ("regex", "dfa", "lang") if getattr(args, f"{k}{suffix}", None) is not None]
    if len(given) != 1:
        flags = ", ".join(f"--{k}{suffix}" for k in ("regex", "dfa", "lang"))
        raise StatetrackError(f"give exactly one language source ({flags}); got {len(given)}")
    parse_alphabet(getattr(args, f"alphabet{suffix}", None), f"--alphabet{suffix}")  # names the option on error
    return language(**{k: getattr(args, f"{k}{suffix}", None) for k in ("lang", "regex", "dfa", "alphabet")},
                    minimize=minimize)


def check_sep(sep: str | None, option: str = "--sep") -> str | None:
    """``sep`` unless it is the empty string (which would split nothing): then a StatetrackError naming ``option``."""
    if sep is not None and sep == "":
        from statetrack.errors import StatetrackError

        raise StatetrackError(f"{option} '': the separator is empty (leave the option out to read one symbol per "
                              "character)")
    return sep


def check_count(value: "int | None", option: str, minimum: int = 1, maximum: "int | None" = None,
                limit: str = "") -> None:
    """Raise a StatetrackError naming ``option`` unless ``minimum <= value`` (and ``value <= maximum``, a resource
    limit called ``limit``)."""
    from statetrack.errors import StatetrackError

    if value is None:
        return
    if value < minimum:
        raise StatetrackError(f"{option} {value}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise StatetrackError(f"{option} {value}: exceeds the limit {limit + ' = ' if limit else ''}{maximum} "
                              "(see docs/security.md)")


def parse_word(dfa, text: str, sep: str | None) -> tuple[str, ...]:
    """A word from the command line: characters, or symbols split on ``sep``."""
    return dfa.tokenize(text, sep=check_sep(sep))


def emit(args: argparse.Namespace, obj: dict[str, Any], text: str | Callable[[], str]) -> None:
    """Print ``obj`` as JSON under ``--json``, else the human text.

    JSON output is always valid JSON: a non-finite float becomes the string ``"nan"``, ``"inf"`` or ``"-inf"``
    (the same convention as ``verify``'s ``max_drift``).
    """
    if getattr(args, "json", False):
        print(json.dumps(finite_json(obj), default=_json_default, allow_nan=False))
    else:
        print(text() if callable(text) else text)


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float (also numpy floats) replaced by ``"nan"``, ``"inf"`` or ``"-inf"``."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if isinstance(obj, float) or type(obj).__name__ in ("float32", "float64", "float16"):
        f = float(obj)
        return f if math.isfinite(f) else str(f)
    return obj


def _json_default(o: Any):
    try:
        import numpy as np

        if isinstance(o, np.integer):
            return int(o)
        if isinstance(o, np.floating):
            return float(o)
        if isinstance(o, np.bool_):
            return bool(o)
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def table(rows: list[list[Any]], header: list[str]) -> str:
    """A plain left-aligned text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def eprint(*a: Any) -> None:
    print(*a, file=sys.stderr)
