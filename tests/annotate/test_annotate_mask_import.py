"""Planning a mask import: every file onto the right image with the right classes, or listed
with the reason it is not; Image Labeler exports through their image -> label mapping."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from matlab_gui.annotate.mask_import import apply_plan, plan_import
from matlab_gui.imaging import write_mask
from matlab_gui.imaging.class_table import MaskClass, numbered, write_class_table
from matlab_gui.project import ClassDef

H, W = 12, 16
CLASSES = [ClassDef(1, "matrix", (200, 200, 200)), ClassDef(2, "precipitate", (213, 94, 0)),
           ClassDef(3, "pore", (0, 0, 255))]


def mask(seed: int, top: int = 3, low: int = 0) -> np.ndarray:
    """A mask with values low..top, different per seed (so a mask on the wrong image shows)."""
    rng = np.random.default_rng(seed)
    m = rng.integers(low, top + 1, (H, W)).astype(np.uint8)
    m.flat[: top + 1 - low] = np.arange(low, top + 1)  # every value present
    return m


def images(*names: str) -> dict[str, str]:
    return {f"id{k}": n for k, n in enumerate(names)}


def shapes(ims: dict[str, str]) -> dict[str, tuple[int, int]]:
    return dict.fromkeys(ims, (H, W))


def imported(plan, mapping) -> dict[str, np.ndarray]:
    got: dict[str, np.ndarray] = {}
    outcome = apply_plan(plan, mapping, lambda i, m: got.setdefault(i, m) is m)
    assert not outcome.failures, outcome.failures
    return got


def table(*names: str) -> list[MaskClass]:
    return numbered(list(names), [(k, k, k) for k in range(len(names))])


# -- round trips of the app's own files ----------------------------------------------------


@pytest.fixture
def exported(tmp_path):
    """`exported(fmt)`: a project's masks through the real Export masks (jobs.export_masks);
    returns (folder, image id -> name, image id -> mask). Two images share a file name."""
    from matlab_gui.jobs.export_masks import export_masks
    from matlab_gui.project import Project

    def run(fmt):
        project = Project.create(tmp_path / f"{fmt}.mgp", CLASSES)
        written = {}
        for k, name in enumerate(["a.tif", "x.tif", "x.tif", "1st image.png"]):
            image_id = project.add_image(tmp_path / f"d{k}" / name,
                                         data=np.zeros((H, W), np.uint8))
            written[image_id] = mask(k)
            project.set_mask(image_id, written[image_id])
        ims = {i: project.record(i).name for i in project.image_ids}
        export_masks(project, tmp_path / fmt, fmt)
        project.close()
        return tmp_path / fmt, ims, written

    return run


@pytest.mark.parametrize("fmt", ["png", "tiff", "mat"])
def test_exported_masks_come_back_on_their_images_with_their_classes(exported, fmt):
    folder, ims, written = exported(fmt)
    # the importing project lists the classes in another order: names decide, not numbers
    project = [ClassDef(1, "Pore", (1, 1, 1)), ClassDef(2, "matrix", (2, 2, 2)),
               ClassDef(3, "precipitate", (3, 3, 3))]
    plan = plan_import(folder, ims, project, shapes(ims))
    assert [m.image_id for m in plan.matches] == list(ims) and not plan.skipped
    assert not plan.twice and not plan.needs_zero_choice
    how = "named in masks.mat" if fmt == "mat" else "same name"
    assert all(m.how.startswith(how) for m in plan.matches)
    mapping = plan.mapping()
    assert [(r.value, r.target) for r in mapping.rows] == [(0, 0), (1, 2), (2, 3), (3, 1)]
    got = imported(plan, mapping)
    lut = np.array([0, 2, 3, 1])
    for image_id, m in written.items():
        assert np.array_equal(got[image_id], lut[m]), image_id
    assert sum(r.pixels for r in mapping.rows) == len(ims) * H * W


@pytest.mark.parametrize("fmt", ["png", "tiff", "mat"])
def test_segment_outputs_land_on_their_images(tmp_path, fmt):
    """The real `segment` writer: `<stem>_mask.png|tif` (model classes from 1), classes.csv
    with the model's names, beside overlays and probability maps that are no masks; or one
    `<stem>.mat` per image."""
    from types import SimpleNamespace

    from matlab_gui.jobs.segment import OutputMeaning, SegmentRequest, write_outputs

    ims = images("a.tif", "b.tif")
    model = ["pore", "matrix"]  # the model's order is not the project's
    meaning = OutputMeaning("m", numbered(model, [(9, 9, 9), (8, 8, 8)]))
    request = SegmentRequest("m", [], tmp_path / "out", format=fmt, overlay=True, maps=True)
    labels = {}
    for k, (image_id, name) in enumerate(ims.items()):
        labels[image_id] = mask(k, top=1)
        probabilities = np.stack([labels[image_id] == 0, labels[image_id] == 1]).astype(np.float16)
        prediction = SimpleNamespace(labels=labels[image_id], probabilities=probabilities,
                                     uncertainty=np.zeros((H, W), np.float16), confidence=None)
        micrograph = SimpleNamespace(data=np.zeros((H, W), np.uint8), meta=SimpleNamespace(
            pixel_size_m=None, path=tmp_path / name))
        write_outputs(request, Path(name).with_suffix(""), micrograph, prediction, meaning)
    plan = plan_import(tmp_path / "out", ims, CLASSES, shapes(ims))
    how = "named in" if fmt == "mat" else "name + _mask"
    assert [m.image_id for m in plan.matches] == list(ims)
    assert all(m.how.startswith(how) for m in plan.matches)
    assert plan.skipped and all("not a mask" in s.reason for s in plan.skipped)
    got = imported(plan, plan.mapping())
    lut = np.array([3, 1])  # model class 0 (pore) -> 3, class 1 (matrix) -> 1
    assert all(np.array_equal(got[i], lut[m]) for i, m in labels.items())


def test_segment_masks_of_older_versions_number_from_zero(tmp_path):
    """Before class tables, `segment` wrote the model's 0-based indices and nothing else."""
    ims = images("a.tif")
    write_mask(tmp_path / "a_mask.png", mask(1, top=1))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert plan.needs_zero_choice and plan.matches[0].how == "name + _mask"
    got = imported(plan, plan.mapping(zero_is_class=True))
    assert np.array_equal(got["id0"], mask(1, top=1) + 1)


