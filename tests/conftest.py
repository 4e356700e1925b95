"""Shared fixtures: the real micrograph data sets (skipped when ../shared is absent), a tiny model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# converted models (ml/engines) go to a cache of this run, never the user's
os.environ["MATLAB_GUI_CACHE"] = tempfile.mkdtemp(prefix="matlab_gui-test-cache-")

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).parent / "reliability"))  # reliability_corpus: bad files


@pytest.fixture
def default_pixel_budget(monkeypatch):
    """The default image pixel budget, whatever the environment or an earlier test set."""
    from matlab_gui.imaging import limits

    monkeypatch.delenv(limits.ENV_VAR, raising=False)
    limits.set_max_pixels(None)
    yield limits
    limits.set_max_pixels(None)


@pytest.fixture(scope="session")
def mat_load():
    """A .mat reader that is not the app's: mat73 for v7.3 (MATLAB's HDF5 layout), scipy for
    v7; cells come back as lists, text as str, arrays as MATLAB shows them."""
    import h5py
    import mat73
    import numpy as np
    import scipy.io

    def plain(v):
        return list(v.ravel()) if isinstance(v, np.ndarray) and v.dtype == object else v

    def load(path) -> dict:
        if h5py.is_hdf5(path):
            return mat73.loadmat(path)
        return {k: plain(v) for k, v in scipy.io.loadmat(path, simplify_cells=True).items()
                if not k.startswith("__")}
    return load


@pytest.fixture(scope="session")
def octave_load():
    """`load` in GNU Octave, handed back through Octave's jsonencode: how a MATLAB-language user
    sees the file (N-d arrays as nested lists, first index outermost). Skips without Octave."""
    exe = shutil.which("octave-cli") or shutil.which("octave")
    if exe is None:
        pytest.skip("GNU Octave is not installed (apt install octave)")

    def load(path) -> dict:
        script = f"s = load('{Path(path).as_posix()}'); printf('JSON%s\\n', jsonencode(s));"
        run = subprocess.run([exe, "--no-gui", "--quiet", "--norc", "--eval", script],
                             capture_output=True, text=True, timeout=120)
        lines = [line for line in run.stdout.splitlines() if line.startswith("JSON")]
        assert lines, f"Octave could not load {path}: {run.stderr}"
        assert "can't read" not in run.stderr, run.stderr  # a variable Octave skipped
        return json.loads(lines[-1][4:])
    return load


@pytest.fixture(scope="session")
def imagej_read():
    """ImageJ's own reader (ij.io.Opener, as File > Open in Fiji) on image files: a dict per file
    with size, bits, unit, pixel width/height and the Info text. Skips without Java and ij.jar
    (apt install imagej, or IJ_JAR=path)."""
    jar = Path(os.environ.get("IJ_JAR", "/usr/share/java/ij.jar"))
    java = shutil.which("java")
    if java is None or not jar.is_file():
        pytest.skip("ImageJ (ij.jar) or Java is not installed")
    source = Path(__file__).parent / "tools" / "ImageJRead.java"

    def read(*paths) -> list[dict]:
        run = subprocess.run([java, "-Djava.awt.headless=true", "-cp", str(jar), str(source),
                              *map(str, paths)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return read


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, the real public micrograph sets; skips the test when it is absent."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def scale_bar_micrograph(height: int, width: int, bar_px: int, bar_height: int = 8,
                         bright: bool = True, dtype=None, ticks: bool = False,
                         label: str = "10 um", band: bool = True, seed: int = 0,
                         texture=None):
    """A micrograph with a scale bar burned in as SEM software draws it: noise texture (or
    `texture`, a uint8 image) above an info band with the bar, its label centred above it and
    a line of acquisition text. Returns (image, (bar top row, bar left column))."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(seed)
    if texture is None:
        blurred = cv2.GaussianBlur(rng.normal(size=(height, width)).astype(np.float32), (0, 0), 3)
        texture = 30 + 200 * (blurred - blurred.min()) / np.ptp(blurred)
        texture = np.clip(texture + rng.normal(0, 12, (height, width)), 0, 255)
    image = np.array(texture, dtype=np.uint8)
    band_height = max(48, height // 10) if band else 0
    background, ink = (0, 255) if bright else (255, 0)
    if band:
        image[height - band_height :] = background
    y = height - band_height // 2 if band else height - 40
    x0 = width - bar_px - 40
    cv2.rectangle(image, (x0, y), (x0 + bar_px - 1, y + bar_height - 1), ink, -1)
    if ticks:
        for tx in (x0, x0 + bar_px - 3):
            cv2.rectangle(image, (tx, y - 6), (tx + 2, y + bar_height + 5), ink, -1)
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.5, band_height / 90)
    if label:
        text_width = cv2.getTextSize(label, font, scale, 2)[0][0]
        cv2.putText(image, label, (x0 + (bar_px - text_width) // 2, y - (12 if ticks else 6)),
                    font, scale, ink, 2, cv2.LINE_AA)
    if band:
        info, size = "HV 15kV  WD 10.2 mm  mag 5000x", scale * 0.8
        while cv2.getTextSize(info, font, size, 1)[0][0] > x0 - 60 and size > 0.3:
            size *= 0.9
        cv2.putText(image, info, (20, y + bar_height), font, size, ink, 1, cv2.LINE_AA)
    if dtype is not None and np.dtype(dtype) == np.uint16:
        image = image.astype(np.uint16) * 257
    return image, (y, x0)


@pytest.fixture(scope="session")
def scale_bar_image():
    """`scale_bar_image(height, width, bar_px, ...)`: see `scale_bar_micrograph`."""
    return scale_bar_micrograph


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return REPO / "resources" / "samples"


@pytest.fixture(scope="session")
def tiny_segmenter(tmp_path_factory) -> Path:
    """A random-init one-channel U-Net folder (2 classes, 64 px), quick to build and run."""
    import torch

    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    card = default_card("segmentation", "unet", ["matrix", "precipitate"], encoder="tu-resnet10t",
                        in_channels=1, input_size=64, name="tiny")
    folder = tmp_path_factory.mktemp("models") / "tiny"
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


def stripes(levels, shape=(64, 64), width=8, seed=0):
    """uint8 vertical stripes cycling through grey `levels`, with a little noise."""
    import numpy as np

    cols = np.arange(shape[1]) // width % len(levels)
    image = np.asarray(levels, float)[cols][None, :].repeat(shape[0], 0)
    noise = np.random.default_rng(seed).normal(0, 6, shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


SEEN_LEVELS = (50, 200)  # dark and bright stripes: what the model is trained on
UNSEEN_LEVELS = (50, 125, 125, 125, 200)  # mostly mid grey, which it never saw


@pytest.fixture(scope="session")
def uncertainty_case(tmp_path_factory):
    """A two-class model (dark, bright) trained by the app's trainer on one image of dark and
    bright stripes, that image, and one of mostly mid-grey stripes it has never seen
    (about 10 CPU seconds, deterministic)."""
    from types import SimpleNamespace

    import numpy as np

    from matlab_gui.jobs.train import TrainRequest, run_training
    from matlab_gui.project import ClassDef, Project

    root = tmp_path_factory.mktemp("uncertainty")
    seen, unseen = stripes(SEEN_LEVELS), stripes(UNSEEN_LEVELS, seed=1)
    with Project.create(root / "train.mgp", [ClassDef(1, "dark", (0, 0, 255)),
                                             ClassDef(2, "bright", (255, 0, 0))]) as project:
        image_id = project.add_image(root / "seen.png", data=seen)
        project.set_mask(image_id, (seen > 125).astype(np.uint8) + 1)
        project.save()
    request = TrainRequest(task="segmentation", data=root / "train.mgp", out=root / "model",
                           arch="unet", encoder="tu-resnet10t", pretrained=False, in_channels=1,
                           epochs=10, batch=4, patch=32, patches_per_epoch=8, lr=3e-3, seed=0,
                           device="cpu")
    model = run_training(request).model_dir
    return SimpleNamespace(model=model, seen=seen, unseen=unseen, stripes=stripes,
                           seen_levels=SEEN_LEVELS, unseen_levels=UNSEEN_LEVELS)
