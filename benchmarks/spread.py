"""Repeated timings summarised honestly: median and range over rounds, and a verdict that
does not call a goal met when the rounds disagree about it."""

from __future__ import annotations

import statistics


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
