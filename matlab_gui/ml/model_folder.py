"""Model folders: `model.safetensors` + `card.json`, written atomically, loaded without pickle.

Saving writes a complete new folder beside the target, fsync'd, and swaps it in: on Linux in one
step (renameat2 RENAME_EXCHANGE), so the path always holds a whole model, the old or the new one.
Where the system cannot exchange, the old folder is renamed to `.<name>.old` before the new one
takes its place; a kill between the two renames leaves only `.<name>.old`, and the next read or
save of `<name>` renames it back. No interruption leaves new weights with an old card.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from matlab_gui.errors import ModelError, UserError
from matlab_gui.imaging.write import FILE_MODE
from matlab_gui.ml.card import ModelCard, check_card
from matlab_gui.ml.model_lookup import old_copy, restore_interrupted_save

WEIGHTS, CARD = "model.safetensors", "card.json"


@dataclass
class LoadedModel:
    module: nn.Module
    card: ModelCard
    folder: Path | None = None


def fsync_path(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk before a rename relies on them."""
    if path.is_dir() and os.name != "posix":
        return  # Windows opens no folders; NTFS journals its renames itself
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _libc_renameat2():
    """glibc's renameat2, or None where the C library has none (other systems, old glibc)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    return renameat2


_RENAMEAT2 = _libc_renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2
# The kernel or file system cannot exchange (EPERM: a sandbox refusing the unknown call).
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM}


def _exchange(a: Path, b: Path) -> bool:
    """Swap the entries `a` and `b` in one step; False where the system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in _NO_EXCHANGE:
        return False
    raise OSError(code, os.strerror(code), str(a), None, str(b))


def _swap_in(tmp: Path, folder: Path) -> None:
    """Make the complete folder `tmp` the model at `folder`, in one step where the system allows."""
    if not os.path.lexists(folder):
        os.rename(tmp, folder)
        fsync_path(folder.parent)
        return
    if _exchange(tmp, folder):
        previous = tmp
    else:
        previous = old_copy(folder)
        shutil.rmtree(previous, ignore_errors=True)  # left by a swap that completed
        os.rename(folder, previous)
        os.rename(tmp, folder)  # a kill just before this: restore_interrupted_save undoes it
    fsync_path(folder.parent)
    shutil.rmtree(previous, ignore_errors=True)


def save_model(folder: str | Path, model: nn.Module, card: ModelCard, half: bool = False) -> Path:
    """Write `model` and `card` as a model folder; `half` stores float weights as float16.
    A card that `read_card` would refuse is not written (ModelError naming the field)."""
    folder = Path(folder)
    try:  # never write a card that reading would refuse (e.g. a 16 px patch)
        check_card(json.loads(card.to_json()))
    except ModelError as exc:
        raise ModelError(f"not saved: the card would not load ({exc.problem})", folder / CARD) from None
    folder.parent.mkdir(parents=True, exist_ok=True)
    restore_interrupted_save(folder)
    state = {}
    for key, value in model.state_dict().items():
        value = value.detach().to("cpu")
        state[key] = (value.half() if half and value.is_floating_point() else value).contiguous().clone()
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a model folder is shared like any other
    try:
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt", "arch": card.arch})
        (tmp / WEIGHTS).chmod(FILE_MODE)  # safetensors writes 0600
        (tmp / CARD).write_text(card.to_json() + "\n", encoding="utf-8")
        for path in (tmp / WEIGHTS, tmp / CARD, tmp):
            fsync_path(path)
        _swap_in(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        restore_interrupted_save(folder)
        raise
    return folder


def read_card(folder: str | Path) -> ModelCard:
    """The card of a model folder, validated."""
    folder = Path(folder)
    restore_interrupted_save(folder)
    if not folder.exists():
        raise ModelError("no such model folder", folder)
    if not folder.is_dir():
        raise ModelError("a model is a folder with model.safetensors and card.json, not a file", folder)
    if not (folder / CARD).is_file():
        raise ModelError("card.json is missing: this is not a model folder", folder)
    return ModelCard.read(folder / CARD)


# Weights a module may hold in its floating-point tensors; integer buffers (BatchNorm's
# num_batches_tracked) must stay integer and boolean ones boolean.
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _key(name: str) -> str:
    """A tensor's name as an error line shows it: printable, at most 80 characters."""
    text = name if name.isprintable() else repr(name)
    return text if len(text) <= 80 else text[:77] + "..."


def _kind(dtype: torch.dtype) -> str:
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    return "bool" if dtype == torch.bool else "integer"


def _dtype_problem(got: torch.dtype, want: torch.dtype) -> str | None:
    """Why a stored tensor of dtype `got` cannot fill the module's tensor of dtype `want`."""
    if want.is_floating_point:
        if got not in FLOAT_DTYPES:
            return f"is {str(got).removeprefix('torch.')}, where the model takes float32, float16 or bfloat16"
    elif _kind(got) != _kind(want):
        return f"is {str(got).removeprefix('torch.')}, where the model keeps {_kind(want)} values"
    return None


def _check_state(state: dict[str, torch.Tensor], module: nn.Module, path: Path) -> None:
    """ModelError (one line naming `path` and the tensors) unless `state` fits `module` exactly:
    the same names and shapes, floating weights as float32/16 or bfloat16 and all finite."""
    own = module.state_dict()
    missing = [_key(k) for k in own if k not in state]
    extra = [_key(k) for k in state if k not in own]
    wrong = [f"{_key(k)} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    for problem, items in (("missing tensors", missing), ("unexpected tensors", extra), ("wrong shapes", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            raise ModelError(f"weights do not fit the card's architecture: {problem}: {', '.join(items[:3])}{more}", path)
    for key, want in own.items():
        tensor = state[key]
        problem = _dtype_problem(tensor.dtype, want.dtype)
        if problem:
            raise ModelError(f"tensor {_key(key)} {problem}", path)
        if tensor.is_floating_point():
            finite = torch.isfinite(tensor)
            if not bool(finite.all()):
                nan = int(torch.isnan(tensor).sum())
                inf = tensor.numel() - int(finite.sum()) - nan
                what = " and ".join(f"{n} {w}" for n, w in ((nan, "NaN"), (inf, "infinite")) if n)
                raise ModelError(f"tensor {_key(key)} holds {what} value{'s' if nan + inf > 1 else ''} "
                                 f"(of {tensor.numel()}): the weights are broken", path)


def load_model(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """The model in `folder`, in eval mode on `device`. Executes no pickled code.

    Card and weights are untrusted: the card is checked field by field (`ModelCard.read`), the
    weights must match the card's network tensor for tensor (names, shapes, dtypes) and be
    finite. Every refusal is one ModelError line naming the file."""
    from matlab_gui.ml.zoo import build_model

    folder = Path(folder)
    card = read_card(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelError("model.safetensors is missing", folder)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelError(f"unreadable weights ({_key(str(exc))})", weights) from None
    try:
        module = build_model(card, pretrained=False)
    except UserError as exc:
        if exc.path is None:  # the zoo's own message: say which model it is about
            raise ModelError(exc.problem, folder / CARD) from None
        raise
    except Exception as exc:  # a card naming an encoder the libraries cannot build
        raise ModelError(f"cannot build {card.arch} with encoder {card.encoder!r} ({_key(str(exc))})", folder) from None
    _check_state(state, module, weights)
    module.load_state_dict(state)
    return LoadedModel(module.to(device).eval(), card, folder)
