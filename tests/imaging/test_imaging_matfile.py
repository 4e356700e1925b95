"""MATLAB v7.3 .mat files: MATLAB's header, transposed arrays, class attributes, text and cell
arrays that an independent reader (mat73, which follows MATLAB's own layout) loads as such."""

from __future__ import annotations

import h5py
import mat73
import numpy as np
import pytest

from matlab_gui.errors import ImageWriteError, UserError
from matlab_gui.imaging.class_table import numbered
from matlab_gui.imaging.matfile import (
    class_fields,
    matlab_name,
    read_mat,
    unique_matlab_names,
    write_mat,
)


def test_write_mat_is_a_matlab_73_file_with_transposed_arrays(tmp_path):
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "m.mat"
    write_mat(path, {matlab_name("1st image.tif"): mask})
    header = path.read_bytes()[:128]
    assert header.startswith(b"MATLAB 7.3 MAT-file") and header[-2:] == b"IM"
    with h5py.File(path, "r") as f:
        ds = f["m_1st_image"]
        assert ds.attrs["MATLAB_class"] == b"uint8"
        assert np.array_equal(ds[()].T, mask)


def test_planes_and_half_floats(tmp_path):
    probs = np.random.default_rng(0).random((3, 5, 7)).astype(np.float16)
    write_mat(tmp_path / "p.mat", {"probabilities": probs})
    with h5py.File(tmp_path / "p.mat", "r") as f:
        ds = f["probabilities"]
        assert ds.attrs["MATLAB_class"] == b"single"
        assert ds.shape == (3, 7, 5)  # MATLAB sees 5 x 7 x 3
        np.testing.assert_array_equal(ds[1].T, probs[1].astype(np.float32))


def test_text_cells_and_numbers_load_as_matlab_types(tmp_path):
    classes = numbered(["matrix", "γ′ precipitate"], [(0, 0, 0), (213, 94, 0)])
    mask = np.array([[1, 2, 2], [0, 1, 1]], np.uint8)
    write_mat(tmp_path / "a.mat", {"mask": mask},
              {**class_fields(classes), "pixel_size_um": 0.05, "model": "nasa-super", "note": ""})
    loaded = mat73.loadmat(tmp_path / "a.mat")
    assert loaded["class_names"] == ["unlabelled", "matrix", "γ′ precipitate"]  # a cell of char
    assert loaded["model"] == "nasa-super" and loaded["pixel_size_um"] == pytest.approx(0.05)
    assert loaded["class_colors"].tolist() == [[0, 0, 0], [0, 0, 0], [213, 94, 0]]  # K x 3
    np.testing.assert_array_equal(loaded["mask"], mask)
    with h5py.File(tmp_path / "a.mat", "r") as f:
        assert f["note"].attrs["MATLAB_empty"] == 1  # MATLAB's '' rather than a 0 x 0 uint16
    back = read_mat(tmp_path / "a.mat")
    assert list(back.arrays) == ["mask"] and back.classes == classes


def test_variable_names_are_valid_unique_and_never_a_keyword_or_a_field():
    files = ["spot1.tif", "spot1.png", "grain map.tif", "grain_map.png", "end.tif",
             "b" * 80 + ".tif", "b" * 80 + ".png", "class_names.png", "Ünïcode.tif", "spot1.tif"]
    values = unique_matlab_names(files)
    names = dict(zip(files[:-1], values, strict=False))
    assert len(set(v.casefold() for v in values)) == len(values)
    assert all(len(v) <= 63 and v[0].isascii() and v[0].isalpha() for v in values)
    assert all(v.isascii() and (v.replace("_", "a").isalnum()) for v in values)
    assert names["spot1.png"] == "spot1_2" and names["end.tif"] == "m_end"
    assert names["class_names.png"] != "class_names"
    assert values[-1] == "spot1_3"  # the same file name from another folder: its own variable


def test_refuses_names_matlab_cannot_load(tmp_path):
    with pytest.raises(ImageWriteError, match="not a free MATLAB variable name"):
        write_mat(tmp_path / "x.mat", {"grain map": np.zeros((2, 2), np.uint8)})
    with pytest.raises(ImageWriteError, match="not a free MATLAB variable name"):
        write_mat(tmp_path / "x.mat", {"model": np.zeros((2, 2), np.uint8)}, {"model": "m"})


def test_reading_something_else_is_one_clear_line(tmp_path):
    (tmp_path / "v5.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 200)
    with pytest.raises(UserError, match="not a MATLAB v7.3"):
        read_mat(tmp_path / "v5.mat")
