"""Python and the command line give the same results: 30 languages (catalog names, regexes, DFA files) through
``statetrack.classify / monoid / compile`` and through ``statetrack classify / monoid / compile --json``, compared
field by field (and the compiled-model files byte for byte). The CLI runs in-process (``statetrack.cli.main``), so
the whole file takes seconds.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

import statetrack
from statetrack.api import catalog_group_action
from statetrack.cli import main

CATALOG = ["parity", "mod:3", "mod:4", "mod:5", "modsum:3", "modsum:4", "tomita:1", "tomita:2", "tomita:3", "tomita:4",
           "tomita:5", "tomita:6", "tomita:7", "flipflop", "group:Z6", "group:D4", "group:S3", "group:Q8",
           "dyck:1:2", "modarith:2"]
REGEXES = [("(ab)*", None), ("a*b*", None), ("(a|b)*abb", "ab"), ("~(.*aa.*)", "ab"), ("(0|1)*1(0|1)(0|1)", None),
           ("[ab]*c[ab]*", "a,b,c")]
#: (file name, the catalog language written to it, alphabet to extend it to or None)
DFA_FILES = [("tomita3.json", "tomita:3", None), ("mod3.dot", "mod:3", None), ("parity.jff", "parity", "012"),
             ("flipflop.json", "flipflop", None)]
#: a construction other than ``auto`` for some sources
CONSTRUCTION = {"modsum:3": "modadd2", "tomita:4": "unconstrained", "(ab)*": "cascade"}

SOURCES: list[tuple[str, dict[str, Any]]] = (
    [(name, {"lang": name}) for name in CATALOG]
    + [(r, {"regex": r} if a is None else {"regex": r, "alphabet": a}) for r, a in REGEXES]
    + [(f, {"dfa": f, "of": lang, "alphabet": a} if a else {"dfa": f, "of": lang}) for f, lang, a in DFA_FILES]
)
assert len(SOURCES) == 30


def _plain(obj: Any) -> Any:
    """A JSON round trip, so that tuples become lists and numpy scalars Python numbers on both sides."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(type(o).__name__)

    return json.loads(json.dumps(obj, default=default))


def _source(src: dict[str, Any], tmp_path) -> tuple[dict[str, Any], list[str]]:
    """(keyword arguments of statetrack.language, CLI source options); DFA files are written to ``tmp_path``."""
    src = dict(src)
    if "dfa" in src:
        path = tmp_path / src.pop("dfa")
        statetrack.language(lang=src.pop("of"), minimize=False).save(path)
        src["dfa"] = str(path)
    argv: list[str] = []
    for key in ("lang", "regex", "dfa", "alphabet"):
        if src.get(key) is not None:
            argv += [f"--{key}", src[key]]
    return src, argv


def _cli(capsys, argv: list[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(argv + ["--json"]) == 0, argv
    return json.loads(capsys.readouterr().out)


def _same(cli: dict[str, Any], python: dict[str, Any], what: str) -> None:
    assert list(cli) == list(python), f"{what}: fields differ: {sorted(set(cli) ^ set(python))}"
    for key in cli:
        assert cli[key] == python[key], f"{what}: field {key!r} differs"


@pytest.mark.parametrize("label, src", SOURCES, ids=[s[0] for s in SOURCES])
def test_cli_and_python_agree(label, src, tmp_path, capsys):
    kwargs, argv = _source(src, tmp_path)
    dfa = statetrack.language(**kwargs)

    _same(_cli(capsys, ["classify", *argv]), _plain(statetrack.classify(dfa).to_json()), f"{label} classify")
    _same(_cli(capsys, ["monoid", *argv]), _plain(statetrack.monoid(dfa).to_json()), f"{label} monoid")

    construction = CONSTRUCTION.get(label, "auto")
    out = tmp_path / "cli.safetensors"
    cli = _cli(capsys, ["compile", *argv, "--construction", construction, "-o", str(out)])
    hint = catalog_group_action(kwargs["lang"], dfa) if "lang" in kwargs else None
    model = statetrack.compile(dfa, construction, group_action=hint)
    _same(cli, _plain(dict(model.to_json(), output=str(out))), f"{label} compile")
    # the CLI wrote the very model that Python builds, byte for byte
    mine = tmp_path / "python.safetensors"
    model.save(mine)
    assert out.read_bytes() == mine.read_bytes(), f"{label} compile: the model files differ"
    back = statetrack.load(out)
    assert back.dfa.equivalent(dfa).equivalent
    assert _plain(back.to_json()) == {k: v for k, v in _plain(model.to_json()).items() if k in back.to_json()}
