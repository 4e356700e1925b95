"""classify and segment on a 2-process Dask LocalCluster give the single-process results:
same CSV rows, same masks (also for a huge image split over the workers), error rows, resume,
and a worker killed mid-run."""

from __future__ import annotations

import csv
import os
import signal
import sys

import numpy as np
import pytest

from matlab_gui.errors import UserError
from matlab_gui.imaging import read_mask, write_image
from matlab_gui.jobs import dask_runner
from matlab_gui.jobs.classify import ClassifyRequest, run_classify
from matlab_gui.jobs.segment import SegmentRequest, run_segment
from tests.jobs.test_jobs_classify import save_tiny_model as save_classifier
from tests.jobs.test_jobs_segment import save_tiny_model as save_segmenter

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            client.run(_warm_up)
        yield cluster


def _warm_up() -> None:
    """Workers import torch and the jobs once, before any test's clock runs."""
    import matlab_gui.jobs.classify
    import matlab_gui.jobs.segment
    import matlab_gui.ml.engines  # noqa: F401


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return save_classifier(root / "cls"), save_segmenter(root / "seg")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(10):
        write_image(folder / f"img{i:02d}.png", rng.integers(0, 255, (70, 90), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    return folder


def _csv(path):
    with path.open(newline="") as fh:
        return list(csv.reader(fh))


def _classify(model, folder, out, dask=None, progress=None):
    request = ClassifyRequest(model, folder, out=out, workers=0, device="cpu", engine="torch",
                              dask=dask)
    return run_classify(request, progress=progress)


def _same_rows(a, b):
    """Classify CSV rows equal: paths, predictions, errors exactly; probabilities to 1e-5."""
    assert len(a) == len(b) and a[0] == b[0]
    for ra, rb in zip(a[1:], b[1:], strict=True):
        assert (ra[0], ra[1], ra[-3:]) == (rb[0], rb[1], rb[-3:])
        np.testing.assert_allclose([float(v or 0) for v in ra[2:-3]],
                                   [float(v or 0) for v in rb[2:-3]], atol=1e-5)


def test_classify_on_two_workers_equals_one_process(cluster, models, folder, tmp_path):
    single = _classify(models[0], folder, tmp_path / "one.csv")
    shared = _classify(models[0], folder, tmp_path / "dask.csv", cluster.scheduler_address)
    assert shared.classified == single.classified == 10 and shared.failed == 1
    rows = {r.path: r for r in shared.rows}
    assert rows[str(folder / "broken.png")].error  # an error row, the run went on
    _same_rows(_csv(tmp_path / "one.csv"), _csv(tmp_path / "dask.csv"))
    assert not shared.lost_workers


def test_resume_does_not_redo_finished_files(cluster, models, folder, tmp_path):
    out = tmp_path / "results.csv"
    _classify(models[0], folder, out)
    full = _csv(out)
    partial = [full[0], *full[1:5]]
    assert partial[1][0].endswith("broken.png") and partial[1][-3]  # an error row: redone
    partial[2][1] = "marked"  # a finished row: a rerun would overwrite it
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows(partial)
    again = _classify(models[0], folder, out, cluster.scheduler_address)
    assert again.skipped == 3 and again.classified == 7  # rows 1-4 include the error row
    after = _csv(out)
    assert [r[0] for r in after] == [r[0] for r in full]
    assert after[2][1] == "marked"
    _same_rows([after[0], after[1], *after[3:]], [full[0], full[1], *full[3:]])


def test_segment_on_two_workers_equals_one_process(cluster, models, folder, tmp_path):
    base = dict(model=models[1], inputs=[folder], device="cpu", engine="torch")
    one = run_segment(SegmentRequest(out=tmp_path / "one", **base))
    two = run_segment(SegmentRequest(out=tmp_path / "two", dask=cluster.scheduler_address, **base))
    assert two.segmented == one.segmented == 10
    assert [i.error != "" for i in two.images] == [i.error != "" for i in one.images]
    assert _csv(tmp_path / "one" / "phase_fractions.csv") == \
        _csv(tmp_path / "two" / "phase_fractions.csv")
    for i in range(10):
        name = f"img{i:02d}_mask.png"
        np.testing.assert_array_equal(read_mask(tmp_path / "one" / name),
                                      read_mask(tmp_path / "two" / name))


def test_huge_image_split_over_workers_gives_the_single_process_mask(
        cluster, models, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    write_image(tmp_path / "montage.tif", rng.integers(0, 65535, (300, 230), dtype=np.uint16))
    split = []
    real = dask_runner._segment_huge
    monkeypatch.setattr(dask_runner, "_segment_huge",
                        lambda *a, **k: split.append(a[4]) or real(*a, **k))
    monkeypatch.setattr(dask_runner, "HUGE_TILE_ROWS", 2)
    base = dict(model=models[1], inputs=[tmp_path / "montage.tif"], device="cpu",
                engine="torch", maps=True, format="tiff")
    one = run_segment(SegmentRequest(out=tmp_path / "one", **base))
    two = run_segment(SegmentRequest(out=tmp_path / "two", dask=cluster.scheduler_address, **base))
    assert split == [tmp_path / "montage.tif"]  # it went tile rows over the workers
    assert one.images[0].fractions == two.images[0].fractions
    np.testing.assert_array_equal(read_mask(tmp_path / "one" / "montage_mask.tif"),
                                  read_mask(tmp_path / "two" / "montage_mask.tif"))
    import tifffile

    np.testing.assert_allclose(tifffile.imread(tmp_path / "one" / "montage_probabilities.tif"),
                               tifffile.imread(tmp_path / "two" / "montage_probabilities.tif"),
                               atol=1e-3)  # float16 maps; the kernels' rounding follows threads


def _kill_on(marker: str, name: str) -> None:
    """In a worker: the first file called `name` kills the worker process (once, per marker)."""
    from matlab_gui.jobs import classify

    real = classify.load_item

    def load_item(path, card):
        if path.name == name and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, card)

    classify.load_item = load_item


def test_a_killed_worker_is_reported_and_its_files_rerun(cluster, models, folder, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with distributed.Client(cluster) as client:
        client.run(_kill_on, str(tmp_path / "killed"), "img03.png")
    result = _classify(models[0], folder, tmp_path / "r.csv", cluster.scheduler_address)
    assert (tmp_path / "killed").exists()
    assert len(result.lost_workers) == 1
    rows = _csv(tmp_path / "r.csv")[1:]
    assert sorted(r[0] for r in rows) == sorted(str(p) for p in folder.iterdir())  # each once
    assert sum(1 for r in rows if r[1]) == 10


def test_a_project_model_goes_beside_the_outputs_for_a_remote_cluster(
        cluster, models, folder, tmp_path, monkeypatch):
    """Workers on other machines cannot read the client's temporary folder: with a scheduler
    address, `classify --model PROJECT.mgp:NAME` exports the model beside the CSV (on the
    file system the workers share) and removes it after the run."""
    from matlab_gui.cli import main
    from matlab_gui.project import ClassDef, Project

    project = tmp_path / "p.mgp"
    with Project.create(project, [ClassDef(1, "a", (9, 9, 9))]) as p:
        p.store_model("cls", models[0])
        p.save()
    served = []
    real = dask_runner.classify_on_dask
    monkeypatch.setattr(dask_runner, "classify_on_dask",
                        lambda request, *a, **k: served.append(request.model) or
                        real(request, *a, **k))
    out = tmp_path / "shared" / "r.csv"
    assert main(["classify", "--model", f"{project}:cls", str(folder), "--out", str(out),
                 "--dask", cluster.scheduler_address, "--quiet"]) == 0
    assert served and served[0].parent.parent == out.parent
    assert not served[0].exists()  # the copy went with the command
    assert len(_csv(out)) == 12  # header, 10 images, the broken file's error row


def test_no_worker_looks_lost_while_the_client_refreshes_its_cluster_summary(cluster):
    """The client refreshes a worker-less cluster summary in the background; checking workers
    must never mistake that for every worker gone (it once printed "2 Dask worker(s) died")."""
    import dask

    with dask.config.set({"distributed.client.scheduler-info-interval": "1ms"}), \
            distributed.Client(cluster) as client:
        workers = dask_runner._Workers(client)
        for _ in range(300):
            workers.check()
        assert len(workers.seen) == 2
        assert workers.lost == []


def test_bad_local_spec_is_a_user_error(models, folder, tmp_path):
    with pytest.raises(UserError, match="local:N"):
        _classify(models[0], folder, tmp_path / "r.csv", "local:x")
