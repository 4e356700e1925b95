"""The segment job on tiny random-init models: every output format, error rows, bad input."""

from __future__ import annotations

import csv
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tifffile
import torch
from torch import nn

from matlab_gui.errors import ImageReadError, ModelError, UserError
from matlab_gui.imaging import read_image, read_mask, write_image
from matlab_gui.jobs.segment import SegmentRequest, run_segment
from matlab_gui.ml.inference import check_channels, check_model
from matlab_gui.progress import Cancelled, CancelToken

CLASSES = ("matrix", "pore", "inclusion")


def _card(task="segmentation", in_channels=1, **kw):
    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.zoo import default_card

    classes = [ClassInfo(name=n, color=c) for n, c in zip(CLASSES, ("#000000", "#00ff00", "#ff00ff"), strict=True)]
    if task == "segmentation":
        return default_card(task, "unet", classes, encoder="tu-resnet10t", in_channels=in_channels,
                            input_size=64, tile_overlap=16, **kw)
    return default_card(task, "resnet18", classes, in_channels=in_channels, input_size=32, **kw)


def save_tiny_model(folder, task="segmentation", in_channels=1):
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model

    torch.manual_seed(0)
    card = _card(task, in_channels)
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


@pytest.fixture(scope="module")
def seg_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "seg")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    write_image(folder / "grey16.tif", rng.integers(0, 65535, (150, 170), dtype=np.uint16),
                pixel_size_m=5e-9)
    write_image(folder / "rgb8.png", rng.integers(0, 255, (90, 110, 3), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return folder


def test_masks_overlays_maps_and_fractions(seg_model, images, tmp_path):
    events = []
    request = SegmentRequest(model=seg_model, inputs=[images], out=tmp_path / "out",
                             overlay=True, maps=True, device="cpu")
    result = run_segment(request, progress=events.append)
    assert result.class_names == list(CLASSES) and result.segmented == 2
    by_name = {i.path.name: i for i in result.images}
    assert by_name["broken.png"].error and not by_name["grey16.tif"].error
    out = tmp_path / "out"
    mask = read_mask(out / "grey16_mask.png")
    assert mask.shape == (150, 170) and set(np.unique(mask)) <= {1, 2, 3}  # classes from 1
    assert read_image(out / "rgb8_overlay.png").data.shape == (90, 110, 3)
    probs = tifffile.imread(out / "grey16_probabilities.tif")
    assert probs.shape == (3, 150, 170) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=5e-3)
    assert (probs.argmax(0) + 1 != mask).mean() < 1e-3
    assert tifffile.imread(out / "grey16_uncertainty.tif").shape == (150, 170)
    with (out / "phase_fractions.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["path"].rsplit("/", 1)[-1] for r in rows] == ["broken.png", "grey16.tif", "rgb8.png"]
    assert rows[0]["error"] and rows[0]["pore"] == ""
    assert sum(float(rows[1][c]) for c in CLASSES) == pytest.approx(1.0, abs=1e-5)
    assert {e.stage for e in events} == {"image", "segment"}
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def _segment_mat(seg_model, images, out):
    request = SegmentRequest(model=seg_model, inputs=[images / "grey16.tif"], out=out,
                             format="mat", maps=True, device="cpu", tta=True, tile=128)
    run_segment(request)
    return out / "grey16.mat"


def agree_away_from_ties(probs: np.ndarray, mask: np.ndarray) -> bool:
    """The mask is the argmax of the stored (H, W, C) maps wherever the top two classes are
    further apart than the maps' float16 rounding (a random model sits near 1/C everywhere)."""
    top = np.sort(probs, axis=-1)
    clear = top[..., -1] - top[..., -2] > 2e-3
    return clear.mean() > 0.9 and bool((probs.argmax(-1) + 1 == mask)[clear].all())


def test_matlab_file(seg_model, images, tmp_path, mat_load):
    path = _segment_mat(seg_model, images, tmp_path)
    assert path.read_bytes().startswith(b"MATLAB 5.0 MAT-file")  # v7: MATLAB and Octave load it
    mat = mat_load(path)
    assert mat["mask"].shape == (150, 170) and mat["mask"].dtype == np.uint8
    assert mat["probabilities"].shape == (150, 170, 3) and mat["probabilities"].dtype == np.float32
    assert mat["uncertainty"].dtype == np.float32
    assert agree_away_from_ties(mat["probabilities"], mat["mask"])


def test_octave_loads_the_matlab_file_with_class_names(seg_model, images, tmp_path, octave_load):
    s = octave_load(_segment_mat(seg_model, images, tmp_path))
    assert s["class_names"] == ["unlabelled", *CLASSES] and s["class_values"] == [0, 1, 2, 3]
    assert s["pixel_size_um"] == pytest.approx(0.005) and s["source"] == "grey16.tif"
    mask, probs = np.array(s["mask"]), np.array(s["probabilities"])
    assert mask.shape == (150, 170) and probs.shape == (150, 170, 3)  # H x W (x C) as in MATLAB
    assert agree_away_from_ties(probs, mask)


def test_every_output_keeps_the_pixel_size_and_what_each_value_means(seg_model, images,
                                                                    tmp_path, mat_load):
    """Read back by independent readers: tifffile (TIFF tags, ImageJ metadata as Fiji reads
    them), the PNG's pHYs chunk, scipy/mat73 for the .mat, csv for the class table."""
    from matlab_gui.imaging.class_table import read_class_table

    source = images / "grey16.tif"  # 5 nm pixels
    for fmt in ("tiff", "png", "mat"):
        run_segment(SegmentRequest(model=seg_model, inputs=[source], out=tmp_path / fmt,
                                   format=fmt, maps=True, overlay=True, device="cpu"))
        table = read_class_table(tmp_path / fmt / "classes.csv")
        assert [(c.value, c.name) for c in table] == [(0, "unlabelled"), (1, "matrix"),
                                                      (2, "pore"), (3, "inclusion")]
        assert table[2].color == (0, 255, 0)
    for name in ("grey16_mask.tif", "grey16_probabilities.tif", "grey16_uncertainty.tif"):
        with tifffile.TiffFile(tmp_path / "tiff" / name) as tif:
            page = tif.pages.first
            assert page.tags["ResolutionUnit"].value == 3  # centimetre
            assert page.get_resolution()[0] == pytest.approx(0.01 / 5e-9)
            assert tif.imagej_metadata["unit"] == "um"  # with cm tags Fiji shows 0.005 µm
        assert read_image(tmp_path / "tiff" / name).meta.pixel_size_m == pytest.approx(5e-9)
    with tifffile.TiffFile(tmp_path / "tiff" / "grey16_mask.tif") as tif:
        info = tif.imagej_metadata
        assert "1 = matrix" in info["Info"] and "0 = unlabelled" in info["Info"]
        lut = np.asarray(info["LUTs"]).reshape(-1, 3, 256)[0]
        assert list(lut[:, 2]) == [0, 255, 0]  # value 2 (pore) shows green
    with tifffile.TiffFile(tmp_path / "tiff" / "grey16_probabilities.tif") as tif:
        assert tif.imagej_metadata["Labels"] == list(CLASSES) and tif.series[0].axes == "CYX"
    for name in ("grey16_mask.png", "grey16_overlay.png"):
        assert read_image(tmp_path / "png" / name).meta.pixel_size_m == pytest.approx(5e-9)
        assert read_image(tmp_path / "png" / name).meta.pixel_size_source == "png-phys"
    mat = mat_load(tmp_path / "mat" / "grey16.mat")
    assert mat["class_names"] == ["unlabelled", *CLASSES]
    assert list(mat["class_values"]) == [0, 1, 2, 3] and mat["class_colors"].shape == (4, 3)
    assert mat["pixel_size_um"] == pytest.approx(0.005) and mat["source"] == "grey16.tif"
    assert mat["model"] == "seg" and mat["mask"].shape == (150, 170)
    assert mat["probabilities"].shape == (150, 170, 3)  # H x W x C in MATLAB


def test_imagej_shows_every_tiff_in_micrometres(seg_model, images, tmp_path, imagej_read):
    """Read by ImageJ itself (what Fiji's File > Open shows); PNGs it opens uncalibrated, as it
    ignores their pHYs chunk, so the README points Fiji users to TIFF."""
    run_segment(SegmentRequest(model=seg_model, inputs=[images / "grey16.tif"], out=tmp_path,
                               format="tiff", maps=True, overlay=True, device="cpu"))
    names = ("grey16_mask.tif", "grey16_probabilities.tif", "grey16_uncertainty.tif")
    read = {Path(r["path"]).name: r for r in imagej_read(*(tmp_path / n for n in names))}
    for name in names:
        assert read[name]["unit"] == "µm", name  # 5 nm pixels
        assert read[name]["pixel_width"] == pytest.approx(0.005) == read[name]["pixel_height"]
        assert (read[name]["width"], read[name]["height"]) == (170, 150)
    assert read["grey16_probabilities.tif"]["channels"] == 3
    assert read["grey16_mask.tif"]["bits"] == 8 and "1 = matrix" in read["grey16_mask.tif"]["info"]


def test_labels_only_writes_confidence(seg_model, images, tmp_path):
    request = SegmentRequest(model=seg_model, inputs=[images / "rgb8.png"], out=tmp_path,
                             format="tiff", maps=True, output="labels", device="cpu")
    run_segment(request)
    assert read_mask(tmp_path / "rgb8_mask.tif").shape == (90, 110)
    assert tifffile.imread(tmp_path / "rgb8_confidence.tif").shape == (90, 110)
    assert not (tmp_path / "rgb8_probabilities.tif").exists()


def test_without_maps_only_the_mask_is_computed_and_it_is_the_same_mask(seg_model, images,
                                                                        tmp_path, monkeypatch):
    """The maps are a sixth of a huge image's time: a run that writes no maps skips them."""
    from matlab_gui.ml import tiling

    entropies = []
    entropy = tiling.normalised_entropy
    monkeypatch.setattr(tiling, "normalised_entropy", lambda p: entropies.append(1) or entropy(p))
    kw = dict(model=seg_model, inputs=[images / "grey16.tif"], device="cpu", tile=64, overlap=16)
    run_segment(SegmentRequest(out=tmp_path / "mask", **kw))
    assert not entropies  # neither uncertainty nor confidence nor probabilities were made
    run_segment(SegmentRequest(out=tmp_path / "maps", maps=True, **kw))
    assert entropies
    mask = read_mask(tmp_path / "mask" / "grey16_mask.png")
    np.testing.assert_array_equal(mask, read_mask(tmp_path / "maps" / "grey16_mask.png"))
    assert set(np.unique(mask)) == {1, 2, 3}
    assert sorted(p.name for p in (tmp_path / "mask").iterdir()) == [
        "classes.csv", "grey16_mask.png", "phase_fractions.csv"]


def test_bad_input(seg_model, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageReadError, match="no images"):
        run_segment(SegmentRequest(model=seg_model, inputs=[empty], out=tmp_path / "o"))
    with pytest.raises(UserError, match="unknown output format"):
        run_segment(SegmentRequest(model=seg_model, inputs=[empty], out=tmp_path, format="jpg"))
    with pytest.raises(ModelError, match="shipped models"):
        run_segment(SegmentRequest(model="no-such-model", inputs=[seg_model / "card.json"],
                                   out=tmp_path))


def test_cancel(seg_model, images, tmp_path):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_segment(SegmentRequest(model=seg_model, inputs=[images], out=tmp_path), cancel=token)


def test_channel_and_class_mismatches_name_both():
    card = SimpleNamespace(in_channels=2, task="segmentation", classes=[SimpleNamespace(name="a")] * 3)
    with pytest.raises(UserError, match="3 channels but the model takes 2"):
        check_channels(np.zeros((4, 4, 3), np.uint8), card)
    check_channels(np.zeros((4, 4, 3), np.uint8), SimpleNamespace(in_channels=1))  # converted
    check_channels(np.zeros((4, 4), np.uint8), SimpleNamespace(in_channels=3))
    with pytest.raises(ModelError, match="predicts 4 classes but its card names 3"):
        check_model(nn.Conv2d(2, 4, 1), card, torch.device("cpu"))


@pytest.mark.parametrize("fmt", ["tiff", "mat"])
def test_images_one_pixel_wide_or_high_are_segmented_with_every_map(tiny_segmenter, tmp_path,
                                                                    fmt):
    folder = tmp_path / "in"
    folder.mkdir()
    shapes = {"dot": (1, 1), "row": (1, 9), "column": (7, 1), "thin": (2, 40)}
    for name, shape in shapes.items():
        write_image(folder / f"{name}.png", np.full(shape, 120, np.uint8), pixel_size_m=1e-8)
    result = run_segment(SegmentRequest(model=tiny_segmenter, inputs=[folder], out=tmp_path / "o",
                                        format=fmt, maps=True, tta=True, device="cpu"))
    assert [i.error for i in result.images] == [""] * 4
    if fmt == "tiff":
        for name, shape in shapes.items():
            assert read_mask(tmp_path / "o" / f"{name}_mask.tif").shape == shape
            probs = tifffile.imread(tmp_path / "o" / f"{name}_probabilities.tif")
            assert probs.shape == (2, *shape)


def test_measure_writes_one_row_per_image_and_class_equal_to_measure_on_the_mask(
        seg_model, images, tmp_path):
    from matlab_gui.cli import cmd_measure
    from matlab_gui.jobs.measure import MeasureSpec, run_measure

    spec = MeasureSpec(split=("pore",), min_area="3")
    out = tmp_path / "out"
    result = run_segment(SegmentRequest(model=seg_model, inputs=[images], out=out, device="cpu",
                                        measure=spec))
    assert result.measurements_csv == out / "measurements.csv"
    with result.measurements_csv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(Path(r["path"]).name, r["class"]) for r in rows] == [
        ("broken.png", ""), *[(n, c) for n in ("grey16.tif", "rgb8.png") for c in CLASSES]]
    assert rows[0]["error"]
    assert {r["length unit"] for r in rows[1:4]} == {"µm"} and rows[4]["length unit"] == "px"
    mask = read_mask(out / "grey16_mask.png")
    names = cmd_measure.names_beside(out / "grey16_mask.png")
    again = run_measure(spec.request(mask, names, 5e-9))
    for row, c in zip(rows[1:4], again.classes[1:], strict=True):
        assert row["class"] == c.name and int(row["particles"]) == len(c.particles.table)
        assert float(row["area fraction"]) == pytest.approx(c.area_fraction)
    with (out / "grey16_particles.csv").open(encoding="utf-8") as fh:
        particles = list(csv.DictReader(fh))
    assert len(particles) == sum(int(r["particles"]) for r in rows[1:4])
    assert out / "grey16_particles.csv" in result.images[1].files


RUN_TWICE = """
import sys
from pathlib import Path
from matlab_gui.jobs.segment import SegmentRequest, run_segment
model, image, out = map(Path, sys.argv[1:4])
result = run_segment(SegmentRequest(model=model, inputs=[image], out=out, device="cpu"))
print(result.engine, "segmentation_models_pytorch" in sys.modules, "timm" in sys.modules)
"""


def test_a_model_converted_before_runs_without_building_its_torch_network(seg_model, images,
                                                                           tmp_path):
    """Start-up: segment's second run of a model takes the cached, checked conversion and
    never imports the network libraries (seconds per process); the masks are the same."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, MATLAB_GUI_CACHE=str(tmp_path / "cache"))
    seen = []
    for run in ("first", "second"):
        out = subprocess.run([sys.executable, "-c", RUN_TWICE, str(seg_model),
                              str(images / "grey16.tif"), str(tmp_path / run)],
                             capture_output=True, text=True, check=True, env=env, timeout=300)
        seen.append(out.stdout.split()[-3:])
    assert seen[0][1:] == ["True", "True"]  # converted: the network was built
    assert seen[1][1:] == ["False", "False"] and seen[1][0] == seen[0][0] != "torch"
    assert np.array_equal(read_mask(tmp_path / "first" / "grey16_mask.png"),
                          read_mask(tmp_path / "second" / "grey16_mask.png"))
