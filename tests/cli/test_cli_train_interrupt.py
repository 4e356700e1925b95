"""Ctrl+C on `matlab-gui train` at any moment stops it with one line and leaves the old model."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.model_folder import save_model
from matlab_gui.ml.synthetic import write_segmentation_folder
from matlab_gui.ml.zoo import build_model, default_card

pytestmark = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")

CLASSES = ["matrix", "disc", "square"]

# What optional C extensions do (pybind11 module init, numpy's import_array, PyCapsule_Import):
# an exception raised while they import their dependencies, KeyboardInterrupt included, comes
# out as ImportError. The library importing them treats that as "accelerator missing" and goes
# on (triton, xml.etree), or re-raises it with its own advice (cv2: "requires numpy").
EXTENSION_GETTING_CTRL_C = '''
import signal, sys

class CtrlCDuringExtensionInit:
    def find_spec(self, name, path=None, target=None):
        if name == "segmentation_models_pytorch":
            sys.meta_path.remove(self)
            try:
                try:
                    signal.raise_signal(signal.SIGINT)
                except BaseException as exc:
                    raise ImportError("initialization failed") from exc
            except ImportError:
                if {reraise}:
                    raise ImportError("this extension requires numpy: pip install numpy")
        return None

sys.meta_path.insert(0, CtrlCDuringExtensionInit())
'''


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Tiny training data and an earlier model already at --out."""
    root = tmp_path_factory.mktemp("interrupt")
    data = write_segmentation_folder(root / "data")
    card = default_card("segmentation", "unet", [ClassInfo(c, (i * 80, 0, 0)) for i, c in enumerate(CLASSES)],
                        encoder="tu-resnet10t", in_channels=1, input_size=32)
    card.name = "the earlier model"
    out = save_model(root / "model", build_model(card, pretrained=False), card)
    return data, out, _hashes(out)


def _ctrl_c_as_in_a_terminal() -> None:
    """A shell starts background jobs with Ctrl+C ignored, and children inherit that (a CI
    runner may start the tests so): give the child the terminal's default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(data: Path, out: Path, epochs: int, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "matlab_gui", "train", "--task", "segmentation", "--data", str(data),
         "--arch", "unet", "--encoder", "tu-resnet10t", "--no-pretrained", "--device", "cpu",
         "--epochs", str(epochs), "--patch", "32", "--patches-per-epoch", "4", "--batch", "2",
         "--patience", "0", "--classes", ",".join(CLASSES), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, preexec_fn=_ctrl_c_as_in_a_terminal,
    )


class _Stderr:
    """Collects a child's stderr as it comes (tqdm writes bars without newlines)."""

    def __init__(self, child: subprocess.Popen):
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(child.stderr,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        while chunk := os.read(stream.fileno(), 4096):
            self.text += chunk.decode(errors="replace")

    def wait_for(self, text: str, timeout: float) -> None:
        end = time.monotonic() + timeout
        while text not in self.text:
            assert time.monotonic() < end, f"{text!r} never appeared in:\n{self.text[-2000:]}"
            time.sleep(0.05)


def _assert_cancelled(child: subprocess.Popen, stderr: _Stderr, out: Path, before: dict) -> None:
    """Non-zero exit within seconds, one 'cancelled' line and no traceback, the old model kept."""
    try:
        code = child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        pytest.fail("train kept running after Ctrl+C")
    stderr.thread.join(timeout=5)
    lines = [line for line in stderr.text.replace("\r", "\n").splitlines() if line.strip()]
    assert code != 0, f"train finished normally after Ctrl+C:\n{stderr.text[-2000:]}"
    assert "Traceback" not in stderr.text
    assert lines[-1] == "matlab-gui: cancelled"
    assert _hashes(out) == before
    assert sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")) == []


@pytest.mark.parametrize("seconds", [0.5, 1.0, 2.0, 3.0])
def test_ctrl_c_in_the_first_seconds(setup, seconds):
    data, out, before = setup
    child = _start(data, out, epochs=50)
    stderr = _Stderr(child)
    time.sleep(seconds)
    child.send_signal(signal.SIGINT)
    _assert_cancelled(child, stderr, out, before)


def test_ctrl_c_after_the_first_epoch_started(setup):
    data, out, before = setup
    child = _start(data, out, epochs=50)
    stderr = _Stderr(child)
    stderr.wait_for("train 1/50", timeout=60)
    child.send_signal(signal.SIGINT)
    _assert_cancelled(child, stderr, out, before)


@pytest.mark.parametrize("reraise", [False, True], ids=["swallowed", "as ImportError"])
def test_ctrl_c_that_a_library_import_turns_into_import_error_still_cancels(setup, tmp_path, reraise):
    data, out, before = setup
    (tmp_path / "sitecustomize.py").write_text(EXTENSION_GETTING_CTRL_C.format(reraise=reraise))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    child = _start(data, out, epochs=3, env=env)
    _assert_cancelled(child, _Stderr(child), out, before)