# -- data sets that number classes from 0 ---------------------------------------------------


def test_zero_based_masks_need_the_users_word_and_keep_class_zero(tmp_path):
    ims = images("s1.tif", "s2.tif")
    written = {i: mask(k, top=2) for k, i in enumerate(ims)}
    for i, m in written.items():
        write_mask(tmp_path / ims[i].replace(".tif", ".png"), m)
    plan = plan_import(tmp_path, ims, CLASSES[:2], shapes(ims))
    assert plan.needs_zero_choice
    with pytest.raises(ValueError, match="0 is a class"):
        plan.mapping()
    as_classes = plan.mapping(zero_is_class=True)
    assert [(r.value, r.target) for r in as_classes.rows] == [(0, 1), (1, 2), (2, 0)]
    lost = [r for r in as_classes.rows if r.lost]
    assert [r.value for r in lost] == [2] and "no class 3" in lost[0].meaning
    added = plan.mapping(zero_is_class=True, add_missing=True)
    assert [(c.index, c.name) for c in added.new_classes] == [(3, "value 2")]
    got = imported(plan, added)
    assert all(np.array_equal(got[i], m + 1) for i, m in written.items())
    as_unlabelled = plan.mapping(zero_is_class=False)
    assert [(r.value, r.target) for r in as_unlabelled.rows] == [(0, 0), (1, 1), (2, 2)]


def test_a_class_table_that_names_value_zero_keeps_it(tmp_path):
    ims = images("s1.tif")
    m = mask(1, top=2)
    write_mask(tmp_path / "s1.png", m)
    (tmp_path / "classes.csv").write_text("value,name\n0,Matrix\n1,precipitate\n2,void\n")
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    rows = plan.mapping().rows
    assert [(r.value, r.target) for r in rows] == [(0, 1), (1, 2), (2, 0)]
    assert rows[2].lost and "no class “void”" in rows[2].meaning
    added = plan.mapping(add_missing=True)
    assert [(c.index, c.name) for c in added.new_classes] == [(4, "void")]
    assert np.array_equal(imported(plan, added)["id0"], np.array([1, 2, 4])[m])


