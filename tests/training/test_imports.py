"""No import circle within training/: the modules' run-time import graph (function-level
imports included, `if TYPE_CHECKING:` blocks not) is acyclic."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST, modules: set[str]) -> set[str]:
    """The training modules a module imports (`from training.x import y` counts
    `training.x.y` when that is a module, else `training.x`)."""
    found = set()
    for node in ast.walk(_without_type_checking(tree)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _without_type_checking(tree: ast.AST) -> ast.AST:
    """`tree` less its `if TYPE_CHECKING:` blocks (imports for annotations only)."""
    for node in ast.walk(tree):
        for name, value in ast.iter_fields(node):
            if isinstance(value, list):
                setattr(node, name, [v for v in value if not _type_checking(v)])
    return tree


def _type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def import_graph() -> dict[str, set[str]]:
    paths = sorted((ROOT / "training").rglob("*.py"))
    modules = {module_name(p) for p in paths}
    graph = {}
    for path in paths:
        name = module_name(path)
        parents = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = imported(ast.parse(path.read_text()), modules) - {name} - parents
    return graph


def test_the_training_modules_import_each_other_without_a_circle() -> None:
    graph = import_graph()
    assert {"training.pipeline", "training.run", "training.evaluation.stage"} <= set(graph)
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import circle: {' -> '.join(error.args[1])}") from None


def test_the_run_module_imports_no_stage() -> None:
    assert not import_graph()["training.run"] & {
        "training.pipeline", "training.data.stage", "training.teachers.stage", "training.softlabels.stage",
        "training.students.stage", "training.evaluation.predictions", "training.evaluation.stage",
        "training.report.stage", "training.export.stage", "training.loop"}


def test_imports_are_found_in_functions_and_not_under_type_checking() -> None:
    tree = ast.parse("from training.b import f\nif TYPE_CHECKING:\n    import training.c\n"
                     "def g():\n    import training.a.x\n")
    assert imported(tree, {"training.a", "training.b", "training.c"}) == {"training.a", "training.b"}
