"""Saves never lose work: SIGKILL a saving process at random moments; the project always opens
and holds exactly the old or the new state, and no journal is left behind."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.project import ClassDef, Project
from matlab_gui.project.journal import journal_path

CHILD = Path(__file__).with_name("kill_saver.py")
REPO = Path(__file__).resolve().parents[2]


def _base_project(folder: Path, images: int, size: int) -> Path:
    path = folder / "base.mgp"
    rng = np.random.default_rng(3)
    classes = [ClassDef(1, "matrix", (255, 0, 0)), ClassDef(2, "grain", (0, 255, 0))]
    with Project.create(path, classes=classes) as project:
        for k in range(images):
            image_id = project.add_image(
                f"img{k}.tif", data=rng.integers(0, 255, (size, size), np.uint8)
            )
            project.set_mask(image_id, (rng.random((size, size)) < 0.1).astype(np.uint8))
        project.save()
    return path


def _run_child(path: Path, model: Path, kill_after: float | None) -> str:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(path), str(model)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout.readline().strip() == "saving"
    if kill_after is None:
        out = child.stdout.read()
        assert child.wait(timeout=60) == 0
        return out
    time.sleep(kill_after)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    return ""


@pytest.mark.parametrize(
    ("images", "size", "trials"), [(5, 1024, 24), (2000, 32, 8)], ids=["5 large", "2k small"]
)
def test_killed_saves_leave_the_old_or_the_new_project(
    tmp_path, project_snapshot, images, size, trials
):
    snapshot = project_snapshot
    model = tmp_path / "model"
    model.mkdir()
    (model / "card.json").write_text("{}")
    (model / "model.safetensors").write_bytes(bytes(range(256)) * 64)
    base = _base_project(tmp_path, images, size)
    old = snapshot(base)

    done = tmp_path / "done.mgp"
    shutil.copyfile(base, done)
    save_seconds = float(_run_child(done, model, None).split()[1])
    new = snapshot(done)
    assert new != old

    rng = random.Random(20261125)
    outcomes = {"old": 0, "new": 0, "killed mid-save": 0}
    for trial in range(trials):
        path = tmp_path / f"trial{trial}.mgp"
        shutil.copyfile(base, path)
        _run_child(path, model, rng.uniform(0, 1.3 * save_seconds))
        outcomes["killed mid-save"] += any(tmp_path.glob(f"{path.name}.journal*"))
        committed = journal_path(path).exists()  # past the commit point: must come back new
        state = snapshot(path)
        assert state in (old, new), f"trial {trial}: neither the old nor the new state"
        assert state == new or not committed, f"trial {trial}: a committed save was lost"
        outcomes["old" if state == old else "new"] += 1
        assert sorted(p.name for p in tmp_path.glob(f"trial{trial}.*")) == [path.name]
        path.unlink()
    print(f"save took {save_seconds:.3f} s; outcomes after {trials} kills: {outcomes}")
    assert outcomes["killed mid-save"], f"no kill landed inside a save: {outcomes}"
