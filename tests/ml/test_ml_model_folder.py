"""Model folders: what is saved loads back identical, without pickle; broken folders say what is wrong."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from matlab_gui.errors import ModelError
from matlab_gui.ml.card import ClassInfo
from matlab_gui.ml.model_folder import load_model, save_model
from matlab_gui.ml.zoo import build_model, default_card


@pytest.fixture
def saved(tmp_path):
    card = default_card("segmentation", "unet", [ClassInfo("matrix", "#0000ff"), ClassInfo("gamma prime", (255, 0, 0))],
                        encoder="tu-resnet10t", in_channels=1, input_size=64)
    model = build_model(card, pretrained=False).eval()
    save_model(tmp_path / "m", model, card)
    return tmp_path / "m", model, card


def test_round_trip_gives_identical_outputs_and_card(saved):
    folder, model, card = saved
    loaded = load_model(folder)
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.module(x), model(x))
    assert loaded.card.to_dict() == card.to_dict()
    assert loaded.card.classes[0].color == (0, 0, 255)


def test_half_precision_folder_is_smaller_and_close(saved, tmp_path):
    folder, model, card = saved
    save_model(tmp_path / "half", model, card, half=True)
    assert (tmp_path / "half" / "model.safetensors").stat().st_size < 0.6 * (folder / "model.safetensors").stat().st_size
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        np.testing.assert_allclose(load_model(tmp_path / "half").module(x), model(x), atol=5e-2)


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX permissions")
def test_a_saved_model_is_readable_by_the_lab(saved):
    """Models live on shared servers: the folder and both files are world-readable."""
    folder = saved[0]
    assert folder.stat().st_mode & 0o777 == 0o755
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "model.safetensors": 0o644, "card.json": 0o644}


def test_saving_over_a_folder_replaces_it_whole(saved):
    folder, model, card = saved
    card.name = "second"
    save_model(folder, model, card)
    assert json.loads((folder / "card.json").read_text())["name"] == "second"
    assert sorted(p.name for p in folder.parent.iterdir()) == ["m"]


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: (f / "card.json").unlink(), "card.json is missing"),
        (lambda f: (f / "card.json").write_text("{not json"), "not valid JSON"),
        (lambda f: (f / "card.json").write_text(json.dumps({"task": "segmentation", "arch": "unet"})), "classes is missing"),
        (lambda f: (f / "card.json").write_text((f / "card.json").read_text().replace('"unet"', '"hypernet"')), "unknown architecture"),
        (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
        (lambda f: (f / "model.safetensors").write_bytes(b"garbage"), "unreadable weights"),
    ],
    ids=["no-card", "bad-json", "no-classes", "unknown-arch", "no-weights", "bad-weights"],
)
def test_broken_folders_raise_model_errors(saved, damage, message):
    folder = saved[0]
    damage(folder)
    with pytest.raises(ModelError, match=message):
        load_model(folder)


def test_wrong_shapes_are_named(saved):
    folder = saved[0]
    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k in state if k.endswith("segmentation_head.0.weight"))
    state[key] = torch.zeros(5, *state[key].shape[1:])
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelError, match="wrong shapes: .*segmentation_head"):
        load_model(folder)


def test_loading_never_unpickles(saved, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("load_model used pickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    folder, model, _ = saved
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_model(folder).module(x), model(x))


# -- replacing a model: one step where the system allows, recoverable everywhere ----------------
def _unsupported(*args):
    """renameat2 on a file system without RENAME_EXCHANGE."""
    import ctypes
    import errno

    ctypes.set_errno(errno.EINVAL)
    return -1


SWAPS = {"exchange": None, "no renameat2": lambda: None, "file system without exchange": lambda: _unsupported}


def _force(monkeypatch, swap: str) -> None:
    from matlab_gui.ml import model_folder

    if SWAPS[swap] is not None:
        monkeypatch.setattr(model_folder, "_RENAMEAT2", SWAPS[swap](), raising=False)


def _tiny(tag: int):
    """A card and weights that name each other: card `v{tag}` goes with weights all `tag`."""
    card = default_card("segmentation", "unet", [ClassInfo("a", (0, 0, 0)), ClassInfo("b", (255, 0, 0))],
                        encoder="tu-resnet10t", in_channels=1, input_size=32)
    card.name = f"v{tag}"
    model = torch.nn.Linear(64, 64)
    torch.nn.init.constant_(model.weight, tag)
    torch.nn.init.constant_(model.bias, tag)
    return model, card


def _which(folder) -> int:
    """The tag of the model in `folder`; fails unless its card and weights belong together."""
    from matlab_gui.ml.model_folder import read_card

    tag = int(read_card(folder).name[1:])
    weights = load_file(str(folder / "model.safetensors"))
    assert all(bool((w == tag).all()) for w in weights.values()), "weights of another save than the card"
    return tag


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked saver")
@pytest.mark.parametrize("swap", list(SWAPS))
def test_a_save_killed_between_its_renames_still_leaves_a_model(tmp_path, monkeypatch, swap, in_child):
    """A kill where a two-rename swap has moved the old folder away but not the new one in."""
    folder = tmp_path / "m"
    save_model(folder, *_tiny(1))
    _force(monkeypatch, swap)

    def save_and_die_at_the_second_rename():
        renames = []
        real_rename, real_replace = os.rename, os.replace

        def dying(real):
            def rename(src, dst, *args, **kwargs):
                renames.append(dst)
                if len(renames) == 2:
                    os._exit(9)
                return real(src, dst, *args, **kwargs)
            return rename

        os.rename, os.replace = dying(real_rename), dying(real_replace)
        save_model(folder, *_tiny(2))

    killed = in_child(save_and_die_at_the_second_rename) == 9
    assert killed == (swap != "exchange")  # the exchange is one step: nothing to kill between
    assert _which(folder) == (1 if killed else 2)
    save_model(folder, *_tiny(3))
    assert _which(folder) == 3
    assert not (tmp_path / ".m.old").exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked saver")
@pytest.mark.parametrize("swap", ["exchange", "file system without exchange"])
def test_saves_killed_at_random_moments_leave_the_old_or_the_new_model(tmp_path, monkeypatch, swap):
    import random
    import signal
    import time

    folder = tmp_path / "m"
    save_model(folder, *_tiny(0))
    _force(monkeypatch, swap)
    rng = random.Random(7)
    seen = set()
    for _ in range(12):
        pid = os.fork()
        if pid == 0:
            try:
                for tag in range(1, 10_000):
                    save_model(folder, *_tiny(tag))
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.02, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        seen.add(_which(folder))
    assert len(seen) > 1  # the kills landed in different saves (fewer on a loaded machine)


def test_a_model_path_given_to_a_command_is_restored_after_an_interrupted_swap(tmp_path):
    """Off Linux a save cut off between its two renames leaves only `.m.old`: `segment --model
    m` and the other commands must find the model, not say "not found"."""
    from matlab_gui.ml.model_lookup import old_copy, resolve_model

    folder = tmp_path / "m"
    save_model(folder, *_tiny(3))
    os.rename(folder, old_copy(folder))  # what the first rename of the fallback leaves
    assert resolve_model(folder) == folder and _which(folder) == 3
