"""Editing model behind the canvas: dabs, fills, polygons and an undo stack of changed rectangles (numpy only)."""
