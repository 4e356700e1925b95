"""The `matlab-gui` entry point: version, `python -m`, `info`, and one-line user errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from matlab_gui import __version__
from matlab_gui.cli import main

INFO_KEYS = {"path", "format", "width", "height", "channels", "dtype", "pixel_size_m", "pages"}


def _put(path, data: bytes):
    path.write_bytes(data)
    return path


def _run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "matlab_gui", *args], capture_output=True, text=True, timeout=120
    )


def test_version_via_python_m():
    out = _run_module("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"matlab-gui {__version__}"


def test_info_json_on_16bit_sample(samples_dir, capsys):
    path = samples_dir / "superalloy_45kx_16bit.tif"
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert INFO_KEYS <= set(info)
    assert (info["width"], info["height"], info["dtype"]) == (512, 512, "uint16")
    assert info["pages"] == 1


def test_info_table_names_every_field(samples_dir, capsys):
    assert main(["info", str(samples_dir / "uhcs0006.tif")]) == 0
    out = capsys.readouterr().out
    for key in INFO_KEYS:
        assert key in out
    assert "645" in out and "484" in out


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: p / "missing.tif", "no such file"),
        (lambda p: p, "folder"),
        (lambda p: _put(p / "empty.png", b""), "empty"),
        (lambda p: _put(p / "noise.tif", np.random.default_rng(0).bytes(4096)), "not a tiff"),
    ],
    ids=["missing", "directory", "zero-byte", "random-bytes"],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, problem):
    path = make(tmp_path)
    out = _run_module("info", str(path))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert str(path.name) in lines[0]
    assert problem.lower() in lines[0].lower()


def test_info_on_project(tmp_path, samples_dir, capsys):
    from matlab_gui.project import ClassDef, Project

    path = tmp_path / "demo.mgp"
    project = Project.create(path, classes=[ClassDef(1, "matrix", (0, 0, 255)), ClassDef(2, "precipitate", (255, 0, 0))])
    project.add_image(samples_dir / "uhcs0006.tif")
    project.save()
    project.close()
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "project"
    assert info["images"] == 1
    assert [c["name"] for c in info["classes"]] == ["matrix", "precipitate"]


def test_screenshot_of_main_window(tmp_path, samples_dir):
    out_png = tmp_path / "shot.png"
    result = subprocess.run(
        [sys.executable, "-m", "matlab_gui", "--screenshot", str(out_png), "--size", "1280x800",
         str(samples_dir / "superalloy_spot2_0d_0.tif")],
        capture_output=True, text=True, timeout=180, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    from matlab_gui.imaging import read_image

    shot = read_image(out_png).data
    assert shot.shape[:2] == (800, 1280)
    assert shot.std() > 5  # a real picture, not a blank window


def test_started_with_nothing_the_app_opens_the_sample_its_default_model_was_made_for():
    from matlab_gui.imaging import read_image
    from matlab_gui.resources import default_sample

    sample = default_sample()
    assert sample.name == "superalloy_spot2_0d_0.tif"
    assert read_image(sample).meta.width == 512


def test_a_mistyped_command_is_named_instead_of_starting_the_window(tmp_path, capsys,
                                                                    monkeypatch):
    import matlab_gui.gui.app as app

    started = []
    monkeypatch.setattr(app, "run_gui", lambda *a, **k: started.append(a) or 0)
    assert main(["segmnt", "--model", "nasa-super", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "unknown command or no such file 'segmnt'; did you mean 'segment'?" in err
    assert main(["--bogus"]) == 2 and "unknown option '--bogus'" in capsys.readouterr().err
    assert not started
    image = tmp_path / "a.png"
    image.write_bytes(b"")
    assert main([str(image), "--screenshot", str(tmp_path / "s.png")]) == 0  # a file: the window
    assert main([str(tmp_path / "new.mgp")]) == 0  # a project to create
    assert len(started) == 2
