"""Soak: the window's data path under load, killed at random moments; no saved stroke is lost.

A child process runs the real MainWindow (offscreen Qt) on a project of `--images` synthetic
micrographs (8- and 16-bit, `--size` / 2 to `--size` px a side) and does `--cycles` cycles like a
user: click an image in the list (the switch reads it and autosaves), paint 1-4 brush or eraser
strokes on the canvas viewport with mouse events (the same path as a hand on the mouse), now and
then Ctrl+S, every 10 cycles the thumbnail worker re-reads every image, every 50 cycles the
project is closed and opened again; the window's own autosave timer runs in the background
(`--autosave-ms`). Each stroke paints one cell of a grid (new cells, and repaints or erasures of
cells painted before), so three witness pixels tell which stroke a cell shows.

The child keeps an append-only log: every stroke before and after it is painted, and, fsynced
once a save has returned, the strokes that save held (those finished before the save began;
the edited mask is handed to the project when a save starts). Once per `--kill-every` cycles
the window is SIGKILLed in a random cycle: every other kill (the first included) inside a save
that holds strokes, in turn while its journal is written (the parent kills on seeing
`.journal.tmp`), while the committed journal is applied (on seeing `.journal`), and at a random
moment of the save (a timer thread in the window); the others at a random moment of the cycle.
The parent then starts a new window on the project (its open finishes or drops the journal the
kill left), and reads the project next to it (read-only): each cell must show its last durable stroke or a later one (durable: held by a
save that returned, or by the save whose committed journal the kill left). A durable stroke that
is not there is lost (goal 0); strokes not yet saved at the kill may be lost and are counted
apart. The project must also open after every kill (unopenable: goal 0), keep its images intact
and hold no paint outside the cells; after the last cycle the window saves and closes, and then
every stroke must be there. Writes benchmarks/results/soak.json (or --out; exit status 1 when
the goal is missed).

    QT_QPA_PLATFORM=offscreen python benchmarks/soak.py [--cycles 1000] [--images 50]
        [--kill-every 100] [--seed 0] [--size 1024]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULT = Path(__file__).parent / "results" / "soak.json"
CLASSES = 4  # strokes paint classes 1..4; 0 is the eraser
CELL, RADIUS, REACH = 28, 5, 5  # grid cell (px), brush radius, stroke half-length: y, x +- REACH
READY_TIMEOUT_S, CYCLE_TIMEOUT_S = 180, 120
# in turn, the kills aimed at saves of strokes: while the journal is written (before its commit),
# while it is applied (after), and at a random moment of the save (a timer in the window)
SAVE_KILLS = ("save_writing", "save_applying", "save_timer")


def witnesses(cell: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The three pixels (rows, cols) on a cell's stroke line: a stroke covers all of them."""
    cy, cx = cell[0] * CELL + CELL // 2, cell[1] * CELL + CELL // 2
    return np.array([cy, cy, cy]), np.array([cx - REACH, cx, cx + REACH])


def digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# the child: the real window doing the cycles
# ---------------------------------------------------------------------------------------------
class Log:
    """Append-only JSON lines; `durable` lines are fsynced before the call returns."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.lock = threading.Lock()

    def write(self, durable: bool = False, **entry) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self.lock:
            os.write(self.fd, line)
            if durable:
                os.fsync(self.fd)


def tell(message: str) -> None:
    """A line to the parent (stdout; from any thread)."""
    os.write(1, (message + "\n").encode())


def child(cfg: dict) -> None:  # noqa: C901, PLR0915 - one script of user actions
    from PySide6 import QtCore, QtTest, QtWidgets

    QtCore.QSettings.setDefaultFormat(QtCore.QSettings.IniFormat)
    QtCore.QSettings.setPath(QtCore.QSettings.IniFormat, QtCore.QSettings.UserScope,
                             cfg["settings"])
    from matlab_gui.gui.app import application
    from matlab_gui.gui.main_window import MainWindow
    from matlab_gui.project import Project
    from matlab_gui.workbench import Session

    log, path, run = Log(cfg["log"]), Path(cfg["project"]), cfg["run"]
    rng = np.random.default_rng([cfg["seed"], run])
    Qt = QtCore.Qt

    # what earlier runs did: the cells used, the next stroke id
    used: dict[str, dict[tuple[int, int], int]] = {}
    next_id = 0
    for line in Path(cfg["log"]).read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("ev") == "try":
            used.setdefault(e["image"], {})[tuple(e["cell"])] = e["value"]
            next_id = max(next_id, e["id"] + 1)

    # every message box answered without a person: save before closing, no to everything else
    mb = QtWidgets.QMessageBox

    def shown(kind):
        def show(_parent, title, text, *args):
            log.write(ev="msg", kind=kind, title=title, text=text)
            if kind != "question":
                return mb.Ok
            return mb.Save if "Save the changes" in text else mb.No
        return staticmethod(show)

    for kind in ("warning", "critical", "information", "question"):
        setattr(mb, kind, shown(kind))

    # which strokes each save held: those finished before it began (see the module docstring)
    pending: set[int] = set()
    lock = threading.Lock()

    def saved(kind: str, held: list[int], t0: float, exc: BaseException | None) -> None:
        ms = round(1000 * (time.perf_counter() - t0), 1)
        if exc is not None:
            log.write(ev="save_failed", kind=kind, error=repr(exc), ms=ms)
            return
        with lock:
            pending.difference_update(held)
        log.write(durable=True, ev="saved", kind=kind, ids=held, ms=ms)

    session_save, session_autosave, project_save = Session.save, Session.autosave, Project.save

    holding: list[list[int]] = [[]]  # the strokes the save being started holds (Project.save)

    def save(self):
        with lock:
            held = sorted(pending)
        holding[0] = held
        t0 = time.perf_counter()
        try:
            session_save(self)
        except BaseException as exc:
            saved("explicit", held, t0, exc)
            raise
        saved("explicit", held, t0, None)

    def autosave(self):
        with lock:
            held = sorted(pending)
        before, t0 = self._saving, time.perf_counter()
        if not self.saving:
            holding[0] = held
        session_autosave(self)
        future = self._saving
        if future is not None and future is not before:
            future.add_done_callback(lambda f: saved("autosave", held, t0, f.exception()))

    arm, now, took = cfg["arm"], [cfg["start"]], []

    def project_save_told(self, *args, **kwargs):
        nonlocal arm
        writes = self.dirty and not self.readonly
        holds = writes and bool(holding[0])
        if writes:  # a journal left committed by a kill must land with these strokes
            log.write(ev="saving", ids=holding[0] if holds else [])
            tell("S1" if holds else "S0")
            if arm and now[0] >= arm["cycle"] and holds:
                # a SIGKILL at a random moment of this save (saves of a few ms are too quick
                # for the parent to aim at from outside)
                delay = arm["at"] * statistics.median(took[-20:] or [arm["save_s"]])
                threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()
                arm = None
        t0 = time.perf_counter()
        try:
            return project_save(self, *args, **kwargs)
        finally:
            if writes:
                if holds:  # the length of a save of strokes, where the kill is aimed
                    took.append(time.perf_counter() - t0)
                tell("E")

    Session.save, Session.autosave, Project.save = save, autosave, project_save_told

    app = application()
    window = MainWindow()
    window.resize(1280, 800)
    window.show()
    QtTest.QTest.qWait(50)
    thumbs = [0]
    window.workers.thumbnail_ready.connect(lambda *_: thumbs.__setitem__(0, thumbs[0] + 1))
    window._autosave.setInterval(cfg["autosave_ms"])  # the window's timer, only sooner

    def pump_until(done, timeout_s: float) -> bool:
        """Run the event loop until `done()` (a nested loop, as wait_until_idle does)."""
        if done():
            return True
        loop = QtCore.QEventLoop()
        deadline = time.monotonic() + timeout_s
        timer = QtCore.QTimer(interval=10)
        timer.timeout.connect(lambda: (done() or time.monotonic() > deadline) and loop.quit())
        timer.start()
        loop.exec()
        timer.stop()
        return done()

    def fail(what: str, code: int = 3) -> None:
        log.write(durable=True, ev="error", what=what, run=run)
        os._exit(code)

    def open_project() -> None:
        window.open_project(path)
        s = window.session
        if s is None or s.project.path != path or s.project.readonly:
            log.write(durable=True, ev="open_failed", run=run,
                      readonly=bool(s is not None and s.project.readonly))
            os._exit(2)
        window.workbench.set_view(brush=RADIUS)
        pump_until(lambda: window.session.image_id is not None, 30)
        pump_until(lambda: not window.session.saving, 60)  # opening an image autosaves

    open_project()
    log.write(durable=True, ev="opened", run=run, pid=os.getpid())
    tell("READY")
    if sys.stdin.readline().strip() != "GO":
        os._exit(4)

    canvas, vp = window.canvas, window.canvas.viewport()

    def screen(y: float, x: float) -> QtCore.QPoint:
        scene = canvas.view.mapViewToScene(QtCore.QPointF(x + 0.5, y + 0.5))
        return canvas.mapFromScene(scene)

    def stroke(image_id: str, cell: tuple[int, int], value: int) -> None:
        nonlocal next_id
        ys, xs = witnesses(cell)
        points = [screen(ys[0], x) for x in xs]
        if not all(vp.rect().adjusted(2, 2, -2, -2).contains(p) for p in points):
            canvas.fit()  # as a user zooms out to reach the cell
            points = [screen(ys[0], x) for x in xs]
        op, next_id = next_id, next_id + 1
        if value:
            window.palette.select(value)
            if window.workbench.tool != "brush":
                window.actions["tool_brush"].trigger()
        elif window.workbench.tool != "eraser":
            window.actions["tool_eraser"].trigger()
        used.setdefault(image_id, {})[cell] = value
        log.write(ev="try", id=op, image=image_id, cell=list(cell), value=value, run=run)
        QtTest.QTest.mouseMove(vp, points[0])
        QtTest.QTest.mousePress(vp, Qt.LeftButton, Qt.NoModifier, points[0])
        QtTest.QTest.mouseMove(vp, points[1])
        QtTest.QTest.mouseMove(vp, points[2])
        QtTest.QTest.mouseRelease(vp, Qt.LeftButton, Qt.NoModifier, points[2])
        s = window.session
        got = s.editor.mask[ys, xs]
        if s.image_id != image_id or not np.all(got == value):
            fail(f"stroke {op} on {image_id} cell {cell}: the mask shows {got.tolist()}, "
                 f"not {value} (points {[(p.x(), p.y()) for p in points]})")
        with lock:
            pending.add(op)
        log.write(ev="done", id=op)

    def choose_stroke(image_id: str) -> tuple[tuple[int, int], int] | None:
        h, w = window.session.project.record(image_id).shape[:2]
        mine = used.setdefault(image_id, {})
        free = (h // CELL) * (w // CELL) - len(mine)
        if mine and (rng.random() < cfg["revisit"] or free <= 0):
            cells = sorted(mine)
            cell = cells[rng.integers(len(cells))]
        elif free > 0:
            while True:
                cell = (int(rng.integers(h // CELL)), int(rng.integers(w // CELL)))
                if cell not in mine:
                    break
        else:
            return None
        ys, xs = witnesses(cell)
        now = int(window.session.editor.mask[ys[1], xs[1]])
        choices = [v for v in range(0 if cell in mine else 1, CLASSES + 1) if v != now]
        return cell, int(choices[rng.integers(len(choices))])

    for cycle in range(cfg["start"], cfg["cycles"]):
        now[0] = cycle
        tell(f"C {cycle}")
        s = window.session
        ids = s.project.image_ids
        others = [i for i in ids if i != s.image_id]
        target = others[rng.integers(len(others))]
        window.images.select_id(target)  # a click in the image list
        if not pump_until(lambda t=target: window.session.image_id == t, CYCLE_TIMEOUT_S):
            fail(f"cycle {cycle}: image {target} was not shown within {CYCLE_TIMEOUT_S} s")
        for _ in range(int(rng.integers(1, 5))):
            chosen = choose_stroke(target)
            if chosen is not None:
                stroke(target, *chosen)
        if rng.random() < cfg["save_p"]:
            window.actions["save"].trigger()  # Ctrl+S
        if cycle % 10 == 9:
            window.workers.thumbnails(window.session.project, ids)
        QtTest.QTest.qWait(int(rng.integers(0, cfg["idle_ms"] + 1)))  # the user looks
        if cycle % 50 == 49:
            if not window.close_session():
                fail(f"cycle {cycle}: closing the project was refused")
            open_project()
        log.write(ev="cycle", n=cycle, run=run, thumbs=thumbs[0])
        tell(f"D {cycle}")

    window.actions["save"].trigger()
    s = window.session
    if s.dirty:
        pump_until(lambda: not s.saving, 60)
    window.close()
    app.processEvents()
    log.write(durable=True, ev="end", run=run, thumbs=thumbs[0])
    tell("END")


# ---------------------------------------------------------------------------------------------
# the parent: the project, the kills, the checks
# ---------------------------------------------------------------------------------------------
def micrograph(rng: np.random.Generator, h: int, w: int, sixteen: bool) -> np.ndarray:
    """A synthetic SEM-like image: blurred grains with bright boundaries, noise."""
    g = int(rng.integers(16, 48))
    small = rng.random((h // g + 2, w // g + 2)).astype(np.float32)
    grains = np.kron(small, np.ones((g, g), np.float32))[:h, :w]
    edges = (np.abs(np.diff(grains, axis=0, prepend=grains[:1])) > 0.2)
    edges |= np.abs(np.diff(grains, axis=1, prepend=grains[:, :1])) > 0.2
    base = 0.25 + 0.5 * grains + 0.2 * edges + rng.normal(0, 0.03, (h, w))
    top = 65535 if sixteen else 255
    return (base.clip(0, 1) * top).astype(np.uint16 if sixteen else np.uint8)


def make_project(folder: Path, images: int, size: int, seed: int) -> tuple[Path, dict[str, str]]:
    import tifffile

    from matlab_gui.project import ClassDef, Project

    rng = np.random.default_rng(seed)
    colours = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48)]
    classes = [ClassDef(k + 1, f"phase {k + 1}", colours[k]) for k in range(CLASSES)]
    path, sums = folder / "soak.mgp", {}
    (folder / "images").mkdir()
    with Project.create(path, classes) as project:
        for k in range(images):
            h, w = (int(v) for v in rng.integers(max(2 * CELL, size // 2), size + 1, 2))
            data = micrograph(rng, h, w, sixteen=k % 2 == 0)
            tif = folder / "images" / f"micrograph_{k:03d}.tif"
            tifffile.imwrite(tif, data)
            sums[project.add_image(tif, embed=True)] = digest(data)
        project.save()
    return path, sums


class Model:
    """Per grid cell, the strokes on it in order (and each verified state read back): which
    values it may show now."""

    def __init__(self) -> None:
        self.cells: dict[tuple, list[dict]] = {}
        self.ops: dict[int, dict] = {}
        self.offset = 0
        self.completed = 0
        self.counts = {"strokes_tried": 0, "strokes_done": 0, "erasures": 0, "repaints": 0,
                       "autosaves": 0, "explicit_saves": 0, "saves_with_strokes": 0,
                       "failed_saves": 0}
        self.save_ms: list[float] = []
        self.thumbs: dict[int, int] = {}
        self.messages: list[dict] = []
        self.errors: list[str] = []
        self.opened: set[int] = set()
        self.open_failed: list[dict] = []
        self.ended = False
        self.saving: list[int] = []  # the strokes the last save begun holds

    def read(self, log: Path) -> None:
        """Take in the log lines written since the last call."""
        data = log.read_bytes()
        end = data.rfind(b"\n") + 1
        for line in data[self.offset:end].decode(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:  # a line a kill cut short (a write is one call: not seen yet)
                self.errors.append(f"unreadable log line {line[:80]!r}")
                continue
            self.take(entry)
        self.offset = end

    def take(self, e: dict) -> None:  # noqa: C901 - one branch per kind of line
        c, ev = self.counts, e["ev"]
        if ev == "try":
            key = (e["image"], *e["cell"])
            entries = self.cells.setdefault(key, [])
            c["strokes_tried"] += 1
            c["erasures"] += e["value"] == 0
            c["repaints"] += e["value"] != 0 and bool(entries)
            op = {"id": e["id"], "value": e["value"], "done": False, "durable": False,
                  "run": e["run"]}
            entries.append(op)
            self.ops[e["id"]] = op
        elif ev == "done":
            self.ops[e["id"]]["done"] = True
            c["strokes_done"] += 1
        elif ev == "saved":
            c["autosaves" if e["kind"] == "autosave" else "explicit_saves"] += 1
            c["saves_with_strokes"] += bool(e["ids"])
            self.save_ms.append(e["ms"])
            for i in e["ids"]:
                if not self.ops[i]["done"]:
                    self.errors.append(f"save claims stroke {i}, which never finished")
                self.ops[i]["durable"] = True
        elif ev == "saving":
            self.saving = e["ids"]
        elif ev == "save_failed":
            c["failed_saves"] += 1
            self.errors.append(f"save failed: {e['error']}")
        elif ev == "cycle":
            self.completed = max(self.completed, e["n"] + 1)
            self.thumbs[e["run"]] = e["thumbs"]
        elif ev == "msg":
            self.messages.append(e)
        elif ev == "opened":
            self.opened.add(e["run"])
        elif ev == "open_failed":
            self.open_failed.append(e)
        elif ev == "error":
            self.errors.append(e["what"])
        elif ev == "end":
            self.ended = True
            self.thumbs[e["run"]] = e["thumbs"]


def check(path: Path, model: Model, sums: dict[str, str]) -> dict:
    """Read the project (read-only, beside the window) and hold every cell to the model."""
    from matlab_gui.project import Project

    out = {"lost": 0, "torn": 0, "phantom_px": 0, "damaged_images": 0, "unsaved": 0,
           "unsaved_on_disk": 0, "interrupted": 0, "lost_details": []}
    with Project.open(path, readonly=True) as project:
        ids = set(project.image_ids)
        out["damaged_images"] = len(set(sums) ^ ids)
        masks = {}
        for image_id in sorted(ids & set(sums)):
            if digest(project.read_image(image_id)) != sums[image_id]:
                out["damaged_images"] += 1
            masks[image_id] = project.get_mask(image_id)
    boxes = {i: np.zeros(m.shape, bool) for i, m in masks.items()}
    for (image_id, r, col), entries in model.cells.items():
        mask = masks.get(image_id)
        if mask is None:
            continue
        boxes[image_id][r * CELL:(r + 1) * CELL, col * CELL:(col + 1) * CELL] = True
        seen = {int(v) for v in mask[witnesses((r, col))]}
        last = max((k for k, e in enumerate(entries) if e["durable"]), default=-1)
        later = entries[last + 1:]
        allowed = {e["value"] for e in entries[max(last, 0):]} | ({0} if last < 0 else set())
        unsaved = [e for e in later if e["id"] is not None and e["done"]]
        out["unsaved"] += len(unsaved)
        out["interrupted"] += sum(not e["done"] for e in later)
        if len(seen) > 1:
            out["torn"] += 1
        value = seen.pop()
        if unsaved and value == unsaved[-1]["value"]:
            out["unsaved_on_disk"] += len(unsaved)
        if value not in allowed and not seen:
            out["lost"] += 1
            if len(out["lost_details"]) < 10:
                out["lost_details"].append({
                    "image": image_id, "cell": [r, col], "shows": value,
                    "last_durable": entries[last] if last >= 0 else None,
                    "allowed": sorted(allowed)})
        # what the file holds now is the cell's durable state from here on
        entries.append({"id": None, "value": value, "done": True, "durable": True})
    for image_id, mask in masks.items():
        out["phantom_px"] += int(np.count_nonzero(mask[~boxes[image_id]]))
    return out


class Child:
    """One window process; its stdout lines (with arrival times) collected by a thread."""

    def __init__(self, cfg: dict, stderr: Path):
        self.lines: list[tuple[float, str]] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--child", json.dumps(cfg)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr.open("ab"),
            env={**os.environ, "PYTHONPATH": os.pathsep.join(
                [str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)},
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append((time.monotonic(), raw.decode().strip()))
                self.cond.notify_all()
        with self.cond:
            self.lines.append((time.monotonic(), "EXIT"))
            self.cond.notify_all()

    def wait_for(self, test, start: int = 0, timeout_s: float = 600) -> int | None:
        """Index of the first line from `start` on that passes `test` (None: exited/timeout)."""
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while True:
                for k in range(start, len(self.lines)):
                    if test(self.lines[k][1]):
                        return k
                    if self.lines[k][1] == "EXIT":
                        return None
                start = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def go(self) -> None:
        self.proc.stdin.write(b"GO\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)

    def durations(self, begin: str, end: str) -> list[float]:
        """Seconds from each `begin` line to the next `end` line (prefix match)."""
        out, t0 = [], None
        with self.cond:
            for t, line in self.lines:
                if line.startswith(begin):
                    t0 = t
                elif line.startswith(end) and t0 is not None:
                    out.append(t - t0)
                    t0 = None
        return out


def kill_on_sight(child: Child, watch: Path, after: int, saves: int = 200) -> bool:
    """SIGKILL the window the moment `watch` (the journal being written, or the committed one
    being applied) exists during one of its next saves of strokes; False if none showed it."""
    start = after
    for _ in range(saves):
        k = child.wait_for(lambda s: s == "S1", start, timeout_s=CYCLE_TIMEOUT_S)
        if k is None:
            return False
        start = k + 1
        while True:
            if watch.exists():
                child.kill()
                return True
            if child.wait_for(lambda s: s in ("E", "EXIT"), start, timeout_s=0) is not None:
                break
            time.sleep(0.0002)
    return False


def run_soak(args: argparse.Namespace, work: Path) -> dict:  # noqa: C901, PLR0915
    from matlab_gui.project.journal import SET_ASIDE_SUFFIX, journal_path, temp_journal_path

    t_start = time.perf_counter()
    path, sums = make_project(work, args.images, args.size, args.seed)
    log, stderr = work / "soak.log", work / "children.stderr"
    log.touch()
    model, rng = Model(), random.Random(args.seed)
    kills = {"total": 0, "at_random_moment": 0, "during_save": 0, "journal_incomplete": 0,
             "journal_committed": 0, "committed_strokes": 0, "no_journal": 0,
             "how": dict.fromkeys(("cycle", *SAVE_KILLS), 0), "each": []}
    recovered, unopenable, starts, verifications = 0, 0, 0, []
    unsaved = {"strokes": 0, "on_disk": 0, "interrupted_mid_stroke": 0}
    cycle_s, save_s = [0.5], [0.1]
    problems: list[str] = []
    blocks = -(-args.cycles // args.kill_every) if args.kill_every else 0
    next_kill = 0  # the block of the next kill
    final = None

    while True:
        plan = None  # this window's kill: (cycle, how)
        if next_kill < blocks:
            lo = max(next_kill * args.kill_every, model.completed)
            hi = min((next_kill + 1) * args.kill_every, args.cycles)
            if lo < args.cycles:
                k, share = kills["total"], args.save_kills  # every 1/share-th, the first too
                in_save = math.ceil((k + 1) * share) > math.ceil(k * share)
                how = SAVE_KILLS[kills["during_save"] % len(SAVE_KILLS)] if in_save else "cycle"
                plan = (rng.randrange(lo, max(lo + 1, hi)), how)
        cfg = {"project": str(path), "log": str(log), "run": starts, "start": model.completed,
               "cycles": args.cycles, "seed": args.seed, "autosave_ms": args.autosave_ms,
               "save_p": args.save_p, "idle_ms": args.idle_ms, "revisit": args.revisit,
               "settings": str(work / "qsettings"),
               "arm": plan and plan[1] == "save_timer" and {
                   "cycle": plan[0], "at": rng.random(), "save_s": statistics.median(save_s)}}
        child = Child(cfg, stderr)
        starts += 1
        ready = child.wait_for(lambda s: s == "READY", timeout_s=READY_TIMEOUT_S)
        if ready is None:
            child.kill()
            model.read(log)
            unopenable += starts > 1
            problems.append(f"window {starts} did not open the project: "
                            f"{model.open_failed[-1:] or model.errors[-1:]}")
            break
        if starts > 1:
            recovered += 1
            left = [p.name for p in work.glob(path.name + ".journal*")]
            if left:
                problems.append(f"after the window opened it: {left}")
        try:
            result = check(path, model, sums)
        except Exception as exc:  # noqa: BLE001 - reported, the run stops
            child.kill()
            unopenable += 1
            problems.append(f"the project could not be read after kill {kills['total']}: {exc!r}")
            break
        verifications.append({k: v for k, v in result.items() if k != "lost_details"})
        if result["lost"]:
            problems.append(f"lost after kill {kills['total']}: {result['lost_details']}")
        unsaved["strokes"] += result["unsaved"]
        unsaved["on_disk"] += result["unsaved_on_disk"]
        unsaved["interrupted_mid_stroke"] += result["interrupted"]
        child.go()

        if plan is None:
            end = child.wait_for(lambda s: s == "END", timeout_s=CYCLE_TIMEOUT_S * args.cycles)
            rc = child.proc.wait(timeout=120)
            model.read(log)
            if end is None or rc != 0:
                problems.append(f"the last window exited with {rc}: {model.errors[-3:]}")
                break
            final = check(path, model, sums)
            final["not_saved_at_close"] = final.pop("unsaved")
            break
        target, how = plan
        at = child.wait_for(lambda s, t=target: s == f"C {t}",
                            timeout_s=CYCLE_TIMEOUT_S * args.kill_every)
        if at is not None and how == "save_timer":
            # the window kills itself (SIGKILL) at the armed moment of its next save
            gone = child.wait_for(lambda s: s in ("EXIT", "END"), at, timeout_s=CYCLE_TIMEOUT_S)
            if gone is None or child.lines[gone][1] == "END":
                at = None
            else:
                child.proc.wait(timeout=60)
        elif at is not None and how in ("save_writing", "save_applying"):
            watch = (temp_journal_path if how == "save_writing" else journal_path)(path)
            if not kill_on_sight(child, watch, at):
                at = None
        elif at is not None:
            time.sleep(rng.uniform(0, statistics.median(cycle_s)))
            child.kill()
        if at is None or child.proc.returncode != -signal.SIGKILL:
            child.kill()
            model.read(log)
            problems.append(f"window {starts} was not killed in cycle {target} (exit "
                            f"{child.proc.returncode}): {model.errors[-3:]}")
            break
        cycle_s += child.durations("C ", "D ")
        save_s += child.durations("S", "E")
        kills["total"] += 1
        next_kill += 1
        committed, incomplete = journal_path(path).exists(), temp_journal_path(path).exists()
        where = "journal_committed" if committed else "journal_incomplete" if incomplete \
            else "no_journal"
        kills[where] += 1
        model.read(log)
        if committed:  # past the commit point: that save is durable, its strokes must be there
            kills["committed_strokes"] += len(model.saving)
            for i in model.saving:
                model.ops[i]["durable"] = True
        kills["during_save" if how != "cycle" else "at_random_moment"] += 1
        kills["how"][how] += 1
        kills["each"].append({"cycle": target, "how": how, "found": where})
        model.read(log)
        if model.errors:
            problems.append(f"window {starts}: {model.errors[-3:]}")
            break

    rejected = sorted(p.name for p in work.glob(f"*{SET_ASIDE_SUFFIX}*"))
    lost = sum(v["lost"] for v in verifications) + (final or {}).get("lost", 0)
    corrupt = {k: sum(v[k] for v in verifications) + (final or {}).get(k, 0)
               for k in ("torn", "phantom_px", "damaged_images")}
    saves = {k: model.counts[k] for k in ("autosaves", "explicit_saves", "saves_with_strokes",
                                          "failed_saves")}
    saves["total"] = saves["autosaves"] + saves["explicit_saves"]
    saves["median_ms"] = round(statistics.median(model.save_ms), 1) if model.save_ms else None
    complete = final is not None and model.completed == args.cycles
    if not complete:
        problems.append(f"stopped after {model.completed} of {args.cycles} cycles")
    passed = (complete and lost == 0 and unopenable == 0 and not rejected
              and not any(corrupt.values()) and not model.errors
              and final.get("not_saved_at_close", 0) == 0 and not problems)
    dialogs = [f"{m['kind']}: {m['title']}: {m['text'][:200]}" for m in model.messages
               if "Save the changes" not in m["text"]]
    return {
        "what": f"{args.cycles} open/paint/save/switch cycles of the real MainWindow (offscreen) "
                f"on a {args.images}-image project, autosave and thumbnail worker running, "
                f"SIGKILLed once every {args.kill_every} cycles, reopened and checked",
        "parameters": {"cycles": args.cycles, "images": args.images, "kill_every": args.kill_every,
                       "seed": args.seed, "size": args.size, "autosave_ms": args.autosave_ms,
                       "save_p": args.save_p, "save_kills": args.save_kills,
                       "idle_ms": args.idle_ms, "revisit": args.revisit},
        "cycles": model.completed,
        "strokes": {k: model.counts[k] for k in ("strokes_tried", "strokes_done", "erasures",
                                                  "repaints")},
        "saves": saves,
        "thumbnails": sum(model.thumbs.values()),
        "kills": kills,
        "recovered": recovered,
        "unopenable": unopenable,
        "lost_strokes": lost,
        "unsaved_at_kills": unsaved,
        "corruption": corrupt,
        "rejected_journals": rejected,
        "final_check": final and {k: v for k, v in final.items() if k != "lost_details"},
        "dialogs": dialogs,
        "windows_started": starts,
        "cycle_s_median": round(statistics.median(cycle_s[1:] or cycle_s), 3),
        "save_s_median_seen_by_parent": round(statistics.median(save_s[1:] or save_s), 3),
        "problems": problems,
        "wall_s": round(time.perf_counter() - t_start, 1),
        "goal": "lost_strokes == 0 and unopenable == 0 (and no corruption, every cycle run)",
        "pass": passed,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": platform.python_version(), "qpa": os.environ["QT_QPA_PLATFORM"]},
    }


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        sys.path.insert(0, str(REPO))
        child(json.loads(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--kill-every", type=int, default=100, help="0: no kills")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=1024, help="largest image side (px)")
    parser.add_argument("--autosave-ms", type=int, default=400, help="the autosave timer")
    parser.add_argument("--save-p", type=float, default=0.1, help="chance of Ctrl+S per cycle")
    parser.add_argument("--save-kills", type=float, default=0.5,
                        help="share of kills aimed at a random moment of a save (the first "
                             "kill is one when above 0)")
    parser.add_argument("--idle-ms", type=int, default=150, help="longest pause per cycle")
    parser.add_argument("--revisit", type=float, default=0.25,
                        help="share of strokes that repaint or erase a cell painted before")
    parser.add_argument("--out", type=Path, default=RESULT)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if args.images < 2 or args.cycles < 1 or args.kill_every < 0:
        parser.error("--images >= 2, --cycles >= 1, --kill-every >= 0")
    if args.keep:
        shutil.rmtree(args.keep, ignore_errors=True)
        args.keep.mkdir(parents=True)
        result = run_soak(args, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
            result = run_soak(args, Path(tmp))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0 if result["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