def test_values_the_table_does_not_name_are_listed(tmp_path):
    ims = images("s1.tif")
    write_mask(tmp_path / "s1.png", mask(2, top=3))
    write_class_table(tmp_path, table("matrix", "precipitate"))
    rows = plan_import(tmp_path, ims, CLASSES).mapping().rows
    assert rows[-1].value == 3 and rows[-1].lost and "does not name value 3" in rows[-1].meaning


def test_nasa_super_masks_import_with_class_zero(shared_data):
    folder = shared_data / "nasa_super"
    import csv

    rows = list(csv.DictReader((folder / "files.csv").open()))[:4]
    ims = {r["stem"]: r["image"].split("/")[-1] for r in rows}
    names = [ClassDef(1, "matrix", (0, 0, 0)), ClassDef(2, "secondary", (1, 1, 1)),
             ClassDef(3, "tertiary", (2, 2, 2))]
    plan = plan_import(folder / "masks", ims, names)
    assert len(plan.matches) == 4 and plan.needs_zero_choice
    assert len(plan.skipped) == 23 - 4  # the other masks: no such image in this project
    mapping = plan.mapping(zero_is_class=True)
    total = sum(plan.counts.values())
    matrix = sum(float(r["frac_matrix"]) for r in rows) / 4
    assert plan.counts[0] / total == pytest.approx(matrix, abs=0.01)
    assert [r.target for r in mapping.rows] == [1, 2, 3]


# -- Image Labeler ----------------------------------------------------------------------------


def labeler_export(tmp_path):
    """Two export sessions with gaps in their numbering; labels.csv (what gTruth maps) as
    MATLAB's writetable writes it, with the labelling machine's Windows paths."""
    ims = images("grain_a.tif", "grain_b.tif", "grain_c.tif", "grain_d.tif")
    files = {"PixelLabelData/Label_1.png": "id2", "PixelLabelData/Label_4.png": "id0",
             "PixelLabelData_1/Label_1.png": "id3", "PixelLabelData_1/Label_3.png": "id1"}
    written = {}
    for k, (rel, image_id) in enumerate(files.items()):
        (tmp_path / rel).parent.mkdir(exist_ok=True)
        written[image_id] = mask(10 + k, top=2)
        write_mask(tmp_path / rel, written[image_id])
    lines = ["image,label"]
    for rel, image_id in files.items():
        folder, name = rel.split("/")
        lines.append(rf"C:\Users\me\scans\{ims[image_id]},C:\Users\me\export\{folder}\{name}")
    lines.append(r"C:\Users\me\scans\never_labelled.tif,")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return ims, written


def test_image_labeler_export_lands_each_mask_on_its_image(tmp_path):
    ims, written = labeler_export(tmp_path)
    write_mask(tmp_path / "PixelLabelData_1" / "Label_7.png", mask(99, top=2))  # not in the CSV
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert {m.image_id: m.how for m in plan.matches} == dict.fromkeys(written, "labels.csv")
    assert not plan.guessed
    assert [(s.source.label, s.reason) for s in plan.skipped] == [
        ("PixelLabelData_1/Label_7.png", "not in labels.csv")]
    got = imported(plan, plan.mapping(zero_is_class=False))
    assert all(np.array_equal(got[i], m) for i, m in written.items())


def test_labeler_folder_chosen_itself_finds_the_mapping_beside_it(tmp_path):
    ims, written = labeler_export(tmp_path)
    plan = plan_import(tmp_path / "PixelLabelData_1", ims, CLASSES, shapes(ims))
    assert {m.image_id for m in plan.matches} == {"id3", "id1"}
    assert any("2 label files that are not in the folder" in n for n in plan.notes)


def test_a_mapping_to_an_image_the_project_lacks_is_said(tmp_path):
    ims, _ = labeler_export(tmp_path)
    del ims["id0"]
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    reasons = {s.source.label: s.reason for s in plan.skipped}
    assert "grain_a.tif, which is not in the project" in reasons["PixelLabelData/Label_4.png"]


