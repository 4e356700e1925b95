"""`python -m matlab_gui` is the same as the `matlab-gui` command."""

import sys

from matlab_gui.cli import main

sys.exit(main())
