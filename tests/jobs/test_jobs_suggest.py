"""The suggest job: images ranked by a trained model's uncertainty, the most uncertain tile of a
large image, a bad file skipped, and the scores the app's own inference gives."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from matlab_gui.errors import UserError
from matlab_gui.imaging import write_image
from matlab_gui.jobs.suggest import SuggestRequest, most_uncertain_cell, run_suggest
from matlab_gui.progress import Cancelled, CancelToken
from matlab_gui.project import ClassDef, Project


@pytest.fixture
def project_file(uncertainty_case, tmp_path):
    """A project holding the training image and the unseen one."""
    path = tmp_path / "p.mgp"
    with Project.create(path, [ClassDef(1, "dark", (0, 0, 255)),
                               ClassDef(2, "bright", (255, 0, 0))]) as project:
        project.add_image(tmp_path / "seen.png", data=uncertainty_case.seen)
        project.add_image(tmp_path / "unseen.png", data=uncertainty_case.unseen)
        project.save()
    return path


def test_an_image_unlike_the_training_one_ranks_above_it(uncertainty_case, project_file):
    events = []
    result = run_suggest(SuggestRequest(uncertainty_case.model, project_file, device="cpu"),
                         progress=events.append)
    assert result.task == "segmentation" and not result.failed
    names = [i.name for i in result.ranking]
    assert names == ["unseen.png", "seen.png"]
    unseen, seen = result.ranking
    assert unseen.score > seen.score + 0.05  # clearly, not by a hair
    assert unseen.tile is None and seen.tile is None  # each within one grid cell
    done = [(e.done, e.total) for e in events if e.stage == "suggest"]
    assert done[0] == (0, 2) and done[-1] == (2, 2)


def test_the_score_is_the_mean_of_the_uncertainty_segment_writes(uncertainty_case, tmp_path):
    """Same inference, same definition: the `segment --maps` uncertainty map, averaged."""
    from matlab_gui.jobs.segment import SegmentRequest, run_segment

    folder = tmp_path / "images"
    folder.mkdir()
    write_image(folder / "unseen.png", uncertainty_case.unseen)
    run_segment(SegmentRequest(uncertainty_case.model, [folder], tmp_path / "out", maps=True,
                               device="cpu"))
    written = tifffile.imread(tmp_path / "out" / "unseen_uncertainty.tif")
    result = run_suggest(SuggestRequest(uncertainty_case.model, folder, device="cpu"))
    assert result.ranking[0].score == pytest.approx(float(written.mean()), abs=1e-3)


def test_the_tile_points_at_the_unseen_half_of_a_composite(uncertainty_case, tmp_path):
    stripes = uncertainty_case.stripes
    left = stripes(uncertainty_case.seen_levels, (128, 128))
    right = stripes(uncertainty_case.unseen_levels, (128, 128), seed=2)
    for name, image in [("seen_left.png", np.hstack([left, right])),
                        ("seen_right.png", np.hstack([right, left]))]:
        folder = tmp_path / name
        folder.mkdir()
        write_image(folder / name, image)
        (item,) = run_suggest(SuggestRequest(uncertainty_case.model, folder, grid=64,
                                             device="cpu")).ranking
        x, y, w, h = item.tile
        assert (w, h) == (64, 64) and 0 <= y <= 64
        assert x >= 128 if name == "seen_left.png" else x + w <= 128
        assert item.tile_score > item.score


def test_most_uncertain_cell_of_a_known_map():
    u = np.zeros((330, 530), np.float16)
    u[240:320, 440:520] = 1  # inside the last row and column, which end flush with the edge
    (x, y, w, h), mean = most_uncertain_cell(u, 100)
    assert (x, y, w, h) == (430, 230, 100, 100) and mean == pytest.approx(0.64)
    assert most_uncertain_cell(u, 1000)[0] == (0, 0, 530, 330)  # shorter sides: the image


def test_a_bad_file_is_reported_and_the_others_ranked(uncertainty_case, tmp_path):
    write_image(tmp_path / "seen.png", uncertainty_case.seen)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    result = run_suggest(SuggestRequest(uncertainty_case.model, tmp_path, device="cpu"))
    assert [i.name for i in result.ranking] == ["seen.png"]
    assert [i.name for i in result.failed] == ["broken.png"] and result.failed[0].error


def test_cancel_stops_the_run(uncertainty_case, project_file):
    token = CancelToken()

    def cancel_after_the_first(event):
        if event.stage == "suggest" and event.done == 1:
            token.cancel()

    with pytest.raises(Cancelled):
        run_suggest(SuggestRequest(uncertainty_case.model, project_file, device="cpu"),
                    progress=cancel_after_the_first, cancel=token)


def test_a_classifier_scores_the_entropy_of_its_class_probabilities(tmp_path):
    from matlab_gui.jobs.classify import ClassifyRequest, run_classify
    from tests.jobs.test_jobs_predict import save_tiny_model

    model = save_tiny_model(tmp_path / "cls", "classification", 3)
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / f"im{i}.png", rng.integers(0, 255, (40, 50, 3), dtype=np.uint8))
    rows = run_classify(ClassifyRequest(model, tmp_path, device="cpu", workers=0)).rows
    result = run_suggest(SuggestRequest(model, tmp_path, device="cpu"))
    assert result.task == "classification" and len(result.ranking) == 3
    for item in result.ranking:
        p = np.asarray(next(r.probabilities for r in rows if r.path == item.image))
        assert item.score == pytest.approx(float(-(p * np.log(p)).sum() / np.log(len(p))),
                                           abs=1e-4)
        assert item.tile is None
    scores = [i.score for i in result.ranking]
    assert scores == sorted(scores, reverse=True)


def test_neither_folder_nor_project_is_a_clear_error(uncertainty_case, tmp_path):
    with pytest.raises(UserError, match="neither a folder of images nor a project"):
        run_suggest(SuggestRequest(uncertainty_case.model, tmp_path / "missing", device="cpu"))
