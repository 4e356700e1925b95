"""Referenced images that moved are found again by name and content."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.errors import ProjectError
from matlab_gui.project import ClassDef, Project


def test_relink_finds_moved_images_by_name_and_bytes(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new" / "deeper"
    old.mkdir()
    new.mkdir(parents=True)
    data = [np.full((20, 30), 40 * k, np.uint8) for k in range(3)]
    with Project.create(tmp_path / "p.mgp", [ClassDef(1, "a", (255, 0, 0))]) as p:
        ids = []
        for k in range(3):
            tifffile.imwrite(old / f"img{k}.tif", data[k])
            ids.append(p.add_image(old / f"img{k}.tif", embed=False))
        for k in range(3):
            (old / f"img{k}.tif").rename(new / f"img{k}.tif")
        tifffile.imwrite(new / "img2.tif", data[2] + 1)  # same name, other content: not it
        assert p.missing_images() == ids
        with pytest.raises(ProjectError, match="Relink"):
            p.read_image(ids[0])
        assert p.relink(tmp_path / "new") == ids[:2]
        assert np.array_equal(p.read_image(ids[1]), data[1])
        assert p.missing_images() == [ids[2]]
        p.save()
    with Project.open(tmp_path / "p.mgp") as again:
        assert again.record(ids[0]).source_path == str((new / "img0.tif").resolve())
