"""`matlab-gui classify` killed with SIGKILL mid-run resumes from its CSV: no file lost, none twice.

The child is the real CLI (`python -m matlab_gui classify ...`) with two hooks: the CSV is saved
after every batch instead of every few seconds (so rows are on disk long before the end), and
the run holds still at a chosen point (inside a CSV save, half of its bytes written; or between
two batches) until the test kills it there with SIGKILL, which no `finally` survives. A plain run
of the same command then finishes the folder.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.imaging import write_image

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGKILL")

FILES = 40
BATCH = 4

HOOKED_CLI = '''
import os, pathlib, runpy, sys, time
import matlab_gui.jobs.classify as job
import matlab_gui.ml.inference as inference

job.SAVE_EVERY_S = 0.0
gate, mode, after = pathlib.Path(os.environ["GATE"]), os.environ["HOLD"], int(os.environ["AFTER"])
calls = {"save": 0, "batch": 0}

def hold():
    gate.write_text("holding")
    time.sleep(600)  # until killed

real_write, real_batch = pathlib.Path.write_bytes, inference.classify_batch

def write_bytes(self, data):
    """Every write of the CSV's bytes, in place or into a temporary file beside it."""
    if os.path.basename(os.environ["CSV"]) in self.name:
        calls["save"] += 1
        if mode == "save" and calls["save"] > after:
            real_write(self, data[: len(data) // 2])
            hold()
    return real_write(self, data)

def classify_batch(*args, **kwargs):
    calls["batch"] += 1
    if mode == "batch" and calls["batch"] > after:
        hold()
    return real_batch(*args, **kwargs)

pathlib.Path.write_bytes, inference.classify_batch = write_bytes, classify_batch
sys.argv = ["matlab-gui", *sys.argv[1:]]
runpy.run_module("matlab_gui", run_name="__main__")
'''


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A random-init fully connected classifier on 32-pixel RGB (loads in a blink)."""
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(n, (90 * i, 0, 0)) for i, n in enumerate(("ferrite", "pearlite", "bainite"))]
    card = default_card("classification", "fnn", classes, in_channels=3, input_size=32)
    return save_model(tmp_path_factory.mktemp("models") / "cls", build_model(card, pretrained=False),
                      card)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    for i in range(FILES):
        write_image(images / f"grain #{i:02d}.png", rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    return images


def _command(model: Path, folder: Path, out: Path) -> list[str]:
    return ["classify", "--model", str(model), str(folder), "--out", str(out),
            "--batch", str(BATCH), "--device", "cpu", "--quiet"]


def _kill_when_held(model, folder, out, gate: Path, hold: str, after: int) -> None:
    """Run the hooked CLI until it holds at the chosen point, then SIGKILL it (and its loader
    workers: the whole process group)."""
    gate.unlink(missing_ok=True)
    child = subprocess.Popen(
        [sys.executable, "-c", HOOKED_CLI, *_command(model, folder, out)],
        env={**os.environ, "GATE": str(gate), "HOLD": hold, "AFTER": str(after), "CSV": str(out)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a timing assertion
        while not gate.exists():
            if child.poll() is not None:
                pytest.fail(f"classify ended before the kill point:\n{child.stderr.read().decode()}")
            assert time.monotonic() < deadline, "classify never reached the kill point"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL


def _rows(out: Path) -> list[dict]:
    with out.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_sigkill_mid_save_and_between_batches_then_resume(model, folder, tmp_path):
    out = tmp_path / "results" / "results.csv"
    out.parent.mkdir()
    gate = tmp_path / "held"
    expected = sorted(str(p) for p in folder.iterdir())

    # Killed halfway through writing the CSV the third time: the first two saves are the file.
    _kill_when_held(model, folder, out, gate, "save", after=2)
    first = [r["path"] for r in _rows(out)]
    assert len(first) == len(set(first)) == 2 * BATCH and set(first) <= set(expected)

    # Resumed, and killed again between two batches of its own.
    _kill_when_held(model, folder, out, gate, "batch", after=3)
    second = [r["path"] for r in _rows(out)]
    assert len(second) == len(set(second)) == (2 + 3) * BATCH and set(first) < set(second)

    done = subprocess.run([sys.executable, "-m", "matlab_gui", *_command(model, folder, out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"classified {FILES - 5 * BATCH}, skipped {5 * BATCH} already done" in done.stdout
    rows = _rows(out)
    paths = [r["path"] for r in rows]
    assert sorted(paths) == expected  # every file exactly once, none missing, nothing else
    assert all(r["error"] == "" and r["predicted"] in ("ferrite", "pearlite", "bainite")
               for r in rows)