def test_without_a_mapping_label_n_is_a_flagged_guess_in_one_folder_only(tmp_path):
    ims = images("a.tif", "b.tif", "c.tif")
    (tmp_path / "PixelLabelData").mkdir()
    for n in (1, 3):
        write_mask(tmp_path / "PixelLabelData" / f"Label_{n}.png", mask(n, top=1))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert [(m.image_id, m.guess) for m in plan.matches] == [("id0", True), ("id2", True)]
    assert plan.guessed and any("GUESS" in n and "no Label_2" in n for n in plan.notes)
    (tmp_path / "PixelLabelData_1").mkdir()
    write_mask(tmp_path / "PixelLabelData_1" / "Label_2.png", mask(5, top=1))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert not plan.matches and len(plan.skipped) == 3
    assert all("several folders" in s.reason for s in plan.skipped)
    assert any("labels.csv" in n and "writetable" in n for n in plan.notes)


def test_a_plain_mat_mapping_is_read(tmp_path):
    import scipy.io

    ims, written = labeler_export(tmp_path)
    csv_lines = (tmp_path / "labels.csv").read_text().splitlines()[1:]
    (tmp_path / "labels.csv").unlink()
    pairs = [line.split(",") for line in csv_lines]
    scipy.io.savemat(tmp_path / "labels.mat", {
        "image": np.array([p[0] for p in pairs], dtype=object),
        "label": np.array([p[1] for p in pairs], dtype=object)})
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert {m.image_id: m.how for m in plan.matches} == dict.fromkeys(written, "labels.mat")
    assert not plan.skipped


def test_a_v73_struct_shaped_like_gtruth_is_read(tmp_path):
    import h5py

    ims, written = labeler_export(tmp_path)
    pairs = [line.split(",") for line in (tmp_path / "labels.csv").read_text().splitlines()[1:]]
    (tmp_path / "labels.csv").unlink()
    with h5py.File(tmp_path / "gTruth.mat", "w", userblock_size=512) as f:
        def cell(group, name, texts):
            refs = []
            for k, t in enumerate(texts):
                ds = f.create_dataset(f"#refs#/{name}{k}", data=np.array(
                    [ord(c) for c in t] or [0, 0], np.uint16).reshape(-1, 1))
                ds.attrs["MATLAB_class"] = np.bytes_("char")
                if not t:
                    ds.attrs["MATLAB_empty"] = np.uint8(1)
                refs.append(ds.ref)
            group.create_dataset(name, data=np.array(refs, dtype=h5py.ref_dtype).reshape(1, -1))
        g = f.create_group("gTruth")
        g.attrs["MATLAB_class"] = np.bytes_("struct")
        cell(g.create_group("DataSource"), "Source", [p[0] for p in pairs])
        cell(g.create_group("LabelData"), "PixelLabelData", [p[1] for p in pairs])
    with open(tmp_path / "gTruth.mat", "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM")
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert {m.image_id: m.how for m in plan.matches} == dict.fromkeys(written, "gTruth.mat")


def _mcos_gtruth(path):
    """A v5 MAT-file holding a groundTruth object as MATLAB stores one: an opaque MCOS
    reference (name, type system, class, metadata) into the undocumented subsystem."""
    def element(kind, payload):
        return struct.pack("<II", kind, len(payload)) + payload + b"\0" * (-len(payload) % 8)

    def matrix(body):
        return struct.pack("<II", 14, len(body)) + body

    meta = matrix(element(6, struct.pack("<II", 13, 0)) + element(5, struct.pack("<ii", 6, 1))
                  + element(1, b"") + element(6, np.array([0xDD000000, 2, 1, 1, 1, 1],
                                                          np.uint32).tobytes()))
    body = (element(6, struct.pack("<II", 17, 0)) + element(1, b"gTruth") + element(1, b"MCOS")
            + element(1, b"groundTruth") + meta)
    header = b"MATLAB 5.0 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x01IM"
    path.write_bytes(header + matrix(body))


def test_a_gtruth_object_is_said_to_be_unreadable_with_the_way_out(tmp_path):
    ims = images("a.tif", "b.tif")
    (tmp_path / "PixelLabelData").mkdir()
    write_mask(tmp_path / "PixelLabelData" / "Label_2.png", mask(1, top=1))
    _mcos_gtruth(tmp_path / "gTruth.mat")
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert not any(s.source.path.name == "gTruth.mat" for s in plan.skipped)  # not a mask
    said = [n for n in plan.notes if n.startswith("gTruth.mat holds a MATLAB groundTruth")]
    assert said and "cannot be read outside MATLAB" in said[0] and "writetable(" in said[0]
    assert [(m.image_id, m.guess) for m in plan.matches] == [("id1", True)]  # the last resort


