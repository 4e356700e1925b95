"""What starting costs: the window's GUI thread imports neither torch nor matplotlib (live mode
may load torch in its worker), and `info` on an image loads no torch, matplotlib or h5py; each
of those is a large part of a second at start-up."""

from __future__ import annotations

import os
import subprocess
import sys

WINDOW = """
import builtins, sys, threading
seen = set()
plain_import = builtins.__import__
def watch(name, *args, **kwargs):
    top = name.split(".")[0]
    if top in ("torch", "matplotlib") and top not in sys.modules and \
            threading.current_thread() is threading.main_thread():
        seen.add(top)
    return plain_import(name, *args, **kwargs)
builtins.__import__ = watch
from matlab_gui.gui.app import application
from matlab_gui.gui.main_window import MainWindow
app = application()
w = MainWindow()
w.open_paths([sys.argv[1]])
for _ in range(50):
    app.processEvents()
print("loaded:", *sorted(seen))
"""

INFO = """
import sys
from matlab_gui.cli import main
main(["info", sys.argv[1]])
print("loaded:", *(m for m in ("torch", "matplotlib", "h5py") if m in sys.modules))
"""


def _loaded(code: str, *args: str) -> str:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                         check=True, env=env, timeout=120)
    return out.stdout.strip().splitlines()[-1]


def test_the_window_opens_an_image_without_torch_or_matplotlib(samples_dir):
    assert _loaded(WINDOW, str(samples_dir / "uhcs0006.tif")) == "loaded:"


def test_info_on_an_image_loads_no_hdf5_torch_or_matplotlib(samples_dir):
    assert _loaded(INFO, str(samples_dir / "uhcs0006.tif")) == "loaded:"


SEGMENT_IMPORTS = """
import sys
from matlab_gui.cli import build_parser
from matlab_gui.jobs import segment
build_parser()
print("loaded:", *(m for m in ("skimage", "segmentation_models_pytorch", "timm") if m in sys.modules))
"""


def test_segment_s_start_needs_no_scikit_image_or_network_libraries():
    """Particle options and the segment job load scikit-image only to measure, and the
    network libraries only to build a network (a cached conversion needs neither)."""
    assert _loaded(SEGMENT_IMPORTS) == "loaded:"
