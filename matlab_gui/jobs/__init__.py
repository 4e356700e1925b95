"""Long-running work as plain Python (train, segment, classify, evaluate); no Qt here."""

from matlab_gui.jobs.base import Cancelled, CancelToken, Progress, ProgressCallback

__all__ = ["Cancelled", "CancelToken", "Progress", "ProgressCallback"]
