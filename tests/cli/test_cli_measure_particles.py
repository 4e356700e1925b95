"""`matlab-gui measure` with particle options, as typed: split, cleanup, edge rule, the
per-particle CSV and JSON, and the overlay picture."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from matlab_gui.cli import main
from matlab_gui.imaging import read_image
from matlab_gui.imaging.overlays import to_display_rgb
from matlab_gui.imaging.write import write_image, write_mask
from tests.imaging.test_imaging_particles import touching_disks


@pytest.fixture
def disks(tmp_path):
    mask, count = touching_disks(0)
    mask[0:6, 0:6] = 1  # a corner speck of 36 px on the edge
    path = tmp_path / "mask.png"
    write_mask(path, mask)
    return path, count


def test_split_by_name_counts_every_disk_and_writes_one_row_each(disks, tmp_path, capsys):
    path, count = disks
    table = tmp_path / "out" / "particles.csv"
    assert main(["measure", str(path), "--classes", "matrix", "gamma", "--split", "gamma",
                 "--particles", str(table), "--pixel-size", "10nm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    gamma = out["classes"][1]["particles"]
    assert gamma["count"] == count + 1 and gamma["measured"] == count
    assert out["options"]["split"] == [1]
    with table.open(encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["class"] == "gamma"]
    assert len(rows) == count + 1
    assert sum(r["touches edge"] == "True" for r in rows) == 1
    assert "area (µm²)" in rows[0]
    assert out["particles"]["columns"][0] == "id" and len(out["particles"]["rows"]) == count + 2


def test_without_split_the_clusters_are_one_particle_each(disks, capsys):
    path, _ = disks
    assert main(["measure", str(path), "--classes", "matrix", "gamma", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["classes"][1]["particles"]["count"] == 10


def test_min_area_keep_edge_and_the_text_report(disks, capsys):
    path, count = disks
    assert main(["measure", str(path), "--classes", "matrix", "gamma", "--split", "1",
                 "--min-area", "0.004um2", "--pixel-size", "10nm"]) == 0  # 40 px: the speck goes
    text = capsys.readouterr().out
    assert f"{count:>8}" in text and "1 particle below the minimum area removed" in text
    assert main(["measure", str(path), "--classes", "matrix", "gamma", "--split", "gamma",
                 "--keep-edge", "--json"]) == 0
    gamma = json.loads(capsys.readouterr().out)["classes"][1]["particles"]
    assert gamma["measured"] == gamma["count"] == count + 1


def test_overlay_numbers_the_particles_over_the_image(disks, tmp_path):
    path, _ = disks
    image = tmp_path / "sem.tif"
    write_image(image, np.random.default_rng(0).integers(20000, 30000, (400, 400), dtype=np.uint16))
    overlay = tmp_path / "overlay.png"
    assert main(["measure", str(path), "--image", str(image), "--split", "1",
                 "--overlay", str(overlay)]) == 0
    picture = read_image(overlay).data
    assert picture.shape == (400, 400, 3)
    grey = (picture[..., 0] == picture[..., 1]) & (picture[..., 1] == picture[..., 2])
    assert (~grey).sum() > 500  # coloured outlines over the grey image
    base = to_display_rgb(read_image(image).data)
    assert ((picture > 240).all(-1) & (base < 200).all(-1)).sum() > 100  # white id numbers


@pytest.mark.parametrize(("args", "message"), [
    (["--split", "pores"], "split class 'pores' is not a class of this mask"),
    (["--min-area", "1um2"], "no pixel size"),
    (["--min-area", "big"], "not a number of pixels"),
    (["--prominence", "0"], "prominence"),
])
def test_bad_particle_options_are_one_clear_line(disks, capsys, args, message):
    path, _ = disks
    assert main(["measure", str(path), "--classes", "matrix", "gamma", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_grain_size_from_a_boundary_class(tmp_path, capsys):
    from tests.imaging.test_imaging_grain_size import PIXEL, class_mask, expected_G, voronoi

    labels, density = voronoi((600, 600), 1500.0, seed=5)
    path = tmp_path / "grains.png"
    write_mask(path, class_mask(labels))
    size = f"{PIXEL * 1e9:g}nm"
    assert main(["measure", str(path), "--classes", "none", "grain", "boundary", "--pixel-size", size,
                 "--grain-boundary", "boundary", "--json"]) == 0
    grains = json.loads(capsys.readouterr().out)["grain_size"]
    planimetric, intercept = expected_G(density)
    assert grains["planimetric"]["G"] == pytest.approx(planimetric, abs=0.15)
    assert grains["intercept"]["G"] == pytest.approx(intercept, abs=0.15)
    assert main(["measure", str(path), "--classes", "none", "grain", "boundary", "--pixel-size", size,
                 "--grain-boundary", "2"]) == 0
    text = capsys.readouterr().out
    assert f"G = {grains['planimetric']['G']:.2f} (planimetric)" in text and "intercept" in text
    assert main(["measure", str(path), "--grain-boundary", "boundary"]) == 2
    assert "grain boundary class 'boundary' is not a class" in capsys.readouterr().err


def test_segment_measure_options_reach_every_image(tmp_path, capsys):
    from tests.jobs.test_jobs_segment import save_tiny_model

    model = save_tiny_model(tmp_path / "model")
    image = tmp_path / "img.tif"
    write_image(image, np.random.default_rng(0).integers(0, 255, (80, 90), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["segment", "--model", str(model), str(image), "--out", str(out), "--quiet",
                 "--device", "cpu", "--measure", "--min-area", "100000"]) == 0
    with (out / "measurements.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and all(r["particles"] == "0" for r in rows)
    assert sum(int(r["removed small"]) for r in rows) > 0
    assert main(["segment", "--model", str(model), str(image), "--out", str(tmp_path / "o2"),
                 "--quiet", "--device", "cpu", "--measure", "--split", "nothing"]) == 2
    assert "split class 'nothing' is not a class" in capsys.readouterr().err


def test_neck_depth_reaches_the_split(tmp_path, capsys):
    from tests.imaging.test_imaging_particles import two_disks

    path = tmp_path / "lobed.png"
    write_mask(path, two_disks(40, 38, 40).astype(np.uint8))
    counts = []
    for depth in ("0.2", "0.05"):
        assert main(["measure", str(path), "--split", "1", "--neck-depth", depth, "--json"]) == 0
        counts.append(json.loads(capsys.readouterr().out)["classes"][1]["particles"]["count"])
    assert counts == [1, 2]


def test_pixel_size_from_the_burned_in_scale_bar(tmp_path, capsys, scale_bar_image):
    from matlab_gui.imaging.scale_label import ocr_available

    image, _ = scale_bar_image(600, 800, 200)  # a 200 px bar labelled "10 um": 50 nm per pixel
    write_image(tmp_path / "sem.tif", image)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[100:140, 100:140] = 1
    write_mask(tmp_path / "mask.png", mask)
    args = ["measure", str(tmp_path / "mask.png"), "--image", str(tmp_path / "sem.tif"), "--json"]
    assert main([*args, "--scale-bar", "10um"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["pixel_size_m"] == pytest.approx(50e-9, rel=0.01)
    assert out["classes"][1]["area"] == pytest.approx(1600 * 0.05**2, rel=0.02)
    assert "scale bar of 200" in captured.err and "(as given)" in captured.err
    if ocr_available():
        assert main([*args, "--scale-bar"]) == 0
        assert "(read by OCR)" in capsys.readouterr().err
    plain = np.full(image.shape[:2], 120, np.uint8)
    write_image(tmp_path / "plain.tif", plain)
    assert main(["measure", str(tmp_path / "mask.png"), "--image", str(tmp_path / "plain.tif"),
                 "--scale-bar", "10um"]) == 2
    assert "no scale bar found" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "mask.png"), "--scale-bar", "10um"]) == 2
    assert "needs the micrograph" in capsys.readouterr().err


def test_segment_measure_takes_each_image_s_scale_bar(tmp_path, scale_bar_image):
    from tests.jobs.test_jobs_segment import save_tiny_model

    model = save_tiny_model(tmp_path / "model")
    (tmp_path / "in").mkdir()
    for name, bar in (("a.png", 200), ("b.png", 100)):
        write_image(tmp_path / "in" / name, scale_bar_image(300, 500, bar)[0])
    assert main(["segment", "--model", str(model), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                 "--quiet", "--device", "cpu", "--measure", "--scale-bar", "10um"]) == 0
    with (tmp_path / "out" / "measurements.csv").open(encoding="utf-8") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert float(rows["a.png"]["pixel size (nm)"]) == pytest.approx(50, rel=0.01)
    assert float(rows["b.png"]["pixel size (nm)"]) == pytest.approx(100, rel=0.01)
    assert "scale bar of" in rows["a.png"]["pixel size from"]
