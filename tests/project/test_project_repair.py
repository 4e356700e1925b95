"""Repair mode: `diagnose` names what is missing or inconsistent in a damaged project (never a
KeyError), and `save_repaired_copy` writes a new, normal project with everything intact and each
problem resolved as diagnosed, leaving the damaged file untouched.

Every damaged file is a real project (Project.create + add_image + set_mask + save) edited with
h5py the way another tool, a crash or a bad disk would."""

from __future__ import annotations

import hashlib
import json
import shutil

import h5py
import numpy as np
import pytest

from matlab_gui.cli import main
from matlab_gui.errors import DataError, ProjectError, SchemaTooNewError
from matlab_gui.progress import Cancelled, CancelToken
from matlab_gui.project import ClassDef, Project, repair
from matlab_gui.project.journal import journal_path
from matlab_gui.project.repair import diagnose, save_repaired_copy

CLASSES = [ClassDef(1, "matrix", (200, 0, 0)), ClassDef(2, "pore", (0, 0, 200))]
SHAPE = (20, 30)


def _mask(k: int) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[:10] = 1
    mask[10:, : 10 * (k + 1)] = 2
    return mask


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """Three 20 x 30 images with masks; the first with a prediction, the second labelled;
    a stored model that is current."""
    folder = tmp_path_factory.mktemp("repair")
    model = folder / "model"
    model.mkdir()
    (model / "card.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"weights")
    path = folder / "base.mgp"
    with Project.create(path, CLASSES) as project:
        ids = [project.add_image(f"img{k}.png", data=np.full(SHAPE, 40 * k, np.uint8),
                                 pixel_size_m=5e-9) for k in range(3)]
        for k, image_id in enumerate(ids):
            project.set_mask(image_id, _mask(k))
        project.set_prediction(ids[0], _mask(0), np.full((2, *SHAPE), 0.5, np.float32), "m")
        project.set_label(ids[1], 2)
        project.store_model("m", model)
        project.current_model = "m"
        project.settings = {"tool": "brush"}
        project.save()
    return path, ids


def _damaged(base, tmp_path, edit):
    path, ids = base
    copy = tmp_path / "damaged.mgp"
    shutil.copyfile(path, copy)
    with h5py.File(copy, "r+") as f:
        edit(f, ids)
    return copy


def _replace_mask(f, image_id, data):
    del f["masks"][image_id]
    f["masks"].create_dataset(image_id, data=data)


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _kinds(problems) -> list[tuple[str, str | None]]:
    return [(p.kind, p.image) for p in problems]


def test_a_healthy_project_has_no_problems(base):
    path, _ = base
    assert diagnose(path) == []
    assert diagnose(path, read_masks=True) == []


# -- what the diagnosis says and what the copy then holds --------------------------------------
def _set_attr(key, value):
    return lambda f, ids: f.attrs.__setitem__(key, value)


def _delete(*names):
    def edit(f, ids):
        names_ = [ids[n] if isinstance(n, int) else n for n in names]
        group = f
        for name in names_[:-1]:
            group = group[name]
        del group[names_[-1]]
    return edit


def _records(edit_records):
    def edit(f, ids):
        records = json.loads(f.attrs["images"])
        edit_records(records)
        f.attrs["images"] = json.dumps(records)
    return edit


def _check_all_masks(project, ids):
    for k, image_id in enumerate(ids):
        assert np.array_equal(project.get_mask(image_id), _mask(k))


def _copy_keeps_everything(project, ids):
    assert project.image_ids == ids
    _check_all_masks(project, ids)
    assert project.get_label(ids[1]) == 2
    assert project.model_names() == ["m"] and project.current_model == "m"
    assert project.get_prediction(ids[0]) is not None


def _no_mask(k):
    def check(project, ids):
        assert not project.record(ids[k]).has_mask
        assert not project.get_mask(ids[k]).any()
        for j in (j for j in range(3) if j != k):
            assert np.array_equal(project.get_mask(ids[j]), _mask(j))
    return check


def _left_out(project, ids):
    assert project.image_ids == [ids[0], ids[2]]
    assert np.array_equal(project.get_mask(ids[2]), _mask(2))


def _negatives_unlabelled(project, ids):
    mask = project.get_mask(ids[0])
    assert mask.dtype == np.uint8
    assert not mask[:10].any() and (mask[10:] == 2).all()


def _placeholder_7(project, ids):
    assert [(c.index, c.name) for c in project.classes] == [
        (1, "matrix"), (2, "pore"), (7, "class 7 (found in masks)")]
    assert (project.get_mask(ids[0])[:5] == 7).all()


def _history_restarted(project, ids):
    assert [h["action"] for h in project.history] == ["repair project"]
    _copy_keeps_everything(project, ids)


def _rebuilt_records(project, ids):
    assert sorted(project.image_ids) == sorted(ids)
    assert [project.record(i).name for i in ids] == ["img0.png", "img1.png", "img2.png"]
    assert project.record(ids[0]).pixel_size_m == pytest.approx(5e-9)
    _check_all_masks(project, ids)


def _classes_from_arrays(project, ids):
    assert project.classes == CLASSES
    _check_all_masks(project, ids)


def _no_masks(project, ids):
    assert not any(project.record(i).has_mask for i in ids)


def _no_prediction(project, ids):
    assert project.get_prediction(ids[0]) is None
    _check_all_masks(project, ids)


def _no_model(project, ids):
    assert project.model_names() == [] and project.current_model is None
    _check_all_masks(project, ids)


def _no_current_model(project, ids):
    assert project.model_names() == ["m"] and project.current_model is None


def _default_settings(project, ids):
    assert project.settings == {}
    _check_all_masks(project, ids)


def _label_placeholder(project, ids):
    assert project.get_label(ids[1]) == 9
    assert project.classes[-1].name == "class 9 (found in image labels)"


def _bigger_pixels(project, ids):
    assert project.record(ids[1]).shape == (20, 30)
    assert project.read_image(ids[1]).shape == (20, 30)


def _bad_history_line(f, ids):
    entries = f["history"]
    entries.create_dataset(f"{len(entries) + 1:06d}", data=np.bytes_(b"{not json"))


def _kept_good_history(project, ids):
    actions = [h["action"] for h in project.history]
    assert actions[0] == "create project" and actions[-1] == "repair project"
    assert "unreadable history entry" not in actions


def _mask_rows(data):
    def edit(f, ids):
        _replace_mask(f, ids[0], data)
    return edit


INT8 = np.where(np.arange(20)[:, None] < 10, -1, 2).astype(np.int8) * np.ones(SHAPE, np.int8)
NAN = np.where(np.arange(20)[:, None] < 10, np.nan, 2.0) * np.ones(SHAPE)
SEVEN = _mask(0).copy()
SEVEN[:5] = 7

CASES = {
    # name: (damage, kind and image (0..2 or None) of the problem, whether only mask values
    # show it, what the copy holds)
    "schema version": (_set_attr("schema_version", "x"), ("schema", None), False,
                       _copy_keeps_everything),
    "format": (lambda f, ids: f.attrs.__delitem__("format"), ("schema", None), False,
               _copy_keeps_everything),
    "missing mask": (_delete("masks", 0), ("mask", 0), False, _no_mask(0)),
    "missing image": (_delete("images", 1), ("image", 1), False, _left_out),
    "mask shape": (_mask_rows(np.ones((10, 10), np.uint8)), ("mask", 0), False, _no_mask(0)),
    "3-D mask": (_mask_rows(np.ones((*SHAPE, 3), np.uint8)), ("mask", 0), False, _no_mask(0)),
    "int8 -1": (_mask_rows(INT8), ("mask", 0), False, _negatives_unlabelled),
    "NaN": (_mask_rows(NAN), ("mask", 0), False, _negatives_unlabelled),
    "above classes": (_mask_rows(SEVEN), ("mask-values", 0), True, _placeholder_7),
    "history": (_delete("history"), ("history", None), False, _history_restarted),
    "image list": (_set_attr("images", "{broken"), ("images", None), False, _rebuilt_records),
    "class list": (_set_attr("classes", "[{]"), ("classes", None), False, _classes_from_arrays),
    "masks group": (_delete("masks"), ("group", None), False, _no_masks),
    "prediction": (_delete("predictions", 0, "labels"), ("prediction", 0), False, _no_prediction),
    "model file": (_delete("models", "m", "card.json"), ("model", None), False, _no_model),
    "hostile model": (_set_attr("models", json.dumps({"../m": ["card.json"]})), ("model", None),
                      False, _no_model),
    "current model": (_set_attr("current_model", "gone"), ("model", None), False,
                      _no_current_model),
    "settings": (_set_attr("settings", "[1, 2"), ("metadata", None), False, _default_settings),
    "label": (_records(lambda rs: rs[1].update(label=9)), ("label", 1), False,
              _label_placeholder),
    "record shape": (_records(lambda rs: rs[1].update(shape=[5, 5])), ("image", 1), False,
                     _bigger_pixels),
    "history lines": (_bad_history_line, ("history", None), False, _kept_good_history),
    "repeated id": (_records(lambda rs: rs.append(dict(rs[0]))), ("metadata", 0), False,
                    _copy_keeps_everything),
    "record field": (_records(lambda rs: rs[1].update(pixel_size_m="big")), ("metadata", 1),
                     False, _copy_keeps_everything),
}


@pytest.mark.parametrize("case", CASES)
def test_each_damage_is_diagnosed_and_the_copy_resolves_it(base, tmp_path, case):
    edit, (kind, image), values_only, check = CASES[case]
    path = _damaged(base, tmp_path, edit)
    _, ids = base
    expected = (kind, None if image is None else f"img{image}.png")
    cheap = diagnose(path)
    assert (expected in _kinds(cheap)) != values_only
    full = diagnose(path, read_masks=True)
    assert expected in _kinds(full)
    assert all(p.what and p.fix for p in full)
    before = _sha(path)
    done = save_repaired_copy(path, tmp_path / "fixed.mgp")
    assert _sha(path) == before  # the damaged file is only read
    assert done.copy == tmp_path / "fixed.mgp" and list(done.problems) == full
    assert diagnose(done.copy, read_masks=True) == []
    with Project.open(done.copy) as project:
        check(project, ids)
        assert project.history[-1]["action"] == "repair project"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mgp", "fixed.mgp"]


# a project does without these: the JSON twin of the class arrays, the save counter, the
# current model, a prediction's confidence
OPTIONAL = ("class_values", "class_names", "class_colors", "generation", "current_model")


def test_every_object_and_attribute_lost_in_turn_is_a_problem_never_a_traceback(base, tmp_path):
    """Whatever one thing is deleted, diagnose names a problem and the copy is healthy."""
    path, _ = base
    with h5py.File(path, "r") as f:
        names = []
        f.visit(names.append)
        attrs = list(f.attrs)
    damage = [("object", n) for n in names if not n.startswith("by_name")]
    damage += [("attribute", a) for a in attrs]
    for what, name in damage:
        copy = tmp_path / "d.mgp"
        shutil.copyfile(path, copy)
        with h5py.File(copy, "r+") as f:
            del (f if what == "object" else f.attrs)[name]
        problems = diagnose(copy, read_masks=True)
        if name in OPTIONAL or name.endswith("/confidence"):
            assert problems == [], (what, name)
            continue
        assert problems, f"{what} {name} lost, nothing found"
        fixed = tmp_path / "fixed.mgp"
        save_repaired_copy(copy, fixed, overwrite=True)
        assert diagnose(fixed, read_masks=True) == [], (what, name)


def test_cheap_diagnose_reads_no_pixels_masks_or_predictions(base, tmp_path, monkeypatch):
    """What the window runs at every open: attributes, shapes and types only."""
    path = _damaged(base, tmp_path, _delete("masks", 0))
    read = h5py.Dataset.__getitem__

    def guarded(self, args, *rest, **kwargs):
        if self.name.startswith(("/images", "/masks", "/predictions")):
            raise AssertionError(f"read {self.name}")
        return read(self, args, *rest, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", guarded)
    assert _kinds(diagnose(path)) == [("mask", "img0.png")]
    with pytest.raises(AssertionError, match="/masks/"):
        diagnose(path, read_masks=True)


# -- files that are no project, and the copy's own guarantees ------------------------------------
def test_what_is_no_project_stays_a_project_error(tmp_path):
    (tmp_path / "text.mgp").write_text("hello")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"] = [1, 2]
    for name, problem in [("missing.mgp", "no such file"), ("text.mgp", "not an HDF5 file"),
                          ("other.h5", "HDF5 without project data")]:
        with pytest.raises(ProjectError, match=problem):
            diagnose(tmp_path / name)
        with pytest.raises(ProjectError, match=problem):
            save_repaired_copy(tmp_path / name, tmp_path / "out.mgp")
    assert not (tmp_path / "out.mgp").exists()


def test_a_newer_schema_is_not_damage(base, tmp_path):
    path = _damaged(base, tmp_path, _set_attr("schema_version", 99))
    with pytest.raises(SchemaTooNewError, match="update the app"):
        diagnose(path)


def test_the_copy_never_replaces_the_damaged_project_or_an_existing_file(base, tmp_path):
    path = _damaged(base, tmp_path, _delete("history"))
    with pytest.raises(ProjectError, match="must be a new file"):
        save_repaired_copy(path, path, overwrite=True)
    (tmp_path / "taken.mgp").write_bytes(b"mine")
    with pytest.raises(ProjectError, match="already exists"):
        save_repaired_copy(path, tmp_path / "taken.mgp")
    assert (tmp_path / "taken.mgp").read_bytes() == b"mine"
    with pytest.raises(ProjectError, match="folder does not exist"):
        save_repaired_copy(path, tmp_path / "nowhere" / "x.mgp")


def test_a_copy_onto_a_project_open_in_a_window_is_refused(base, tmp_path):
    path = _damaged(base, tmp_path, _delete("history"))
    target = tmp_path / "open.mgp"
    with Project.create(target, exclusive=True), pytest.raises(ProjectError, match="another window"):
        save_repaired_copy(path, target, overwrite=True)


def test_a_cancelled_or_failed_copy_leaves_nothing(base, tmp_path, monkeypatch):
    """Nor does it harm the file it was to replace: the copy appears whole or not at all."""
    path = _damaged(base, tmp_path, _delete("masks", 0))
    old = tmp_path / "old.mgp"
    old.write_bytes(b"the previous copy")
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        save_repaired_copy(path, tmp_path / "fixed.mgp", cancel=token)
    with pytest.raises(Cancelled):
        save_repaired_copy(path, old, overwrite=True, cancel=token)
    calls = []

    def fail_second(self, record):
        calls.append(record)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(repair._Copy, "image", fail_second)
    with pytest.raises(ProjectError, match="cannot write the repaired copy: No space left"):
        save_repaired_copy(path, old, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["damaged.mgp", "old.mgp"]
    assert old.read_bytes() == b"the previous copy"


def test_an_interrupted_save_is_finished_by_opening_not_by_repair(base, tmp_path):
    path = _damaged(base, tmp_path, _delete("history"))
    journal_path(path).write_bytes(b"not applied yet")
    assert ("journal", None) in _kinds(diagnose(path))
    with pytest.raises(ProjectError, match="open the project once"):
        save_repaired_copy(path, tmp_path / "fixed.mgp")


def test_progress_names_each_image(base, tmp_path):
    path = _damaged(base, tmp_path, _delete("history"))
    events = []
    save_repaired_copy(path, tmp_path / "fixed.mgp", progress=events.append)
    assert [e.message for e in events[:3]] == ["img0.png", "img1.png", "img2.png"]
    assert (events[-1].done, events[-1].total) == (3, 3)


# -- opening what is intact read-only -------------------------------------------------------------
@pytest.mark.parametrize("edit, reader, problem", [
    (_delete("masks", 0), "get_mask", "masks/.* is missing"),
    (_mask_rows(np.ones((10, 10), np.uint8)), "get_mask", "mask of 'img0.png' is damaged"),
    (_mask_rows(INT8), "get_mask", "mask of 'img0.png' is damaged \\(int8"),
    (_mask_rows(np.ones((*SHAPE, 3), np.uint8)), "get_mask", "mask of 'img0.png' is damaged"),
    (_delete("images", 0), "read_image", "images/.* is missing"),
    (_delete("predictions", 0, "labels"), "get_prediction", "no labels"),
])
def test_read_only_open_reads_what_is_intact_and_names_what_is_not(base, tmp_path, edit, reader,
                                                                  problem):
    path = _damaged(base, tmp_path, edit)
    _, ids = base
    with Project.open(path, readonly=True) as project:
        with pytest.raises(ProjectError, match=problem) as caught:
            getattr(project, reader)(ids[0])
        assert "\n" not in str(caught.value)
        assert np.array_equal(project.get_mask(ids[2]), _mask(2))
        assert project.read_image(ids[2]).shape == SHAPE


def test_training_refuses_mask_values_that_are_no_class(base, tmp_path):
    from matlab_gui.ml.data import ProjectSegmentation, prepare_segmentation
    from matlab_gui.ml.zoo import default_card

    path = _damaged(base, tmp_path, _mask_rows(SEVEN))
    _, ids = base
    card = default_card("segmentation", "unet", ["matrix", "pore"], in_channels=1, input_size=64)
    with Project.open(path) as project:
        source = ProjectSegmentation(project)
        with pytest.raises(DataError, match=r"mask values \[7\] are not classes \[1, 2\]"):
            prepare_segmentation(source, ids, card)


# -- the command line ------------------------------------------------------------------------------
def test_repair_command_lists_problems_and_exits_1(base, tmp_path, capsys):
    path, _ = base
    assert main(["repair", str(path)]) == 0
    assert "no problems" in capsys.readouterr().out
    damaged = _damaged(base, tmp_path, _mask_rows(SEVEN))
    assert main(["repair", str(damaged)]) == 1
    out, err = capsys.readouterr()
    assert "img0.png" in out and "value 7, which is no class" in out
    assert "--out" in err
    assert main(["repair", str(damaged), "--json"]) == 1
    found = json.loads(capsys.readouterr().out)
    assert not found["healthy"] and found["problems"][0]["kind"] == "mask-values"


def test_repair_command_writes_the_copy(base, tmp_path, capsys):
    damaged = _damaged(base, tmp_path, _delete("images", 1))
    out = tmp_path / "fixed.mgp"
    assert main(["repair", str(damaged), "--out", str(out), "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["images"], done["left_out"], done["copy"]) == (2, 1, str(out))
    assert diagnose(out) == []
    assert main(["repair", str(damaged), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0]
    (tmp_path / "text.mgp").write_text("x")
    assert main(["repair", str(tmp_path / "text.mgp")]) == 2
    assert "not an HDF5 file" in capsys.readouterr().err


def test_info_on_a_damaged_project_points_at_repair(base, tmp_path, capsys):
    broken = _damaged(base, tmp_path, _set_attr("schema_version", "x"))
    assert main(["info", str(broken)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "schema version 'x'" in err[0] and "matlab-gui repair" in err[0]
    shutil.copyfile(base[0], tmp_path / "p.mgp")
    with h5py.File(tmp_path / "p.mgp", "r+") as f:
        del f["masks"][base[1][0]]
    assert main(["info", str(tmp_path / "p.mgp"), "--json"]) == 0
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert any("matlab-gui repair" in n for n in notes)
    assert main(["info", str(base[0]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
