"""One pixel size for several images at once: the scope (this image, the selection, every
image of the same width and height), one history entry, one announcement."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.project import ClassDef, Project
from matlab_gui.workbench import Session, Workbench
from matlab_gui.workbench.scale_scope import images_in_scope, same_size_images


@pytest.fixture
def bench(tmp_path):
    """Images of 40 x 50, 40 x 50 RGB, 50 x 40 (the same pixels turned) and 40 x 50 again."""
    project = Project.create(tmp_path / "p.mgp", [ClassDef(1, "a", (255, 0, 0))])
    ids = []
    for k, shape in enumerate([(40, 50), (40, 50, 3), (50, 40), (40, 50)]):
        path = tmp_path / f"img{k}.tif"
        data = np.full(shape, 10 * k, np.uint8)
        if len(shape) == 3:
            data[..., 0] = 200  # a colour image (grey ones in RGB files are read as grey)
        tifffile.imwrite(path, data)
        ids.append(project.add_image(path))
    wb = Workbench()
    seen = []
    wb.events.pixel_size.connect(seen.append)
    wb.open(Session(project))
    wb.select(ids[0])
    yield wb, ids, seen
    wb.close()


def test_same_size_means_the_same_width_and_height(bench):
    wb, ids, _ = bench
    assert wb.project.record(ids[1]).shape == (40, 50, 3)
    assert same_size_images(wb.project, ids[0]) == [ids[0], ids[1], ids[3]]
    assert same_size_images(wb.project, ids[2]) == [ids[2]]


def test_the_scopes_name_the_images(bench):
    wb, ids, _ = bench
    p = wb.project
    assert images_in_scope(p, ids[0], "image") == [ids[0]]
    assert images_in_scope(p, ids[0], "selected", [ids[3], ids[2]]) == [ids[2], ids[3]]
    assert images_in_scope(p, ids[0], "selected", []) == [ids[0]]
    assert images_in_scope(p, ids[0], "selected", ["gone"]) == [ids[0]]
    assert images_in_scope(p, ids[1], "same_size") == [ids[0], ids[1], ids[3]]
    with pytest.raises(ValueError, match="unknown scope"):
        images_in_scope(p, ids[0], "everything")


def test_one_pixel_size_for_the_same_size_images_is_one_change(bench):
    wb, ids, seen = bench
    targets = images_in_scope(wb.project, ids[0], "same_size")
    history = len(wb.project.history)
    assert wb.set_pixel_sizes(targets, 25e-9) == targets
    sizes = [wb.project.record(i).pixel_size_m for i in ids]
    assert sizes == [25e-9, 25e-9, None, 25e-9]
    assert wb.session.record.pixel_size_m == 25e-9  # what hover and the scale bar read
    assert seen == [targets]
    entries = wb.project.history[history:]
    assert [e["action"] for e in entries] == ["set pixel size"]
    assert entries[0]["details"] == {"metres": 25e-9, "ids": targets}


def test_setting_what_is_already_set_changes_nothing_and_announces_nothing(bench):
    wb, ids, seen = bench
    wb.set_pixel_sizes([ids[0], ids[1]], 5e-9)
    assert wb.set_pixel_sizes([ids[0], ids[1], ids[2]], 5e-9) == [ids[2]]
    assert wb.set_pixel_sizes([ids[0]], 5e-9) == []
    assert seen == [[ids[0], ids[1]], [ids[2]]]


def test_zero_or_none_clears_the_pixel_size(bench):
    wb, ids, _ = bench
    wb.set_pixel_sizes(ids, 1e-6)
    wb.set_pixel_sizes([ids[1]], 0)
    assert wb.project.record(ids[1]).pixel_size_m is None
    wb.session.set_pixel_size(None)
    assert wb.session.record.pixel_size_m is None
