"""The package's layering, read from its import statements with ``ast`` (nothing is imported).

- every import of every module keeps to the table "What each part may import" of
  docs/architecture.md (every import counts, also those inside functions); every part of the
  package has a row there;
- the pipeline sees backends only through their protocol (``backends.base``), ``pipeline/kinds``
  included;
- no import cycle between modules (imports at module level: those run at import time);
- no loop between packages (``drp_bench.pipeline``, ``drp_bench.report``, ...; a top-level
  module is its own node), counting every import, also those inside functions;
- at run time, ``drp-bench report`` and ``leaderboard build``/``verify`` load no pipeline,
  backend or planner module.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "drp_bench"
ARCHITECTURE = REPO / "docs" / "architecture.md"
TABLE_TITLE = "## What each part may import"


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


def import_rules(text: str) -> dict[str, set[str]]:
    """The table of docs/architecture.md: importer (``leaderboard``, ``leaderboard.submit``)
    -> what it may import (``run.folder``, ``metrics``, ``drp_bench`` for the package root,
    ``*`` for everything)."""
    section = text.split(TABLE_TITLE, 1)[1].split("\n## ", 1)[0]
    rules: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or not cells[0].startswith("`"):
            continue
        importer = cells[0].strip("`")
        allowed = set(re.findall(r"`([\w.]+)`", cells[1]))
        rules[importer] = {"*"} if cells[1].startswith("everything") else allowed
    return rules


def part_of(module: str) -> str:
    """``drp_bench.leaderboard.submit`` -> ``leaderboard``; ``drp_bench.api`` -> ``api``."""
    return module.split(".")[1] if "." in module else "drp_bench"


def allowed_for(module: str, rules: Mapping[str, set[str]]) -> set[str]:
    """The part's row plus the rows of the module and of the packages it is in."""
    names = module.split(".")[1:]
    allowed: set[str] = set(rules.get("drp_bench", ())) if module == "drp_bench" else set()
    for n in range(1, len(names) + 1):
        allowed |= rules.get(".".join(names[:n]), set())
    return allowed


def violations(module: str, imported: set[str], rules: Mapping[str, set[str]]) -> list[str]:
    """Imports of ``module`` the rules do not allow (same-part imports always are)."""
    allowed = allowed_for(module, rules)
    if "*" in allowed:
        return []
    bad = []
    for target in sorted(imported):
        if part_of(target) == part_of(module):
            continue
        rel = target.removeprefix("drp_bench.") if target != "drp_bench" else "drp_bench"
        if not any(rel == a or rel.startswith(a + ".") for a in allowed):
            bad.append(target)
    return bad


RULES = import_rules(ARCHITECTURE.read_text(encoding="utf-8"))


def test_every_part_of_the_package_has_a_row_in_the_architecture_table() -> None:
    parts = {part_of(m) for m in MODULES if m != "drp_bench"}
    assert parts - set(RULES) == set(), f"parts without a row in {ARCHITECTURE.name}"
    assert {r.split(".")[0] for r in RULES} - parts <= {"drp_bench"}, "rows for no part"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=str)
def test_every_import_keeps_to_the_architecture_table(path: Path) -> None:
    module = module_name(path)
    imported = set(imports(path, module_level_only=False)) & MODULES
    bad = violations(module, imported, RULES)
    assert not bad, f"{module} imports {bad}, not allowed by {ARCHITECTURE.name}"


@pytest.mark.parametrize("path", sorted((REPO / "hydra_plugins").rglob("*.py")), ids=str)
def test_hydra_plugins_import_only_config_methods_and_the_sweep_status(path: Path) -> None:
    imported = {m for m in imports(path, module_level_only=False) if m.startswith("drp_bench")}
    allowed = {"config", "methods"}
    assert {m for m in imported if part_of(m) not in allowed} <= {"drp_bench.run.sweep_status"}


def test_the_rules_catch_a_stage_kind_importing_a_backend() -> None:
    kind = "drp_bench.pipeline.kinds.generate"
    assert violations(kind, {"drp_bench.backends.base"}, RULES) == []
    assert violations(kind, {"drp_bench.backends.cache"}, RULES) == ["drp_bench.backends.cache"]
    assert violations("drp_bench.report.collect", {"drp_bench.pipeline.runner"}, RULES)
    assert violations("drp_bench.leaderboard.build", {"drp_bench.api"}, RULES)
    assert not violations("drp_bench.leaderboard.reproduce", {"drp_bench.api"}, RULES)
    assert not violations("drp_bench.cli", {"drp_bench.pipeline.runner"}, RULES)


HEAVY = ("drp_bench.pipeline", "drp_bench.backends", "drp_bench.run.", "drp_bench.plan.")
#: What readers may load of those: the run folder, plan.json, the sweep expansion, and the
#: templates behind today's prompt fingerprint.
LIGHT = {
    "drp_bench.run.folder",
    "drp_bench.run.prompts_fingerprint",
    "drp_bench.plan.plan_file",
    "drp_bench.plan.jobs",
    "drp_bench.pipeline",
    "drp_bench.pipeline.prompts",
}


def test_report_and_leaderboard_build_load_no_pipeline_backend_or_planner(tmp_path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(REPO / "tests" / "data" / "run_folder_v2", runs / "run_v2")
    board = tmp_path / "board"
    shutil.copytree(REPO / "results" / "leaderboard", board)
    code = (
        "import sys\n"
        "from drp_bench.report.cli import main as report\n"
        "from drp_bench.leaderboard.cli import main as leaderboard\n"
        f"assert report([{str(runs)!r}, '--no-plots', '--bootstrap', '10']) == 0\n"
        f"assert leaderboard(['verify', '--board', {str(board)!r}]) == 0\n"
        f"assert leaderboard(['build', '--board', {str(board)!r}]) == 0\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('drp_bench'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    ).stdout.split()
    loaded = [m for m in out if m.startswith("drp_bench.")]
    heavy = [m for m in loaded if m.startswith(HEAVY) and m not in LIGHT]
    assert "drp_bench.run.folder" in loaded and "drp_bench.leaderboard.build" in loaded
    assert heavy == []


@pytest.mark.parametrize("path", sorted((PACKAGE / "pipeline").rglob("*.py")), ids=str)
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
