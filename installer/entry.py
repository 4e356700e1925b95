"""Entry point of the PyInstaller launchers: the same `main` as the `matlab-gui` console script."""

import multiprocessing
import sys

from matlab_gui.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # DataLoader / batch workers re-enter the frozen binary
    sys.exit(main())
