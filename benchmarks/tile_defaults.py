"""Tile settings that lose nothing: each shipped segmentation model's test score through the
tiled path (`segment`, Predict, `evaluate`) at several tile sizes, against one whole-image pass.

The chosen setting is the cheapest on a large image (the fewest pixels computed per image
pixel, (tile / (tile - overlap))^2; the smaller tile on a tie) among those whose score is within
0.005 of the best score, the whole image's or any tile's, so it never loses more than that to
the whole image nor to another tile. Tiles stop at 512 px: 1024 px tiles made `segment` of an
8192 x 8192 image no faster on this CPU (75 s both, overlap 64). With `--apply`, each card gets
that tile size (`input_size`) and overlap, and its test metrics become the tiled ones;
`metrics.tiling` keeps the measurement.

    python benchmarks/tile_defaults.py                 # measure, write the JSON
    python benchmarks/tile_defaults.py --apply         # ... and update models/*/card.json
    python benchmarks/tile_defaults.py --models nasa-meltpool
    python benchmarks/tile_defaults.py --keep-tiles --apply   # re-score the cards' own tiles

Writes benchmarks/results/tile_defaults.json. Needs ../shared/data. Scores are deterministic
(no timing), so one round is enough.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
RESULTS = REPO / "benchmarks" / "results"
TOLERANCE = 0.005
# (tile, overlap): a quarter of the tile, and 64 px (the blend ramp of a 256 px tile) for larger
# ones, which then compute far fewer pixels twice
CANDIDATES = [(256, 64), (384, 96), (384, 64), (512, 128), (512, 64)]


def cost(tile: int, overlap: int) -> float:
    """Pixels computed per image pixel on an image much larger than a tile."""
    return (tile / (tile - overlap)) ** 2


def spec_of(folder: Path) -> tuple[Path, list[Path] | None, str, str]:
    card = json.loads((folder / "card.json").read_text())
    spec = card["data"]["evaluate"]
    data = DATA / spec["dataset"]
    name = spec.get("splits")
    splits = [REPO / name if (REPO / name).is_file() else data / name] if name else None
    return data, splits, spec["split"], spec["metric"]


def measure(folder: Path, keep_tiles: bool = False) -> dict:
    """The test score whole-image and at each candidate tile (only the card's own with
    `keep_tiles`, e.g. after a change to the tiled path), and the tile chosen."""
    data, splits, split, metric = spec_of(folder)
    card = json.loads((folder / "card.json").read_text())
    candidates = [(card["input_size"], card["tile_overlap"])] if keep_tiles else CANDIDATES

    def score(**kw) -> dict:
        t0 = time.perf_counter()
        result = run_evaluation(EvaluateRequest(model=folder, data=data, splits=splits,
                                                split=split, device="cpu", **kw))
        return {"metric": result.metrics[metric], "metrics": result.metrics,
                "inference": result.inference, "wall_s": round(time.perf_counter() - t0, 1)}

    whole = score(whole_image=True)
    tiled = [{"tile": t, "overlap": o, **score(tile=t, overlap=o)} for t, o in candidates]
    best = max([whole["metric"], *(r["metric"] for r in tiled)])
    within = [r for r in tiled if r["metric"] >= best - TOLERANCE] or [
        max(tiled, key=lambda r: r["metric"])]  # none close to the whole image: the best tile
    chosen = min(within, key=lambda r: (round(cost(r["tile"], r["overlap"]), 6), r["tile"]))
    return {"model": folder.name, "metric_name": metric, "whole_image": whole["metric"],
            "tiled": [{k: r[k] for k in ("tile", "overlap", "metric", "wall_s")} for r in tiled],
            "chosen": {"tile": chosen["tile"], "overlap": chosen["overlap"],
                       "metric": chosen["metric"], "loss": whole["metric"] - chosen["metric"]},
            "_chosen_metrics": chosen["metrics"]}


def apply(folder: Path, found: dict) -> None:
    """Write the chosen tiles and the tiled test metrics into the card (weights untouched)."""
    path = folder / "card.json"
    card = json.loads(path.read_text())
    chosen = found["chosen"]
    card["input_size"], card["tile_overlap"] = chosen["tile"], chosen["overlap"]
    card["metrics"]["test"] = found["_chosen_metrics"]
    card["metrics"]["tiling"] = {
        "whole_image": found["whole_image"], "tiled": chosen["metric"],
        "loss": round(chosen["loss"], 4), "metric": found["metric_name"],
        "measured_by": "benchmarks/tile_defaults.py"}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(card, indent=2) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+")
    parser.add_argument("--apply", action="store_true")
    parser.add_argument("--keep-tiles", action="store_true",
                        help="score only each card's own tile setting (and apply only its score)")
    parser.add_argument("--out", type=Path, default=RESULTS / "tile_defaults.json")
    args = parser.parse_args()
    if not (DATA / "MANIFEST.md").is_file():
        raise SystemExit("needs ../shared/data")
    folders = [p.parent for p in sorted((REPO / "models").glob("*/card.json"))
               if json.loads(p.read_text())["task"] == "segmentation"
               and (not args.models or p.parent.name in args.models)]
    found = []
    for folder in folders:
        result = measure(folder, args.keep_tiles)
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}), flush=True)
        if args.apply:
            apply(folder, result)
        found.append(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    measured = {r["model"]: {k: v for k, v in r.items() if not k.startswith("_")} for r in found}
    earlier = json.loads(args.out.read_text())["models"] if args.out.is_file() else []
    kept = [m for m in earlier if m["model"] not in measured]  # models not measured this run
    args.out.write_text(json.dumps({
        "tolerance": TOLERANCE, "device": "cpu", "rule": "cheapest tile within the tolerance of the best",
        "grid": "tiles inside the image, no mirrored border row/column (ml/tiling.py)",
        "models": sorted(kept + list(measured.values()), key=lambda m: m["model"]),
    }, indent=1))


if __name__ == "__main__":
    main()
