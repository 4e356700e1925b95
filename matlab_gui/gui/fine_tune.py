"""The Fine-tune button's job: what the worker needs from the window, and the call into the
train job that it makes in the worker thread (torch is imported there, never in the GUI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matlab_gui.gui.train_dialog import TrainSettings
from matlab_gui.progress import Progress


@dataclass
class FineTuneJob:
    """What the worker needs to build the TrainRequest (built there: it imports torch)."""

    task: str
    project: object
    out: Path
    start: Path | None  # the model folder to fine-tune, None for a new model
    settings: TrainSettings


def run_fine_tune(job: FineTuneJob, progress=None, cancel=None):
    """In the worker thread: report the device, then run the train job."""
    from matlab_gui.jobs.train import TrainRequest, run_training
    from matlab_gui.ml.augment import DEFAULT_AUGMENT
    from matlab_gui.ml.device import describe_device, pick_device

    s = job.settings
    progress(Progress("device", 0, 0, message=describe_device(pick_device(s.device))))
    request = TrainRequest(
        task=job.task, data=job.project, out=job.out, from_model=job.start,
        arch=None if job.start else s.arch_for(job.task),
        encoder=None if job.start else s.encoder, epochs=s.epochs, batch=s.batch, lr=s.lr,
        patch=s.patch, patches_per_epoch=s.patches_per_epoch, finetune_top=s.finetune_top,
        augment=None if s.augment else dict.fromkeys(DEFAULT_AUGMENT, 0.0),
        device=s.device, pretrained=s.pretrained, name=job.out.name,
        time_budget_s=s.time_budget_s, weight_average=s.weight_average,
        **({} if s.class_weights is None else {"class_weights": s.class_weights}),
        **({} if s.class_centred is None else {"class_centred": s.class_centred}),
    )
    return run_training(request, progress=progress, cancel=cancel)


def labelled_task(project) -> str | None:
    """Segmentation when any image has a painted mask, else classification when any has a label."""
    records = [project.record(i) for i in project.image_ids]
    if any(r.has_mask for r in records):
        return "segmentation"
    if any(r.label is not None for r in records):
        return "classification"
    return None
