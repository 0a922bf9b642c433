"""The import contract: statetrack's layer diagram, checked on the source tree (see docs/architecture.md).

:func:`check_tree` parses every module of ``automata/``, ``constructions/``, ``lrnn/``, ``kernels/`` and
``statetrack/`` with :mod:`ast` -- imports at module level, inside functions and classes, under ``if TYPE_CHECKING:``,
and ``importlib.import_module("...")`` with a literal name -- resolves relative imports to absolute names, and reports

* every edge from one layer to another that :data:`ALLOWED` does not list (the one exception, the bare-name guard of
  the four folder ``__init__`` modules, is spelled out in :data:`GUARDED_EXCEPTIONS`),
* every bare import of a folder name (``import automata``) from statetrack's own code,
* every cycle between packages (one package per folder, sub-folders included),
* every path by which a module of a layer in :data:`EXTERNAL_BANNED` reaches a banned distribution (``torch``,
  ``triton``), directly or through a chain of statetrack modules.

The checker is a function over a file tree: the tests below run it on the repository and on small planted trees, so
that a violation of each kind is shown to be caught.
"""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: the code folders at the repository root, installed as ``statetrack.<folder>``
PARTS = ("automata", "constructions", "lrnn", "kernels")

#: module name prefix -> layer; the longest matching prefix wins. Core modules import nothing of ours.
LAYER_OF_PREFIX: dict[str, str] = {
    "statetrack.kernels": "kernels",
    "statetrack.automata": "automata",
    "statetrack.constructions": "constructions",
    "statetrack.lrnn": "lrnn",
    "statetrack.cli": "cli",
    "statetrack.__main__": "cli",  # ``python -m statetrack`` is a CLI entry point
    "statetrack.errors": "core",
    "statetrack.fileio": "core",
    "statetrack.vocabulary": "core",
    "statetrack.untrusted": "core",
    "statetrack.exact_linalg": "core",
    "statetrack._shadow": "shadow",  # only reachable through GUARDED_EXCEPTIONS
    "statetrack": "front",  # the package root and any other root module: version, the front door
}

#: layer -> layers it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "shadow": frozenset(),
    "kernels": frozenset(),
    "automata": frozenset({"core"}),
    "constructions": frozenset({"automata", "core"}),
    "lrnn": frozenset({"kernels", "automata", "constructions", "core"}),
    "front": frozenset({"kernels", "automata", "constructions", "lrnn", "core"}),
    "cli": frozenset({"kernels", "automata", "constructions", "lrnn", "core", "front"}),
}

#: (importer, imported) pairs allowed only inside ``if __name__ == "<folder>":`` in the importer: a folder imported by
#: its bare name from the repository root hands over to the installed distribution of that name.
GUARDED_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset(
    (f"statetrack.{part}", "statetrack._shadow") for part in PARTS)

#: (module, name) pairs any layer may import: the version is written once, in the package root, which Python has
#: already executed before any ``statetrack.*`` module runs, so reading it adds no dependency.
FREE_NAMES: frozenset[tuple[str, str]] = frozenset({("statetrack", "__version__")})

#: layer -> top-level external distributions it must not reach, directly or through our modules
EXTERNAL_BANNED: dict[str, frozenset[str]] = {
    "automata": frozenset({"torch", "triton"}),
    "constructions": frozenset({"torch", "triton"}),
}


@dataclass(frozen=True)
class Rules:
    """The contract :func:`check_tree` enforces; the defaults are statetrack's diagram."""

    layer_of_prefix: dict[str, str] = field(default_factory=lambda: dict(LAYER_OF_PREFIX))
    allowed: dict[str, frozenset[str]] = field(default_factory=lambda: dict(ALLOWED))
    guarded_exceptions: frozenset[tuple[str, str]] = GUARDED_EXCEPTIONS
    free_names: frozenset[tuple[str, str]] = FREE_NAMES
    external_banned: dict[str, frozenset[str]] = field(default_factory=lambda: dict(EXTERNAL_BANNED))

    def layer(self, module: str) -> str | None:
        """The layer of ``module`` (longest matching prefix), or None for a module that is not ours."""
        best = None
        for prefix, layer in self.layer_of_prefix.items():
            if (module == prefix or module.startswith(prefix + ".")) and (best is None or len(prefix) > len(best[0])):
                best = (prefix, layer)
        return None if best is None else best[1]


@dataclass(frozen=True)
class Import:
    """One import statement's target as an absolute module name; ``line`` is 1-based."""

    target: str
    line: int
    kind: str  # "module", "function", "type-checking" or "dynamic"
    guard: str | None  # the name in an enclosing ``if __name__ == "<name>":``, else None
    name: str | None = None  # the imported name of ``from <target> import <name>`` when it is not a module


