"""The reliability corpus: a few hundred hostile and broken inputs through every command a user
types and the read API. Zero tracebacks, zero hangs; a user error exits 2 with exactly one line
on stderr that names the input; a batch that skips a broken file exits 1 and says which.

The inputs come from `reliability_corpus.py` (mutated real micrographs, bombs, odd types and
paths, damaged projects, model folders, data sets and split files).
"""

from __future__ import annotations

import json
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
import reliability_corpus as corpus

from matlab_gui.cli import main
from matlab_gui.errors import UserError

pytestmark = [pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs SIGALRM"),
              pytest.mark.usefixtures("default_pixel_budget")]

NOISE = ("[ERROR:", "[ WARN:", "Corrupt JPEG", "libpng", "libtiff", "TiffPage", "Warning:")
HANG_S = 30  # any single command on these tiny inputs takes well under a second or two


class Hang(Exception):
    pass


@contextmanager
def deadline(seconds: float, what: str):
    def ring(signum, frame):
        raise Hang(f"{what} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Runner:
    """Runs commands in this process (a subprocess each would cost seconds of imports) and
    records every way one falls short, so one test run lists all failing inputs at once."""

    def __init__(self, capfd):
        self.capfd, self.failures, self.runs, self.last_err = capfd, [], 0, ""
        self.last_code: int | None = None

    def cli(self, argv: list[str], names: str, batch: bool = False) -> int | None:
        self.runs += 1
        self.capfd.readouterr()
        what = " ".join(argv)
        try:
            with deadline(HANG_S, what):
                code = main(argv)
        except BaseException as exc:  # noqa: BLE001 - a traceback is what this test hunts
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.capfd.readouterr()
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")
            return None
        captured = self.capfd.readouterr()
        err, self.last_err, self.last_out = captured.err, captured.err, captured.out
        lines = [line for line in err.splitlines() if line.strip()]
        if "Traceback" in err:
            self.failures.append(f"{what}: traceback on stderr:\n{err}")
        elif any(mark in err for mark in NOISE):
            self.failures.append(f"{what}: a library's own output on stderr: {lines}")
        elif code == 2 and (len(lines) != 1 or not lines[0].startswith("matlab-gui: error:")):
            self.failures.append(f"{what}: exit 2 needs one 'matlab-gui: error:' line, got {lines}")
        elif code == 2 and names not in lines[0]:
            self.failures.append(f"{what}: the error does not name {names!r}: {lines[0]}")
        elif code == 1 and not batch:
            self.failures.append(f"{what}: exit 1 is for batches that skipped a file")
        elif code == 1 and not any(names in line for line in lines):
            self.failures.append(f"{what}: exit 1 but no line names {names!r}: {lines}")
        elif code not in (0, 1, 2):
            self.failures.append(f"{what}: exit {code}")
        self.last_code = code
        return code

    def api(self, call, what: str, names: str) -> bool:
        """A Python API call: returns, or raises a UserError naming the input; True when it
        refused the input."""
        self.runs += 1
        try:
            with deadline(HANG_S, what):
                call()
        except UserError as exc:
            if names not in str(exc):
                self.failures.append(f"{what}: the error does not name {names!r}: {exc}")
            return True
        except Hang as exc:
            self.failures.append(str(exc))
        except Exception as exc:  # noqa: BLE001
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")
        finally:
            self.capfd.readouterr()
        return False

    def assert_clean(self, minimum_runs: int) -> None:
        assert self.runs >= minimum_runs, f"only {self.runs} runs: the corpus shrank"
        assert not self.failures, f"{len(self.failures)} of {self.runs} runs failed:\n" + \
            "\n".join(self.failures)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory) -> Path:
    import torch

    from matlab_gui.ml.model_folder import save_model
    from matlab_gui.ml.zoo import build_model, default_card

    torch.manual_seed(0)
    card = default_card("classification", "resnet18", ["ferrite", "pearlite"], in_channels=1,
                        input_size=32, name="tiny-cls")
    folder = tmp_path_factory.mktemp("models") / "tiny-cls"
    save_model(folder, build_model(card, pretrained=False), card)
    return folder


def _image_inputs(folder: Path) -> list[Path]:
    return (corpus.mutated_images(folder) + corpus.bombs(folder) + corpus.odd_types(folder)
            + corpus.odd_paths(folder))


