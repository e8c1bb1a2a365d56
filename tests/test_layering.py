"""The import rule of DESIGN.md ("Layout"), checked on the source with ``ast``.

Arrows point one way: ``automl -> tuners -> trainers``, ``tuners -> search_spaces, tracking,
export``; ``trainers`` never imports ``tuners``; nothing imports ``automl``; ``search_spaces``
never imports JAX. Every import counts: module level, inside functions (lazy), under
``TYPE_CHECKING``, relative, and ``importlib.import_module("hyperflax....")`` with a literal name.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "hyperflax"

# A module's *unit* is its subpackage (``hyperflax.tuners._grid`` -> ``tuners``) or, for a
# module at the root, its own name (``hyperflax._errors`` -> ``_errors``; the package itself
# is ``__init__``).

# Leaves: plain modules at the root that import no unit but other leaves; anyone may import them.
LEAVES = frozenset({"_errors", "_version", "_directions", "_npz", "_study_keys", "errors"})

# The subpackages, and the subpackages each may import (besides itself and the leaves).
LIBRARY: dict[str, frozenset[str]] = {
    "search_spaces": frozenset(),
    "tracking": frozenset(),
    "models": frozenset(),
    "trainers": frozenset(),  # reports to tuners through its Callback protocol, never imports them
    "export": frozenset(),  # loading an artifact needs neither the trainer nor Flax
    "tuners": frozenset({"trainers", "search_spaces", "tracking", "export"}),
    "automl": frozenset({"tuners", "trainers", "models", "search_spaces", "tracking", "export"}),
}

# Entry points at the top: they may import every library unit but automl, and each other.
ENTRY_POINTS = frozenset(
    {"__init__", "__main__", "cli", "_config", "_dashboard", "_demo", "_serve", "testing"}
)

ALLOWED: dict[str, frozenset[str]] = {
    **{unit: deps | LEAVES for unit, deps in LIBRARY.items()},
    **{leaf: LEAVES for leaf in LEAVES},
    **{entry: (LIBRARY.keys() - {"automl"}) | LEAVES | ENTRY_POINTS for entry in ENTRY_POINTS},
}

# Nothing imports automl but automl itself and these, and these only lazily (inside a function
# or under TYPE_CHECKING): the package's lazy ``hx.automl``, the ``hyperflax automl`` command and
# the demo.
AUTOML_LAZY_IMPORTERS = frozenset({"__init__", "cli", "_demo"})

# Units that never import JAX, Flax or Optax, not even through another hyperflax module.
NO_JAX = frozenset(
    {"search_spaces", "tracking", "_errors", "_version", "_directions", "_study_keys", "errors"}
)
JAX = frozenset({"jax", "jaxlib", "flax", "optax"})


@dataclasses.dataclass(frozen=True)
class Import:
    """One import statement's target, as the module that holds it sees it."""

    file: Path
    line: int
    importer: str  # dotted name of the importing module
    target: str  # dotted name of the imported module
    eager: bool  # runs on import (module level, not under TYPE_CHECKING)


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


