"""The package's walls, read from the source (``ast``): who may import whom.

- ``pipelines.core`` (table contracts) imports no pyspark, duckdb or config;
- ``pipelines.transforms`` (pure DataFrame transforms) imports only core and transforms;
- ``pipelines.serving`` and the Streamlit app never reach pyspark, however indirectly;
- the producer never reaches a transform;
- silver's code imports nothing of gold;
- nothing below ``pipelines.ops`` (the CLI, stack and broker) imports it;
- no import cycles among project modules, and no project module loaded by name.

Every import counts: module level, inside functions, under TYPE_CHECKING, in ``__main__``.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*(ROOT / "pipelines").rglob("*.py"), *(ROOT / "streamlit_app").rglob("*.py")]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in SOURCES}


def _resolve(name: str) -> str | None:
    """The project module an imported name is (a module, or a name in a package)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


@cache
def imports(module: str) -> frozenset[str]:
    """Every dotted name ``module`` imports (project modules resolved, others as written)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    # The Streamlit app runs with its own folder on the path: ``ui.context`` is
    # streamlit_app/ui/context.py.
    app = module.startswith("streamlit_app.")
    resolved = {_resolve(n) or (app and _resolve(f"streamlit_app.{n}")) or n for n in found}
    resolved.discard(module)
    return frozenset(resolved)


def project_imports(module: str) -> set[str]:
    return {n for n in imports(module) if n in MODULES and not MODULES[n].name == "__init__.py"}


def closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        for n in project_imports(todo.pop()):
            if n not in seen:
                seen.add(n)
                todo.append(n)
    return seen


def in_package(package: str) -> list[str]:
    return sorted(m for m in MODULES if m.startswith(package + ".") or m == package)


def external(module: str, top: str) -> bool:
    return any(n == top or n.startswith(top + ".") for n in imports(module))


def test_core_is_engine_free():
    bad = {m: n for m in in_package("pipelines.core") for n in ("pyspark", "delta", "duckdb")
           if external(m, n)}  # fmt: skip
    bad |= {m: "config" for m in in_package("pipelines.core") if "pipelines.config" in imports(m)}
    assert not bad


def test_transforms_import_only_core_and_transforms():
    allowed = ("pipelines.core", "pipelines.transforms")
    bad = {
        m: sorted(n for n in project_imports(m) if not n.startswith(allowed))
        for m in in_package("pipelines.transforms")
    }
    assert not {m: v for m, v in bad.items() if v}


@pytest.mark.parametrize("package", ["pipelines.serving", "streamlit_app"])
def test_serving_and_the_app_never_reach_pyspark(package):
    bad = {
        m: sorted(n for n in {m, *closure(m)} if external(n, "pyspark") or external(n, "delta"))
        for m in in_package(package)
    }
    assert not {m: v for m, v in bad.items() if v}


def test_the_producer_reaches_no_transform():
    reached = closure("pipelines.sim.producer")
    assert not sorted(n for n in reached if n.startswith("pipelines.transforms"))


def test_silver_imports_nothing_of_gold():
    silver = [m for m in MODULES if m.rpartition(".")[2].startswith(("silver", "sentiment"))]
    bad = {m: sorted(n for n in project_imports(m) if n.rpartition(".")[2].startswith("gold"))
           for m in silver}  # fmt: skip
    assert not {m: v for m, v in bad.items() if v}


def test_nothing_below_the_operations_layer_imports_it():
    """``pipelines.ops`` (CLI, local stack, broker, cluster) sits on top: the layers it
    starts never import it."""
    below = [m for m in MODULES if m.startswith("pipelines.") and not m.startswith("pipelines.ops")]
    bad = {m: sorted(n for n in project_imports(m) if n.startswith("pipelines.ops"))
           for m in below}  # fmt: skip
    assert not {m: v for m, v in bad.items() if v}


def test_no_import_cycles():
    cycles = sorted(m for m in MODULES if m in closure(m))
    assert not cycles


def test_no_project_module_is_loaded_by_name():
    bad = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in (
                "import_module",
                "importorskip",
                "__import__",
            ):
                bad.append(f"{module}:{node.lineno}")
    assert not bad
