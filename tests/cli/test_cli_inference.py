"""`matlab-gui classify / segment / measure`: files written, JSON printed, exit codes."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import scipy.io

from matlab_gui.cli import main
from matlab_gui.imaging import read_mask, write_image, write_mask

CLASSES = ("matrix", "precipitate")


def _model(folder, task):
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=c) for n, c in zip(CLASSES, ("#202020", "#ffcc00"), strict=True)]
    arch, encoder = ("resnet18", None) if task == "classification" else ("unet", "tu-resnet10t")
    card = default_card(task, arch, classes, encoder=encoder, in_channels=1, input_size=32)
    save_model(folder, build_model(card, pretrained=False), card)
    return str(folder)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {t: _model(root / t, t) for t in ("classification", "segmentation")}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(folder / f"sem_{i}.tif", rng.integers(0, 65535, (48, 40), dtype=np.uint16))
    return folder


def test_classify_writes_csv_and_resumes(models, folder, tmp_path, capsys):
    out = tmp_path / "r.csv"
    args = ["classify", "--model", models["classification"], str(folder), "--out", str(out),
            "--workers", "0", "--quiet"]
    assert main(args) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 3 and list(rows[0]) == ["path", "predicted", "p_matrix", "p_precipitate",
                                                 "error", "size", "mtime_ns"]
    assert main(args) == 0
    assert "classified 0, skipped 3" in capsys.readouterr().out


def test_classify_exit_codes(models, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.tif").write_bytes(b"II*\x00garbage")
    assert main(["classify", "--model", models["classification"], str(bad), "--out",
                 str(tmp_path / "r.csv"), "--quiet", "--workers", "0"]) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["classify", "--model", models["classification"], str(empty), "--quiet"]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["classify", "--model", "nonexistent-model", str(empty)]) == 2
    assert "shipped models" in capsys.readouterr().err


def test_segment_mat_and_overlay(models, folder, tmp_path, capsys):
    out = tmp_path / "seg"
    assert main(["segment", "--model", models["segmentation"], str(folder / "sem_0.tif"),
                 str(folder / "sem_1.tif"), "--out", str(out), "--format", "mat", "--maps",
                 "--overlay", "--tile", "32", "--overlap", "8", "--quiet"]) == 0
    mat = scipy.io.loadmat(out / "sem_0.mat")  # MATLAB v7
    assert mat["mask"].dtype == np.uint8 and mat["mask"].shape == (48, 40)  # H x W
    assert mat["probabilities"].shape == (48, 40, 2)
    assert (out / "sem_1_overlay.png").is_file()
    with (out / "phase_fractions.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == 2
    assert "segmented 2 of 2" in capsys.readouterr().out


def test_segment_png_masks_then_measure(models, folder, tmp_path, capsys):
    out = tmp_path / "seg"
    assert main(["segment", "--model", models["segmentation"], str(folder), "--out", str(out),
                 "--quiet"]) == 0
    mask = out / "sem_2_mask.png"
    assert read_mask(mask).shape == (48, 40)
    capsys.readouterr()
    assert main(["measure", str(mask), "--json"]) == 0  # names from classes.csv beside it
    result = json.loads(capsys.readouterr().out)
    assert result["length_unit"] == "px"
    assert [c["name"] for c in result["classes"]] == ["unlabelled", *CLASSES]
    assert result["classes"][0]["pixels"] == 0  # segment labels every pixel
    assert sum(c["area_fraction"] for c in result["classes"]) == pytest.approx(1.0)


def test_segment_json_summary_on_stdout_errors_and_notes_on_stderr(models, folder, tmp_path,
                                                                   capsys):
    """Scripts parse stdout: one JSON object and nothing else; a failed image is named on
    stderr; with stderr not a terminal no progress-bar frames fill the log."""
    images = tmp_path / "in"
    images.mkdir()
    write_image(images / "ok.tif", np.zeros((40, 48), np.uint16))
    (images / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    assert main(["segment", "--model", models["segmentation"], str(images), "--out",
                 str(tmp_path / "seg"), "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["segmented"] == 1 and summary["failed"] == 1
    by_name = {i["path"].rsplit("/", 1)[-1]: i for i in summary["images"]}
    assert by_name["broken.png"]["error"] and set(by_name["ok.tif"]["fractions"]) == set(CLASSES)
    assert "broken.png: error:" in captured.err and "error" not in captured.out.split('"')[0]
    assert "\r" not in captured.err and "%|" not in captured.err


def test_segment_recursive_writes_one_mask_per_image(models, tmp_path, capsys):
    rng = np.random.default_rng(1)
    root = tmp_path / "in"
    for rel in ("a/x.png", "a/x.tif", "b/x.png"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        write_image(root / rel, rng.integers(0, 255, (36, 44), dtype=np.uint8))
    out = tmp_path / "seg"
    assert main(["segment", "--model", models["segmentation"], str(root), "--recursive",
                 "--out", str(out), "--quiet"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*_mask.png")) == [
        "a/x.png_mask.png", "a/x.tif_mask.png", "b/x_mask.png"]
    assert "segmented 3 of 3" in capsys.readouterr().out


def test_classify_two_folders_into_one_csv(models, folder, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    for i in range(2):
        write_image(other / f"sem_{i}.tif", np.full((48, 40), 1000 * i, np.uint16))
    out = tmp_path / "r.csv"
    for images in (folder, other, folder):
        assert main(["classify", "--model", models["classification"], str(images), "--out",
                     str(out), "--workers", "0", "--quiet"]) == 0
    with out.open() as fh:
        assert len(list(csv.DictReader(fh))) == 5
    assert capsys.readouterr().out.splitlines()[-1].startswith("classified 0, skipped 3")


def test_measure_units_from_flag_and_from_image(tmp_path, capsys):
    mask = np.zeros((40, 40), np.uint8)
    mask[10:20, 10:30] = 1
    write_mask(tmp_path / "m.png", mask)
    write_image(tmp_path / "img.tif", np.zeros((40, 40), np.uint16), pixel_size_m=2e-6)
    assert main(["measure", str(tmp_path / "m.png"), "--pixel-size", "500nm", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["area_unit"] == "µm²" and out["classes"][1]["area"] == pytest.approx(200 * 0.25)
    assert main(["measure", str(tmp_path / "m.png"), "--image", str(tmp_path / "img.tif"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"][1]["area"] == pytest.approx(200 * 4.0, rel=1e-6)
    assert main(["measure", str(tmp_path / "m.png")]) == 0
    assert "no pixel size" in capsys.readouterr().out


def test_measure_bad_input(tmp_path, capsys):
    write_mask(tmp_path / "m.png", np.full((4, 4), 3, np.uint8))
    assert main(["measure", str(tmp_path / "m.png"), "--pixel-size", "5 parsec"]) == 2
    assert "unknown unit" in capsys.readouterr().err
    assert main(["measure", str(tmp_path / "m.png"), "--classes", "a", "b"]) == 2
    assert "mask value 3" in capsys.readouterr().err
    write_image(tmp_path / "big.tif", np.zeros((8, 8), np.uint16))
    assert main(["measure", str(tmp_path / "m.png"), "--image", str(tmp_path / "big.tif")]) == 2
    assert "differ in size" in capsys.readouterr().err


def test_real_data_and_a_corrupted_copy(shared_data, models, tmp_path, capsys):
    """The three commands on ../shared/data: NEU-DET test folder (plus broken files), nasa_super."""
    import shutil

    folder = tmp_path / "neu"
    for name in ("crazing", "inclusion", "patches"):
        shutil.copytree(shared_data / "neu_det_cls" / "test" / name, folder / name)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    data = files[0].read_bytes()
    files[0].write_bytes(data[: len(data) // 3])
    files[1].write_bytes(np.random.default_rng(0).bytes(len(data)))
    files[2].write_bytes(b"")
    out = tmp_path / "neu.csv"
    assert main(["classify", "--model", models["classification"], str(folder), "--recursive",
                 "--out", str(out), "--quiet"]) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(files) and sum(bool(r["error"]) for r in rows) == 3
    images = sorted((shared_data / "nasa_super" / "images").iterdir())[:1]
    seg = tmp_path / "seg"
    assert main(["segment", "--model", models["segmentation"], str(images[0]), "--out", str(seg),
                 "--tile", "256", "--quiet"]) == 0
    assert main(["measure", str(seg / f"{images[0].stem}_mask.png"), "--image", str(images[0]),
                 "--pixel-size", "10nm", "--json"]) == 0
    assert '"area_unit": "µm²"' in capsys.readouterr().out


def test_measure_on_a_micrograph_instead_of_its_mask_is_one_line_at_once(tmp_path, capsys):
    import time

    picture = np.random.default_rng(0).integers(0, 65535, (2048, 2048), dtype=np.uint16)
    write_image(tmp_path / "sem.tif", picture)
    started = time.perf_counter()
    assert main(["measure", str(tmp_path / "sem.tif")]) == 2
    assert time.perf_counter() - started < 20  # it used to label every grey value: minutes
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sem.tif" in err[0] and "is this a micrograph" in err[0]


@pytest.mark.parametrize("bins", ["0", "100000000", "ten"])
def test_measure_bins_out_of_range_is_one_line(tmp_path, capsys, bins):
    write_mask(tmp_path / "m.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(SystemExit) as stop:
        main(["measure", str(tmp_path / "m.png"), "--bins", bins])
    assert stop.value.code == 2
    assert "--bins: must be a whole number 1..1000" in capsys.readouterr().err


def test_segment_on_the_default_cpu_engine_writes_torchs_masks_and_says_a_fallback(
        models, folder, tmp_path, capsys, monkeypatch):
    from matlab_gui.ml import engines

    image = str(folder / "sem_0.tif")
    masks = {}
    for engine in ("auto", "torch"):
        out = tmp_path / engine
        assert main(["segment", "--model", models["segmentation"], image, "--out", str(out),
                     "--engine", engine, "--json", "--quiet"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert summary["engine"] == ("torch" if engine == "torch" else "OpenVINO (float32)")
        masks[engine] = read_mask(out / "sem_0_mask.png")
    assert (masks["auto"] == masks["torch"]).mean() >= 0.999

    def unsupported(*_):
        raise RuntimeError("unsupported operator")

    monkeypatch.setattr(engines, "cache_dir", lambda: tmp_path / "fresh-cache")
    monkeypatch.setattr(engines, "export_onnx", unsupported)
    assert main(["segment", "--model", models["segmentation"], image, "--out",
                 str(tmp_path / "fallback"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "note: OpenVINO could not run this model (unsupported operator)" in err
    assert (read_mask(tmp_path / "fallback" / "sem_0_mask.png") == masks["torch"]).all()
