"""Class bookkeeping on masks: re-mapping indices when classes are deleted or reordered."""

from __future__ import annotations

import numpy as np


def remap(mask: np.ndarray, mapping: dict[int, int]) -> np.ndarray:
    """A copy of `mask` with each old index replaced by mapping[old]; unmapped indices keep
    their value. Deleting class k is {k: 0, k+1: k, ...}; reordering is a permutation."""
    top = max(int(mask.max(initial=0)), *mapping.keys(), *mapping.values(), 0)
    lut = np.arange(top + 1, dtype=mask.dtype)
    for old, new in mapping.items():
        lut[old] = new
    return lut[mask]


def deletion_mapping(index: int, count: int) -> dict[int, int]:
    """Mapping for deleting class `index` of classes 1..count: its pixels become unlabelled
    (0) and the classes after it move down by one."""
    mapping = {index: 0}
    mapping.update({i: i - 1 for i in range(index + 1, count + 1)})
    return mapping

