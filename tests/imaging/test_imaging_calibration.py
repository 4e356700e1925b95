"""Pixel size in metres from the places labs' software writes it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile

from matlab_gui.imaging import read_image, write_image

DATA = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)


def test_resolution_tags_in_centimetres(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", DATA, resolution=(1e5, 1e5), resolutionunit="CENTIMETER")
    meta = read_image(tmp_path / "a.tif").meta
    assert meta.pixel_size_m == pytest.approx(1e-7)
    assert meta.pixel_size_source == "tiff-resolution"


def test_default_72_dpi_is_not_a_calibration(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", DATA, resolution=(72, 72), resolutionunit="INCH")
    meta = read_image(tmp_path / "a.tif").meta
    assert meta.pixel_size_m is None
    assert any("72 dpi" in n for n in meta.notes)


def test_resolution_without_unit_is_ignored(tmp_path):
    tifffile.imwrite(tmp_path / "a.tif", DATA, resolution=(3, 3), resolutionunit="NONE")
    assert read_image(tmp_path / "a.tif").meta.pixel_size_m is None


def test_imagej_micron_unit(tmp_path):
    tifffile.imwrite(tmp_path / "ij.tif", DATA, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "micron"})
    meta = read_image(tmp_path / "ij.tif").meta
    assert meta.pixel_size_m == pytest.approx(0.25e-6)
    assert meta.pixel_size_source == "imagej"


def test_fei_helios_tag(tmp_path):
    text = "[User]\nDate=01/01/2024\n[Scan]\nPixelWidth=2.5e-09\nPixelHeight=2.5e-09\n"
    tifffile.imwrite(tmp_path / "fei.tif", DATA, extratags=[(34682, "s", 0, text, True)])
    with tifffile.TiffFile(tmp_path / "fei.tif") as tif:
        assert tif.fei_metadata["Scan"]["PixelWidth"] == pytest.approx(2.5e-9)
    meta = read_image(tmp_path / "fei.tif").meta
    assert meta.pixel_size_m == pytest.approx(2.5e-9)
    assert meta.pixel_size_source == "fei"


def test_zeiss_smartsem_tag(tmp_path):
    text = "0\n0\nAP_PIXEL_SIZE\nPixel Size = 3.721 nm\nAP_MAG\nMag = 30.00 K X\n"
    tifffile.imwrite(tmp_path / "zeiss.tif", DATA, extratags=[(34118, "s", 0, text, True)])
    meta = read_image(tmp_path / "zeiss.tif").meta
    assert meta.pixel_size_m == pytest.approx(3.721e-9)
    assert meta.pixel_size_source == "zeiss"


def test_tescan_text_tag(tmp_path):
    text = "[MAIN]\r\nDevice=MIRA3\r\nPixelSizeX=1.2e-08\r\nPixelSizeY=1.2e-08\r\n"
    tifffile.imwrite(tmp_path / "tescan.tif", DATA, extratags=[(50431, "s", 0, text, True)])
    meta = read_image(tmp_path / "tescan.tif").meta
    assert meta.pixel_size_m == pytest.approx(1.2e-8)
    assert meta.pixel_size_source == "tescan"


def test_vendor_tag_wins_over_resolution_tags(tmp_path):
    text = "[Scan]\nPixelWidth=5e-09\n"
    tifffile.imwrite(
        tmp_path / "both.tif", DATA, resolution=(1e5, 1e5), resolutionunit="CENTIMETER",
        extratags=[(34682, "s", 0, text, True)],
    )
    assert read_image(tmp_path / "both.tif").meta.pixel_size_source == "fei"


def test_written_tiff_carries_its_pixel_size(tmp_path):
    write_image(tmp_path / "out.tif", DATA, pixel_size_m=5e-9)
    assert read_image(tmp_path / "out.tif").meta.pixel_size_m == pytest.approx(5e-9)


def test_png_phys_chunk_in_metres(tmp_path):
    # 2e6 pixels per metre = 0.5 µm pixels; OpenCV writes no pHYs, so splice one in
    ok, buf = cv2.imencode(".png", DATA.astype(np.uint8))
    raw = buf.tobytes()
    import struct
    import zlib

    body = b"pHYs" + struct.pack(">IIB", 2_000_000, 2_000_000, 1)
    chunk = struct.pack(">I", 9) + body + struct.pack(">I", zlib.crc32(body))
    (tmp_path / "p.png").write_bytes(raw[:33] + chunk + raw[33:])
    meta = read_image(tmp_path / "p.png").meta
    assert meta.pixel_size_m == pytest.approx(5e-7)
