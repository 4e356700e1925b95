"""Decompression bombs and impossible sizes: refused from the header, before any decoding, in
one line naming the file (never an OpenCV traceback, never gigabytes allocated)."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import tifffile
from reliability_corpus import bmp_claiming, jpeg_claiming, png_claiming, tiff_claiming

from matlab_gui.cli import main
from matlab_gui.errors import ImageReadError
from matlab_gui.imaging import read_image, read_mask


@pytest.mark.parametrize("make, name, size", [
    (png_claiming, "bomb.png", (100_000, 100_000)),
    (bmp_claiming, "bomb.bmp", (50_000, 50_000)),
    (bmp_claiming, "topdown.bmp", (50_000, -50_000)),
    (jpeg_claiming, "bomb.jpg", (65_535, 65_535)),
    (tiff_claiming, "bomb.tif", (200_000, 200_000)),
])
def test_a_header_claiming_too_many_pixels_is_refused_at_once(tmp_path, capsys, make, name, size):
    path = tmp_path / name
    make(path, *size)
    started = time.perf_counter()
    with pytest.raises(ImageReadError, match=r"pixels .*(gigapixels|memory)") as caught:
        read_image(path)
    assert caught.value.path == path and time.perf_counter() - started < 5
    with pytest.raises(ImageReadError):
        read_mask(path)
    if name.endswith(".tif"):  # `info` answers a TIFF from its header, and says it is too large
        assert main(["info", str(path)]) == 0
        assert "larger than the largest image the app is set to open" in capsys.readouterr().out
        return
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and name in err[0] and "Traceback" not in err[0]


def test_a_tiff_beyond_this_computers_memory_is_refused_before_reading(tmp_path, monkeypatch):
    import matlab_gui.imaging.read as read

    monkeypatch.setattr(read, "_physical_memory", lambda: 4 << 30)  # a 4 GiB laptop
    monkeypatch.setattr(read.limits, "max_pixels", lambda: 10**11)  # a budget raised that far
    path = tmp_path / "montage.tif"
    tiff_claiming(path, 100_000, 50_000)  # 5 GB of 8-bit pixels: within the format's limit
    with pytest.raises(ImageReadError, match=r"needs 4\.7 GiB, more than half this computer's memory"):
        read_image(path)


def test_ordinary_sizes_still_read(tmp_path):
    path = tmp_path / "ok.png"
    cv2.imwrite(str(path), np.full((300, 500), 7, np.uint8))
    assert read_image(path).data.shape == (300, 500)


def _broken_png(path):
    raw = bytearray(cv2.imencode(".png", np.zeros((64, 64), np.uint8))[1].tobytes())
    raw[40:60] = bytes(20)  # a damaged first data chunk
    path.write_bytes(bytes(raw))


def _broken_tiff(path):
    tifffile.imwrite(path, np.zeros((64, 64), np.uint8))
    raw = bytearray(path.read_bytes())
    raw[4:8] = (60000).to_bytes(4, "little")  # the first page's offset points nowhere
    path.write_bytes(bytes(raw))


def _fifo(path):
    import os

    os.mkfifo(path)


@pytest.mark.parametrize("make, name", [(_broken_png, "b.png"), (_broken_tiff, "b.tif"),
                                        (_fifo, "pipe.tif")])
def test_a_broken_file_prints_exactly_one_line(tmp_path, make, name):
    """No OpenCV or tifffile log lines before ours, and a pipe never blocks the read."""
    import subprocess
    import sys

    if name == "pipe.tif" and not hasattr(__import__("os"), "mkfifo"):
        pytest.skip("no FIFOs on this system")
    make(tmp_path / name)
    out = subprocess.run([sys.executable, "-m", "matlab_gui", "info", str(tmp_path / name)],
                         capture_output=True, text=True, timeout=60)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1 and name in lines[0], out.stderr
    if name == "pipe.tif":
        assert "is not a regular file" in lines[0]
