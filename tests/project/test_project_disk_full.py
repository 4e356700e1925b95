"""A save onto a really full disk (a small tmpfs, where this machine allows mounting one):
no crash at any level of free space, a "disk full" message, the work kept, the file intact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = r"""
import os, sys
import numpy as np
from matlab_gui.errors import ProjectError
from matlab_gui.project import ClassDef, Project
folder, leave = sys.argv[1], float(sys.argv[2])
path = os.path.join(folder, "p.mgp")
project = Project.create(path, [ClassDef(1, "a", (1, 2, 3))])
rng = np.random.default_rng(0)
ids = [project.add_image(f"i{k}.tif", data=rng.integers(0, 255, (400, 400), np.uint8)) for k in range(3)]
project.save()
st = os.statvfs(folder)
with open(os.path.join(folder, "filler"), "wb") as fh:
    fh.write(bytes(max(0, st.f_bavail * st.f_frsize - int(leave * 1e6))))
for k in range(4):
    project.add_image(f"n{k}.tif", data=rng.integers(0, 255, (1000, 1000), np.uint8))
mask = rng.integers(0, 2, (400, 400), np.uint8)
project.set_mask(ids[0], mask)
try:
    project.save()
    print("saved")
except ProjectError as exc:
    print("refused:", exc)
    assert project.dirty and (project.get_mask(ids[0]) == mask).all()
    assert not os.path.exists(path + ".journal"), "refused only after the commit point"
os.unlink(os.path.join(folder, "filler"))
project.save()
project.close()
with Project.open(path) as again:
    assert len(again.image_ids) == 7 and (again.get_mask(ids[0]) == mask).all()
print("ok")
"""


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)],
                          capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    yield mount
    subprocess.run(["umount", str(mount)])


@pytest.mark.parametrize("free_mb", [0.3, 2.2, 4.5, 7.0, 11.0])
def test_save_on_a_full_disk(small_disk, free_mb):
    for name in os.listdir(small_disk):
        os.unlink(small_disk / name)
    run = subprocess.run(
        [sys.executable, "-c", CHILD, str(small_disk), str(free_mb)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert run.returncode == 0, (run.returncode, run.stdout, run.stderr[-2000:])
    lines = run.stdout.splitlines()
    assert lines[-1] == "ok"
    assert lines[0] == "saved" or "disk full: your work is kept in memory" in lines[0], lines
