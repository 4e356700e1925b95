"""Training on two CPU processes (gloo) trains as one process with the same global batch does,
writes once, and resumes on either world size."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from matlab_gui.ml import checkpoint, distributed
from matlab_gui.ml.data import PatchDataset
from matlab_gui.ml.losses import IGNORE_INDEX
from matlab_gui.ml.synthetic import TinySegNet, shapes_set
from matlab_gui.ml.trainer import TrainConfig, Trainer

GLOBAL_BATCH, EPOCHS = 4, 3
# Two ranks average their half-batch gradients where one process takes the mean over the whole
# batch: the same update up to float rounding (measured: about 1e-7 relative).
LOSS_TOLERANCE = 1e-5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fit(world_size: int, epochs: int = EPOCHS, checkpoint_dir=None, progress=None,
         **config) -> list[float]:
    """Per-epoch training losses of TinySegNet on 16 patches a epoch, the global batch fixed."""
    torch.manual_seed(0)
    data = PatchDataset(shapes_set(4, seed=1), patch=32, length=16, seed=0)
    settings = {"epochs": epochs, "batch_size": GLOBAL_BATCH // world_size, "lr": 1e-2,
                "optimizer": "adam", "patience": 0, "amp": False, **config}
    trainer = Trainer(TinySegNet(), nn.CrossEntropyLoss(ignore_index=IGNORE_INDEX), data,
                      TrainConfig(**settings), torch.device("cpu"),
                      validate=lambda model: {"checked": 1.0}, checkpoint_dir=checkpoint_dir,
                      progress=progress)
    return [h["loss"] for h in trainer.fit().history]


def _rank(rank: int, port: int, folder: str) -> None:
    """One of two ranks: each fit below, with what this rank validated and wrote logged."""
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    folder = Path(folder)
    writes: list[str] = []
    save_state = checkpoint.save_state
    checkpoint.save_state = lambda where, state: (writes.append(Path(where).name),
                                                  save_state(where, state))
    events: list = []
    out = {"full": _fit(2, progress=events.append), "first_two": _fit(2, epochs=2, checkpoint_dir=folder / "ddp_ckpt"),
           "resumed": _fit(2, checkpoint_dir=folder / "single_ckpt"),
           # rank 0's clock runs out after epoch 1, rank 1's never: rank 0 decides for both
           "budget": _fit(2, epochs=5, time_budget_s=1e-9 if rank == 0 else None),
           "writes": writes, "progress_events": len(events)}
    (folder / f"rank{rank}.json").write_text(json.dumps(out))
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The single-process reference runs, then the same on two gloo ranks."""
    import torch.multiprocessing as mp

    folder = tmp_path_factory.mktemp("ddp")
    single = {"full": _fit(1), "first_two": _fit(1, epochs=2, checkpoint_dir=folder / "single_ckpt")}
    mp.spawn(_rank, args=(_free_port(), str(folder)), nprocs=2, join=True)
    ranks = [json.loads((folder / f"rank{r}.json").read_text()) for r in (0, 1)]
    return folder, single, ranks


def test_two_ranks_train_as_one_process_with_the_same_global_batch(runs):
    _, single, ranks = runs
    assert ranks[0]["full"] == ranks[1]["full"]  # the epoch loss is the global batch's
    assert ranks[0]["full"] == pytest.approx(single["full"], rel=LOSS_TOLERANCE)
    assert single["full"][-1] < single["full"][0]  # it learns, so the match means something


