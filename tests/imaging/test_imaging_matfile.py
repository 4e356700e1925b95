""".mat files: v7 (what MATLAB, Octave and scipy load whole) unless an array is too big for it,
then v7.3 (MATLAB's header, transposed arrays, class attributes); text and cell arrays that
independent readers (GNU Octave; mat73, which follows MATLAB's own v7.3 layout) load as such."""

from __future__ import annotations

import h5py
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

CLASSES = numbered(["matrix", "gamma prime"], [(0, 0, 0), (213, 94, 0)])


def test_a_file_octave_loads_whole_with_class_names(tmp_path, octave_load):
    mask = np.array([[1, 2, 2], [0, 1, 1]], np.uint8)
    probs = np.arange(18, dtype=np.float16).reshape(3, 2, 3) / 17
    write_mat(tmp_path / "a.mat", {"mask": mask, "probabilities": probs},
              {**class_fields(CLASSES), "pixel_size_um": 0.05, "model": "nasa-super",
               "image_names": ["a b.tif"], "variable_names": ["mask"]})
    assert (tmp_path / "a.mat").read_bytes().startswith(b"MATLAB 5.0 MAT-file")  # v7
    s = octave_load(tmp_path / "a.mat")
    assert s["class_names"] == ["unlabelled", "matrix", "gamma prime"]
    assert s["class_values"] == [0, 1, 2] and s["class_colors"][2] == [213, 94, 0]
    assert s["mask"] == mask.tolist()  # H x W, the same orientation
    assert np.allclose(s["probabilities"], np.moveaxis(probs, 0, -1), atol=1e-3)  # H x W x C
    assert s["model"] == "nasa-super" and s["pixel_size_um"] == pytest.approx(0.05)
    assert s["image_names"] == ["a b.tif"] and s["variable_names"] == ["mask"]


def test_an_array_too_big_for_v7_makes_a_v73_file(tmp_path, mat_load):
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_mat(tmp_path / "small.mat", {"mask": mask}, v7_limit=13)
    write_mat(tmp_path / "big.mat", {"mask": mask}, v7_limit=12)
    assert (tmp_path / "small.mat").read_bytes().startswith(b"MATLAB 5.0 MAT-file")
    assert (tmp_path / "big.mat").read_bytes().startswith(b"MATLAB 7.3 MAT-file")
    for name in ("small.mat", "big.mat"):
        np.testing.assert_array_equal(mat_load(tmp_path / name)["mask"], mask)
        np.testing.assert_array_equal(read_mat(tmp_path / name).arrays["mask"], mask)


def test_write_mat_is_a_matlab_73_file_with_transposed_arrays(tmp_path):
    mask = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "m.mat"
    write_mat(path, {matlab_name("1st image.tif"): mask}, v7_limit=0)
    header = path.read_bytes()[:128]
    assert header.startswith(b"MATLAB 7.3 MAT-file") and header[-2:] == b"IM"
    with h5py.File(path, "r") as f:
        ds = f["m_1st_image"]
        assert ds.attrs["MATLAB_class"] == b"uint8"
        assert np.array_equal(ds[()].T, mask)


def test_planes_and_half_floats(tmp_path):
    probs = np.random.default_rng(0).random((3, 5, 7)).astype(np.float16)
    write_mat(tmp_path / "p.mat", {"probabilities": probs}, v7_limit=0)
    with h5py.File(tmp_path / "p.mat", "r") as f:
        ds = f["probabilities"]
        assert ds.attrs["MATLAB_class"] == b"single"
        assert ds.shape == (3, 7, 5)  # MATLAB sees 5 x 7 x 3
        np.testing.assert_array_equal(ds[1].T, probs[1].astype(np.float32))


@pytest.mark.parametrize("v7_limit", [0, 2**31], ids=["v7.3", "v7"])
def test_text_cells_and_numbers_load_as_matlab_types(tmp_path, mat_load, v7_limit):
    classes = numbered(["matrix", "γ′ precipitate"], [(0, 0, 0), (213, 94, 0)])
    mask = np.array([[1, 2, 2], [0, 1, 1]], np.uint8)
    write_mat(tmp_path / "a.mat", {"mask": mask},
              {**class_fields(classes), "pixel_size_um": 0.05, "model": "nasa-super", "note": ""},
              v7_limit=v7_limit)
    loaded = mat_load(tmp_path / "a.mat")
    assert loaded["class_names"] == ["unlabelled", "matrix", "γ′ precipitate"]  # a cell of char
    assert loaded["model"] == "nasa-super" and loaded["pixel_size_um"] == pytest.approx(0.05)
    assert loaded["class_colors"].tolist() == [[0, 0, 0], [0, 0, 0], [213, 94, 0]]  # K x 3
    np.testing.assert_array_equal(loaded["mask"], mask)
    if v7_limit == 0:
        with h5py.File(tmp_path / "a.mat", "r") as f:
            assert f["note"].attrs["MATLAB_empty"] == 1  # MATLAB's '' rather than 0 x 0 uint16
    else:  # an empty char array
        assert np.asarray(loaded["note"]).dtype.kind == "U" and np.asarray(loaded["note"]).size == 0
    back = read_mat(tmp_path / "a.mat")
    assert list(back.arrays) == ["mask"] and back.classes == classes
    assert back.pixel_size_um == {"mask": pytest.approx(0.05)}


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
    (tmp_path / "text.mat").write_text("not a mat file")
    for name in ("v5.mat", "text.mat"):
        with pytest.raises(UserError, match="is not a .mat file MATLAB wrote, or is damaged"):
            read_mat(tmp_path / name)


def test_a_matlab_v7_file_of_masks_imports(tmp_path):
    """What `save('labels.mat', 'a', 'b')` writes in MATLAB by default (v7): its masks."""
    import scipy.io

    a, b = np.eye(3, dtype=np.uint8), np.full((2, 4), 2, np.uint16)
    scipy.io.savemat(tmp_path / "labels.mat", {"a": a, "b": b, "note": "x", "scale": 0.5})
    back = read_mat(tmp_path / "labels.mat")
    assert list(back.arrays) == ["a", "b"] and back.classes is None
    np.testing.assert_array_equal(back.arrays["b"], b)
