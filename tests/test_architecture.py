"""The package's shape, checked: imports point down the layers with no cycle, no module takes
another module's private names, and docs/architecture.md names every module.

These are the rules the README's architecture section states; the checks read the source with
:mod:`ast` (nothing is imported), so a new cycle or a private import fails here first.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "nwbzarr"
DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"

#: Layers from the bottom: a module may import its own layer or any layer below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "limits", "compat", "import_hooks"),
    ("conventions",),
    ("storage",),
    ("formats",),
    ("virtual",),
    ("backend",),
    ("convert",),
    ("summary", "h5view", "inspection"),
    ("cli", ""),  # "" is the package's own __init__
)


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(name: str) -> list[tuple[str, list[str], bool]]:
    """(imported module, names taken, inside a function) for each nwbzarr import of ``name``."""
    path, is_package = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom | ast.Import):
            continue
        up, in_function = node, False
        while up in parents:
            up = parents[up]
            if isinstance(up, ast.FunctionDef | ast.AsyncFunctionDef):
                in_function = True
            if isinstance(up, ast.If) and "TYPE_CHECKING" in ast.unparse(up.test):
                break
        else:
            if isinstance(node, ast.Import):
                found += [(a.name, [], in_function) for a in node.names]
                continue
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                found.append((full if full in MODULES else target, [alias.name], in_function))
    return [f for f in found if f[0].split(".")[0] == "nwbzarr"]


def _layer(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for index, members in enumerate(LAYERS):
        if top in members:
            return index
    raise AssertionError(f"{module}: its top-level name {top!r} is in no layer of LAYERS")


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_imports_point_down_the_layers():
    upward = [
        f"{name} -> {target}"
        for name in MODULES
        for target, _, _ in _imports(name)
        if target in MODULES and _layer(target) > _layer(name)
    ]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_no_import_cycles_even_through_function_local_imports():
    graph = {
        name: {t for t, _, _ in _imports(name) if t in MODULES and t != name} for name in MODULES
    }
    # a package's __init__ importing its own submodules is not a cycle of concern when the
    # submodules do not import the package back; anything else reachable back to itself is
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_module_imports_another_modules_private_names():
    private = [
        f"{name} takes {target}.{taken}"
        for name in MODULES
        for target, names, _ in _imports(name)
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert not private, "private names imported across modules:\n" + "\n".join(private)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_docs_architecture_names_every_module(name):
    path, is_package = MODULES[name]
    rel = path.relative_to(SRC)
    text = DOC.read_text(encoding="utf-8")
    heading = f"### `{rel.parent.as_posix()}/`" if rel.parent.as_posix() != "." else None
    assert f"`{rel.name}`" in text, f"docs/architecture.md does not list {rel}"
    if heading is not None:
        assert heading in text, f"docs/architecture.md has no section for {rel.parent}/"