# -- nothing dropped silently ---------------------------------------------------------------


def test_unmatched_and_twice_matched_files_are_reported(tmp_path):
    ims = images("a.tif", "b.tif", "c.tif")
    write_mask(tmp_path / "a.png", mask(1))
    write_mask(tmp_path / "a_mask.tif", mask(2))  # a weaker rule for the same image
    write_mask(tmp_path / "b.png", mask(3))
    write_mask(tmp_path / "b.tif", mask(4))  # the same rule: file order decides, and says so
    write_mask(tmp_path / "orphan.png", mask(5))
    write_mask(tmp_path / "c.png", np.zeros((5, 5), np.uint8))  # the wrong size
    (tmp_path / "d.jpg").write_bytes(b"\xff\xd8\xff")
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "Label_3.tif", rng.integers(0, 255, (H, W)).astype(np.uint8))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert [(m.image_id, m.source.label) for m in plan.matches] == [("id0", "a.png"),
                                                                    ("id1", "b.png")]
    assert {i: [s.label for s in v] for i, v in plan.twice.items()} == {
        "id0": ["a.png", "a_mask.tif"], "id1": ["b.png", "b.tif"]}
    reasons = {s.source.label: s.reason for s in plan.skipped}
    assert set(reasons) == {"a_mask.tif", "b.tif", "orphan.png", "c.png", "d.jpg", "Label_3.tif"}
    assert "a.tif matched twice: it gets a.png" == reasons["a_mask.tif"]
    assert "no project image" in reasons["orphan.png"]
    assert "5 x 5 px" in reasons["c.png"] and "lossy" in reasons["d.jpg"]
    assert "a picture, not a class-index mask" in reasons["Label_3.tif"]


def test_a_colour_png_is_listed_not_imported(tmp_path):
    from matlab_gui.imaging import write_image

    ims = images("a.tif")
    write_image(tmp_path / "a.png", np.full((H, W, 3), [0, 128, 255], np.uint8))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    assert not plan.matches and "colour image" in plan.skipped[0].reason


def test_a_value_the_plan_did_not_count_fails_that_file_only(tmp_path):
    ims = images("a.tif", "b.tif")
    write_mask(tmp_path / "a.png", mask(1, top=1))
    write_mask(tmp_path / "b.png", mask(2, top=1))
    plan = plan_import(tmp_path, ims, CLASSES, shapes(ims))
    mapping = plan.mapping(zero_is_class=False)
    write_mask(tmp_path / "b.png", mask(2, top=3))  # changed after the preview
    got = {}
    outcome = apply_plan(plan, mapping, lambda i, m: got.setdefault(i, m) is m)
    assert list(got) == ["id0"] and len(outcome.failures) == 1
    assert outcome.failures[0].startswith("b.png: holds values [2, 3]")


def test_import_is_one_undo_step_per_image(tmp_path):
    from matlab_gui.project import Project
    from matlab_gui.workbench import Session, Workbench

    project = Project.create(tmp_path / "p.mgp", CLASSES)
    ids = []
    for name in ("a.tif", "b.tif"):
        tifffile.imwrite(tmp_path / name, np.zeros((H, W), np.uint8))
        ids.append(project.add_image(tmp_path / name))
    folder = tmp_path / "masks"
    folder.mkdir()
    write_mask(folder / "b.png", mask(7, top=2, low=1))
    wb = Workbench()
    wb.open(Session(project))
    try:
        wb.select(ids[1])
        recs = [project.record(i) for i in ids]
        plan = plan_import(folder, {r.id: r.name for r in recs}, project.classes,
                           {r.id: r.shape[:2] for r in recs})
        outcome = apply_plan(plan, plan.mapping(zero_is_class=False), wb.import_mask)
        assert outcome.changed == [ids[1]]
        assert np.array_equal(wb.session.editor.mask, mask(7, top=2, low=1))
        wb.session.editor.undo()
        assert not wb.session.editor.mask.any()
    finally:
        wb.close()
