"""`matlab-gui export-model`: files written, the check's difference printed, exit 2 on bad input."""

from __future__ import annotations

import json

import pytest

from matlab_gui.cli import main


@pytest.fixture
def model(tiny_segmenter):
    return tiny_segmenter


@pytest.mark.parametrize("fmt, file", [("onnx", "model.onnx"),
                                       ("torchscript", "model.torchscript.pt")])
def test_export_writes_the_files_and_prints_the_check(model, tmp_path, capsys, fmt, file):
    out = tmp_path / "exported"
    assert main(["export-model", str(model), "--format", fmt, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["README.md", "card.json", file])
    text = capsys.readouterr().out
    assert str(out / file) in text and "max abs difference" in text
    diff = float(text.split("max abs difference ")[1].split()[0])
    assert 0 <= diff <= 1e-3


def test_json_reports_the_files_and_difference(model, tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export-model", str(model), "--format", "onnx", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model_file"] == str(out / "model.onnx") and report["format"] == "onnx"
    assert report["max_abs_diff"] <= report["tolerance"] == 1e-3
    assert report["files"] == [str(out / n) for n in ("model.onnx", "card.json", "README.md")]


def test_an_unknown_model_is_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "exported"
    assert main(["export-model", "no-such-model", "--format", "onnx", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-model" in err and "shipped models" in err
    assert not out.exists()


def test_an_output_that_is_a_file_is_one_line_and_exit_2(model, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    assert main(["export-model", str(model), "--format", "onnx", "--out", str(taken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(taken) in err
    assert taken.read_text() == "mine"
