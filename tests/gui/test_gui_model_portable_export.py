"""Model > Export for ONNX / TorchScript…: format and folder asked, the export job run on a
worker thread, the files written, the end in the status bar and a failure in a dialog."""

from __future__ import annotations

import threading

import pytest

from matlab_gui.gui import dialogs, portable_export


@pytest.fixture
def tiny_model(tiny_segmenter):
    return tiny_segmenter


def portable_action(window):
    menus = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    return next(a for a in menus["Model"].actions()
                if a.text().replace("&", "") == "Export for ONNX / TorchScript…")


@pytest.fixture
def features(window, tiny_model):
    f = window.model_features
    f.choose_model(str(tiny_model))
    yield f
    f.close()


def answer(monkeypatch, label, folder):
    monkeypatch.setattr(dialogs, "choice", lambda *_a, **_k: label)
    monkeypatch.setattr(dialogs, "folder", lambda *_a, **_k: folder)


@pytest.mark.parametrize("label, file", [("ONNX", "model.onnx"),
                                         ("TorchScript", "model.torchscript.pt")])
def test_the_action_exports_on_a_worker_thread(features, qtbot, monkeypatch, tmp_path, messages,
                                               label, file):
    threads = []
    real = portable_export.export_job

    def job(request, progress=None, cancel=None):
        threads.append(threading.current_thread())
        return real(request, progress=progress, cancel=cancel)

    monkeypatch.setattr(portable_export, "export_job", job)
    answer(monkeypatch, label, tmp_path)
    worker = features.portable.worker
    with qtbot.waitSignal(worker.finished, timeout=120000):
        portable_action(features.window).trigger()
        assert worker.busy  # the export runs while the GUI thread goes on
    out = tmp_path / f"tiny-{label.lower()}"
    assert sorted(p.name for p in out.iterdir()) == sorted(["README.md", "card.json", file])
    assert threads and threads[0] is not threading.main_thread()
    status = features.window.statusBar().currentMessage()
    assert status.startswith("Exported tiny") and str(out / file) in status
    assert not [m for m in messages if m[0] == "critical"]


def test_a_failed_export_shows_its_error(features, qtbot, monkeypatch, tmp_path, messages):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    answer(monkeypatch, "ONNX", blocker)  # a file where the folder should be
    with qtbot.waitSignal(features.portable.worker.failed, timeout=120000):
        portable_action(features.window).trigger()
    kind, title, text = messages[-1]
    assert kind == "critical" and title == "Cannot export the model" and str(blocker) in text
    assert blocker.read_text() == "x"


def test_cancelling_the_format_question_runs_nothing(features, monkeypatch, tmp_path):
    answer(monkeypatch, None, tmp_path)
    portable_action(features.window).trigger()
    assert not features.portable.worker.busy and list(tmp_path.iterdir()) == []
