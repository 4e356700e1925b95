"""The train job writes its output model folder once, when it returns, never after an epoch.

What a user relies on: while training runs (and so if it is killed or cancelled at any point),
`--out` is either absent or still holds the previous model, byte for byte; only the finished
run replaces it. Checked at every progress event of a 3-epoch run (every step and every epoch
end, where an improving epoch would tempt a save)."""

from __future__ import annotations

import hashlib
import json

import pytest

from matlab_gui.jobs.train import TrainRequest, run_training
from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.model_folder import save_model
from matlab_gui.ml.synthetic import write_segmentation_folder
from matlab_gui.ml.zoo import build_model, default_card

EPOCHS = 3


def folder_state(folder):
    """None when absent, else every file's name and digest (the folder and what lies beside it)."""
    if not folder.exists():
        return None
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_segmentation_folder(tmp_path_factory.mktemp("seg"))


def _previous_model(out):
    classes = [ClassInfo(f"class {i}", (80 * i, 0, 0)) for i in range(3)]
    card = default_card("segmentation", "unet", classes, encoder="tu-resnet10t", in_channels=1,
                        input_size=32)
    card.name = "the previous model"
    return save_model(out, build_model(card, pretrained=False), card)


@pytest.mark.parametrize("earlier", [False, True], ids=["new folder", "over an earlier model"])
def test_out_is_untouched_until_the_job_returns(data, tmp_path, earlier):
    out = tmp_path / "models" / "m"
    out.parent.mkdir()
    if earlier:
        _previous_model(out)
    before = folder_state(out)
    seen = []  # (stage, epoch, state of --out) at every event

    def watch(event):
        seen.append((event.stage, event.metrics.get("epoch"), folder_state(out)))

    request = TrainRequest(task="segmentation", data=data, out=out, arch="unet",
                           encoder="tu-resnet10t", pretrained=False, epochs=EPOCHS, batch=2,
                           patch=32, patches_per_epoch=4, patience=0, lr=1e-3, seed=1)
    result = run_training(request, progress=watch)

    epoch_ends = [s for s in seen if s[0] == "validate"]
    assert [e for _, e, _ in epoch_ends] == list(range(1, EPOCHS + 1))
    changed = [(stage, epoch) for stage, epoch, state in seen if state != before]
    assert changed == [], f"--out changed before the run ended, at {changed[:3]}"
    card = json.loads((out / "card.json").read_text())
    assert result.model_dir == out and len(card["history"]) == EPOCHS
    assert card["name"] != "the previous model" and folder_state(out) != before
    assert sorted(p.name for p in out.parent.iterdir()) == ["m"]
