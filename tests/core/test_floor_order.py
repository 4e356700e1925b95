"""No module imports a floor above its own (DESIGN.md's house), checked on the source itself.

The isolation tests see only whether Qt or torch end up loaded; an arrow from ml/ up to jobs/
loads neither, so the order of the floors is read from every import statement instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

import matlab_gui

PACKAGE = Path(matlab_gui.__file__).parent

# Lowest first. Shared primitives (errors, progress events, resources) are the ground floor.
FLOORS = {
    "errors": 0, "progress": 0, "resources": 0, "file_kinds": 0,
    "imaging": 1,
    "project": 2,
    "annotate": 3,
    "ml": 4,
    "jobs": 5,
    "workbench": 6,  # the window's state model, plain Python
    "gui": 7,
    "cli": 8,  # the entry point may launch the window
    "__main__": 9,
}


def _floor_of(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package).parts
    return parts[0] if len(parts) > 1 else path.stem


def _imported_floors(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("matlab_gui.")}
    return found


def upward_imports(package: Path = PACKAGE) -> list[str]:
    """Every `module -> floor` arrow that runs up the house."""
    bad = []
    for path in sorted(package.rglob("*.py")):
        own = _floor_of(path, package)
        for floor in _imported_floors(path):
            if floor == own:
                continue
            assert floor in FLOORS, f"{floor} has no floor in FLOORS (add it to DESIGN.md's house)"
            if FLOORS[floor] > FLOORS[own]:
                bad.append(f"{path.relative_to(package).as_posix()} imports {floor}")
    return bad


def test_every_package_has_a_floor():
    tops = {_floor_of(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert tops <= set(FLOORS), tops - set(FLOORS)


def test_no_import_runs_up_a_floor():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    pkg = tmp_path / "matlab_gui"
    (pkg / "ml").mkdir(parents=True)
    (pkg / "jobs").mkdir()
    (pkg / "ml" / "loop.py").write_text("from matlab_gui.jobs.train import x\n")
    (pkg / "jobs" / "train.py").write_text("from matlab_gui.ml.loop import y\n")
    assert upward_imports(pkg) == ["ml/loop.py imports jobs"]
