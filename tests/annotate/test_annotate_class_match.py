"""Model classes land on the project's by name; by position only when no name is shared (and
then the user is told); otherwise the model does not fit and nothing can be accepted."""

from __future__ import annotations

from matlab_gui.annotate.class_match import classes_from_model, match_classes
from matlab_gui.project import ClassDef


def _classes(*names):
    return [ClassDef(k + 1, n, (k, k, k)) for k, n in enumerate(names)]


def test_same_classes_in_another_order_match_by_name():
    match = match_classes(["matrix", "pore", "grain"], _classes("pore", "Grain", "matrix"))
    assert match.indices == (3, 1, 2) and match.note == ""


def test_model_with_fewer_classes_fits_by_name():
    assert match_classes(["pore"], _classes("matrix", "pore")).indices == (2,)


def test_no_shared_name_and_same_count_matches_by_position_with_a_note():
    match = match_classes(["matrix", "pore"], _classes("Phase 1", "Phase 2"))
    assert match.indices == (1, 2) and "by position" in match.note and "pore → Phase 2" in match.note


def test_partly_shared_names_or_other_count_do_not_fit():
    for model, project in ((["matrix", "pore", "crack"], _classes("pore", "matrix", "oxide")),
                           (["a", "b", "c"], _classes("Phase 1", "Phase 2"))):
        match = match_classes(model, project)
        assert not match.fits and "do not fit" in match.note and "Use the model's classes" in match.note


def test_using_the_model_classes_keeps_every_annotation_meaning():
    current = _classes("pore", "Phase 2", "unused")
    new, mapping = classes_from_model(["matrix", "pore", "grain"], [(1, 1, 1)] * 3, current, {1, 2})
    assert [(c.index, c.name) for c in new] == [(1, "matrix"), (2, "pore"), (3, "grain"), (4, "Phase 2")]
    assert mapping == {1: 2, 2: 4}  # painted pore -> the model's pore; Phase 2 kept as class 4


def test_using_the_model_classes_on_a_fresh_project_drops_the_placeholders():
    new, mapping = classes_from_model(["matrix", "pore"], [(1, 1, 1)] * 2,
                                      _classes("Phase 1", "Phase 2"), set())
    assert [c.name for c in new] == ["matrix", "pore"] and mapping == {}