def test_broken_and_odd_image_files(tmp_path, capfd, tiny_segmenter, classifier):
    """Each file through the read API, `info` and `measure`; then all of them in one `segment`
    and one `classify` batch, where each unreadable file gets exactly one line naming it and
    every other file its result."""
    from matlab_gui.imaging import read_image, read_mask

    inputs = tmp_path / "in"
    inputs.mkdir()
    run = Runner(capfd)
    paths = _image_inputs(inputs)
    unreadable = set()
    for path in paths:
        name = path.name
        if run.api(lambda p=path: read_image(p), f"read_image({name})", name):
            unreadable.add(name)
        run.api(lambda p=path: read_mask(p), f"read_mask({name})", name)
        run.cli(["info", str(path)], name)
        run.cli(["measure", str(path)], name)
    listed = [p for p in paths if p.is_file() or p.name == "pipe.tif"]  # not missing or loops
    run.cli(["segment", "--model", str(tiny_segmenter), "--out", str(tmp_path / "seg"), "--quiet",
             "--json", *map(str, listed)], "", batch=True)
    _each_named_once(run, run.last_err, {p.name for p in listed} & unreadable, "segment")
    report = json.loads(run.last_out)
    empty = [Path(i["path"]).name for i in report["images"] if not i["error"] and not i["files"]]
    if empty or report["segmented"] != len(listed) - len(unreadable & {p.name for p in listed}):
        run.failures.append(f"segment: {report['segmented']} segmented; no files for {empty}")
    run.cli(["classify", "--model", str(classifier), "--out", str(tmp_path / "r.csv"),
             "--workers", "0", "--quiet", str(inputs)], "", batch=True)
    _each_named_once(run, run.last_err, _classify_listed(inputs) & unreadable, "classify")
    for name, body in (("results-binary.csv", bytes(range(256)) * 4),
                       ("results-nul.csv", b"path,predicted\x00\n"),
                       ("results-other.csv", b"a,b,c\n1,2,3\n")):
        (tmp_path / name).write_bytes(body)  # an earlier run's CSV to resume, but damaged
        run.cli(["classify", "--model", str(classifier), "--out", str(tmp_path / name),
                 "--workers", "0", "--quiet", str(inputs)], name)
    run.assert_clean(minimum_runs=390)


def _classify_listed(folder: Path) -> set[str]:
    from matlab_gui.imaging import list_images

    return {p.name for p in list_images(folder)}


