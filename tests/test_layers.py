"""The package's layering, read from its import statements with ``ast`` (nothing is imported).

- the pipeline sees backends only through their protocol: it imports no concrete backend and
  not the call cache (the run builds those and hands the pipeline a role -> backend mapping);
- no import cycle between modules (imports at module level: those run at import time);
- no loop between packages (``drp_bench.pipeline``, ``drp_bench.report``, ...; a top-level
  module is its own node), counting every import, also those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "drp_bench"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path, module_level_only: bool) -> Iterator[str]:
    """drp_bench modules ``path`` imports (``from a import b`` yields ``a.b`` when a module)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    )

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.stmt]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            yield node
            if module_level_only:
                if isinstance(node, (ast.If, ast.Try)):
                    yield from walk(node.body + node.orelse + getattr(node, "finalbody", []))
                    for handler in getattr(node, "handlers", []):
                        yield from walk(handler.body)
            else:
                for child in ast.iter_child_nodes(node):
                    if isinstance(child, ast.stmt):
                        yield from walk([child])

    for node in walk(tree.body):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("drp_bench"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            if not base.startswith("drp_bench"):
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                yield candidate if candidate in MODULES else base


MODULES = {module_name(p) for p in PACKAGE.rglob("*.py")}


def graph(module_level_only: bool) -> dict[str, set[str]]:
    return {
        module_name(p): {m for m in imports(p, module_level_only) if m in MODULES}
        for p in PACKAGE.rglob("*.py")
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node)):
            return found
    return None


def layer(module: str) -> str:
    """``drp_bench.pipeline.runner`` -> ``drp_bench.pipeline``; top-level modules stay."""
    parts = module.split(".")
    if len(parts) > 2 or (PACKAGE / parts[-1]).is_dir():
        return ".".join(parts[:2])
    return module


@pytest.mark.parametrize("path", sorted((PACKAGE / "pipeline").glob("*.py")), ids=str)
def test_the_pipeline_imports_no_concrete_backend_and_no_cache(path: Path) -> None:
    imported = set(imports(path, module_level_only=False))
    forbidden = {
        m for m in imported if m.startswith("drp_bench.backends") and m != "drp_bench.backends.base"
    }
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"


def test_no_import_cycle_between_modules() -> None:
    cycle = find_cycle(graph(module_level_only=True))
    assert cycle is None, " -> ".join(cycle or [])


def test_no_loop_between_packages() -> None:
    edges: dict[str, set[str]] = {}
    for src, targets in graph(module_level_only=False).items():
        for dst in targets:
            if layer(src) != layer(dst) and layer(dst) != "drp_bench":
                edges.setdefault(layer(src), set()).add(layer(dst))
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle or [])


def test_the_checker_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def layers_report() -> str:
    """Which package imports which (for the README and the closing note)."""
    edges: dict[str, set[str]] = {}
    for src, targets in graph(module_level_only=False).items():
        for dst in targets:
            if layer(src) != layer(dst) and layer(dst) != "drp_bench":
                edges.setdefault(layer(src), set()).add(layer(dst))
    return "\n".join(f"{k} -> {', '.join(sorted(v))}" for k, v in sorted(edges.items()))


if __name__ == "__main__":
    print(layers_report())
