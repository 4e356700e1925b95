"""Mask import matching and MATLAB v7.3 export."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from matlab_gui.annotate.transfer import match_masks, matlab_name, write_mat


def test_match_by_stem_and_image_labeler_order():
    images = ["a.tif", "b.png", "c.jpg"]
    files = [Path("A.png"), Path("Label_3.png"), Path("unrelated.png"), Path("Label_9.png")]
    assert match_masks(files, images) == {0: Path("A.png"), 2: Path("Label_3.png")}


def test_write_mat_is_a_matlab_73_file_with_transposed_arrays(tmp_path):
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "m.mat"
    write_mat(path, {"1st image.tif": mask})
    header = path.read_bytes()[:128]
    assert header.startswith(b"MATLAB 7.3 MAT-file") and header[-2:] == b"IM"
    with h5py.File(path, "r") as f:
        ds = f[matlab_name("1st image.tif")]
        assert ds.attrs["MATLAB_class"] == b"uint8"
        assert np.array_equal(ds[()].T, mask)
