"""Which image to label next: the model's most uncertain one against a random one.

The loop a user runs with "Where to label next": paint one image sparsely, Fine-tune, then
each round paint one more training image and Fine-tune again from the model of the round
before (as the window does, the current model being the start), for a fixed number of epochs
(not a time budget: a busy CPU must not give one strategy fewer epochs than the other).
The next image is either the top of the `suggest` ranking (`jobs.suggest.run_suggest`, what
Rank images runs) over the images not yet painted, or a random one. Scribbles are simulated
from the truth as in `fewshot.py` (a few strokes per class, at most 10 % of the pixels), so each
painted image costs the same effort. After every round the model segments the test split
through the `segment` job and is scored. Strategies alternate within each seed.

    python benchmarks/active_learning.py                      # nasa_super, 3 seeds, 3 rounds
    python benchmarks/active_learning.py --smoke

Writes benchmarks/results/active_learning.json. Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fewshot import COLOURS, DATA, RESULTS, score, scribbles, splits_of, start_for  # noqa: E402
from spread import spread  # noqa: E402

from matlab_gui.gui.model_features import FineTuneJob, run_fine_tune  # noqa: E402
from matlab_gui.gui.train_dialog import TrainSettings  # noqa: E402
from matlab_gui.imaging import read_mask  # noqa: E402
from matlab_gui.jobs.suggest import SuggestRequest, run_suggest  # noqa: E402
from matlab_gui.project import ClassDef, Project  # noqa: E402

STRATEGIES = ("most uncertain", "random")


def add_painted(project: Project, dataset: Path, row: dict, n_classes: int,
                rng: np.random.Generator) -> None:
    image_id = project.add_image(dataset / row["image"])
    project.set_mask(image_id, scribbles(read_mask(dataset / row["mask"]), n_classes, rng))
    project.save()


def next_image(strategy: str, model: Path, dataset: Path, left: list[dict],
               rng: np.random.Generator, work: Path) -> dict:
    """The next image to paint: the top of the ranking of the images not painted yet."""
    if strategy == "random":
        return left[int(rng.integers(len(left)))]
    folder = work / f"unpainted-{len(left)}"
    folder.mkdir()
    for row in left:
        (folder / Path(row["image"]).name).symlink_to((dataset / row["image"]).resolve())
    top = run_suggest(SuggestRequest(model, folder)).ranking[0]
    return next(row for row in left if Path(row["image"]).name == Path(top.image).name)


def run_loop(dataset: Path, strategy: str, seed: int, rounds: int, epochs: int) -> dict:
    train, test, names = splits_of(dataset)
    classes = [ClassDef(k + 1, n, COLOURS[k % len(COLOURS)]) for k, n in enumerate(names)]
    order = np.random.default_rng(seed).permutation(len(train))
    left = [train[i] for i in order]
    rng = np.random.default_rng([seed, 1])  # the scribbles: the same for both strategies
    pick_rng = np.random.default_rng([seed, 2])
    settings = TrainSettings(epochs=epochs, time_budget_s=None)
    history = []
    with tempfile.TemporaryDirectory(prefix="active-") as tmp:
        work = Path(tmp)
        model = start_for("window", dataset, names)
        first = left.pop(0)  # round 0 starts from the same image either way
        with Project.create(work / "p.mgp", classes) as project:
            chosen = first
            for r in range(rounds):
                add_painted(project, dataset, chosen, len(names), rng)
                t0 = time.perf_counter()
                result = run_fine_tune(FineTuneJob("segmentation", project, work / f"model{r}",
                                                   model, settings), progress=lambda _e: None)
                model = result.model_dir
                scores = score(model, dataset, test, names, work / f"score{r}")
                history.append({"round": r, "images": len(project.image_ids),
                                "added": chosen["image"], "train_s": round(time.perf_counter() - t0, 1),
                                "epochs": result.epochs_run, **scores})
                print(json.dumps({"strategy": strategy, "seed": seed, **history[-1]}), flush=True)
                if r + 1 < rounds:
                    chosen = next_image(strategy, model, dataset, left, pick_rng, work)
                    left.remove(chosen)
    return {"strategy": strategy, "seed": seed, "rounds": history}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="nasa_super")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20, help="per round")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    if not (DATA / "MANIFEST.md").is_file():
        raise SystemExit(f"needs the data sets in {DATA}")
    if args.smoke:
        args.seeds, args.rounds, args.epochs = 1, 2, 1
    runs = []
    start = time.time()
    out = RESULTS / ("active_learning_smoke.json" if args.smoke else "active_learning.json")
    for seed in range(args.seeds):
        for strategy in (STRATEGIES if seed % 2 == 0 else STRATEGIES[::-1]):
            runs.append(run_loop(DATA / args.dataset, strategy, seed, args.rounds, args.epochs))
            summary = {}
            for s in STRATEGIES:
                per_round = [[run["rounds"][r]["mean_iou"] for run in runs if run["strategy"] == s
                              and len(run["rounds"]) > r] for r in range(args.rounds)]
                summary[s] = [spread(v) if v else None for v in per_round]
            RESULTS.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps({
                "command": " ".join(sys.argv), "dataset": args.dataset,
                "epochs_per_round": args.epochs, "summary_mean_iou_by_round": summary,
                "runs": runs, "wall_s": round(time.time() - start, 1)}, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
