"""The classify job: error rows for a corrupted copy of a folder, resume, exit conditions."""

from __future__ import annotations

import csv
import os
import shutil

import numpy as np
import pytest

from matlab_gui.errors import ImageReadError, UserError
from matlab_gui.imaging import write_image
from matlab_gui.jobs.classify import ClassifyRequest, run_classify

CLASSES = ("ferrite", "pearlite", "martensite")


def save_tiny_model(folder, task="classification", arch="fnn"):
    """A random-init model folder on 32-pixel RGB: a classifier (`arch`) or a small U-Net."""
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    classes = [ClassInfo(name=n, color=(40 * i, 200, 0)) for i, n in enumerate(CLASSES)]
    arch, encoder = (arch, None) if task == "classification" else ("unet", "tu-resnet10t")
    card = default_card(task, arch, classes, encoder=encoder, in_channels=3, input_size=32)
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


@pytest.fixture(scope="module")
def cls_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("models") / "cls")


@pytest.fixture(scope="module")
def clean_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clean")
    rng = np.random.default_rng(0)
    for i in range(6):
        write_image(folder / f"rgb #{i}.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    write_image(folder / "grey16.tif", rng.integers(0, 65535, (60, 30), dtype=np.uint16))
    (folder / "sub").mkdir()
    write_image(folder / "sub" / "deep.png", rng.integers(0, 255, (20, 20), dtype=np.uint8))
    return folder


@pytest.fixture
def corrupted(clean_folder, tmp_path):
    """A copy of the folder with a truncated, a random-bytes and a zero-byte image added."""
    folder = tmp_path / "corrupted"
    shutil.copytree(clean_folder, folder)
    good = (folder / "rgb #0.png").read_bytes()
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    (folder / "random.tif").write_bytes(np.random.default_rng(1).bytes(5000))
    (folder / "empty.jpg").write_bytes(b"")
    return folder


def _rows(path):
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_error_rows_and_the_run_goes_on(cls_model, corrupted, tmp_path):
    out = tmp_path / "results.csv"
    events = []
    result = run_classify(ClassifyRequest(cls_model, corrupted, out=out, batch=3, workers=2,
                                          device="cpu"), progress=events.append)
    assert (result.classified, result.failed, result.skipped) == (7, 3, 0)
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in _rows(out)}
    assert set(rows) == {*(f"rgb #{i}.png" for i in range(6)), "grey16.tif", "truncated.png",
                         "random.tif", "empty.jpg"}
    for name in ("truncated.png", "random.tif", "empty.jpg"):
        assert rows[name]["error"] and rows[name]["predicted"] == "" and rows[name]["p_pearlite"] == ""
    assert "0 bytes" in rows["empty.jpg"]["error"]
    good = rows["grey16.tif"]
    assert good["error"] == "" and good["predicted"] in CLASSES
    assert sum(float(good[f"p_{c}"]) for c in CLASSES) == pytest.approx(1.0, abs=1e-5)
    assert events[-1].done == events[-1].total == 10


def test_second_run_skips_done_files_and_redoes_changed_ones(cls_model, corrupted, tmp_path):
    out = tmp_path / "results.csv"
    first = run_classify(ClassifyRequest(cls_model, corrupted, out=out, workers=0, device="cpu"))
    before = {r["path"]: r for r in _rows(out)}
    changed = corrupted / "rgb #1.png"
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    again = run_classify(ClassifyRequest(cls_model, corrupted, out=out, workers=0, device="cpu"))
    assert again.skipped == first.classified - 1 and again.classified == 1 and again.failed == 3
    after = {r["path"]: r for r in _rows(out)}
    assert set(after) == set(before)
    same = [p for p in before if not before[p]["error"] and not p.endswith("rgb #1.png")]
    assert all(after[p] == before[p] for p in same)


def test_recursive_and_workers_agree(cls_model, clean_folder, tmp_path):
    flat = run_classify(ClassifyRequest(cls_model, clean_folder, workers=0, device="cpu"))
    deep = run_classify(ClassifyRequest(cls_model, clean_folder, recursive=True, workers=2,
                                        batch=4, device="cpu"))
    assert len(flat.rows) == 7 and len(deep.rows) == 8
    np.testing.assert_allclose([r.probabilities for r in flat.rows],
                               [r.probabilities for r in deep.rows[:7]], atol=1e-5)


def test_nothing_classifiable_and_empty_folders(cls_model, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"not a png")
    result = run_classify(ClassifyRequest(cls_model, bad, workers=0, device="cpu"))
    assert not result.any_classified and result.failed == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImageReadError, match="no images"):
        run_classify(ClassifyRequest(cls_model, empty))


def test_refuses_a_foreign_csv_and_a_segmentation_model(cls_model, clean_folder, tmp_path):
    foreign = tmp_path / "other.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(UserError, match="not a classify CSV"):
        run_classify(ClassifyRequest(cls_model, clean_folder, out=foreign, workers=0))
    seg = save_tiny_model(tmp_path / "seg", "segmentation")
    with pytest.raises(UserError, match="segmentation model"):
        run_classify(ClassifyRequest(seg, clean_folder, workers=0))


@pytest.mark.parametrize("method", ["gradcam", "gradcam++"])
def test_grad_cam_heat_map_at_image_size(tmp_path, method):
    from matlab_gui.ml.explain import explain_image, last_conv
    from matlab_gui.ml.model_folder import load_model

    loaded = load_model(save_tiny_model(tmp_path / "cnn", arch="resnet18"), "cpu")
    image = np.random.default_rng(0).integers(0, 65535, (70, 90), dtype=np.uint16)  # grey -> RGB
    heat, target = explain_image(loaded.module, loaded.card, image, method=method)
    assert heat.shape == (70, 90) and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0 and np.isfinite(heat).all()
    assert 0 <= target < len(CLASSES)
    heat2, target2 = explain_image(loaded.module, loaded.card, image, target_class=2, method=method)
    assert target2 == 2 and heat2.shape == (70, 90)
    assert last_conv(loaded.module).__class__.__name__ == "Conv2d"
