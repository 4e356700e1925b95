"""The Measurements dock in the real window: split touching particles of a ticked class, a
per-particle table, the particles outlined and numbered on the image, CSV export."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from tests.imaging.test_imaging_particles import touching_disks


@pytest.fixture
def disks(window, tmp_path, qtbot):
    """Touching disks painted as class 2 on a 400 x 400 micrograph, the rest class 1."""
    mask, count = touching_disks(0)
    image = tmp_path / "disks.tif"
    tifffile.imwrite(image, np.where(mask == 1, 180, 60).astype(np.uint8))
    window.open_paths([image])
    s = window.session
    s.assign(np.where(mask == 1, 2, 1).astype(np.uint8))
    panel = window.model_features.measurements
    yield window, panel, count
    window.model_features.close()


def measured(qtbot, panel):
    with qtbot.waitSignal(panel.worker.finished, timeout=10000):
        panel.measure.click()
    return panel.view.measurement


def column(panel, name) -> list[str]:
    header = [panel.table.horizontalHeaderItem(c).text() for c in range(panel.table.columnCount())]
    c = header.index(name)
    return [panel.table.item(r, c).text() for r in range(panel.table.rowCount())]


def test_ticking_a_class_splits_its_touching_particles(qtbot, disks):
    window, panel, count = disks
    names = [panel.split.item(i).text() for i in range(panel.split.count())]
    assert names == [c.name for c in window.session.project.classes]
    measured(qtbot, panel)
    assert column(panel, "particles")[1] == "9"  # one per cluster
    panel.set_split([names[1]])
    assert panel.spec().split == (names[1],)  # what a batch run from the window measures with
    measured(qtbot, panel)
    assert column(panel, "particles")[1] == str(count)
    assert column(panel, "particles")[0] == "1"  # the matrix, not ticked, is not split


def test_per_particle_table_outlines_and_export(qtbot, disks, tmp_path):
    window, panel, count = disks
    panel.set_split([panel.split.item(1).text()])
    m = measured(qtbot, panel)
    panel.table_kind.setCurrentText("Per particle")
    assert panel.table.rowCount() == count + 1
    ids = set(map(int, column(panel, "id")))
    assert ids == set(range(1, count + 2))
    assert panel.outlines.tile_count > 0
    shown = {int(t.toPlainText()) for t in panel.id_items}
    disk_ids = {c.particles.first_id + i for c in m.classes[2:] for i in range(len(c.particles.table))}
    assert shown == disk_ids  # the split class is shown first: every disk numbered
    codes = panel.outlines.mask
    assert codes[m.labels > 1].any() and not codes[m.labels == 1].any()
    panel.size_class.setCurrentIndex(0)  # the matrix
    assert {int(t.toPlainText()) for t in panel.id_items} == {1}
    codes = panel.outlines.mask
    assert codes[m.labels == 1].any() and not codes[m.labels > 1].any()
    panel.export_csv(tmp_path / "p.csv")
    with (tmp_path / "p.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == count + 1 and "Feret max (px)" in rows[0]
    panel.show_particles.setChecked(False)
    assert panel.outlines.tile_count == 0 and not panel.id_items


def test_the_edge_rule_and_minimum_area_are_stated(qtbot, disks):
    window, panel, count = disks
    mask = window.session.editor.mask.copy()
    mask[0:3, 0:3] = 2  # a 9 px speck on the corner
    window.session.assign(mask)
    measured(qtbot, panel)
    assert column(panel, "measured")[1] == "9"
    assert "1 particle cut by the image edge" in panel.notes.text()
    panel.min_area.setValue(10)
    measured(qtbot, panel)
    assert column(panel, "particles")[1] == "9"
    assert "1 particle below the minimum area removed" in panel.notes.text()


def test_another_image_clears_the_measurement(qtbot, disks, tmp_path):
    window, panel, _ = disks
    measured(qtbot, panel)
    other = tmp_path / "other.tif"
    tifffile.imwrite(other, np.zeros((50, 50), np.uint8))
    window.open_paths([other])
    assert panel.view is None and panel.table.rowCount() == 0 and panel.outlines.tile_count == 0


def test_grain_size_from_the_boundary_class(qtbot, window, tmp_path):
    from tests.imaging.test_imaging_grain_size import PIXEL, class_mask, expected_G, voronoi

    labels, density = voronoi((500, 500), 1200.0, seed=2)
    image = tmp_path / "grains.tif"
    tifffile.imwrite(image, np.full((500, 500), 90, np.uint8))
    window.open_paths([image])
    s, panel = window.session, window.model_features.measurements
    s.set_pixel_size(PIXEL)
    s.assign(class_mask(labels))  # 1 grain, 2 boundary
    measured(qtbot, panel)
    assert panel.grain_text.text() == ""
    panel.boundary.setCurrentText(s.project.classes[1].name)
    assert panel.spec().grain_boundary == (s.project.classes[1].name,)
    measured(qtbot, panel)
    planimetric = panel.view.grains.planimetric.G
    assert planimetric == pytest.approx(expected_G(density)[0], abs=0.15)
    assert f"G = {planimetric:.2f} (planimetric)" in panel.grain_text.text()
    s.assign(np.ones((500, 500), np.uint8))  # no boundary painted now
    with qtbot.waitSignal(panel.worker.failed, timeout=10000):
        panel.measure.click()
    assert "do not occur in the mask" in panel.notes.text()
    window.model_features.close()


def test_a_new_pixel_size_clears_sizes_measured_in_the_old_unit(qtbot, disks):
    window, panel, _ = disks
    measured(qtbot, panel)
    assert panel.view.measurement.length_unit == "px"
    window.workbench.set_pixel_sizes([window.session.image_id], 5e-9)
    assert panel.view is None and panel.table.rowCount() == 0
    assert measured(qtbot, panel).length_unit == "µm"
