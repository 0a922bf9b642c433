"""Keep the repository root from shadowing other distributions' top-level packages.

The code folders ``automata/``, ``constructions/``, ``lrnn/`` and ``kernels/`` sit at the repository root and install
as ``statetrack.automata`` and so on. Python started in the root (``python -m pytest``, a notebook, ``python -c``)
puts the root on ``sys.path``, so a bare ``import automata`` or ``import kernels`` would find these folders instead of
automata-lib or Hugging Face's ``kernels`` (which transformers imports). Each folder's ``__init__`` therefore checks
the name it is imported under: as ``statetrack.<part>`` it is itself; under the bare name it calls
:func:`defer_to_installed`, which loads the installed distribution of that name from the rest of ``sys.path`` and puts
it in ``sys.modules``, so the importer receives the real package (see docs/architecture.md).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys


def defer_to_installed(name: str, folder: str) -> None:
    """Replace the module being imported as ``name`` (a statetrack folder at ``folder``) by the installed package.

    Raises ModuleNotFoundError, naming the statetrack import to use, when no other package of that name exists.
    """
    root = os.path.realpath(os.path.dirname(os.path.abspath(folder)))
    rest = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != root]
    spec = importlib.machinery.PathFinder.find_spec(name, rest)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(
            f"No module named {name!r}: the folder {name}/ of the statetrack repository is imported as "
            f"'statetrack.{name}'", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the import system hands the importer whatever sys.modules holds at the end
    spec.loader.exec_module(module)
