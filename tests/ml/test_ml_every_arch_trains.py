"""Every architecture that Model > Training settings… offers trains through the window's Fine-tune
path (one epoch of tiny patches on a small project), starting from ImageNet weights exactly where
they are on this machine, and the saved model loads and predicts each class of the project."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from matlab_gui.gui import train_dialog
from matlab_gui.gui.fine_tune import FineTuneJob, run_fine_tune
from matlab_gui.ml.synthetic import shapes_image
from matlab_gui.progress import CancelToken
from matlab_gui.project import ClassDef, Project

CASES = [("segmentation", a) for a in train_dialog.SEG_ARCHS] + [
    ("classification", a) for a in train_dialog.CLS_ARCHS]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """`make test` runs two workers on two cores: a second torch thread each only contends
    (the module takes about half the time with one)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Six 64 x 64 shapes images, each with a full mask and an image label (three classes)."""
    folder = tmp_path_factory.mktemp("every-arch")
    classes = [ClassDef(1, "matrix", (0, 0, 255)), ClassDef(2, "disc", (255, 0, 0)),
               ClassDef(3, "square", (0, 255, 0))]
    rng = np.random.default_rng(0)
    with Project.create(folder / "p.mgp", classes) as p:
        for i in range(6):
            image, mask = shapes_image(rng, 64)
            image_id = p.add_image(folder / f"im{i}.png",
                                   data=(np.clip(image, 0, 1) * 255).astype(np.uint8))
            p.set_mask(image_id, mask + 1)
            p.set_label(image_id, 1 + i % 3)
        yield p


@pytest.mark.filterwarnings("ignore:random initialisation")
@pytest.mark.parametrize("task, arch", CASES, ids=[a for _, a in CASES])
def test_every_offered_architecture_trains_loads_and_predicts(task, arch, project, tmp_path,
                                                               monkeypatch):
    import matlab_gui.jobs.train as train_job
    from matlab_gui.jobs.predict import PredictRequest, run_predict
    from matlab_gui.ml.weights import available_offline
    from matlab_gui.ml.zoo import arch_info, weights_name

    # Fine-tune trains classifiers at 224 px; 64 px keeps VGG & co. to a second on a CPU.
    monkeypatch.setattr(train_job, "TrainRequest",
                        functools.partial(train_job.TrainRequest, input_size=64))
    settings = train_dialog.TrainSettings(seg_arch=arch, cls_arch=arch, epochs=1, batch=2,
                                          patch=32, patches_per_epoch=2, device="cpu")
    job = FineTuneJob(task, project, tmp_path / arch, None, settings)
    result = run_fine_tune(job, progress=lambda event: None)

    weights = weights_name(arch, arch_info(arch).default_encoder)
    source = result.card.weight_source
    assert source.startswith("random initialisation") is not bool(
        weights and available_offline(weights)), source
    image_id = project.image_ids[0]
    maps = image_id if task == "segmentation" else None  # probability maps; no Grad-CAM
    predicted = run_predict(PredictRequest(result.model_dir, project, [image_id], maps_for=maps,
                                           device="cpu"), cancel=CancelToken())
    outcome = predicted.outcomes[0]
    assert outcome.error == ""
    assert predicted.class_names == ["matrix", "disc", "square"]
    assert outcome.probabilities.shape[0] == 3
    if task == "segmentation":
        assert outcome.labels.shape == (64, 64)
