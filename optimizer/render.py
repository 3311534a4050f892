"""Compose glyph cells into the printed canvas, with a blank gap under each text row.

Soft (a blend of glyphs per cell, for gradient descent) and hard (one glyph per cell) share the
same layout, so what the optimiser sees is exactly what prints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def compose_cells(cells: torch.Tensor, row_gap: int) -> torch.Tensor:
    """(R, C, h, w) paper-tone cells → (R·(h+gap), C·w) canvas, gaps blank paper (1)."""
    rows, cols, h, w = cells.shape
    padded = F.pad(cells, (0, 0, 0, row_gap), value=1.0)  # (R, C, h+gap, w)
    return padded.permute(0, 2, 1, 3).reshape(rows * (h + row_gap), cols * w)


def cell_view(canvas: torch.Tensor, cell_h: int, cell_w: int, row_gap: int) -> torch.Tensor:
    """The glyph part of every cell of a canvas: (H, W) → (R, C, h, w); the inverse of compose."""
    height, width = canvas.shape
    rows, cols = height // (cell_h + row_gap), width // cell_w
    cells = canvas.reshape(rows, cell_h + row_gap, cols, cell_w)[:, :cell_h]
    return cells.permute(0, 2, 1, 3)


def render_soft(weights: torch.Tensor, ink: torch.Tensor, row_gap: int) -> torch.Tensor:
    """weights (R, C, K) over glyphs with ink (K, h, w) → canvas of expected paper tone."""
    cells = 1.0 - torch.einsum("rck,khw->rchw", weights, ink)
    return compose_cells(cells, row_gap)


def render_hard(choice: torch.Tensor, ink: torch.Tensor, row_gap: int) -> torch.Tensor:
    """choice (R, C) indices into ink (K, h, w) → the exact print."""
    return compose_cells(1.0 - ink[choice], row_gap)
