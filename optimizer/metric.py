"""The quality score of docs/architecture.md §3: blurred MSE against the photo, as a ratio to a halftone floor."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

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
    return _blur_axis(_blur_axis(img, k, -1), k, -2)


BAND_MAX = 8  # an axis up to this many kernel widths long is blurred as one matrix product


def _blur_axis(x: torch.Tensor, k: torch.Tensor, dim: int) -> torch.Tensor:
    """x blurred along `dim` (-1 or -2) by the symmetric kernel k. A short axis (a glyph's patch)
    is multiplied by the kernel's (n, n) band matrix, one BLAS product for a whole batch; a long
    one (a canvas) is the sum of the kernel's shifted copies of it, one multiply per pixel and tap
    instead of one per pixel of the axis (σ=4 on a 600×504 canvas: 25 → 5 ms, torch's
    one-dimensional convolution 117 ms)."""
    n = x.shape[dim]
    taps = k.numel()
    r = taps // 2
    if n <= BAND_MAX * taps:
        i = torch.arange(n, device=x.device)
        offset = i[None, :] - i[:, None] + r
        band = torch.where((offset >= 0) & (offset <= 2 * r), k[offset.clamp(0, 2 * r)], 0.0)
        return band @ x if dim == -2 else x @ band
    padded = F.pad(x.movedim(dim, -1), (r, r))
    out = padded[..., :n] * k[0]
    for tap in range(1, taps):
        out.add_(padded[..., tap : tap + n], alpha=float(k[tap]))
    return out.movedim(-1, dim)


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


SIGMAS = (1.0, 2.0, 4.0, 8.0)  # the tone scores: from reading distance to across the room
SSIM_BLUR = 2.0  # structure is compared between prints seen at this blur
SSIM_WINDOW = 1.5  # SSIM's Gaussian window
SSIM_C1, SSIM_C2 = 0.01**2, 0.03**2  # SSIM's stabilisers for a data range of 1


def ssim(a: np.ndarray, b: np.ndarray, window: float = SSIM_WINDOW) -> float:
    """Mean SSIM of two (H, W) images in [0, 1] with a Gaussian window (Wang et al. 2004)."""
    x = torch.from_numpy(np.asarray(a, np.float64))
    y = torch.from_numpy(np.asarray(b, np.float64))
    stack = torch.stack([x, y, x * x, y * y, x * y])  # (5, H, W)
    padded = F.pad(stack[None], (8, 8, 8, 8), mode="reflect")[0]  # windows at the edge see the image
    mx, my, xx, yy, xy = blur(padded, window)[:, 8:-8, 8:-8]
    vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
    index = ((2 * mx * my + SSIM_C1) * (2 * cov + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (vx + vy + SSIM_C2))
    return float(index.mean())


def structure(paper: np.ndarray, ref: np.ndarray) -> float:
    """SSIM between print and mapped photo, both blurred at σ=2: shapes, edges and contrast."""
    as_tensor = torch.from_numpy(np.stack([paper, ref]).astype(np.float64))
    blurred = blur(as_tensor, SSIM_BLUR).numpy()
    return ssim(blurred[0], blurred[1])


@dataclass(frozen=True)
class Score:
    """A print against its photo: blurred MSE at each of SIGMAS and structure, with the floor's."""

    mse: dict[float, float]
    floor_mse: dict[float, float]
    ssim: float
    floor_ssim: float

    def ratio(self, sigma: float) -> float:
        return self.mse[sigma] / self.floor_mse[sigma]

    @property
    def far(self) -> float:
        return self.mse[SIGMA_FAR]

    @property
    def near(self) -> float:
        return self.mse[SIGMA_NEAR]

    @property
    def ratio_far(self) -> float:
        return self.ratio(SIGMA_FAR)

    @property
    def ratio_near(self) -> float:
        return self.ratio(SIGMA_NEAR)


def reference_tone(grey: np.ndarray, cell_height: int, row_gap: int) -> np.ndarray:
    """The photo as paper with blank gaps could best show it."""
    return printable_tone(grey, darkest_printable(cell_height, row_gap))


@lru_cache(maxsize=64)
def _floor(ref_bytes: bytes, shape: tuple[int, int], cell_height: int, row_gap: int) -> np.ndarray:
    ref = np.frombuffer(ref_bytes, np.float64).reshape(shape)
    return floyd_steinberg(ref, paper_rows(shape[0], cell_height, row_gap))


def halftone_floor(ref: np.ndarray, cell_height: int, row_gap: int) -> np.ndarray:
    """The Floyd–Steinberg halftone of the mapped photo with the same blank gaps (cached: the
    gallery scores several renders of one photo against it)."""
    ref = np.ascontiguousarray(ref, np.float64)
    return _floor(ref.tobytes(), ref.shape, cell_height, row_gap)


def score(paper: np.ndarray, grey: np.ndarray, cell_height: int, row_gap: int) -> Score:
    """Score a print (paper 1, ink 0) against the canvas-sized grey photo, with its floor."""
    ref = reference_tone(grey, cell_height, row_gap)
    halftone = halftone_floor(ref, cell_height, row_gap)
    return Score(
        mse={sigma: blurred_mse(paper, ref, sigma) for sigma in SIGMAS},
        floor_mse={sigma: blurred_mse(halftone, ref, sigma) for sigma in SIGMAS},
        ssim=structure(paper, ref),
        floor_ssim=structure(halftone, ref),
    )


# Box drawing │┤╡…┌ (0xB3–0xDA): the glyphs of the ╬╠╣║ lattice when they fill mid-tones.
BOX_CODES = tuple(range(0xB3, 0xDB))


def repeat_share(cells: np.ndarray, lag: int) -> float:
    """Share of cells equal to the cell `lag` columns on but not to their right neighbour."""
    if cells.shape[1] <= lag:
        return 0.0
    same = cells[:, :-lag] == cells[:, lag:]
    differs = cells[:, : cells.shape[1] - lag] != cells[:, 1 : cells.shape[1] - lag + 1]
    return float((same & differs).mean())


def lag3_excess(cells: np.ndarray) -> float:
    """The periodic signature of a search that updates every third column together: the lag-3
    repeat share minus the mean of the lag-2 and lag-4 shares. `cells`: (R, C) ints, one per
    distinct printed cell (code and mode)."""
    return repeat_share(cells, 3) - (repeat_share(cells, 2) + repeat_share(cells, 4)) / 2


def island_share(mask: np.ndarray, largest: int = 3) -> float:
    """Share of the True cells that lie in 4-connected islands of at most `largest` cells."""
    total = int(mask.sum())
    if total == 0:
        return 0.0
    from scipy import ndimage  # only the benchmark and tests measure this

    labels, _ = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())
    return float((sizes[labels][mask] <= largest).sum() / total)
