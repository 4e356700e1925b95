"""Jobs running at once share the CPU cores instead of each taking all of them."""

from __future__ import annotations

import threading

import torch

from matlab_gui.ml import threads


def test_two_jobs_at_once_get_half_the_cores_each_and_one_gets_them_back(monkeypatch):
    monkeypatch.setattr(threads, "_cores", 8)
    seen, step = {}, {k: threading.Event() for k in ("b_in", "a_looked", "b_out")}

    def job_a():
        with threads.compute_job():
            seen["alone"] = torch.get_num_threads()
            step["b_in"].wait(10)
            threads.rebalance()  # between two steps of its work
            seen["shared"] = torch.get_num_threads()
            step["a_looked"].set()
            step["b_out"].wait(10)
            threads.rebalance()
            seen["again"] = torch.get_num_threads()

    def job_b():
        with threads.compute_job():
            seen["b"] = torch.get_num_threads()
            step["b_in"].set()
            step["a_looked"].wait(10)
        step["b_out"].set()

    a = threading.Thread(target=job_a)
    a.start()
    while "alone" not in seen:
        a.join(0.01)
    b = threading.Thread(target=job_b)
    b.start()
    a.join(20)
    b.join(20)
    assert seen == {"alone": 8, "b": 4, "shared": 4, "again": 8}


def test_segment_builds_its_engine_with_its_share_while_a_training_runs(
        tiny_segmenter, samples_dir, tmp_path, monkeypatch):
    """The window's case: a training holds the cores while Predict or a batch starts."""
    from matlab_gui.jobs.segment import SegmentRequest, run_segment
    from matlab_gui.ml import engines

    monkeypatch.setattr(threads, "_cores", 8)
    seen = []
    real = engines.RUNNERS["onnxruntime"]
    monkeypatch.setitem(engines.RUNNERS, "onnxruntime",
                        lambda path: (seen.append(torch.get_num_threads()), real(path))[1])
    training_runs, release = threading.Event(), threading.Event()

    @threads.shares_the_cores
    def training():
        training_runs.set()
        release.wait(60)

    other = threading.Thread(target=training)
    before = torch.get_num_threads()
    other.start()
    try:
        training_runs.wait(10)
        run_segment(SegmentRequest(model=tiny_segmenter, inputs=[samples_dir / "uhcs0006.tif"],
                                   out=tmp_path / "out", engine="onnxruntime"))
        assert torch.get_num_threads() == before  # the caller's own count once the job ends
    finally:
        release.set()
        other.join()
        torch.set_num_threads(before)
    assert seen == [4]  # 8 cores, two jobs
