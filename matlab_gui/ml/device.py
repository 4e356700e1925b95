"""Which device a job runs on: the user's GPU when there is one, the CPU otherwise."""

from __future__ import annotations

import torch

from matlab_gui.errors import UserError

DEVICES = ("auto", "cuda", "mps", "cpu")


def pick_device(preference: str | torch.device = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU; asking for a missing GPU is a UserError."""
    if isinstance(preference, torch.device):
        return preference
    pref = (preference or "auto").lower()
    base = pref.split(":")[0]
    if base not in DEVICES:
        raise UserError(f"unknown device {preference!r}: use one of {', '.join(DEVICES)}")
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps and mps.is_available())
    if base == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if has_mps else "cpu")
    if base == "cuda" and not torch.cuda.is_available():
        raise UserError("a CUDA GPU was asked for, but torch sees none (no NVIDIA driver or a CPU-only torch)")
    if base == "mps" and not has_mps:
        raise UserError("Apple's MPS GPU was asked for, but it is not available on this machine")
    return torch.device(pref)


def describe_device(device: torch.device | str) -> str:
    """What the user sees: the GPU's name, or the CPU with its thread count."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "GPU: Apple MPS"
    return f"CPU ({torch.get_num_threads()} threads)"