def _each_named_once(run: Runner, err: str, unreadable: set[str], command: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    for name in sorted(unreadable):
        hits = [line for line in lines if f"/{name}: error:" in line]
        if len(hits) != 1:
            run.failures.append(f"{command}: {len(hits)} error lines for unreadable {name}")
    for line in lines:
        if not any(f"/{name}: error:" in line for name in unreadable):
            run.failures.append(f"{command}: a line for no unreadable file: {line}")


def test_damaged_projects(tmp_path, capfd, tiny_segmenter):
    from matlab_gui.project.store import Project

    run = Runner(capfd)

    def read_everything(path: Path) -> None:
        with Project.open(path, readonly=True) as project:
            for image_id in project.image_ids:
                project.read_image(image_id)
                project.get_mask(image_id)
                project.get_prediction(image_id)
            _ = project.history
            project.settings.get("view")  # the window reads its view state as a dict

    for path in corpus.damaged_projects(tmp_path):
        name = path.name
        run.api(lambda p=path: read_everything(p), f"Project.open({name})", name)
        run.cli(["info", str(path)], name)
        run.cli(["evaluate", "--model", str(tiny_segmenter), "--data", str(path)], name)
        run.cli(["train", "--task", "segmentation", "--data", str(path), "--from",
                 str(tiny_segmenter), "--epochs", "1", "--patches-per-epoch", "2", "--patch", "64",
                 "--batch", "2", "--out", str(tmp_path / "trained" / name), "--quiet"], name)
    run.assert_clean(minimum_runs=100)


def test_damaged_model_folders(tmp_path, capfd, tiny_segmenter):
    image = tmp_path / "micrograph.tif"
    corpus.tifffile.imwrite(image, corpus.micrograph())
    run = Runner(capfd)
    models = tmp_path / "models"
    models.mkdir()
    for folder in corpus.damaged_models(models, tiny_segmenter):
        name = folder.name
        run.cli(["segment", "--model", str(folder), "--out", str(tmp_path / "o" / name),
                 "--quiet", str(image)], name)
        run.cli(["evaluate", "--model", str(folder), "--data", str(tmp_path / "none")], name)
        run.cli(["export-model", "--format", "onnx", "--out", str(tmp_path / "x" / name),
                 str(folder)], name)
    run.assert_clean(minimum_runs=50)


class _Payload:
    """A pickle that would create a file if anything ever unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_weights_folders_are_read_as_data(tmp_path, capfd):
    """A pickle with code in `--weights-dir` is refused in one line naming it; nothing runs."""
    import pickle

    folder = tmp_path / "weights"
    folder.mkdir()
    marker = tmp_path / "the-pickle-ran"
    run = Runner(capfd)
    data = corpus.damaged_datasets(tmp_path / "sets")[0]
    for name, body in (("resnet10t.pth", pickle.dumps({"w": _Payload(marker)})),
                       ("resnet10t.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{junk}"),
                       ("resnet10t.pt", pickle.dumps([1, 2, 3]))):
        for old in folder.iterdir():
            old.unlink()
        (folder / name).write_bytes(body)
        run.cli(["train", "--task", "segmentation", "--data", str(data), "--arch", "unet",
                 "--encoder", "tu-resnet10t", "--weights-dir", str(folder), "--epochs", "1",
                 "--patches-per-epoch", "2", "--patch", "64", "--batch", "2", "--quiet",
                 "--out", str(tmp_path / "t" / name)], name)
        if run.last_code != 2:
            run.failures.append(f"train used {name} (exit {run.last_code})")
    assert not marker.exists(), "the pickle's code ran"
    run.assert_clean(minimum_runs=3)


def test_damaged_datasets_and_split_files(tmp_path, capfd, tiny_segmenter):
    run = Runner(capfd)
    train = ["train", "--task", "segmentation", "--from", str(tiny_segmenter), "--epochs", "1",
             "--patches-per-epoch", "2", "--patch", "64", "--batch", "2", "--quiet"]
    for root in corpus.damaged_datasets(tmp_path / "sets"):
        name = root.name
        run.cli([*train, "--data", str(root), "--out", str(tmp_path / "t" / name)], name)
        run.cli(["evaluate", "--model", str(tiny_segmenter), "--data", str(root)], name)
    healthy = tmp_path / "sets" / "healthy"
    for split in corpus.damaged_splits(tmp_path):
        name = split.name
        run.cli([*train, "--data", str(healthy), "--splits", str(split),
                 "--out", str(tmp_path / "t" / name)], name)
        run.cli(["evaluate", "--model", str(tiny_segmenter), "--data", str(healthy),
                 "--splits", str(split)], name)
    run.assert_clean(minimum_runs=30)


def test_outputs_that_cannot_be_written_fail_before_any_work(tmp_path, capfd, tiny_segmenter,
                                                             classifier):
    image = tmp_path / "in" / "micrograph.tif"
    image.parent.mkdir()
    corpus.tifffile.imwrite(image, corpus.micrograph())
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    data = corpus.damaged_datasets(tmp_path / "sets")[0]
    run = Runner(capfd)
    seg = ["segment", "--model", str(tiny_segmenter), "--quiet"]
    commands = [
        ([*seg, "--out", str(a_file), str(image)], "a-file"),
        ([*seg, "--out", str(a_file / "sub"), str(image)], "a-file"),
        (["classify", "--model", str(classifier), "--out", str(image.parent), "--quiet",
          "--workers", "0", str(image.parent)], "in"),
        (["train", "--task", "segmentation", "--data", str(data), "--from", str(tiny_segmenter),
          "--epochs", "1", "--patches-per-epoch", "2", "--patch", "64", "--quiet",
          "--out", str(a_file / "model")], "a-file"),
        (["export-model", "--format", "onnx", "--out", str(a_file), str(tiny_segmenter)],
         "a-file"),
    ]
    codes = [run.cli(argv, names) for argv, names in commands]
    run.assert_clean(minimum_runs=5)
    assert codes == [2] * len(commands)
