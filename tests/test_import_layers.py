"""The package's import graph: no cycles among l3sim modules, and imports point down the layers of
docs/architecture.md (``cli -> experiments, report -> serving -> hw, functional, workload -> spec``).

The graph is read from the source with ``ast``, every ``import`` and ``from ... import`` of an l3sim module
counted, those inside functions too (a function-level import still makes one module need the other; hiding
a cycle that way is what this test exists to stop), except under ``if TYPE_CHECKING:`` (annotations only).
Dynamic imports (``importlib``: the system catalog, preset spec classes) are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "l3sim"

#: Layer of each top-level part of the package; a module may import its own part and any lower layer.
#: Within layer 4 the three parts are independent of each other; in layer 6, experiments may use report.
LAYERS = {
    "errors": 0,
    "l3sim": 1,  # the package's own __init__ (version)
    "inputs": 1,  # the one reader of user files
    "outputs": 1,  # the one writer of results
    "markdown": 1,
    "dotted": 1,  # flattening nested tables to dotted keys (spec, experiments, cli)
    "fast_exit": 1,  # the heap frozen at a process's exit (cli, the sweep workers)
    "cache": 2,  # on-disk caches (written through outputs)
    "spec": 3,
    "hw": 4,
    "functional": 4,
    "workload": 4,
    "serving": 5,
    "experiments": 6,
    "report": 6,
    "cli": 7,
    "__main__": 8,
}
ALSO_ALLOWED = {("experiments", "report")}


def module_files() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``), for every module under src/l3sim."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def imported_modules(name: str, path: Path, is_package: bool, modules: dict) -> set[str]:
    """The l3sim modules ``name`` imports (a name taken from a package counts as the submodule if it is one)."""

    def resolve(dotted: str) -> str | None:
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted or None

    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit_one(stmt)
                continue
            visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.update(resolve(a.name) for a in node.names if a.name.split(".")[0] == "l3sim")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] == "l3sim":
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    found.add(full if full in modules else resolve(source))
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    found.discard(None)
    found.discard(name)
    return found  # type: ignore[return-value]


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, is_package, modules) for name, (path, is_package) in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child):] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def part(module: str) -> str:
    """``l3sim.hw.dram.engine`` -> ``hw``; the package itself -> ``l3sim``."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "l3sim"


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) in (["a", "b", "c", "a"],)
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_function_level_imports_and_skips_type_checking(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from l3sim.serving import engine\n"
                      "def f():\n    from l3sim.hw import energy\n    import l3sim.spec.run\n")
    modules = module_files()
    assert imported_modules("l3sim.x", source, False, modules) == {"l3sim.hw.energy", "l3sim.spec.run"}


def test_every_part_of_the_package_has_a_layer():
    assert {part(m) for m in module_files()} <= set(LAYERS)


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("lower", ["hw", "functional", "workload", "spec"])
def test_lower_layers_do_not_import_upward(lower):
    bad = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items() if part(module) == lower
        for target in targets
        if part(target) != lower and LAYERS[part(target)] >= LAYERS[lower]
    )
    assert bad == []


def test_every_import_points_down_the_layers():
    bad = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if part(module) != part(target) and LAYERS[part(target)] >= LAYERS[part(module)]
        and (part(module), part(target)) not in ALSO_ALLOWED
    )
    assert bad == []
