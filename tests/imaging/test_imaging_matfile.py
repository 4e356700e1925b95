"""MATLAB v7.3 .mat export: MATLAB's header, transposed arrays, class attributes."""

from __future__ import annotations

import h5py
import numpy as np

from matlab_gui.imaging.matfile import matlab_name, write_mat


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


def test_planes_and_half_floats(tmp_path):
    probs = np.random.default_rng(0).random((3, 5, 7)).astype(np.float16)
    write_mat(tmp_path / "p.mat", {"probabilities": probs})
    with h5py.File(tmp_path / "p.mat", "r") as f:
        ds = f["probabilities"]
        assert ds.attrs["MATLAB_class"] == b"single"
        assert ds.shape == (3, 7, 5)  # MATLAB sees 5 x 7 x 3
        np.testing.assert_array_equal(ds[1].T, probs[1].astype(np.float32))
