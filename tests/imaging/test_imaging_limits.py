"""The pixel budget (refused from the header, raisable by the user), header-only `info` for
huge TIFFs, and the C decoders' own complaints caught and used instead of printed."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import tifffile
from reliability_corpus import tiff_claiming

from matlab_gui.cli import main
from matlab_gui.errors import ImageReadError, UserError
from matlab_gui.imaging import limits, read_image
from matlab_gui.imaging.read import read_header

pytestmark = pytest.mark.usefixtures("default_pixel_budget")


def test_the_default_budget_takes_a_30k_montage_and_refuses_beyond_it(tmp_path):
    assert limits.max_pixels() >= 30_000 * 30_000
    path = tmp_path / "montage.tif"
    tiff_claiming(path, 40_000, 40_000)  # 1.6 GB of 8-bit: this computer could hold it
    with pytest.raises(ImageReadError, match="largest image the app is set to open") as caught:
        read_image(path)
    assert "MATLAB_GUI_MAX_PIXELS" in str(caught.value) and caught.value.path == path


def test_the_environment_and_the_window_set_the_budget(tmp_path, monkeypatch):
    path = tmp_path / "sem.tif"
    tifffile.imwrite(path, np.zeros((1000, 1200), np.uint16))
    assert read_image(path).data.shape == (1000, 1200)
    monkeypatch.setenv(limits.ENV_VAR, "1M")
    with pytest.raises(ImageReadError, match=r"1200 x 1000 pixels is more than the largest"):
        read_image(path)
    limits.set_max_pixels(2_000_000)  # the window's choice wins over the environment's
    assert read_image(path).data.shape == (1000, 1200)
    limits.set_max_pixels(None)
    monkeypatch.setenv(limits.ENV_VAR, "lots")
    with pytest.raises(UserError, match="MATLAB_GUI_MAX_PIXELS: 'lots' is not a pixel count"):
        read_image(path)


@pytest.mark.parametrize("text, pixels", [("2G", 2_000_000_000), ("500M", 500_000_000),
                                          ("2e9", 2_000_000_000), ("1500000000", 1_500_000_000)])
def test_pixel_counts_are_read_as_people_write_them(text, pixels):
    assert limits.parse_pixels(text) == pixels


def test_info_reads_a_huge_tiff_from_its_header_alone(tmp_path, monkeypatch):
    path = tmp_path / "montage.tif"
    tiff_claiming(path, 60_000, 60_000)

    def never(*args, **kwargs):
        raise AssertionError("decoded the pixels")

    monkeypatch.setattr(tifffile.TiffPage, "asarray", never)
    meta = read_header(path)
    assert (meta.width, meta.height, meta.dtype) == (60_000, 60_000, "uint8")
    assert any("not decoded" in n for n in meta.notes)
    assert any("larger than the largest image" in n for n in meta.notes)


def test_info_of_an_ordinary_image_is_what_reading_it_says(tmp_path, samples_dir):
    path = samples_dir / "superalloy_45kx_16bit.tif"
    assert read_header(path) == read_image(path).meta


def _jpeg() -> bytes:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur((rng.random((256, 256)) * 255).astype(np.uint8), (0, 0), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_a_jpeg_cut_short_with_its_end_marker_appended_is_refused(tmp_path, capfd):
    raw = _jpeg()
    path = tmp_path / "cut.jpg"
    path.write_bytes(raw[: len(raw) // 2] + b"\xff\xd9")  # would open half grey
    with pytest.raises(ImageReadError, match="truncated JPEG: its image data ends early"):
        read_image(path)
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_libpng_complaints_become_part_of_our_one_line(tmp_path, capfd):
    raw = bytearray(cv2.imencode(".png", np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
                                 .astype(np.uint8))[1].tobytes())
    at = raw.index(b"IDAT") + 4
    raw[at:at + 40] = bytes(40)
    path = tmp_path / "damaged.png"
    path.write_bytes(bytes(raw))
    assert main(["info", str(path)]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "damaged.png: corrupt or unreadable PNG (" in err[0], err


def test_a_jpeg_with_damaged_data_opens_with_a_note(tmp_path, capfd):
    raw = _jpeg()
    path = tmp_path / "junk.jpg"  # junk before the end marker: libjpeg decodes, and complains
    path.write_bytes(raw[:-2] + bytes(50) + raw[-2:])
    image = read_image(path)
    assert any(n.startswith("damaged JPEG data, decoded anyway") for n in image.meta.notes)
    assert "Corrupt JPEG" not in capfd.readouterr().err


def test_a_quick_answer_for_the_header(tmp_path):
    path = tmp_path / "montage.tif"
    tiff_claiming(path, 60_000, 60_000)
    started = time.perf_counter()
    assert main(["info", "--json", str(path)]) == 0
    assert time.perf_counter() - started < 30  # decoding it would take minutes and 3.6 GB
