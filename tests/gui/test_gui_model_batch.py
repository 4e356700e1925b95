"""Batch > Classify folder: a folder with one corrupt file fills the table with one error row."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6 import QtWidgets

from matlab_gui.gui import model_features
from matlab_gui.gui.batch_dialog import CLASSIFY, BatchChoice, BatchDialog
from matlab_gui.gui.batch_results import ERRORS, OK
from matlab_gui.imaging import write_image
from matlab_gui.jobs import classify

CLASSES = ["ferrite", "pearlite"]


@pytest.fixture
def folder(tmp_path):
    """Four readable micrographs and one truncated PNG."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "micrographs"
    folder.mkdir()
    for i in range(4):
        write_image(folder / f"sample {i}.png", rng.integers(0, 255, (40, 50), dtype=np.uint8))
    good = (folder / "sample 0.png").read_bytes()
    (folder / "broken.png").write_bytes(good[: len(good) // 2])
    return folder


def fake_classify(request, progress=None, cancel=None):
    """The job's rows for `folder`, with the real job's error for the truncated file."""
    rows = []
    for path in sorted(request.folder.iterdir()):
        row = classify.Row(str(path), path.stat().st_size, 0)
        if path.name == "broken.png":
            row.error = "truncated image"
        else:
            p = 0.2 if "1" in path.name else 0.9
            row.probabilities, row.predicted = [p, 1 - p], CLASSES[0 if p > 0.5 else 1]
        rows.append(row)
    return classify.ClassifyResult(CLASSES, rows, 4, 0, 1, request.out, 0.1)


@pytest.fixture
def features(window):
    f = window.model_features
    f.current_key = "shipped:none"
    yield f
    f.close()


def _run(features, qtbot, folder, tmp_path):
    with qtbot.waitSignal(features.batch.finished, timeout=30000):
        features.run_batch(BatchChoice(CLASSIFY, folder, False, features.current_key,
                                       tmp_path / "out.csv"))


def test_table_with_one_error_row_filters_and_exports(features, folder, qtbot, monkeypatch,
                                                       tmp_path):
    monkeypatch.setattr(classify, "run_classify", fake_classify)
    _run(features, qtbot, folder, tmp_path)
    results = features.batch_results
    assert results.model.rowCount() == 5
    results.filter.setCurrentText(ERRORS)
    assert results.proxy.rowCount() == 1
    assert results.proxy.index(0, 0).data() == "broken.png"
    assert results.proxy.index(0, results.model.columnCount() - 1).data() == "truncated image"
    results.filter.setCurrentText(OK)
    assert results.proxy.rowCount() == 4
    results.filter.setCurrentText("pearlite")
    assert results.proxy.rowCount() == 1
    results.filter.setCurrentText("All files")
    results.view.sortByColumn(2, model_features.Qt.DescendingOrder)  # p ferrite, numeric
    assert float(results.proxy.index(0, 2).data()) == pytest.approx(0.9)
    assert list(results.bars.opts["height"]) == [3, 1]
    results.export_csv(tmp_path / "export.csv")
    with (tmp_path / "export.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["file", "predicted", "p ferrite", "p pearlite", "error"] and len(rows) == 6


def test_double_click_opens_the_image(features, folder, qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(classify, "run_classify", fake_classify)
    _run(features, qtbot, folder, tmp_path)
    view, proxy = features.batch_results.view, features.batch_results.proxy
    row = next(r for r in range(proxy.rowCount()) if "sample 1" in proxy.index(r, 0).data())
    view.doubleClicked.emit(proxy.index(row, 0))
    s = features.window.session
    assert s is not None and s.project.record(s.image_id).name == "sample 1.png"
    shown = features.prediction.current()  # with the batch's prediction: pearlite at 0.8
    assert shown is not None and list(shown.probabilities) == pytest.approx([0.2, 0.8])
    assert "pearlite" in features.prediction.info.text()


def test_double_click_on_a_segmented_file_shows_its_mask(features, folder, qtbot, monkeypatch,
                                                        tmp_path):
    from matlab_gui.imaging import write_mask
    from matlab_gui.jobs import segment

    def fake_segment(request, progress=None, cancel=None):
        request.out.mkdir(parents=True, exist_ok=True)
        images = []
        for p in sorted(request.inputs[0].glob("sample*")):
            labels = np.zeros((40, 50), np.uint8)
            labels[:, 25:] = 1  # right half pearlite
            write_mask(request.out / f"{p.stem}_mask.png", segment.mask_values(labels))
            images.append(segment.ImageOutcome(p, [request.out / f"{p.stem}_mask.png"],
                                               [0.5, 0.5]))
        return segment.SegmentResult(CLASSES, images, request.out / "f.csv", 0.1)

    monkeypatch.setattr(segment, "run_segment", fake_segment)
    with qtbot.waitSignal(features.batch.finished, timeout=30000):
        features.run_batch(BatchChoice("segment", folder, False, features.current_key,
                                       tmp_path / "seg"))
    features.batch_results.view.doubleClicked.emit(features.batch_results.proxy.index(0, 0))
    shown = features.prediction.current()
    assert shown is not None and shown.labels is not None
    first = 1 if shown.project_indices else 0  # the model's classes, or the project's
    assert shown.labels[0, 0] == first and shown.labels[0, 49] == first + 1


def test_dialog_fills_the_output_and_returns_the_choice(qtbot, folder):
    dialog = BatchDialog(CLASSIFY, [("shipped:a", "a (shipped)")], "shipped:a")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok)
    assert not ok.isEnabled()
    dialog.folder.setText(str(folder))
    assert ok.isEnabled()
    choice = dialog.choice()
    assert choice.out == folder / "classification.csv" and choice.model_key == "shipped:a"


def test_real_classifier_on_a_folder_with_a_corrupt_file(features, folder, qtbot, tmp_path):
    pytest.importorskip("matlab_gui.ml.zoo")
    import torch

    from matlab_gui.ml.card import ClassInfo
    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    card = default_card("classification", "resnet18",
                        [ClassInfo(name=n, color=(0, 0, 0)) for n in CLASSES], in_channels=1,
                        input_size=32)
    save_model(tmp_path / "cls", build_model(card, pretrained=False), card)
    with qtbot.waitSignal(features.batch.finished, timeout=60000):
        features.run_batch(BatchChoice(CLASSIFY, folder, False, str(tmp_path / "cls"),
                                       tmp_path / "out.csv"))
    results = features.batch_results
    assert results.model.rowCount() == 5
    results.filter.setCurrentText(ERRORS)
    assert results.proxy.rowCount() == 1


def test_segment_folder_fills_phase_fractions(features, folder, qtbot, monkeypatch, tmp_path):
    from matlab_gui.jobs import segment

    def fake_segment(request, progress=None, cancel=None):
        images = [segment.ImageOutcome(p, fractions=[0.25, 0.75]) for p in
                  sorted(request.inputs[0].glob("sample*"))]
        images.append(segment.ImageOutcome(request.inputs[0] / "broken.png", error="truncated"))
        return segment.SegmentResult(CLASSES, images, request.out / "f.csv", 0.1)

    monkeypatch.setattr(segment, "run_segment", fake_segment)
    with qtbot.waitSignal(features.batch.finished, timeout=30000):
        features.run_batch(BatchChoice("segment", folder, False, features.current_key,
                                       tmp_path / "seg"))
    results = features.batch_results
    assert results.model.rowCount() == 5 and results.model.headerData(2, model_features.Qt.Horizontal) \
        == "fraction pearlite"
    assert list(results.bars.opts["height"]) == [0.25, 0.75]
    results.filter.setCurrentText("pearlite")
    assert results.proxy.rowCount() == 4


def test_segment_folder_offers_only_segmentation_models(window, monkeypatch):
    """The window's shipped models include a classifier (neu-det-cls); Segment folder must not
    preselect or even list it."""
    features = window.model_features
    shown = {}

    def capture(dialog):
        shown["models"] = [dialog.model.itemData(i) for i in range(dialog.model.count())]
        return QtWidgets.QDialog.Rejected

    monkeypatch.setattr(BatchDialog, "exec", capture)
    features.ask_batch("segment")
    tasks = {features.card(k).get("task") for k in shown["models"]}
    assert shown["models"] and tasks == {"segmentation"}
    features.ask_batch(CLASSIFY)
    assert {features.card(k).get("task") for k in shown["models"]} == {"classification"}


def test_run_with_an_unwritable_output_says_so_before_any_image(qtbot, folder, tmp_path,
                                                                 monkeypatch):
    warned = []
    monkeypatch.setattr(QtWidgets.QMessageBox, "warning",
                        staticmethod(lambda _p, t, m, *a: warned.append(m)))
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    dialog = BatchDialog(CLASSIFY, [("shipped:a", "a (shipped)")], "shipped:a")
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(folder))
    dialog.out.setText(str(blocker / "results.csv"))  # its folder is a file
    dialog.show()
    dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
    assert dialog.isVisible() and dialog.result() != QtWidgets.QDialog.Accepted
    assert warned and "a file" in warned[0]
    dialog.out.setText(str(tmp_path / "fine" / "results.csv"))
    dialog.buttons.button(QtWidgets.QDialogButtonBox.Ok).click()
    assert dialog.result() == QtWidgets.QDialog.Accepted


def test_classify_job_checks_its_output_before_reading_images(folder, tmp_path):
    from matlab_gui.errors import UserError

    (tmp_path / "taken").mkdir()
    events = []
    with pytest.raises(UserError, match="is a folder"):
        classify.run_classify(classify.ClassifyRequest("neu-det-cls", folder, False,
                                                       tmp_path / "taken", "cpu", workers=0),
                              progress=events.append)
    assert events == []


def test_segment_folder_measures_with_the_dock_options_when_asked(features, folder, qtbot,
                                                                  monkeypatch, tmp_path):
    from matlab_gui.gui.batch_dialog import SEGMENT
    from matlab_gui.jobs import segment

    dialog = BatchDialog(SEGMENT, [("shipped:a", "a")], "shipped:a")
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(folder))
    assert not dialog.choice().measure
    dialog.measure.setChecked(True)
    assert dialog.choice().measure
    seen = []

    def fake_segment(request, progress=None, cancel=None):
        seen.append(request.measure)
        return segment.SegmentResult(CLASSES, [], request.out / "f.csv", 0.1)

    monkeypatch.setattr(segment, "run_segment", fake_segment)
    panel = features.measurements
    panel.min_area.setValue(7)
    panel.fill_holes.setChecked(True)
    for measure in (False, True):
        with qtbot.waitSignal(features.batch.finished, timeout=30000):
            features.run_batch(BatchChoice(SEGMENT, folder, False, features.current_key,
                                           tmp_path / "seg", measure))
    assert seen[0] is None
    assert seen[1].min_area == "7" and seen[1].fill_holes and seen[1].exclude_edge
