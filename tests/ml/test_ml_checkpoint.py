"""Training checkpoints survive a kill at any moment: a resumed run never mixes two saves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from matlab_gui.errors import ModelError
from matlab_gui.ml import checkpoint


def _state(epoch: int) -> checkpoint.TrainingState:
    """A state whose tensors say which epoch wrote them."""
    model = {"weight": torch.full((8, 8), float(epoch)), "bias": torch.full((8,), float(epoch))}
    optimizer = {"state": {0: {"step": torch.tensor(float(epoch))}}, "param_groups": [{"lr": 0.1, "params": [0]}]}
    return checkpoint.TrainingState(epoch=epoch, model=model, optimizer=optimizer,
                                    history=[{"epoch": e} for e in range(1, epoch + 1)])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked saver")
def test_a_save_killed_between_its_two_renames_is_not_resumed_from(tmp_path, in_child):
    """New tensors beside the previous JSON are no checkpoint: the run starts over, unmixed."""
    checkpoint.save_state(tmp_path, _state(1))

    def save_and_die_before_the_json_is_renamed():
        real = os.replace

        def replace(src, dst, *args, **kwargs):
            if Path(dst).name == checkpoint.STATE_JSON:
                os._exit(9)
            return real(src, dst, *args, **kwargs)

        os.replace = os.rename = replace
        checkpoint.save_state(tmp_path, _state(2))

    assert in_child(save_and_die_before_the_json_is_renamed) == 9
    assert not checkpoint.has_state(tmp_path)
    with pytest.raises(ModelError, match="training state"):
        checkpoint.load_state(tmp_path)
    checkpoint.save_state(tmp_path, _state(3))
    state = checkpoint.load_state(tmp_path)
    assert state.epoch == 3 and torch.equal(state.model["weight"], torch.full((8, 8), 3.0))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fsync'd files through /proc")
def test_both_files_are_on_disk_before_the_json_commits_them(tmp_path, monkeypatch):
    """What a power cut can leave: either state is complete only if it was fsync'd in order."""
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name))
        return real_fsync(fd)

    def replace(src, dst, *args, **kwargs):
        events.append(("rename", Path(dst).name))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    checkpoint.save_state(tmp_path, _state(1))
    renames = [i for i, e in enumerate(events) if e[0] == "rename"]
    synced_first = {name for kind, name in events[:renames[0]] if kind == "fsync"}
    assert {checkpoint.STATE_TENSORS + ".tmp", checkpoint.STATE_JSON + ".tmp"} <= synced_first
    assert [events[i][1] for i in renames] == [checkpoint.STATE_TENSORS, checkpoint.STATE_JSON]
    assert ("fsync", tmp_path.name) in events[renames[-1]:]
    assert checkpoint.load_state(tmp_path).epoch == 1
