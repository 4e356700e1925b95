"""Shared fixtures: the real micrograph data sets (skipped when ../shared is absent), a tiny model."""

from __future__ import annotations

import os
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
def shared_data() -> Path:
    """`../shared/data`, the real public micrograph sets; skips the test when it is absent."""
    if not (SHARED_DATA / "MANIFEST.md").is_file():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


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
