"""Export masks keeps its meaning outside the app: numbering, class names, pixel sizes, and
MATLAB variables that are valid and unique, read back with independent readers."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.errors import UserError
from matlab_gui.imaging import read_image, read_mask
from matlab_gui.imaging.class_table import read_class_table
from matlab_gui.imaging.matfile import read_mat
from matlab_gui.jobs.export_masks import export_masks
from matlab_gui.project import Project
from matlab_gui.project.schema import ClassDef

# Names that collide as MATLAB variables, a keyword, one over MATLAB's 63 characters.
NAMES = ["spot1.tif", "spot1.png", "grain map.tif", "grain_map.png", "end.png", "a" * 70 + ".tif",
         "spot1.tif"]  # the last from another folder


@pytest.fixture
def project(tmp_path):
    classes = [ClassDef(1, "ferrite", (0, 114, 178)), ClassDef(2, "pearlite", (213, 94, 0))]
    p = Project.create(tmp_path / "p.mgp", classes=classes)
    for n, name in enumerate(NAMES):
        image_id = p.add_image(tmp_path / name, data=np.full((6, 9), n * 10, np.uint8),
                               pixel_size_m=(n + 1) * 1e-7 if n != 1 else None)
        mask = np.zeros((6, 9), np.uint8)
        mask[:, : n + 1] = 1
        mask[0, -1] = 2
        p.set_mask(image_id, mask)
    p.save()
    yield p
    p.close()


def _masks(project):
    """Image name -> its masks, in project order."""
    out: dict[str, list] = {}
    for i in project.image_ids:
        out.setdefault(project.record(i).name, []).append(project.get_mask(i))
    return out


def test_mat_export_has_unique_variables_mapped_to_images_with_classes_and_sizes(project,
                                                                              tmp_path, mat_load):
    result = export_masks(project, tmp_path / "out", "mat")
    assert result.masks == len(NAMES)
    loaded = mat_load(tmp_path / "out" / "masks.mat")  # a reader that is not the app's
    variables, images = loaded["variable_names"], loaded["image_names"]
    assert images == NAMES and len(set(variables)) == len(NAMES)
    assert all(len(v) <= 63 and v[0].isalpha() and v != "end" for v in variables)
    expected = _masks(project)
    for variable, image in zip(variables, images, strict=True):
        np.testing.assert_array_equal(loaded[variable], expected[image].pop(0))  # H x W
    assert loaded["class_names"] == ["unlabelled", "ferrite", "pearlite"]
    assert list(loaded["class_values"]) == [0, 1, 2]
    assert loaded["class_colors"].tolist()[2] == [213, 94, 0]
    sizes = loaded["pixel_sizes_um"]
    assert sizes[0] == pytest.approx(0.1) and np.isnan(sizes[1]) and sizes[2] == pytest.approx(0.3)
    back = read_mat(tmp_path / "out" / "masks.mat")  # and the app's own reader
    assert {back.image_names[v] for v in back.arrays} == set(NAMES)
    assert [c.name for c in back.classes] == ["unlabelled", "ferrite", "pearlite"]


def test_octave_loads_the_exported_masks_with_their_names(project, tmp_path, octave_load):
    export_masks(project, tmp_path / "out", "mat")
    s = octave_load(tmp_path / "out" / "masks.mat")
    assert s["image_names"] == NAMES and s["class_names"] == ["unlabelled", "ferrite", "pearlite"]
    expected = _masks(project)
    for variable, image in zip(s["variable_names"], s["image_names"], strict=True):
        assert s[variable] == expected[image].pop(0).tolist()  # 6 x 9, as in the project
    assert s["pixel_sizes_um"][0] == pytest.approx(0.1) and s["pixel_sizes_um"][1] is None  # NaN


@pytest.mark.parametrize("fmt, suffix", [("png", ".png"), ("tiff", ".tif")])
def test_image_exports_carry_pixel_size_and_class_table(project, tmp_path, fmt, suffix):
    export_masks(project, tmp_path / fmt, fmt)
    table = read_class_table(tmp_path / fmt)
    assert [(c.value, c.name) for c in table] == [(0, "unlabelled"), (1, "ferrite"), (2, "pearlite")]
    expected = _masks(project)
    written = sorted(p.name for p in (tmp_path / fmt).iterdir() if p.suffix == suffix)
    assert len(written) == len(NAMES)  # spot1.tif and spot1.png do not overwrite each other
    path = tmp_path / fmt / f"grain map{suffix}"
    np.testing.assert_array_equal(read_mask(path), expected["grain map.tif"][0])
    assert read_image(path).meta.pixel_size_m == pytest.approx(3e-7)
    if fmt == "tiff":
        with tifffile.TiffFile(path) as tif:
            assert tif.imagej_metadata["unit"] == "um" and "2 = pearlite" in tif.imagej_metadata["Info"]


def test_overlays_and_bad_format(project, tmp_path):
    result = export_masks(project, tmp_path / "o", "overlay")
    overlay = read_image(tmp_path / "o" / "grain map_overlay.png")
    assert overlay.data.shape == (6, 9, 3) and overlay.meta.pixel_size_m == pytest.approx(3e-7)
    assert len(result.files) == len(NAMES) + 1  # and classes.csv
    with pytest.raises(UserError, match="unknown mask format"):
        export_masks(project, tmp_path / "x", "jpg")
