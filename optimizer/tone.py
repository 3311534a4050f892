"""Colour → grey and tone curves: what the photo should look like before glyphs are chosen.

- `learned_grey`: a small MLP from CIE LAB to grey, fitted to the photo's own palette so that
  colours of equal luminance (orange and purple) stay apart, anchored to luminance so that dark
  stays dark. gradscii-art's idea (LAB → 16 → 8 → 1, 250 steps); fitted here on the photo's
  64-colour palette weighted by pixel counts, which costs milliseconds instead of a pass over
  every pixel pair.
- `adapt_contrast`: monotone 64-bin tone curves fitted to the photo, one for the whole photo
  (`global`) or one per region, bilinearly blended between region centres (`local`). The curve is
  a clipped-histogram equalisation (the closed form of what gradscii-art learns by gradient
  descent), mixed half-and-half with the identity so faces keep their tones.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

BINS = 64
PALETTE = 64
CLIP = 3.0  # a bin may hold at most this many times its fair share: flat areas are not blown up
STRENGTH = 0.5  # the share of the equalising curve in the blend with the identity


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (…, 3) in [0, 1] → CIE LAB (D65), L in [0, 100]."""
    linear = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ np.array(
        [[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]], dtype=np.float32
    )
    xyz /= np.array([0.9505, 1.0, 1.089], dtype=np.float32)
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def learned_grey(img: Image.Image, steps: int = 250, seed: int = 0) -> np.ndarray:
    """(H, W) grey in [0, 1] from an RGB image, keeping distinct colours distinct."""
    quantised = img.convert("RGB").quantize(PALETTE, method=Image.Quantize.MEDIANCUT)
    palette = np.asarray(quantised.getpalette()[: PALETTE * 3], dtype=np.float32).reshape(-1, 3) / 255
    counts = np.bincount(np.asarray(quantised).ravel(), minlength=len(palette)).astype(np.float32)
    used = counts > 0
    colours = torch.from_numpy(lab(palette[used]) / np.array([100, 128, 128], dtype=np.float32))
    weight = torch.from_numpy(counts[used] / counts.sum())
    luminance = colours[:, 0]
    torch.manual_seed(seed)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(3, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1)
    )
    torch.nn.init.zeros_(mlp[-1].weight)  # start from luminance itself: the MLP learns the departure
    torch.nn.init.zeros_(mlp[-1].bias)

    def to_grey(lab_scaled: torch.Tensor) -> torch.Tensor:
        lightness = lab_scaled[:, 0].clamp(0.01, 0.99)
        return torch.sigmoid(torch.logit(lightness) + mlp(lab_scaled).squeeze(-1))

    distance = torch.cdist(colours, colours)  # in scaled LAB: 1 is the whole lightness range
    pair_weight = weight[:, None] * weight[None, :]
    similar = torch.exp(-((distance / 0.1) ** 2))
    wanted = torch.clamp(distance, max=1.0)  # grey differences should follow colour differences
    optimiser = torch.optim.Adam(mlp.parameters(), lr=0.01)
    for _ in range(steps):
        grey = to_grey(colours)
        gap = (grey[:, None] - grey[None, :]).abs()
        cluster = (pair_weight * similar * gap**2).sum() / (pair_weight * similar).sum()
        separate = (pair_weight * (1 - similar) * torch.relu(wanted - gap) ** 2).sum() / pair_weight.sum()
        anchor = (weight * (grey - luminance) ** 2).sum()
        loss = cluster + separate + anchor
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        pixels = np.asarray(img.convert("RGB"), dtype=np.float32) / 255
        flat = torch.from_numpy(lab(pixels).reshape(-1, 3) / np.array([100, 128, 128], dtype=np.float32))
        grey = to_grey(flat).reshape(pixels.shape[:2]).numpy()
    return grey.astype(np.float32)


def _curve(values: np.ndarray) -> np.ndarray:
    """A monotone BINS-point curve [0, 1] → [0, 1] equalising the histogram of `values`."""
    hist = np.histogram(values, bins=BINS, range=(0, 1))[0].astype(np.float64)
    limit = CLIP * max(hist.sum(), 1) / BINS
    excess = np.maximum(hist - limit, 0).sum()
    hist = np.minimum(hist, limit) + excess / BINS  # spread what was clipped evenly
    cdf = np.concatenate([[0.0], np.cumsum(hist)])
    equalise = cdf / cdf[-1]
    identity = np.linspace(0, 1, BINS + 1)
    return (STRENGTH * equalise + (1 - STRENGTH) * identity).astype(np.float32)


def _apply(curve: np.ndarray, grey: np.ndarray) -> np.ndarray:
    return np.interp(grey, np.linspace(0, 1, BINS + 1), curve).astype(np.float32)


def adapt_contrast(grey: np.ndarray, mode: str, regions: tuple[int, int] = (4, 4)) -> np.ndarray:
    """`none`, `global` or `local` tone curves fitted to (H, W) grey in [0, 1]."""
    if mode == "none":
        return grey
    if mode == "global":
        return _apply(_curve(grey), grey)
    height, width = grey.shape
    ry, rx = regions
    ys = np.linspace(0, height, ry + 1).astype(int)
    xs = np.linspace(0, width, rx + 1).astype(int)
    # Each region's curve applied to the whole image, then blended by bilinear weights between
    # region centres: smooth, with no seams at region borders.
    mapped = np.stack(
        [
            np.stack([_apply(_curve(grey[ys[i] : ys[i + 1], xs[j] : xs[j + 1]]), grey) for j in range(rx)])
            for i in range(ry)
        ]
    )  # (ry, rx, H, W)
    cy = (np.arange(height) + 0.5) / height * ry - 0.5
    cx = (np.arange(width) + 0.5) / width * rx - 0.5
    y0 = np.clip(np.floor(cy).astype(int), 0, ry - 1)
    x0 = np.clip(np.floor(cx).astype(int), 0, rx - 1)
    y1, x1 = np.minimum(y0 + 1, ry - 1), np.minimum(x0 + 1, rx - 1)
    fy = np.clip(cy - y0, 0, 1)[:, None]
    fx = np.clip(cx - x0, 0, 1)[None, :]
    rows, cols = np.arange(height)[:, None], np.arange(width)[None, :]

    def at(yi: np.ndarray, xi: np.ndarray) -> np.ndarray:
        return mapped[yi[:, None], xi[None, :], rows, cols]

    top = at(y0, x0) * (1 - fx) + at(y0, x1) * fx
    bottom = at(y1, x0) * (1 - fx) + at(y1, x1) * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)
