"""The window's inference job (`jobs.predict`): cancel, one bad image among good ones, and the
same probabilities as the `segment` batch job on the same image."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from matlab_gui.imaging import read_image, write_image
from matlab_gui.jobs.predict import PredictRequest, run_predict
from matlab_gui.jobs.segment import SegmentRequest, run_segment
from matlab_gui.progress import Cancelled, CancelToken
from matlab_gui.project import ClassDef, Project

CLASSES = ("matrix", "pore", "inclusion")


def save_tiny_model(folder, task: str, in_channels: int):
    """A random-init model folder: a small U-Net on 64-pixel tiles or a 32-pixel classifier."""
    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=(60 * i, 200, 0)) for i, n in enumerate(CLASSES)]
    if task == "segmentation":
        card = default_card(task, "unet", classes, encoder="tu-resnet10t",
                            in_channels=in_channels, input_size=64, tile_overlap=16)
    else:
        card = default_card(task, "fnn", classes, in_channels=in_channels, input_size=32)
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


@pytest.fixture(scope="module")
def seg_grey(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "seg", "segmentation", 1)


@pytest.fixture(scope="module")
def cls_rgb(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "cls", "classification", 3)


@pytest.fixture
def project(tmp_path):
    classes = [ClassDef(i + 1, n, (60 * i, 200, 0)) for i, n in enumerate(CLASSES)]
    with Project.create(tmp_path / "p.mgp", classes) as p:
        yield p


def _add(project, tmp_path, name: str, data: np.ndarray) -> str:
    """An image as the window adds it: written to disk, read back, embedded."""
    path = tmp_path / name
    write_image(path, data)
    return project.add_image(path)


def _grey(rng, shape=(60, 70)):
    return rng.integers(0, 255, shape, dtype=np.uint8)


def test_cancel_from_the_progress_callback_stops_and_writes_nothing(seg_grey, project, tmp_path):
    rng = np.random.default_rng(0)
    ids = [_add(project, tmp_path, f"im{i}.png", _grey(rng)) for i in range(3)]
    project.save()
    read = []
    real_read = project.read_image
    project.read_image = lambda image_id: read.append(image_id) or real_read(image_id)
    token = CancelToken()

    def cancel_after_the_first_image(event):
        if event.stage == "predict" and event.done == 1:
            token.cancel()

    request = PredictRequest(seg_grey, project, ids, maps_for=ids[0], device="cpu")
    with pytest.raises(Cancelled):
        run_predict(request, progress=cancel_after_the_first_image, cancel=token)
    assert ids[2] not in read  # stopped, not run to the end with the result thrown away
    assert all(project.get_prediction(i) is None for i in ids)
    assert not project.dirty


def test_cancel_takes_effect_inside_a_large_image(seg_grey, project, tmp_path):
    """Set during the first image (many tiles): that image is not finished."""
    image_id = _add(project, tmp_path, "big.png", _grey(np.random.default_rng(1), (400, 400)))
    token = CancelToken()
    request = PredictRequest(seg_grey, project, [image_id], device="cpu")
    with pytest.raises(Cancelled):
        run_predict(request, progress=lambda e: token.cancel(), cancel=token)
    assert project.get_prediction(image_id) is None


@pytest.mark.parametrize("task", ["segmentation", "classification"])
def test_an_image_the_model_cannot_take_gets_one_line_and_the_others_go_on(
        task, seg_grey, cls_rgb, project, tmp_path):
    """Grey <-> RGB is converted (both predict); a 4-channel image cannot become the model's
    channels: its own one-line error, the images before and after it still predicted."""
    rng = np.random.default_rng(2)
    grey = _add(project, tmp_path, "grey.png", _grey(rng))
    four = project.add_image(tmp_path / "four.tif", data=rng.integers(0, 255, (60, 70, 4),
                                                                        dtype=np.uint8))
    rgb = _add(project, tmp_path, "rgb.png", rng.integers(0, 255, (60, 70, 3), dtype=np.uint8))
    model, takes = (seg_grey, 1) if task == "segmentation" else (cls_rgb, 3)
    request = PredictRequest(model, project, [grey, four, rgb], maps_for=rgb, device="cpu")
    result = run_predict(request, cancel=CancelToken())
    by_id = {o.image_id: o for o in result.outcomes}
    assert [o.image_id for o in result.outcomes] == [grey, four, rgb]
    bad = by_id[four]
    assert bad.error == f"the image has 4 channels but the model takes {takes}"
    assert bad.labels is None and bad.probabilities is None
    for image_id in (grey, rgb):
        good = by_id[image_id]
        assert good.error == ""
        if task == "segmentation":
            assert good.labels.shape == (60, 70) and good.labels.max() < len(CLASSES)
        else:
            assert good.probabilities.shape == (len(CLASSES),)
            assert good.probabilities.sum() == pytest.approx(1.0, abs=1e-5)


def test_probabilities_equal_the_segment_jobs_on_the_same_image(seg_grey, project, tmp_path):
    """The window and `matlab-gui segment` must show the same thing for one image and model:
    several tiles, 16-bit grey. Called as any job: no progress callback, no cancel token."""
    rng = np.random.default_rng(3)
    smooth = np.cumsum(np.cumsum(rng.normal(size=(100, 120)), 0), 1)
    pixels = ((smooth - smooth.min()) / np.ptp(smooth) * 60000).astype(np.uint16)
    path = tmp_path / "grey16.tif"
    write_image(path, pixels)
    image_id = project.add_image(path)
    assert np.array_equal(project.read_image(image_id), read_image(path).data)

    window = run_predict(PredictRequest(seg_grey, project, [image_id], maps_for=image_id,
                                        device="cpu"))
    ours = window.outcomes[0]
    assert ours.error == "" and window.class_names == list(CLASSES)
    run_segment(SegmentRequest(model=seg_grey, inputs=[path], out=tmp_path / "out", maps=True,
                               device="cpu"))
    theirs = tifffile.imread(tmp_path / "out" / "grey16_probabilities.tif")
    assert ours.probabilities.shape == theirs.shape == (len(CLASSES), 100, 120)
    np.testing.assert_allclose(ours.probabilities.astype(np.float32), theirs, atol=1e-3)
    mask = read_image(tmp_path / "out" / "grey16_mask.png").data
    assert (ours.labels + 1 != mask).mean() < 1e-3  # masks on disk number classes from 1


def test_the_image_on_screen_keeps_its_class_probabilities_without_a_heat_map(cls_rgb, project,
                                                                              tmp_path):
    """A fully connected classifier has no convolution for Grad-CAM: the image shown still gets
    its probabilities (no error, no heat map) instead of counting as not predicted."""
    image_id = _add(project, tmp_path, "rgb.png",
                    np.random.default_rng(4).integers(0, 255, (40, 50, 3), dtype=np.uint8))
    result = run_predict(PredictRequest(cls_rgb, project, [image_id], maps_for=image_id,
                                        device="cpu"))
    shown = result.outcomes[0]
    assert shown.error == "" and shown.cam is None
    assert shown.probabilities.shape == (len(CLASSES),)
    assert shown.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
