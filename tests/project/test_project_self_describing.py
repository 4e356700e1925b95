"""A project file read with nothing but HDF5 (h5py here; h5read in MATLAB, Fiji's HDF5 reader):
the datasets say which image they are, their pixel size and what mask values mean, predictions
are float32, and the history names what each save changed."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from matlab_gui.project import Project
from matlab_gui.project.schema import ClassDef


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "p.mgp"
    project = Project.create(path, classes=[ClassDef(1, "ferrite", (0, 114, 178)),
                                            ClassDef(2, "pearlite", (213, 94, 0))])
    a = project.add_image(tmp_path / "grain map.tif", data=np.zeros((8, 10), np.uint16),
                          pixel_size_m=5e-8)
    b = project.add_image(tmp_path / "other.png", data=np.zeros((8, 10, 3), np.uint8))
    project.set_mask(a, np.ones((8, 10), np.uint8))
    project.set_prediction(a, np.zeros((8, 10), np.uint8),
                           np.full((2, 8, 10), 0.5, np.float16), "nasa-super")
    project.save()
    yield path, project, a, b
    project.close()


def test_datasets_name_their_image_and_scale(saved):
    path, project, a, b = saved
    with h5py.File(path, "r") as f:
        for ds in (f["images"][a], f["masks"][a], f["predictions"][a]["labels"]):
            assert ds.attrs["name"] == "grain map.tif"
            assert ds.attrs["pixel_size_um"] == pytest.approx(0.05)
            assert list(ds.attrs["element_size_um"]) == pytest.approx([0.05, 0.05])
        confidence = f["predictions"][a]["confidence"]
        assert confidence.dtype == np.float32  # Fiji's HDF5 reader and MATLAB refuse float16
        assert list(confidence.attrs["element_size_um"]) == pytest.approx([1.0, 0.05, 0.05])
        assert confidence.attrs["axes"] == "cyx"
        other = f["images"][b]
        assert other.attrs["name"] == "other.png" and other.attrs["axes"] == "yxc"
        assert np.isnan(other.attrs["pixel_size_um"]) and "element_size_um" not in other.attrs
        assert "0 = unlabelled" in f["masks"][a].attrs["values"]
        assert list(f.attrs["class_values"]) == [1, 2]
        assert list(f.attrs["class_names"]) == ["ferrite", "pearlite"]
        assert f.attrs["class_colors"].tolist() == [[0, 114, 178], [213, 94, 0]]


def test_a_later_pixel_size_reaches_the_datasets(saved):
    path, project, a, b = saved
    project.set_pixel_size(a, 2e-7)
    project.save()
    with h5py.File(path, "r") as f:
        assert list(f["masks"][a].attrs["element_size_um"]) == pytest.approx([0.2, 0.2])
        assert f["images"][a].attrs["pixel_size_um"] == pytest.approx(0.2)


def test_history_names_what_each_save_changed(saved):
    path, project, a, b = saved
    project.set_label(b, 2)
    project.settings = {"zoom": 2}
    project.save()
    project.settings = {"zoom": 3}  # only the view: nothing worth a history line
    project.save()
    saves = [h["details"] for h in project.history if h["action"] == "save"]
    assert saves[0]["masks"] == ["grain map.tif"] and saves[0]["predictions"] == ["grain map.tif"]
    assert saves[1] == {"labels": ["other.png"]}
    assert len(saves) == 2


def test_an_older_project_gets_described_at_its_first_save(saved):
    path, project, a, b = saved
    project.close()
    with h5py.File(path, "r+") as f:  # as the previous version wrote it
        for key in ("class_values", "class_names", "class_colors"):
            del f.attrs[key]
        for name in ("name", "element_size_um", "pixel_size_um"):
            del f["masks"][a].attrs[name]
    with Project.open(path) as reopened:
        reopened.set_label(b, 1)  # any change to another image
        reopened.save()
    with h5py.File(path, "r") as f:
        assert f["masks"][a].attrs["name"] == "grain map.tif"
        assert list(f["masks"][a].attrs["element_size_um"]) == pytest.approx([0.05, 0.05])


def test_images_are_found_by_name_as_h5dump_lists_them(saved, tmp_path):
    path, project, a, b = saved
    with h5py.File(path, "r") as f:
        entry = f["by_name"]["grain map.tif"]
        assert entry.attrs["id"] == a
        np.testing.assert_array_equal(entry["mask"][()], np.ones((8, 10), np.uint8))
        assert entry["prediction"]["confidence"].shape == (2, 8, 10)
        assert set(f["by_name"]["other.png"]) == {"image"}  # no mask painted yet
    project.set_mask(b, np.ones((8, 10), np.uint8))  # a later mask gets its link
    project.save()
    with h5py.File(path, "r") as f:
        assert set(f["by_name"]["other.png"]) == {"image", "mask"}
    twin = project.add_image(tmp_path / "sub" / "other.png", data=np.zeros((8, 10), np.uint8))
    project.save()
    with h5py.File(path, "r") as f:
        names = set(f["by_name"])
        assert names == {"grain map.tif", f"other.png ({b})", f"other.png ({twin})"}
        assert "mask" in f["by_name"][f"other.png ({b})"]
    project.remove_image(twin)
    project.save()
    with h5py.File(path, "r") as f:
        assert set(f["by_name"]) == {"grain map.tif", "other.png"}


def test_octave_loads_the_whole_project(saved, octave_load):
    """GNU Octave's `load` reads every group (it stops at the first dataset it cannot read, so
    nothing may be a variable-length string): images, masks by id and by name, the history."""
    path, project, a, b = saved
    s = octave_load(path)  # fails on any variable Octave skipped
    def octave_name(image_id):  # a name must start with a letter
        return image_id if image_id[0].isalpha() else f"_{image_id}"

    mask = project.get_mask(a)  # HDF5 is row-major, Octave column-major: W x H, as documented
    assert np.array_equal(s["masks"][octave_name(a)], mask.T)
    assert np.array_equal(s["by_name"]["grain_map_tif"]["mask"], mask.T)
    assert set(s["images"]) == {octave_name(a), octave_name(b)}
    entries = [json.loads(s["history"][k]) for k in sorted(s["history"])]
    assert entries == project.history and entries[0]["action"] == "create project"


def test_a_history_in_the_earlier_layout_is_kept_and_moved_at_the_next_save(saved):
    path, project, a, b = saved
    before = project.history
    project.close()
    with h5py.File(path, "r+") as f:  # one variable-length string dataset, as before
        del f["history"]
        f.create_dataset("history", data=[json.dumps(e) for e in before], maxshape=(None,),
                         dtype=h5py.string_dtype())
    with Project.open(path) as reopened:
        assert reopened.history == before
        reopened.set_label(b, 1)
        reopened.save()
        assert reopened.history[: len(before)] == before
        assert reopened.history[-1]["details"] == {"labels": ["other.png"]}
        after = reopened.history
    with h5py.File(path, "r") as f:
        assert isinstance(f["history"], h5py.Group) and len(f["history"]) == len(after)
        assert h5py.check_string_dtype(f["history"]["000001"].dtype).length  # fixed length


def test_a_lost_history_entry_is_noticed(saved):
    path, project, a, b = saved
    count = len(project.history)
    project.close()
    with h5py.File(path, "r+") as f:
        del f["history"][f"{count:06d}"]  # the last one
    with Project.open(path) as reopened:
        assert len(reopened.history) == count
        assert reopened.history[-1]["action"] == "unreadable history entry"
