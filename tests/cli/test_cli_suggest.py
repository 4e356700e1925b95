"""`matlab-gui suggest`: the ranking as a table or a JSON list, --top, a bad source."""

from __future__ import annotations

import json

import numpy as np

from matlab_gui.cli import main
from matlab_gui.imaging import write_image


def _folder(case, tmp_path):
    left = case.stripes(case.seen_levels, (96, 96))
    right = case.stripes(case.unseen_levels, (96, 96), seed=2)
    write_image(tmp_path / "seen.png", case.seen)
    write_image(tmp_path / "unseen.png", case.unseen)
    write_image(tmp_path / "composite.png", np.hstack([left, right]))
    return tmp_path


def test_table_and_json_rank_the_same_images(uncertainty_case, tmp_path, capsys):
    folder = _folder(uncertainty_case, tmp_path)
    args = ["suggest", "--model", str(uncertainty_case.model), str(folder), "--grid", "64",
            "--device", "cpu"]
    assert main([*args, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["name"] == "unseen.png" and rows[-1]["name"] == "seen.png"
    tile = rows[1]["tile"]
    assert rows[1]["name"] == "composite.png" and tile["x"] >= 96 and (tile["w"], tile["h"]) == (64, 64)
    assert main([*args, "--top", "2"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["rank", "image", "score"] and len(lines) == 3
    first, second = lines[1].split(), lines[2].split()
    assert first[:3] == ["1", "unseen.png", f"{rows[0]['score']:.4f}"] and first[3] == "-"
    assert second[:2] == ["2", "composite.png"]
    assert " ".join(second[3:]) == f"{tile['x']}, {tile['y']}, {tile['w']}, {tile['h']}"
    assert "ranked 3 images" in err  # notes on stderr, never among the results


def test_top_limits_the_json_list_and_quiet_leaves_stderr_empty(uncertainty_case, tmp_path,
                                                                  capsys):
    folder = _folder(uncertainty_case, tmp_path)
    assert main(["suggest", "--model", str(uncertainty_case.model), str(folder), "--top", "1",
                 "--json", "--quiet", "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert [r["name"] for r in json.loads(out)] == ["unseen.png"] and err == ""


def test_a_missing_source_is_a_one_line_error(uncertainty_case, tmp_path, capsys):
    code = main(["suggest", "--model", str(uncertainty_case.model), str(tmp_path / "nope.mgp")])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "neither a folder of images nor a project" in err and "Traceback" not in err
