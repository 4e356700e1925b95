"""Repeated timings summarised honestly: median and range over rounds, and a verdict that
does not call a goal met when the rounds disagree about it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def spread(values: list[float]) -> dict:
    """Median, min and max of per-round values (ratios, times)."""
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "rounds": len(values)}


def verdict(values: list[float], goal: float, at_least: bool = True) -> str:
    """"met" only when every round meets the goal, "not met" when none does, else "not
    resolved (the spread crosses the goal)"."""
    meets = [v >= goal if at_least else v <= goal for v in values]
    if all(meets):
        return "met"
    return "not met" if not any(meets) else "not resolved (the spread crosses the goal)"


def write_merged(path: Path, key: str, record: dict) -> None:
    """Store `record` under `key` of the JSON file at `path`, keeping the other keys' results
    (one file per benchmark, one entry per image size), and print it."""
    path.parent.mkdir(exist_ok=True)
    merged = json.loads(path.read_text()) if path.is_file() else {}
    merged[key] = record
    path.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(record, indent=2))
