"""Turn a folder written by `matlab-gui train` into a shipped model folder.

    python models/ship.py SRC DST --dataset nasa_super --splits files.csv --split test \
        --metric mean_iou --licence MIT --notes "..." [--float32]
    python models/ship.py --readme-only models/nasa-super ...   # README.md from the card alone

`--splits` is a file in the data set's folder (`files.csv`) or in this repository
(`models/splits/nasa_ebc_EBC1.csv`); the card records it relative to whichever holds it.

Evaluates SRC (float32) and its float16 copy on the test split with the same code as
`matlab-gui evaluate`, keeps float16 unless it loses more than 0.002 on `--metric` (or
--float32 is given), and records in the card: the test metrics of the shipped weights, the
float32 metric, what to evaluate on (`data.evaluate`, used by tests/models), the data licence
and notes. Weights are loaded and saved as safetensors (no pickle). Beside card.json it writes
README.md, the model card for people (`matlab_gui.ml.model_readme`); `--readme-only DST`
regenerates just that from DST's card.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MATLAB_GUI_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def evaluate(folder: Path, data: Path, splits: list[Path] | None, split: str) -> dict:
    from matlab_gui.jobs.evaluate import EvaluateRequest, run_evaluation

    return run_evaluation(EvaluateRequest(model=folder, data=data, splits=splits, split=split,
                                          device="cpu")).metrics


def write_readme(folder: Path) -> Path:
    """README.md from the folder's card.json, written atomically beside it."""
    from matlab_gui.imaging.write import atomic_write_bytes
    from matlab_gui.ml.model_readme import model_readme

    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    text = model_readme(card).encode("utf-8")
    atomic_write_bytes(folder / "README.md", lambda tmp: tmp.write_bytes(text))
    return folder / "README.md"


def main() -> None:
    if sys.argv[1:2] == ["--readme-only"]:
        for folder in sys.argv[2:]:
            print(write_readme(Path(folder)))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--splits")
    ap.add_argument("--split", default="test")
    ap.add_argument("--metric", required=True)
    ap.add_argument("--licence", required=True)
    ap.add_argument("--notes", default="")
    ap.add_argument("--train-command", default="")
    ap.add_argument("--wall", default="")
    ap.add_argument("--float32", action="store_true")
    a = ap.parse_args()

    from matlab_gui.ml.model_folder import load_model, save_model

    data = SHARED / a.dataset
    splits = [REPO / a.splits if (REPO / a.splits).is_file() else data / a.splits] if a.splits else None
    m32 = evaluate(Path(a.src), data, splits, a.split)
    loaded = load_model(a.src)
    card = loaded.card
    with tempfile.TemporaryDirectory() as tmp:
        half_dir = Path(tmp) / "half"
        save_model(half_dir, loaded.module, card, half=True)
        m16 = evaluate(half_dir, data, splits, a.split)
    use_half = not a.float32 and m16[a.metric] >= m32[a.metric] - 0.002
    metrics = m16 if use_half else m32
    card.metrics = dict(card.metrics or {}, test=metrics,
                        test_float32={a.metric: m32[a.metric]},
                        test_float16={a.metric: m16[a.metric]})
    card.training = dict(card.training or {}, weights_dtype="float16" if use_half else "float32",
                         command=a.train_command, wall_time=a.wall)
    card.data = dict(card.data or {}, path=a.dataset, licence=a.licence,  # not the trainer's disk
                     evaluate={"dataset": a.dataset, "splits": a.splits, "split": a.split,
                               "metric": a.metric})
    if a.notes:
        card.notes = a.notes
    save_model(a.dst, loaded.module, card, half=use_half)
    write_readme(Path(a.dst))
    print(json.dumps({"float32": m32[a.metric], "float16": m16[a.metric], "shipped":
                      "float16" if use_half else "float32", "metrics": metrics}, default=str))


if __name__ == "__main__":
    main()
