"""A repository root that shadows nothing (see docs/architecture.md, "A root that shadows nothing").

Python started in the repository root has the root on ``sys.path``, where the folders ``automata/``, ``kernels/``,
``constructions/`` and ``lrnn/`` look like top-level packages. Each test here starts a fresh interpreter with the root
as working directory and checks that a bare import gets the installed distribution of that name, or a clear
ModuleNotFoundError when there is none.
"""
from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from statetrack._shadow import find_installed

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("automata", "constructions", "lrnn", "kernels")


def _run(code: str, *, isolated: bool = False, pythonpath: list[Path] | None = None,
         timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in the repository root; ``isolated`` drops site-packages (``-S``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSAFEPATH")}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    args = [sys.executable, *(["-S"] if isolated else []), "-c", code]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed("automata-lib"), reason="automata-lib is not installed")
def test_bare_automata_is_automata_lib():
    code = ("import automata.fa.dfa, automata, statetrack.automata as ours, os\n"
            "print(os.path.realpath(automata.__file__))\n"
            "print(os.path.realpath(automata.fa.dfa.__file__))\n"
            "assert automata.fa.dfa.DFA is not ours.DFA and ours.DFA.__module__ == 'statetrack.automata.dfa'\n")
    done = _run(code)
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines():
        assert not line.startswith(str(ROOT.resolve() / "automata")), line


@pytest.mark.parametrize("part", PARTS)
def test_bare_name_without_an_installed_distribution_names_statetrack(part):
    # -S leaves out site-packages, where Hugging Face's ``kernels`` may be installed; the root still holds statetrack
    done = _run(f"import {part}", isolated=True)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: No module named") and f"'statetrack.{part}'" in last, done.stderr


def test_bare_kernels_is_an_installed_kernels_after_the_root(tmp_path):
    fake = tmp_path / "site" / "kernels"
    (fake / "layers").mkdir(parents=True)
    (fake / "__init__.py").write_text("FAKE = 'hub kernels'\n", encoding="utf-8")
    (fake / "layers" / "__init__.py").write_text("from kernels import FAKE\n", encoding="utf-8")
    code = ("import os, kernels, kernels.layers\n"
            "assert kernels.FAKE == kernels.layers.FAKE == 'hub kernels'\n"
            "print(os.path.realpath(kernels.__file__))\n")
    ours = ("import importlib.util\n"  # statetrack's kernels stay reachable (found, not run: that would load torch)
            "origin = importlib.util.find_spec('statetrack.kernels').origin\n"
            "assert 'householder_scan' in open(origin, encoding='utf-8').read()\n")
    # without site-packages (no statetrack install, no other kernels), and with them (then both packages load)
    for isolated, extra in ((True, ""), (False, ours)):
        done = _run(code + extra, isolated=isolated, pythonpath=[ROOT, tmp_path / "site"])
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str((fake / "__init__.py").resolve())


def test_find_installed_asks_meta_path_finders_and_skips_the_folder(tmp_path, monkeypatch):
    other = tmp_path / "kernels"
    other.mkdir()
    (other / "__init__.py").write_text("", encoding="utf-8")
    folder = str(ROOT / "kernels")

    class Finder:  # an editable install's finder: answers for one name from one place
        def __init__(self, where: Path):
            self.where = where

        def find_spec(self, name, path, target=None):
            if name != "kernels":
                return None
            loader = importlib.machinery.SourceFileLoader(name, str(self.where / "__init__.py"))
            return importlib.util.spec_from_file_location(name, self.where / "__init__.py", loader=loader,
                                                          submodule_search_locations=[str(self.where)])

    monkeypatch.setattr(sys, "path", [str(ROOT)])  # nothing but the root on the path: only the finders can answer
    monkeypatch.setattr(sys, "meta_path", [Finder(ROOT / "kernels"), *sys.meta_path])
    assert find_installed("kernels", folder) is None  # the root is skipped, and so is a finder pointing back at it
    monkeypatch.setattr(sys, "meta_path", [Finder(other), *sys.meta_path])
    spec = find_installed("kernels", folder)
    assert spec is not None and Path(spec.origin).resolve() == (other / "__init__.py").resolve()


@pytest.mark.slow
def test_fla_models_import_in_the_root():
    missing = [d for d in ("flash-linear-attention", "transformers") if not _installed(d)]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (the 'fla' extra)")
    code = ("import os, sys, fla.models\n"
            "k = sys.modules.get('kernels')\n"
            "print('' if k is None else os.path.realpath(k.__file__))\n")
    done = _run(code, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not done.stdout.strip().startswith(str(ROOT.resolve() / "kernels")), done.stdout