class _Collector(ast.NodeVisitor):
    def __init__(self, file: Path, module: str, is_package: bool, modules: set[str]) -> None:
        self.file, self.module, self.modules = file, module, modules
        self.package = module if is_package else module.rpartition(".")[0]
        self.imports: list[Import] = []
        self.lazy_depth = 0

    def _add(self, node: ast.AST, target: str) -> None:
        eager = self.lazy_depth == 0
        self.imports.append(Import(self.file, node.lineno, self.module, target, eager))

    def visit(self, node: ast.AST) -> None:
        lazy = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        self.lazy_depth += lazy
        super().visit(node)
        self.lazy_depth -= lazy

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        self.lazy_depth += 1
        for child in node.body:
            self.visit(child)
        self.lazy_depth -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            anchor = self.package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            self._add(node, submodule if submodule in self.modules else base)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if (
            name == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self._add(node, node.args[0].value)
        self.generic_visit(node)


def collect_imports(root: Path) -> list[Import]:
    """Every import in every module of the package at ``root``."""
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    imports = []
    for file in files:
        collector = _Collector(file, module_name(file, root), file.name == "__init__.py", modules)
        collector.visit(ast.parse(file.read_text(encoding="utf-8"), filename=str(file)))
        imports += collector.imports
    return imports


def violations(root: Path) -> list[str]:
    """Every import of the package at ``root`` that breaks the rule, as ``file:line: why``."""
    package = root.name
    imports = collect_imports(root)
    found = []

    def report(imp: Import, why: str) -> None:
        found.append(f"{imp.file.relative_to(root.parent)}:{imp.line}: {why}")

    by_module: dict[str, list[Import]] = {}
    for imp in imports:
        by_module.setdefault(imp.importer, []).append(imp)
    for module in sorted({module_name(f, root) for f in root.rglob("*.py")}):
        if unit_of(module) not in ALLOWED:
            found.append(f"{module}: unit {unit_of(module)!r} is not in the table")

    for imp in imports:
        source = unit_of(imp.importer)
        if source not in ALLOWED:
            continue
        if imp.target.split(".")[0] != package:
            continue
        target = unit_of(imp.target)
        if target == source:
            continue
        if target == "automl":
            if source not in AUTOML_LAZY_IMPORTERS:
                report(imp, f"{source} imports {imp.target}: nothing imports automl")
            elif imp.eager:
                report(imp, f"{source} imports {imp.target} eagerly: only lazily (in a function)")
        elif target not in ALLOWED[source]:
            allowed = ", ".join(sorted(ALLOWED[source] - LEAVES)) or "no other unit"
            report(imp, f"{source} imports {imp.target}: {source} may import {allowed}")

    # No JAX in NO_JAX units, following hyperflax imports from module to module.
    for start in sorted(m for m in by_module if unit_of(m) in NO_JAX):
        seen, queue, via = {start}, [start], {start: [start]}
        while queue:
            module = queue.pop()
            for imp in by_module.get(module, []):
                top = imp.target.split(".")[0]
                if top in JAX:
                    path = " -> ".join(via[module])
                    report(imp, f"{unit_of(start)} reaches {imp.target} ({path})")
                elif top == package and imp.target not in seen and imp.target in by_module:
                    seen.add(imp.target)
                    via[imp.target] = [*via[module], imp.target]
                    queue.append(imp.target)
    return sorted(set(found))


def test_the_package_keeps_the_layering_of_design_md():
    problems = violations(SOURCE)
    assert not problems, "imports that break DESIGN.md's layering:\n" + "\n".join(problems)


def test_the_table_follows_design_md():
    assert "tuners" not in ALLOWED["trainers"]
    assert {"trainers", "search_spaces", "tracking", "export"} <= ALLOWED["tuners"]
    assert "tuners" in ALLOWED["automl"]
    assert not any("automl" in deps for deps in ALLOWED.values())
    assert not (JAX & ALLOWED.keys())
    assert {f.stem for f in SOURCE.glob("*.py")} <= ALLOWED.keys()
    assert {d.name for d in SOURCE.iterdir() if (d / "__init__.py").is_file()} <= ALLOWED.keys()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "hyperflax"
    for name in ("__init__.py", "_errors.py", "_npz.py", "trainers/__init__.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")
    for package in ("tuners", "search_spaces", "automl", "export"):
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").write_text("")
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"trainers/x.py": "from hyperflax.tuners import Tuner\n"},
            "hyperflax/trainers/x.py:1: trainers imports hyperflax.tuners: trainers may import "
            "no other unit",
        ),
        (
            {"trainers/x.py": "def f():\n    import hyperflax.tuners._tuner\n"},
            "hyperflax/trainers/x.py:2: trainers imports hyperflax.tuners._tuner",
        ),
        (
            {"trainers/x.py": "import typing\nif typing.TYPE_CHECKING:\n from ..tuners import a"},
            "hyperflax/trainers/x.py:3: trainers imports hyperflax.tuners",
        ),
        (
            {"trainers/x.py": "import importlib\nimportlib.import_module('hyperflax.tuners')\n"},
            "hyperflax/trainers/x.py:2: trainers imports hyperflax.tuners",
        ),
        (
            {"export/x.py": "from .. import trainers\n"},
            "hyperflax/export/x.py:1: export imports hyperflax.trainers",
        ),
        (
            {"tuners/x.py": "def f():\n    from hyperflax.automl import TabularClassifier\n"},
            "hyperflax/tuners/x.py:2: tuners imports hyperflax.automl: nothing imports automl",
        ),
        (
            {"__init__.py": "from hyperflax import automl\n"},
            "hyperflax/__init__.py:1: __init__ imports hyperflax.automl eagerly",
        ),
        (
            {"search_spaces/x.py": "def f():\n    import jax.numpy\n"},
            "hyperflax/search_spaces/x.py:2: search_spaces reaches jax.numpy",
        ),
        (
            {"search_spaces/x.py": "from hyperflax._npz import read\n", "_npz.py": "import jax\n"},
            "hyperflax/_npz.py:1: search_spaces reaches jax (hyperflax.search_spaces.x -> "
            "hyperflax._npz)",
        ),
        ({"_tools.py": ""}, "hyperflax._tools: unit '_tools' is not in the table"),
    ],
)
def test_a_violation_is_reported_with_its_file_and_import(tmp_path, files, expected):
    problems = violations(_tree(tmp_path, files))
    assert any(problem.startswith(expected) for problem in problems), problems


def test_allowed_imports_are_not_reported(tmp_path):
    root = _tree(
        tmp_path,
        {
            "tuners/x.py": "from hyperflax.trainers import T\nfrom .._errors import E\n",
            "automl/x.py": "from hyperflax import tuners\nfrom . import y\n",
            "trainers/y.py": "import jax\nfrom hyperflax._npz import read\n",
            "__init__.py": "def __getattr__(name):\n    from hyperflax import automl\n",
        },
    )
    assert violations(root) == []
