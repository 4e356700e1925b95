"""The soak benchmark at a tiny size: the real window, killed four times (while a save writes its
journal, while it applies it, at a random moment of a save, anywhere in a cycle), loses no
stroke it had saved, and every kill leaves a project that opens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


def test_a_killed_window_loses_no_saved_stroke(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(SOAK), "--cycles", "20", "--images", "4", "--kill-every", "5",
         "--save-kills", "0.75", "--size", "256", "--seed", "1", "--out", str(out),
         "--keep", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert out.is_file(), run.stderr[-3000:]
    result = json.loads(out.read_text())
    summary = {k: result[k] for k in ("cycles", "kills", "recovered", "unopenable", "lost_strokes",
                                      "corruption", "problems", "final_check")}
    assert result["cycles"] == 20, summary
    assert result["kills"]["how"] == {"cycle": 1, "save_writing": 1, "save_applying": 1,
                                      "save_timer": 1}, summary
    assert result["recovered"] == 4 and result["unopenable"] == 0, summary
    assert result["strokes"]["strokes_done"] > 20 and result["saves"]["saves_with_strokes"] > 5
    assert result["thumbnails"] > 0, summary
    assert result["lost_strokes"] == 0, summary
    assert not any(result["corruption"].values()), summary
    assert result["final_check"]["lost"] == 0 and result["final_check"]["not_saved_at_close"] == 0
    assert result["pass"] and run.returncode == 0, summary
