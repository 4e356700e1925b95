"""How particles are found before they are measured: the options and their defaults, apart from
the scikit-image code that applies them (the CLI builds its options from these at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from matlab_gui.errors import UserError

DEFAULT_PROMINENCE = 1.0  # px of distance a neck must dip below both centres to be split there
DEFAULT_DEPTH = 0.2  # ... and this fraction of the smaller centre's distance from the background


@dataclass(frozen=True)
class ParticleOptions:
    """How particles are found before they are measured (all of it is stated in the results)."""

    split: bool = False  # separate touching particles by a distance-transform watershed
    prominence: float = DEFAULT_PROMINENCE
    depth: float = DEFAULT_DEPTH
    fill_holes: bool = False
    min_area_px: int = 0  # smaller particles are removed before measuring
    exclude_edge: bool = True  # particles cut by the image edge stay out of the size statistics

    def __post_init__(self):
        if self.min_area_px < 0:
            raise UserError(f"minimum particle area {self.min_area_px} px is negative")
        if not self.prominence > 0:
            raise UserError(f"split prominence {self.prominence} must be above 0 px")
        if not 0 <= self.depth < 1:
            raise UserError(f"split depth {self.depth} must be a fraction from 0 to below 1")

    def to_dict(self) -> dict:
        return {"split": self.split, "prominence_px": self.prominence, "depth": self.depth,
                "fill_holes": self.fill_holes,
                "min_area_px": self.min_area_px, "exclude_edge": self.exclude_edge}