def test_each_rank_trains_on_its_own_half_of_the_patches():
    data = list(range(16))
    shares = [distributed.rank_share(data, 2, distributed.World(r, 2)) for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == data  # all patches once, none twice
    one = distributed.rank_share(data, 4, distributed.World())
    # step k of the two ranks together is step k of one process with the global batch
    for k in range(4):
        assert sorted(shares[0][2 * k:2 * k + 2] + shares[1][2 * k:2 * k + 2]) == sorted(one[4 * k:4 * k + 4])
    assert distributed.rank_share(list(range(3)), 4, distributed.World(1, 2)) == [1, 0]  # even split


def test_only_rank_0_writes_the_checkpoint_and_reports(runs):
    _, _, ranks = runs
    assert ranks[0]["writes"] == ["ddp_ckpt"] * 2 + ["single_ckpt"] and ranks[1]["writes"] == []
    assert ranks[0]["progress_events"] > 0 and ranks[1]["progress_events"] == 0


def test_rank_0s_stop_decision_stops_every_rank_after_the_same_epoch(runs):
    _, _, ranks = runs
    assert len(ranks[0]["budget"]) == len(ranks[1]["budget"]) == 1


def test_a_two_rank_checkpoint_resumes_in_one_process_and_back(runs):
    folder, single, ranks = runs
    assert checkpoint.load_state(folder / "ddp_ckpt").extra["world_size"] == 2
    resumed = _fit(1, checkpoint_dir=folder / "ddp_ckpt")
    assert resumed == pytest.approx(single["full"], rel=LOSS_TOLERANCE)  # epoch 3 as if unbroken
    assert ranks[0]["resumed"] == pytest.approx(single["full"], rel=LOSS_TOLERANCE)  # 1 -> 2


def test_no_torchrun_is_world_size_1_without_a_process_group(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.from_env() == distributed.World()
    with distributed.session(torch.device("cpu")) as (world, device):
        assert world.size == 1 and device == torch.device("cpu")
        assert not torch.distributed.is_initialized()
    model = TinySegNet()
    assert distributed.wrap(model, device, world) is model


TORCHRUN_LOG = '''
import os, sys
from matlab_gui.ml import checkpoint, model_folder

def logged(name, write):
    def run(*args, **kwargs):
        with open(os.environ["WRITE_LOG"], "a") as fh:
            fh.write(f"{os.environ.get('RANK', '-')} {name}\\n")
        return write(*args, **kwargs)
    return run

model_folder.save_model = logged("model", model_folder.save_model)
checkpoint.save_state = logged("checkpoint", checkpoint.save_state)
'''


def _as_project(folder: Path) -> Path:
    """The folder's images and masks as a project (project masks: 0 = unpainted)."""
    from matlab_gui.imaging import read_mask
    from matlab_gui.project import ClassDef, Project

    path = folder.with_suffix(".mgp")
    names = ("matrix", "disc", "square")
    classes = [ClassDef(i + 1, n, (60 * i, 0, 0)) for i, n in enumerate(names)]
    with Project.create(path, classes) as p:
        for image in sorted((folder / "images").iterdir()):
            mask = read_mask(folder / "masks" / image.name)
            p.set_mask(p.add_image(image), (mask + 1).astype(np.uint8))
        p.save()
    return path


@pytest.mark.parametrize("kind", ["folder", "project"])
def test_torchrun_train_writes_the_model_once_and_the_card_says_the_world(tmp_path, kind):
    """`torchrun --nproc-per-node 2 -m matlab_gui train` on a folder and on a project file
    (both ranks open it, read-only), then resumed in one process."""
    from matlab_gui.ml.synthetic import write_segmentation_folder

    data = write_segmentation_folder(tmp_path / "data")
    if kind == "project":
        data = _as_project(data)
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(TORCHRUN_LOG)
    log = tmp_path / "writes.log"
    env = {**os.environ, "WRITE_LOG": str(log), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "hook"),
                                                        os.environ.get("PYTHONPATH")]))}
    train = ["-m", "matlab_gui", "train", "--task", "segmentation", "--data", str(data),
             "--arch", "unet", "--encoder", "tu-resnet10t", "--no-pretrained", "--device", "cpu",
             "--patch", "32", "--patches-per-epoch", "8", "--batch", "2", "--patience", "0",
             "--classes", "matrix,disc,square", "--checkpoint", str(tmp_path / "ckpt"), "--json"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
              "--master-port", str(_free_port())]
    done = subprocess.run([*launch, *train, "--epochs", "1", "--out", str(tmp_path / "m2")],
                          env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["world_size"] == 2  # one result, from rank 0
    assert done.stderr.count("epoch 1: loss=") == done.stderr.count("reading data") == 1  # rank 0
    assert log.read_text().split("\n") == ["0 checkpoint", "0 model", ""]
    card = json.loads((tmp_path / "m2" / "card.json").read_text())["training"]
    assert card["world_size"] == 2 and card["global_batch"] == 4 and card["batch_size"] == 2
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".m2")) == []

    done = subprocess.run([sys.executable, *train, "--epochs", "2", "--batch", "4",
                           "--out", str(tmp_path / "m1")], env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((tmp_path / "m1" / "card.json").read_text())
    assert card["training"]["world_size"] == 1 and card["training"]["global_batch"] == 4
    assert [h["epoch"] for h in card["history"]] == [1, 2]  # epoch 1 from the two-rank run
    assert card["history"][0]["loss"] == pytest.approx(
        json.loads((tmp_path / "m2" / "card.json").read_text())["history"][0]["loss"])
