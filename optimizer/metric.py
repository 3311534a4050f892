"""The quality score of DESIGN.md §3: blurred MSE against the photo, as a ratio to a halftone floor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .target import darkest_printable, printable_tone

SIGMA_FAR = 4.0  # arm's length
SIGMA_NEAR = 2.0  # detail


def gaussian_kernel(sigma: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    radius = math.ceil(4 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(img: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (H, W) or (N, H, W), zero beyond the edges, same size out."""
    k = gaussian_kernel(sigma, img.dtype).to(img.device)
    r = k.numel() // 2
    x = img.reshape(-1, 1, *img.shape[-2:])
    x = F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r))
    x = F.conv2d(x, k.view(1, 1, -1, 1), padding=(r, 0))
    return x.reshape(img.shape)


def blurred_mse(a: np.ndarray, b: np.ndarray, sigma: float) -> float:
    diff = torch.from_numpy(np.asarray(a, np.float32) - np.asarray(b, np.float32))
    return float(blur(diff, sigma).square().mean())


def paper_rows(height: int, cell_height: int, row_gap: int) -> np.ndarray:
    """(H,) bool: True on the dot rows that can carry ink, False in the gaps."""
    return (np.arange(height) % (cell_height + row_gap)) < cell_height


def floyd_steinberg(target: np.ndarray, inkable_rows: np.ndarray) -> np.ndarray:
    """Error-diffusion halftone of `target` (paper 1) with rows outside `inkable_rows` kept blank."""
    height, width = target.shape
    err = np.asarray(target, np.float64).copy()
    out = np.ones((height, width))
    for y in range(height):
        row = err[y].tolist()
        line = out[y]
        below = err[y + 1] if y + 1 < height else None
        can_ink = bool(inkable_rows[y])
        for x in range(width):
            value = row[x]
            dot = 0.0 if (can_ink and value < 0.5) else 1.0
            line[x] = dot
            e = value - dot
            if x + 1 < width:
                row[x + 1] += e * 7 / 16
            if below is not None:
                if x > 0:
                    below[x - 1] += e * 3 / 16
                below[x] += e * 5 / 16
                if x + 1 < width:
                    below[x + 1] += e * 1 / 16
    return out


@dataclass(frozen=True)
class Score:
    far: float  # σ=4 blurred MSE
    near: float  # σ=2 blurred MSE
    floor_far: float
    floor_near: float

    @property
    def ratio_far(self) -> float:
        return self.far / self.floor_far

    @property
    def ratio_near(self) -> float:
        return self.near / self.floor_near


def reference_tone(grey: np.ndarray, cell_height: int, row_gap: int) -> np.ndarray:
    """The photo as paper with blank gaps could best show it."""
    return printable_tone(grey, darkest_printable(cell_height, row_gap))


def score(paper: np.ndarray, grey: np.ndarray, cell_height: int, row_gap: int) -> Score:
    """Score a print (paper 1, ink 0) against the canvas-sized grey photo, with its floor."""
    ref = reference_tone(grey, cell_height, row_gap)
    halftone = floyd_steinberg(ref, paper_rows(ref.shape[0], cell_height, row_gap))
    return Score(
        far=blurred_mse(paper, ref, SIGMA_FAR),
        near=blurred_mse(paper, ref, SIGMA_NEAR),
        floor_far=blurred_mse(halftone, ref, SIGMA_FAR),
        floor_near=blurred_mse(halftone, ref, SIGMA_NEAR),
    )
