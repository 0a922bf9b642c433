"""The docstring examples of every module run as doctests.

Modules are imported by their installed names (``statetrack.automata.dfa``, not ``automata/dfa.py`` by path: a bare
``automata`` from the repository root is automata-lib, see docs/architecture.md). Only modules whose source holds an
example (``>>>``) are imported; the list is checked to be non-empty so that a broken scan cannot pass silently.
"""
from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"statetrack": "statetrack", "automata": "statetrack.automata", "constructions": "statetrack.constructions",
           "lrnn": "statetrack.lrnn", "kernels": "statetrack.kernels"}


def modules_with_examples() -> list[str]:
    """Names of the modules of the code folders whose source contains a ``>>>`` line."""
    names = []
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            if not any(line.lstrip().startswith(">>>") for line in path.read_text(encoding="utf-8").splitlines()):
                continue
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            names.append(".".join((package, *parts)))
    return names


MODULES = modules_with_examples()


def test_examples_exist():
    assert len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder(exclude_empty=True).find(module, name) if t.examples]
    assert tests, f"{name}: the source has '>>>' but doctest found no example"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (output above)"
