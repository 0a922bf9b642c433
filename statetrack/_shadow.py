"""Keep the repository root from shadowing other distributions' top-level packages.

The code folders ``automata/``, ``constructions/``, ``lrnn/`` and ``kernels/`` sit at the repository root and install
as ``statetrack.automata`` and so on. Python started in the root (``python -m pytest``, a notebook, ``python -c``)
puts the root on ``sys.path``, so a bare ``import automata`` or ``import kernels`` would find these folders instead of
automata-lib or Hugging Face's ``kernels`` (which transformers imports). Each folder's ``__init__`` therefore checks
the name it is imported under: as ``statetrack.<part>`` it is itself; under the bare name it calls
:func:`defer_to_installed`, which finds the installed distribution of that name (every import finder, with the
repository root taken off the search path), executes it and leaves it in ``sys.modules``, so the importer receives the
real package (see docs/architecture.md, "A root that shadows nothing").

This module imports nothing of statetrack's: the folders reach it only from inside their bare-name guard.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from importlib.machinery import ModuleSpec


def _inside(path: str | None, folder: str) -> bool:
    """Whether the file ``path`` lies in ``folder`` (both resolved through symbolic links)."""
    if not path:
        return False
    real = os.path.realpath(path)
    return real == folder or real.startswith(folder + os.sep)


def find_installed(name: str, folder: str) -> ModuleSpec | None:
    """The spec of the top-level package ``name`` that Python would import if the folder ``folder`` did not exist.

    Asks every finder on ``sys.meta_path`` in order (so that editable installs and import hooks of the other
    distribution are honoured); the path-based finder searches ``sys.path`` without the folder's parent directory
    (an empty entry means the current directory), and any answer that points back into ``folder`` is skipped.
    """
    folder = os.path.realpath(folder)
    root = os.path.dirname(folder)
    rest = [p for p in sys.path if isinstance(p, str) and os.path.realpath(p or os.getcwd()) != root]
    for finder in sys.meta_path:
        if finder is importlib.machinery.PathFinder:
            spec = importlib.machinery.PathFinder.find_spec(name, rest)
        else:
            find_spec = getattr(finder, "find_spec", None)
            spec = find_spec(name, None) if find_spec is not None else None
        if spec is None or spec.loader is None:
            continue
        locations = list(spec.submodule_search_locations or ())
        if _inside(spec.origin, folder) or any(_inside(loc, folder) for loc in locations):
            continue
        return spec
    return None


def defer_to_installed(name: str, folder: str) -> None:
    """Replace the module being imported as ``name`` (the statetrack folder ``folder``) by the installed package.

    Raises ModuleNotFoundError (``.name == name``), naming the statetrack import to use, when no other package of
    that name is installed; the import system then removes the half-made module from ``sys.modules``.
    """
    spec = find_installed(name, folder)
    if spec is None:
        raise ModuleNotFoundError(
            f"No module named {name!r}: the folder {name}/ of the statetrack repository is imported as "
            f"'statetrack.{name}'", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the import system hands the importer whatever sys.modules holds at the end
    spec.loader.exec_module(module)
