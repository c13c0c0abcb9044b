"""The shape of the code, checked: dependencies point one way (the core at the bottom, the
composition root on top), no import cycles, and modules and functions stay small."""

from __future__ import annotations

import ast
import statistics
from collections.abc import Iterator
from pathlib import Path

from bot.core.settings import PROJECT_ROOT

PACKAGES = ("bot", "adapters", "handoff", "actions", "bench", "tests")
# Layers, most specific first: a module belongs to the first whose name prefixes its own.
LAYERS = (
    "bot.core",
    "bot.business",
    "bot.nlp",
    "bot.testing",
    "bot",
    "adapters",
    "handoff",
    "actions",
    "bench",
    "tests",
)
# What each layer may import (besides itself). The core imports no feature and no channel;
# handoff and the channels never import each other's way back; only the composition root
# (`bot`: app, components, cli, schema, launcher) sees everything.
ALLOWED = {
    "bot.core": set(),
    # The company's business systems: a client of theirs (and a demo), beside the core.
    "bot.business": {"bot.core"},
    # NLP (models, their jobs and results' tables), beside the core; handoff and the
    # actions queue its jobs and read its results.
    "bot.nlp": {"bot.core"},
    "bot.testing": {"bot.core", "bot.business", "handoff"},
    "handoff": {"bot.core", "bot.business", "bot.nlp"},
    "adapters": {"bot.core", "bot.business", "handoff"},
    "actions": {"bot.core", "bot.business", "bot.nlp", "handoff"},
    "bot": {
        "bot.core",
        "bot.business",
        "bot.nlp",
        "bot.testing",
        "handoff",
        "adapters",
        "actions",
    },
    "bench": {"bot.core", "bot.business", "bot.nlp", "bot.testing", "bot", "handoff", "adapters"},
    "tests": set(LAYERS),
}
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
MAX_MEDIAN_FUNCTION_LINES = 10


def python_files() -> Iterator[Path]:
    """Every Python file we write (migrations aside: they are generated history)."""
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            if "migrations" not in path.relative_to(PROJECT_ROOT).parts:
                yield path


def module_name(path: Path) -> str:
    """`bot/core/store/inbound.py` -> `bot.core.store.inbound`."""
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str | None:
    """The layer a module belongs to, or None for a third-party or standard module."""
    return next(
        (layer for layer in LAYERS if module == layer or module.startswith(f"{layer}.")), None
    )


def imported_modules(path: Path) -> set[str]:
    """The modules a file imports, anywhere in it (inside functions too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Our modules and which of our modules each imports."""
    modules = {module_name(path): path for path in python_files()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in imported_modules(path) if m in modules and m != name}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One dependency cycle of the graph, or None."""
    visiting: list[str] = []
    done: set[str] = set()

    def visit(node: str) -> list[str] | None:
        if node in visiting:
            return [*visiting[visiting.index(node) :], node]
        if node in done:
            return None
        visiting.append(node)
        for target in sorted(graph.get(node, ())):
            if (found := visit(target)) is not None:
                return found
        visiting.pop()
        done.add(node)
        return None

    return next((c for node in sorted(graph) if (c := visit(node)) is not None), None)


def layer_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which layers import which (a module importing its own layer does not count)."""
    layers: dict[str, set[str]] = {layer: set() for layer in LAYERS}
    for module, targets in graph.items():
        source = layer_of(module)
        assert source is not None
        for target in targets:
            target_layer = layer_of(target)
            if target_layer is not None and target_layer != source:
                layers[source].add(target_layer)
    return layers


def function_lengths(path: Path) -> Iterator[tuple[str, int]]:
    """Every function of a file, with its length in lines (docstring included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno:
            where = f"{path.relative_to(PROJECT_ROOT)}:{node.lineno} {node.name}"
            yield where, node.end_lineno - node.lineno + 1


def test_each_layer_imports_only_what_is_below_it() -> None:
    refused = {
        f"{layer} -> {target}"
        for layer, targets in layer_graph(import_graph()).items()
        for target in targets
        if target not in ALLOWED[layer]
    }
    assert refused == set()


def test_the_core_imports_no_channel_feature_or_root() -> None:
    graph = import_graph()
    outside = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if layer_of(module) == "bot.core"
        for target in targets
        if layer_of(target) != "bot.core"
    }
    assert outside == set()


def test_no_import_cycles_between_layers_or_modules() -> None:
    graph = import_graph()
    assert cycle_in(layer_graph(graph)) is None
    assert cycle_in(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_no_test_module_imports_another_test_module() -> None:
    graph = import_graph()
    between_tests = {
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("tests.")
        for target in targets
        if target.startswith("tests.") and not target.startswith("tests.support")
    }
    assert between_tests == set()


def test_modules_stay_small() -> None:
    too_big = [
        f"{path.relative_to(PROJECT_ROOT)} ({lines})"
        for path in python_files()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert too_big == []


def code_files() -> Iterator[Path]:
    """The code and its tools: everything but the test scenarios themselves (an end-to-end
    test reads best as one story, however long)."""
    for path in python_files():
        if not module_name(path).startswith("tests.") or module_name(path).startswith(
            "tests.support"
        ):
            yield path


def test_functions_stay_short() -> None:
    lengths = [length for path in code_files() for _, length in function_lengths(path)]
    too_long = [
        f"{where} ({length})"
        for path in code_files()
        for where, length in function_lengths(path)
        if length > MAX_FUNCTION_LINES
    ]
    assert too_long == []
    assert statistics.median(lengths) <= MAX_MEDIAN_FUNCTION_LINES
