"""Undo/redo: byte-identical masks, >= 100 steps, memory of changed rectangles only."""

from __future__ import annotations

import numpy as np

from matlab_gui.annotate import Editor, History


def test_undo_redo_restore_byte_identical_masks():
    rng = np.random.default_rng(1)
    ed = Editor(np.zeros((200, 300), np.uint8))
    states = [ed.mask.copy()]
    for _ in range(30):
        y, x = rng.uniform(0, 200), rng.uniform(0, 300)
        ed.begin_stroke(y, x, rng.uniform(1, 10), int(rng.integers(0, 4)))
        ed.stroke_to(y + rng.uniform(-40, 40), x + rng.uniform(-40, 40))
        if ed.end_stroke() is not None:
            states.append(ed.mask.copy())
    for state in reversed(states[:-1]):
        assert ed.undo() is not None
        assert ed.mask.tobytes() == state.tobytes()
    assert ed.undo() is None
    for state in states[1:]:
        ed.redo()
        assert ed.mask.tobytes() == state.tobytes()


def test_new_edit_clears_redo():
    ed = Editor(np.zeros((20, 20), np.uint8))
    ed.begin_stroke(5, 5, 2, 1)
    ed.end_stroke()
    ed.undo()
    ed.polygon([(0, 0), (0, 5), (5, 5)], 2)
    assert ed.redo() is None


def test_at_least_100_steps_and_memory_holds_only_rectangles():
    big = np.zeros((8192, 8192), np.uint8)
    ed = Editor(big)
    for i in range(150):
        ed.begin_stroke(100 + 50 * (i % 100), 100 + 40 * (i // 10), 8, 1 + i % 3)
        ed.end_stroke()
    assert len(ed.history) == 150
    # each step keeps a 17x17 before and after crop: tiny next to the 64 MiB mask
    assert ed.history.nbytes < 150 * 2 * 17 * 17 + 1
    for _ in range(150):
        assert ed.undo() is not None
    assert not big.any()


def test_limit_drops_oldest_steps():
    ed = Editor(np.zeros((20, 20), np.uint8), History(max_steps=5))
    for i in range(8):
        ed.begin_stroke(10, 10, 3, i + 1)
        ed.end_stroke()
    assert len(ed.history) == 5


def test_long_diagonal_stroke_keeps_per_segment_crops_not_the_union():
    ed = Editor(np.zeros((4000, 4000), np.uint8))
    ed.begin_stroke(0, 0, 3, 1)
    for k in range(1, 41):
        ed.stroke_to(100 * k, 100 * k)
    ed.end_stroke()
    assert ed.history.nbytes < 4000 * 4000 // 10  # the union would be 32 MB
    ed.undo()
    assert not ed.mask.any()
