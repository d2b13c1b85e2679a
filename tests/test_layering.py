"""The package's layers: io/ at the bottom, no import cycle between config and catalog."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sdssflow

SRC = Path(sdssflow.__file__).resolve().parent
SCIENCE = ("sdssflow.sky", "sdssflow.fluxcal", "sdssflow.mwm", "sdssflow.catalog")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


def test_io_imports_no_science_family():
    bad = {
        str(p.relative_to(SRC)): sorted(m for m in _imports(p) if m.startswith(SCIENCE))
        for p in (SRC / "io").glob("*.py")
    }
    assert {k: v for k, v in bad.items() if v} == {}


def _module_graph() -> dict[str, set[str]]:
    """sdssflow module -> the sdssflow modules it imports (top-level imports only)."""
    names = {".".join(("sdssflow", *p.relative_to(SRC).with_suffix("").parts)).removesuffix(".__init__"): p
             for p in SRC.rglob("*.py") if "data" not in p.relative_to(SRC).parts}
    graph = {}
    for name, path in names.items():
        deps = set()
        for node in ast.parse(path.read_text()).body:  # top level: what runs at import time
            mods = []
            if isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            deps |= {m for m in mods if m in names and m != name}
        graph[name] = deps
    return graph


def test_no_import_cycle():
    """No module imports, through any chain, a module that imports it (config and catalog
    included: config uses catalog.query and io.catalog_model, neither of which imports config)."""
    graph = _module_graph()
    assert "sdssflow.catalog.query" in graph["sdssflow.config"]
    cycles = []
    for start in graph:
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    cycles.append(" -> ".join((*path, start)))
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, (*path, dep)))
    assert cycles == []


def test_science_modules_import_no_step_module():
    """Steps sit on top: a module outside ``<family>/steps/`` never imports one inside it, so
    every step's science lives in a topic module that the others can use too."""
    bad = {
        str(p.relative_to(SRC)): sorted(m for m in _imports(p) if re.match(r"sdssflow\.\w+\.steps(\.|$)", m))
        for p in SRC.rglob("*.py")
        if "steps" not in p.relative_to(SRC).parts and p.name != "cli.py"
    }
    assert {k: v for k, v in bad.items() if v} == {}


def test_bench_scripts_import_names_that_exist():
    """Every ``from sdssflow... import name`` in bench/ (lazy ones too) resolves.

    The bench scripts are not run by the tests; a module move would otherwise break them
    silently (bench_fluxcal imported ``sdssflow.synth.survey`` after it moved to steps/)."""
    import importlib

    bench = Path(__file__).resolve().parents[1] / "bench"
    missing = []
    for path in sorted(bench.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sdssflow")):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    continue
                try:
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ModuleNotFoundError:
                    missing.append(f"{path.name}:{node.lineno}: {node.module}.{alias.name}")
    assert not missing, missing
