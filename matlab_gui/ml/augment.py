"""Random augmentation of a normalised image and its label mask, chosen from the card.

Geometry (flips, rot90, small affine) moves image and mask together; photometry (brightness,
contrast, gamma, blur/sharpen, noise) touches the image only. Works on numpy float32 `(C, H, W)`
images after `to_model_input`, so 8- and 16-bit inputs behave the same. The spec is a plain dict
stored in `card.training["augment"]`: each key is a probability or a strength, 0 turns it off.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from matlab_gui.ml.losses import IGNORE_INDEX

# Paper 002 (flip p=0.3, contrast/brightness/gamma, blur and sharpen) plus the usual micrograph
# symmetries; strengths are the largest relative change drawn.
DEFAULT_AUGMENT: dict[str, float] = {
    "hflip": 0.5,
    "vflip": 0.5,
    "rot90": 0.5,
    "brightness": 0.1,
    "contrast": 0.1,
    "gamma": 0.1,
    "blur_sharpen": 0.2,
    "noise": 0.02,
    "affine": 0.0,
}


class Augmenter:
    """Applies a spec with a caller-owned random generator, so runs are reproducible."""

    def __init__(self, spec: Mapping[str, float] | None = None):
        self.spec = {**DEFAULT_AUGMENT, **(spec or {})}
        unknown = set(self.spec) - set(DEFAULT_AUGMENT)
        if unknown:
            raise ValueError(f"unknown augmentation(s): {', '.join(sorted(unknown))}")

    def __call__(
        self, image: np.ndarray, mask: np.ndarray | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray | None]:
        image, mask = self._geometry(image, mask, rng)
        return np.ascontiguousarray(self._photometry(image, rng), dtype=np.float32), (
            None if mask is None else np.ascontiguousarray(mask)
        )

    def _geometry(self, image, mask, rng):
        s = self.spec
        if rng.random() < s["hflip"]:
            image, mask = image[:, :, ::-1], None if mask is None else mask[:, ::-1]
        if rng.random() < s["vflip"]:
            image, mask = image[:, ::-1, :], None if mask is None else mask[::-1, :]
        if image.shape[1] == image.shape[2] and rng.random() < s["rot90"]:
            k = int(rng.integers(1, 4))
            image = np.rot90(image, k, axes=(1, 2))
            mask = None if mask is None else np.rot90(mask, k)
        if s["affine"] > 0 and rng.random() < 0.5:
            image, mask = _affine(image, mask, s["affine"], rng)
        return image, mask

    def _photometry(self, image, rng):
        s = self.spec
        image = np.array(image, dtype=np.float32)
        if s["gamma"] > 0 and rng.random() < 0.5:
            lo, hi = float(image.min()), float(image.max())
            if hi > lo:
                unit = (image - lo) / (hi - lo)
                image = unit ** np.float32(np.exp(rng.uniform(-s["gamma"], s["gamma"])))
                image = image * (hi - lo) + lo
        if s["contrast"] > 0 or s["brightness"] > 0:
            gain = 1.0 + rng.uniform(-s["contrast"], s["contrast"])
            shift = rng.uniform(-s["brightness"], s["brightness"]) * max(float(image.std()), 1e-3)
            image = (image - image.mean()) * np.float32(gain) + image.mean() + np.float32(shift)
        if rng.random() < s["blur_sharpen"]:
            blurred = np.stack([cv2.GaussianBlur(c, (0, 0), 1.0) for c in image])
            amount = np.float32(rng.uniform(-1.0, 1.0))  # <0 blurs, >0 sharpens (unsharp mask)
            image = image + amount * (image - blurred)
        if s["noise"] > 0 and rng.random() < 0.5:
            scale = s["noise"] * max(float(image.std()), 1e-3)
            image = image + rng.normal(0.0, scale, image.shape).astype(np.float32)
        return image


def _affine(image, mask, strength, rng):
    """Small rotation/scale/shift; the mask is resampled nearest and its new border ignored."""
    _, h, w = image.shape
    angle = rng.uniform(-30, 30) * strength / 0.2
    scale = 1.0 + rng.uniform(-strength, strength)
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += rng.uniform(-strength, strength, 2) * (w, h)
    warped = np.stack(
        [cv2.warpAffine(np.ascontiguousarray(c), matrix, (w, h), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT_101) for c in image]
    )
    if mask is None:
        return warped, None
    warped_mask = cv2.warpAffine(
        np.ascontiguousarray(mask, dtype=np.float32), matrix, (w, h), flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT, borderValue=float(IGNORE_INDEX),
    )
    return warped, warped_mask.astype(mask.dtype)
