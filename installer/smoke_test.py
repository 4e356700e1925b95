"""Release smoke test (`make installer-test`): runs the built bundle and the wheel the way a user
would, from outside the source tree, and records bundle size and start-up times.

    python installer/smoke_test.py bundle dist/matlab-gui
    python installer/smoke_test.py wheel dist/matlab_gui-*.whl

`bundle`: `--version`, first window (`--screenshot`, offscreen) checked as a real picture,
`classify` with the shipped classifier on the bundled samples, `segment` with the shipped
nasa-super model on the default CPU engine (OpenVINO, converted on the first run, then from its
cache), `info`, `models --shipped` and (Linux) the desktop-menu entry script. `wheel`: a fresh venv, `pip install` of the wheel
(pinned torch from constraints.txt), then `--version`, `info` on a sample inside the installed
package and `models --shipped`. Timings go to benchmarks/results/installer_<mode>.json.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
ENV = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}


def run(cmd: list, cwd: Path, timeout: float = 600) -> tuple[str, float]:
    """Run `cmd`; fail loudly with its output when it exits non-zero. Returns (stdout, seconds)."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}")
    print(f"ok {seconds:6.2f} s  {' '.join(map(str, cmd[1:]))[:100]}")
    return proc.stdout, seconds


def folder_mb(path: Path) -> float:
    """Disk use as `du` counts it: a symlinked duplicate library counts once."""
    files = (f for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return round(sum(f.stat().st_size for f in files) / 2**20, 1)


def check_screenshot(png: Path, size: tuple[int, int]) -> None:
    """The first window really drew: the size asked for and not one flat colour."""
    import cv2

    image = cv2.imread(str(png))
    assert image is not None, f"{png} is not a readable PNG"
    assert image.shape[1::-1] == size, f"screenshot is {image.shape[1::-1]}, expected {size}"
    assert image.std() > 10, "screenshot is (nearly) one flat colour"


def version_times(exe: Path, cwd: Path, repeats: int = 3) -> list[float]:
    times = []
    for _ in range(repeats):
        out, seconds = run([exe, "--version"], cwd)
        assert out.startswith("matlab-gui "), out
        times.append(round(seconds, 2))
    return times


def test_bundle(bundle: Path, work: Path) -> dict:
    gui, cli = bundle / "matlab-gui", bundle / "matlab-gui-cli"
    if sys.platform == "win32":
        gui, cli = gui.with_suffix(".exe"), cli.with_suffix(".exe")
    for exe in (gui, cli):
        assert exe.is_file(), f"{exe} missing: run `make installer` first"
    samples = next(bundle.rglob("_bundled/resources/samples"))
    versions = version_times(cli, work)
    png, size = work / "first_window.png", (1280, 800)
    _, window_s = run([gui, "--screenshot", png, "--size", f"{size[0]}x{size[1]}"], work)
    check_screenshot(png, size)
    out, classify_s = run([cli, "classify", samples, "--model", "neu-det-cls", "--out",
                           work / "classes.csv", "--quiet"], work)
    with open(work / "classes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(list(samples.glob("*.tif"))), rows
    ENV["MATLAB_GUI_CACHE"] = str(work / "cache")  # a first run converts, as on a new PC
    segment_s = []
    for n, attempt in enumerate(("converts the model", "runs the cached conversion")):
        out, seconds = run([cli, "segment", samples / "superalloy_spot2_0d_0.tif", "--model",
                            "nasa-super", "--out", work / f"segmented{n}", "--json"], work)
        engine = json.loads(out)["engine"]  # a failed conversion would say torch
        assert engine == "OpenVINO (float32)", f"the bundle's segment {attempt} on {engine}"
        segment_s.append(round(seconds, 2))
        assert any((work / f"segmented{n}").rglob("*.png")), "segment wrote no mask"
    out, _ = run([cli, "info", samples / "uhcs0006.tif"], work)
    assert "645" in out, out
    out, _ = run([cli, "models", "--shipped"], work)
    assert "nasa-super" in out and "neu-det-cls" in out, out
    if sys.platform == "linux":  # the desktop menu entry points at this bundle's launcher and icon
        ENV["XDG_DATA_HOME"] = str(work / "xdg")
        run(["sh", bundle / "install-desktop-entry.sh"], work)
        entry = (work / "xdg" / "applications" / "matlab-gui.desktop").read_text()
        assert f"Exec={gui} %F" in entry and f"Icon={bundle / 'matlab-gui.png'}" in entry, entry
        assert (bundle / "matlab-gui.png").is_file()
    return {"bundle_mb": folder_mb(bundle), "version_s": versions,
            "first_window_s": round(window_s, 2), "classify_samples_s": round(classify_s, 2),
            "segment_sample_s": segment_s, "segment_engine": engine, "classified": len(rows)}


def test_wheel(wheel: Path, work: Path) -> dict:
    env_dir = work / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    _, install_s = run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                        "-c", REPO / "constraints.txt", wheel], work, timeout=1800)
    exe = py.parent / "matlab-gui"
    versions = version_times(exe, work)
    out, _ = run([py, "-c", "from matlab_gui.resources import default_sample, models_dir;"
                  "print(default_sample()); print(models_dir())"], work)
    sample, models = (Path(line) for line in out.split())
    assert REPO not in sample.parents and "_bundled" in sample.parts, f"sample read from {sample}"
    assert (models / "nasa-super" / "model.safetensors").is_file(), models
    out, _ = run([exe, "info", sample], work)
    assert sample.name in out or "512" in out, out
    out, _ = run([exe, "models", "--shipped"], work)
    assert "nasa-super" in out, out
    return {"wheel_mb": round(wheel.stat().st_size / 2**20, 1), "pip_install_s": round(install_s, 1),
            "venv_mb": folder_mb(env_dir), "version_s": versions}


def main() -> None:
    mode, target = sys.argv[1], Path(sys.argv[2]).resolve()
    with tempfile.TemporaryDirectory(prefix=f"mg-{mode}-") as tmp:
        work = Path(tmp)  # outside the source tree: nothing may come from the checkout
        report = (test_bundle if mode == "bundle" else test_wheel)(target, work)
    report["version_median_s"] = statistics.median(report["version_s"])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"installer_{mode}.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
