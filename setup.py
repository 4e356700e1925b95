"""Only job beyond pyproject.toml: copy the sample micrographs, icon and shipped models into the
wheel as `matlab_gui/_bundled/` (the list is installer/bundle.py), so an installed app never
reads the source tree. Editable installs skip it: they read the source tree directly."""

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "installer"))
from bundle import bundled_files  # noqa: E402


class BuildPyWithBundledData(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for src, rel in bundled_files(ROOT):
            dest = Path(self.build_lib) / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


setup(cmdclass={"build_py": BuildPyWithBundledData})