@dataclass
class Module:
    """A parsed source file: its absolute name, path, whether it is a package ``__init__``, and its imports."""

    name: str
    path: Path
    is_package: bool
    imports: list[Import]


def module_names(root: Path) -> dict[str, tuple[Path, bool]]:
    """``{absolute module name: (path, is_package)}`` for every ``.py`` file of the code folders under ``root``."""
    found: dict[str, tuple[Path, bool]] = {}
    for top in ("statetrack", *PARTS):
        base = root / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("").parts
            is_package = rel[-1] == "__init__"
            if is_package:
                rel = rel[:-1]
            prefix = ("statetrack",) if top == "statetrack" else ("statetrack", top)
            found[".".join(prefix + rel)] = (path, is_package)
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _name_guard(test: ast.expr) -> str | None:
    """``"x"`` for ``__name__ == "x"``, else None."""
    if (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and isinstance(test.comparators[0], ast.Constant) and isinstance(test.comparators[0].value, str)):
        return test.comparators[0].value
    return None


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name or ""
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(parts):
        raise ValueError(f"{module}: relative import beyond the top-level package")
    base = parts[: len(parts) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def parse_imports(name: str, path: Path, is_package: bool, known: set[str]) -> list[Import]:
    """Every import in the file at ``path`` (module ``name``), with targets resolved against ``known`` modules.

    ``from pkg import sub`` targets ``pkg.sub`` when that is a known module, otherwise ``pkg``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[Import] = []

    def visit(node: ast.AST, kind: str, guard: str | None) -> None:
        if isinstance(node, ast.Import):
            out.extend(Import(alias.name, node.lineno, kind, guard) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.append(Import(sub, node.lineno, kind, guard) if sub in known
                           else Import(base, node.lineno, kind, guard, alias.name))
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                   or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))):
            out.append(Import(node.args[0].value, node.lineno, "dynamic", guard))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and kind == "module":
            kind = "function"
        if isinstance(node, ast.If):
            if _is_type_checking(node.test):
                for child in node.body:
                    visit(child, "type-checking", guard)
                for child in node.orelse:
                    visit(child, kind, guard)
                return
            inner = _name_guard(node.test)
            if inner is not None:
                visit(node.test, kind, guard)
                for child in node.body:
                    visit(child, kind, inner)
                for child in node.orelse:
                    visit(child, kind, guard)
                return
        for child in ast.iter_child_nodes(node):
            visit(child, kind, guard)

    visit(tree, "module", None)
    return out


def load_tree(root: Path) -> dict[str, Module]:
    """Parse every module of the code folders under ``root``."""
    names = module_names(root)
    known = set(names)
    return {name: Module(name, path, is_pkg, parse_imports(name, path, is_pkg, known))
            for name, (path, is_pkg) in names.items()}


def _ours(target: str) -> bool:
    return target == "statetrack" or target.startswith("statetrack.")


def _owner(target: str, modules: dict[str, Module]) -> str | None:
    """The module of ours that an import of ``target`` executes last (``a.b.C`` -> ``a.b`` when ``C`` is a name)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def _ancestors(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _package(module: Module) -> str:
    """The node of ``module`` in the package graph: its folder's package; each module of the root folder
    ``statetrack/`` is a node of its own, because that folder holds several layers (core, front door)."""
    if module.name.count(".") <= 1 and not module.is_package and module.name.startswith("statetrack."):
        return module.name
    return module.name if module.is_package else module.name.rpartition(".")[0]


def _find_cycle(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a closed path) for every strongly connected component with more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def strong(v: str) -> None:  # the package graph is small: recursion depth is bounded by the number of packages
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    cycles = []
    for comp in components:  # a closed path inside the component: breadth-first from its first node back to it
        members = set(comp)
        start = comp[0]
        prev: dict[str, str] = {}
        queue = deque([start])
        while queue:
            v = queue.popleft()
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [start]
                    while v != start:
                        path.append(v)
                        v = prev[v]
                    cycles.append([start, *reversed(path[1:]), start])
                    queue.clear()
                    break
                if w not in prev:
                    prev[w] = v
                    queue.append(w)
    return cycles


def check_tree(root: Path, rules: Rules | None = None) -> list[str]:
    """All violations of ``rules`` (default: statetrack's diagram) in the code folders under ``root``, one line each.

    An empty list means the tree honours the contract.
    """
    rules = rules or Rules()
    modules = load_tree(root)
    problems: list[str] = []

    def where(mod: Module, imp: Import) -> str:
        return f"{mod.path.relative_to(root)}:{imp.line}"

    # 1. edges against the diagram, and bare folder names
    for mod in modules.values():
        src_layer = rules.layer(mod.name)
        for imp in mod.imports:
            top = imp.target.split(".")[0]
            if top in PARTS:
                problems.append(f"{where(mod, imp)}: bare import of {imp.target!r} (use 'statetrack.{imp.target}')")
                continue
            if not _ours(imp.target):
                continue
            target = _owner(imp.target, modules) or imp.target
            dst_layer = rules.layer(target)
            if src_layer is None or dst_layer is None or dst_layer == src_layer:
                continue
            if dst_layer in rules.allowed.get(src_layer, frozenset()):
                continue
            if (mod.name, target) in rules.guarded_exceptions and imp.guard == mod.name.rpartition(".")[2]:
                continue
            if (imp.target, imp.name) in rules.free_names:
                continue
            problems.append(f"{where(mod, imp)}: {mod.name} ({src_layer}) imports {target} ({dst_layer}) "
                            f"[{imp.kind}]: not allowed by the layer diagram")

    # 2. cycles between packages. A sub-package belongs to its parent: an import from a sub-package up into one of
    # its ancestors (``constructions.cascade`` using ``constructions.model_format``) is not a package edge.
    graph: dict[str, set[str]] = {}
    for mod in modules.values():
        src = _package(mod)
        graph.setdefault(src, set())
        for imp in mod.imports:
            target = _owner(imp.target, modules) if _ours(imp.target) else None
            if target is None:
                continue
            dst = _package(modules[target])
            if dst != src and not src.startswith(dst + "."):
                graph[src].add(dst)
    for cycle in _find_cycle(graph):
        problems.append("package cycle: " + " -> ".join(cycle))

    # 3. banned distributions reachable from a layer, through any chain of our modules. An import executes the
    # target in full (mode "all": its functions may be called) and its parent packages' module-level code only.
    for start in sorted(modules):
        banned = rules.external_banned.get(rules.layer(start) or "", frozenset())
        if not banned:
            continue
        seen: dict[tuple[str, str], tuple[str, str] | None] = {(start, "all"): None}
        queue = deque([(start, "all")])
        while queue:
            state = queue.popleft()
            name, mode = state
            for imp in modules[name].imports:
                if mode == "eager" and imp.kind != "module":
                    continue
                top = imp.target.split(".")[0]
                if top in banned:
                    chain = [f"{imp.target} ({where(modules[name], imp)})"]
                    back: tuple[str, str] | None = state
                    while back is not None:
                        chain.append(back[0])
                        back = seen[back]
                    problems.append(f"{start} reaches {top}: " + " <- ".join(chain))
                    queue.clear()
                    break
                target = _owner(imp.target, modules) if _ours(imp.target) else None
                if target is None:
                    continue
                nxt = [(target, mode)] + [(a, "eager") for a in _ancestors(target) if a in modules]
                for s in nxt:
                    if s not in seen:
                        seen[s] = state
                        queue.append(s)
    return problems


# --------------------------------------------------------------------------------------------------------------------
# tests


def test_repository_honours_the_layer_diagram():
    problems = check_tree(ROOT)
    assert not problems, "import contract violations:\n" + "\n".join(problems)


def test_every_code_module_has_a_layer():
    rules = Rules()
    names = module_names(ROOT)
    assert len(names) > 50
    assert all(rules.layer(name) in ALLOWED for name in names)


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    for top in ("statetrack", *PARTS):  # every folder is a package
        for folder in [root / top, *(p for p in (root / top).rglob("*") if p.is_dir())]:
            if folder.is_dir() and not (folder / "__init__.py").exists():
                (folder / "__init__.py").write_text("", encoding="utf-8")
    return root


CLEAN_TREE = {
    "statetrack/__init__.py": '__version__ = "0"\n',
    "statetrack/errors.py": "class StatetrackError(Exception):\n    pass\n",
    "statetrack/_shadow.py": "import importlib\n",
    "automata/__init__.py": """
        if __name__ == "automata":
            from statetrack._shadow import defer_to_installed
        else:
            from .dfa import DFA
        """,
    "automata/dfa.py": "from statetrack.errors import StatetrackError\nimport numpy\nclass DFA: ...\n",
    "constructions/__init__.py": "from ..automata.dfa import DFA\n",  # written in constructions/ -> statetrack.automata
    "kernels/__init__.py": """
        if __name__ == "kernels":
            from statetrack._shadow import defer_to_installed
        import torch
        """,
    "lrnn/__init__.py": "import torch\nfrom statetrack.kernels import x\nfrom statetrack.constructions import y\n",
    "statetrack/cli/__init__.py": "from statetrack.lrnn import z\n",
}


def test_clean_planted_tree_passes(tmp_path):
    assert check_tree(_plant(tmp_path, CLEAN_TREE)) == []


def test_upward_import_inside_a_function_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["automata/regex.py"] = """
        def parse(text):
            if text:
                from statetrack.lrnn.model import Model
            return text
        """
    problems = check_tree(_plant(tmp_path, tree))
    assert any("automata/regex.py:4" in p and "statetrack.lrnn (lrnn)" in p and "[function]" in p
               for p in problems), problems


def test_type_checking_import_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["constructions/auto.py"] = """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from ..lrnn import layers
        """
    problems = check_tree(_plant(tmp_path, tree))
    assert any("constructions/auto.py:4" in p and "[type-checking]" in p for p in problems), problems


def test_relative_import_is_resolved(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["kernels/diagonal/ref.py"] = "from ...errors import StatetrackError\n"  # kernels -> core: not allowed
    problems = check_tree(_plant(tmp_path, tree))
    assert any("kernels/diagonal/ref.py:1" in p and "statetrack.errors (core)" in p for p in problems), problems


def test_shadow_import_outside_the_guard_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["kernels/__init__.py"] = "from statetrack._shadow import defer_to_installed\n"
    problems = check_tree(_plant(tmp_path, tree))
    assert any("kernels/__init__.py:1" in p and "statetrack._shadow (shadow)" in p for p in problems), problems
    tree["kernels/__init__.py"] = 'if __name__ == "automata":\n    from statetrack._shadow import defer_to_installed\n'
    problems = check_tree(_plant(tmp_path, tree))  # a guard naming another folder does not count
    assert any("kernels/__init__.py:2" in p for p in problems), problems


def test_bare_folder_import_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["lrnn/model.py"] = "import automata.dfa\n"
    problems = check_tree(_plant(tmp_path, tree))
    assert any("lrnn/model.py:1" in p and "bare import" in p for p in problems), problems


def test_dynamic_import_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["statetrack/errors.py"] = 'import importlib\nM = importlib.import_module("statetrack.cli")\n'
    problems = check_tree(_plant(tmp_path, tree))
    assert any("statetrack/errors.py:2" in p and "[dynamic]" in p for p in problems), problems


def test_package_cycle_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["lrnn/claims/parity.py"] = "from statetrack.lrnn.training.loop import f\n"
    tree["lrnn/training/loop.py"] = "def f():\n    from ..claims.parity import g\n"
    everything = frozenset(set(ALLOWED) | {"shadow"})
    permissive = Rules(allowed={layer: everything for layer in ALLOWED})
    problems = check_tree(_plant(tmp_path, tree), permissive)
    assert "package cycle: statetrack.lrnn.claims -> statetrack.lrnn.training -> statetrack.lrnn.claims" in problems, problems
    # between layers too, where the diagram alone would also object
    tree["automata/dfa.py"] = "from statetrack.constructions import y\nclass DFA: ...\n"
    problems = check_tree(_plant(tmp_path, tree), permissive)
    assert "package cycle: statetrack.automata -> statetrack.constructions -> statetrack.automata" in problems


def test_torch_through_a_chain_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    # allowed edges only (constructions -> automata -> core), but the core module loads torch inside a function
    tree["statetrack/fileio.py"] = "def write(x):\n    import torch.nn as nn\n"
    tree["automata/formats.py"] = "from statetrack.fileio import write\n"
    tree["constructions/parity.py"] = "def build():\n    from ..automata.formats import write\n"
    problems = check_tree(_plant(tmp_path, tree))
    chain = [p for p in problems if p.startswith("statetrack.constructions.parity reaches torch")]
    assert chain and "statetrack.automata.formats <- statetrack.constructions.parity" in chain[0], problems
    assert any(p.startswith("statetrack.automata.formats reaches torch") for p in problems)


def test_torch_through_a_parent_package_is_caught(tmp_path):
    tree = dict(CLEAN_TREE)
    # importing statetrack.kernels.diagonal.ref executes statetrack.kernels, which imports torch
    tree["constructions/group.py"] = "from statetrack.kernels.diagonal.ref import scan\n"
    tree["kernels/diagonal/ref.py"] = "def scan(): ...\n"
    problems = check_tree(_plant(tmp_path, tree))
    assert any(p.startswith("statetrack.constructions.group reaches torch") for p in problems), problems


def test_importing_automata_and_constructions_loads_no_torch():
    code = "import statetrack.automata, statetrack.constructions, sys; assert 'torch' not in sys.modules"
    env = {**os.environ, "PYTHONPATH": ""}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_version_is_free_but_other_root_names_are_not(tmp_path):
    tree = dict(CLEAN_TREE)
    tree["automata/suites.py"] = "def manifest():\n    from statetrack import __version__\n    from statetrack import api\n"
    problems = check_tree(_plant(tmp_path, tree))
    assert not any("automata/suites.py:2" in p for p in problems), problems
    assert any("automata/suites.py:3" in p and "imports statetrack (front)" in p for p in problems), problems
