"""The floors of DESIGN.md: core packages load no Qt, and imaging/annotate/project load no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

QT_PREFIXES = ("PySide6", "PyQt5", "PyQt6", "shiboken6", "pyqtgraph")

CHECK = """
import importlib, sys
importlib.import_module({module!r})
for sub in {submodules!r}:
    importlib.import_module(sub)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in {forbidden!r})
print('\\n'.join(loaded))
"""


def _all_submodules(package: str) -> list[str]:
    import importlib
    import pkgutil

    pkg = importlib.import_module(package)
    return [m.name for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}.")]


def _loaded_forbidden(package: str, forbidden: tuple[str, ...]) -> list[str]:
    code = CHECK.format(module=package, submodules=_all_submodules(package), forbidden=forbidden)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


@pytest.mark.parametrize("package", ["imaging", "annotate", "project", "ml", "jobs", "workbench"])
def test_core_package_loads_no_qt(package):
    assert _loaded_forbidden(f"matlab_gui.{package}", QT_PREFIXES) == []


@pytest.mark.parametrize("package", ["imaging", "annotate", "project", "workbench"])
def test_numpy_floors_load_no_torch(package):
    assert _loaded_forbidden(f"matlab_gui.{package}", ("torch", "torchvision", "timm")) == []
