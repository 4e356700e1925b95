"""Project round trips: what goes in comes back, after save + reopen and after save_as."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matlab_gui.errors import ProjectError
from matlab_gui.project import PROJECT_SUFFIX, ClassDef, Project

colors = st.tuples(*[st.integers(0, 255)] * 3)
class_lists = st.lists(
    st.builds(ClassDef, st.integers(1, 400), st.text(max_size=12), colors),
    max_size=6,
    unique_by=lambda c: c.index,
)
pixel_sizes = st.none() | st.floats(1e-10, 1e-3)


@st.composite
def images(draw):
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    mask = None
    if draw(st.booleans()):
        mask = rng.integers(0, np.iinfo(dtype).max, (h, w), endpoint=True).astype(dtype)
    return {
        "data": rng.integers(0, 255, (h, w), dtype=np.uint8),
        "mask": mask,
        "label": draw(st.none() | st.integers(1, 400)),
        "pixel_size": draw(pixel_sizes),
    }


def _fill(project: Project, classes, imgs, actions) -> list[str]:
    project.set_classes(classes)
    ids = []
    for k, img in enumerate(imgs):
        image_id = project.add_image(f"img{k}.tif", data=img["data"])
        project.set_pixel_size(image_id, img["pixel_size"])
        project.set_label(image_id, img["label"])
        if img["mask"] is not None:
            project.set_mask(image_id, img["mask"])
        ids.append(image_id)
    for action in actions:
        project.log(action, n=len(action))
    project.settings = {"zoom": 1.5, "last": ids[-1] if ids else None}
    return ids


def _check(project: Project, classes, imgs, ids, actions) -> None:
    assert project.classes == sorted(classes, key=lambda c: c.index)
    assert project.image_ids == ids
    for image_id, img in zip(ids, imgs, strict=True):
        record = project.record(image_id)
        assert record.shape == img["data"].shape and record.dtype == "uint8"
        assert record.pixel_size_m == img["pixel_size"]
        assert project.get_label(image_id) == img["label"]
        np.testing.assert_array_equal(project.read_image(image_id), img["data"])
        mask = project.get_mask(image_id)
        if img["mask"] is None:
            assert not record.has_mask and not mask.any() and mask.shape == img["data"].shape
        else:
            assert record.has_mask and mask.dtype == img["mask"].dtype
            np.testing.assert_array_equal(mask, img["mask"])
    logged = [h["action"] for h in project.history if h["action"] not in ("add image", "save")]
    assert logged == ["create project", *actions]
    assert project.settings == {"zoom": 1.5, "last": ids[-1] if ids else None}


@settings(max_examples=25, deadline=None)
@given(
    classes=class_lists,
    imgs=st.lists(images(), max_size=4),
    actions=st.lists(st.text(min_size=1, max_size=10), max_size=3),
)
def test_round_trip_through_save_reopen_and_save_as(classes, imgs, actions):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"p{PROJECT_SUFFIX}"
        with Project.create(path) as project:
            ids = _fill(project, classes, imgs, actions)
            _check(project, classes, imgs, ids, actions)  # before saving
            project.save()
            assert not project.dirty
            _check(project, classes, imgs, ids, actions)
        with Project.open(path) as project:
            _check(project, classes, imgs, ids, actions)
            project.log("copy")
            project.save_as(Path(tmp) / "copy.mgp")
            assert project.path.name == "copy.mgp" and not project.dirty
        with Project.open(Path(tmp) / "copy.mgp") as project:
            _check(project, classes, imgs, ids, [*actions, "copy"])
        with Project.open(path) as project:  # the original is unchanged by save_as
            _check(project, classes, imgs, ids, actions)


def test_predictions_models_and_removal(tmp_path):
    project = Project.create(tmp_path / "p.mgp", classes=[ClassDef(1, "matrix", (255, 0, 0))])
    a = project.add_image("a.png", data=np.zeros((8, 9), np.uint16))
    b = project.add_image("b.png", data=np.ones((8, 9), np.uint8))
    assert project.get_prediction(a) is None
    labels = np.arange(72, dtype=np.uint8).reshape(8, 9)
    probs = np.random.default_rng(0).random((2, 8, 9))
    project.set_prediction(a, labels, probs, model_name="m")
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "card.json").write_text('{"task": "segmentation"}')
    (folder / "model.safetensors").write_bytes(b"\x00\x01weights")
    project.store_model("m", folder)
    project.current_model = "m"
    c = project.add_image("c.png", data=np.ones((3, 3), np.uint8))
    project.set_prediction(c, np.array(1), np.array([0.2, 0.8]))  # classification
    project.remove_image(b)
    project.save()
    project.close()

    with Project.open(tmp_path / "p.mgp") as project:
        assert project.image_ids == [a, c]
        label, probabilities = project.get_prediction(c)
        assert label == 1 and np.allclose(probabilities, [0.2, 0.8], atol=1e-3)
        assert project.record(a).dtype == "uint16" and project.record(a).has_prediction
        got_labels, got_conf = project.get_prediction(a)
        np.testing.assert_array_equal(got_labels, labels)
        assert got_conf.dtype == np.float32  # the float type MATLAB and Fiji read
        np.testing.assert_array_equal(got_conf, np.asarray(probs, np.float32))
        assert project.model_names() == ["m"] and project.current_model == "m"
        out = project.export_model("m", tmp_path / "exported")
        assert (out / "model.safetensors").read_bytes() == b"\x00\x01weights"
        assert (out / "card.json").read_text() == '{"task": "segmentation"}'
        with pytest.raises(ProjectError, match="no model"):
            project.current_model = "other"


def test_images_from_files_embedded_or_referenced(tmp_path):
    """Read through matlab_gui.imaging: dtype, shape, sha256 and the file's pixel size."""
    tifffile = pytest.importorskip("tifffile")
    source = tmp_path / "calibrated.tif"
    data = np.arange(30 * 20, dtype=np.uint16).reshape(30, 20)
    tifffile.imwrite(source, data, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"})
    project = Project.create(tmp_path / "p.mgp")
    embedded = project.add_image(source)
    referenced = project.add_image(source, embed=False)
    project.save()
    for image_id in (embedded, referenced):
        record = project.record(image_id)
        assert record.shape == (30, 20) and record.dtype == "uint16" and len(record.sha256) == 64
        assert record.pixel_size_m == pytest.approx(5e-7)
        np.testing.assert_array_equal(project.read_image(image_id), data)
    assert project.record(embedded).embedded and not project.record(referenced).embedded
    project.close()
    source.write_bytes(source.read_bytes() + b"changed")
    with Project.open(tmp_path / "p.mgp") as project:
        np.testing.assert_array_equal(project.read_image(embedded), data)
        with pytest.raises(ProjectError, match="changed since it was added"):
            project.read_image(referenced)
    source.unlink()
    with Project.open(tmp_path / "p.mgp") as project, pytest.raises(ProjectError, match="missing"):
        project.read_image(referenced)


def test_mask_dtype_follows_class_count_and_shape_is_checked(tmp_path):
    project = Project.create(tmp_path / "p.mgp", classes=[ClassDef(300, "many", (1, 2, 3))])
    image_id = project.add_image("a.png", data=np.zeros((5, 6), np.uint8))
    assert project.get_mask(image_id).dtype == np.uint16
    with pytest.raises(ValueError, match="shape"):
        project.set_mask(image_id, np.zeros((6, 5), np.uint8))
    project.set_mask(image_id, np.full((5, 6), 7, np.int64))
    assert project.get_mask(image_id).dtype == np.uint8


def test_create_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "p.mgp"
    Project.create(path).close()
    with pytest.raises(ProjectError, match="already exists"):
        Project.create(path)
    Project.create(path, overwrite=True).close()


def test_failed_save_keeps_the_file_and_the_unsaved_work(tmp_path, monkeypatch):
    from matlab_gui.project import changes

    path = tmp_path / "p.mgp"
    project = Project.create(path)
    image_id = project.add_image("a.png", data=np.zeros((4, 4), np.uint8))
    project.save()
    before = path.read_bytes()
    project.set_mask(image_id, np.ones((4, 4), np.uint8))

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    with monkeypatch.context() as m:
        m.setattr(changes, "write_array", disk_full)
        with pytest.raises(ProjectError, match="disk full"):
            project.save()
    assert path.read_bytes() == before and project.dirty
    assert project.get_mask(image_id).sum() == 16
    project.save()
    project.close()
    assert Project.open(path).get_mask(image_id).sum() == 16


def test_a_second_project_on_the_same_file_sees_saves(tmp_path):
    """E.g. the GUI saves while a training job reads: both stay consistent."""
    path = tmp_path / "p.mgp"
    writer = Project.create(path)
    image_id = writer.add_image("a.png", data=np.zeros((300, 300), np.uint8))
    writer.save()
    reader = Project.open(path)
    assert not reader.get_mask(image_id).any()
    for k in range(1, 4):
        writer.set_mask(image_id, np.full((300, 300), k, np.uint8))
        writer.add_image(f"b{k}.png", data=np.full((200, 200), k, np.uint8))
        writer.log("edit", text="x" * 1000)
        writer.save()
        assert writer.get_mask(image_id)[0, 0] == k and len(writer.history) == 3 * k + 2  # +save
        assert reader.get_mask(image_id)[0, 0] == k
        assert len(reader.image_ids) == k + 1
        assert reader.read_image(reader.image_ids[-1])[0, 0] == k
    reader.close()
    writer.close()


def test_a_thread_can_read_while_another_saves(tmp_path):
    """E.g. a training job reading images while the user paints and saves."""
    import threading

    project = Project.create(tmp_path / "p.mgp")
    ids = [project.add_image(f"{k}.png", data=np.full((64, 64), k, np.uint8)) for k in range(4)]
    project.save()
    errors, stop = [], threading.Event()

    def read_forever():
        try:
            while not stop.is_set():
                for k, image_id in enumerate(ids):
                    assert project.read_image(image_id)[0, 0] == k
                    project.get_mask(image_id)
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)

    reader = threading.Thread(target=read_forever)
    reader.start()
    for k in range(15):
        project.set_mask(ids[k % 4], np.full((64, 64), k % 3, np.uint8))
        project.save()
    stop.set()
    reader.join()
    assert errors == []


def test_a_referenced_image_is_hashed_once_when_added_and_shown(tmp_path, monkeypatch):
    """Adding a 30k x 30k montage hashes its 1.8 GB once; showing it right after reads no more."""
    from matlab_gui.project import store

    source = tmp_path / "montage.png"
    cv2 = pytest.importorskip("cv2")
    cv2.imwrite(str(source), np.full((20, 30), 7, np.uint8))
    hashed = []
    real = store._sha256
    monkeypatch.setattr(store, "_sha256", lambda p: hashed.append(p) or real(p))
    with Project.create(tmp_path / "p.mgp") as project:
        image_id = project.add_image(source, embed=False)
        assert project.read_image(image_id).mean() == 7
        assert len(hashed) == 1
        project.save()
    with Project.open(tmp_path / "p.mgp") as project:  # a later session checks the file again
        project.read_image(image_id)
        assert len(hashed) == 2
