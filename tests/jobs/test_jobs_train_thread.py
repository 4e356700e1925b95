"""The GUI's use of the train job: run in a worker thread, cancelled from the GUI thread."""

from __future__ import annotations

import threading

from matlab_gui.jobs.train import TrainRequest, run_training
from matlab_gui.ml.synthetic import write_segmentation_folder
from matlab_gui.progress import Cancelled, CancelToken


def test_cancel_from_another_thread_stops_the_worker_without_output(tmp_path):
    data = write_segmentation_folder(tmp_path / "data")
    out = tmp_path / "model"
    request = TrainRequest(task="segmentation", data=data, out=out, arch="unet",
                           encoder="tu-resnet10t", pretrained=False, epochs=50, batch=2,
                           patch=32, patches_per_epoch=8)
    token, first_step, outcome = CancelToken(), threading.Event(), {}

    def progress(event):
        if event.stage == "train":
            first_step.set()

    def worker():
        try:
            outcome["result"] = run_training(request, progress=progress, cancel=token)
        except Cancelled:
            outcome["cancelled"] = True

    thread = threading.Thread(target=worker)
    thread.start()
    assert first_step.wait(60)
    token.cancel()
    thread.join(30)
    assert not thread.is_alive() and outcome == {"cancelled": True}
    assert not out.exists()
