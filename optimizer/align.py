"""Alignment: move the photo a little against the glyph grid so that its edges fall on cell and gap
boundaries, where glyphs can draw them cleanly (a dark edge in a 6-dot gap costs nothing).

What is fitted is a shift, a scale and (optionally) a smooth warp: a coarse displacement field,
one control point per 4×4 cells, bilinearly interpolated. The criterion is how well the best
single glyph matches each cell (with its gap), on a 3×3-pooled canvas: cheap enough to evaluate
dozens of times. The shift is searched on a grid first, because a pattern offset by exactly half
a cell sits on a saddle where the gradient is zero; scale and warp then follow the gradient.

gradscii-art penalises its warp so hard that it never leaves zero; here the warp costs its
roughness and size in pixels², weighed against the per-pixel error it saves, and is bounded to
a few pixels so that nothing in the picture visibly bends.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

POOL = 3  # the criterion's resolution: 3×3-dot blocks (about what σ=1.5 keeps)
CONTROL = 4  # cells per warp control point
MAX_WARP = 3.0  # dots
MAX_SCALE = 0.05
STEPS = 60
WARP_COST = 1e-4  # per dot² of displacement and of difference between neighbouring control points


@dataclass
class Alignment:
    shift: tuple[float, float]  # dots, (x, y): where the photo's point is taken from, relative
    scale: tuple[float, float]
    warp: torch.Tensor  # (2, gy, gx) dots

    @property
    def warp_dots(self) -> float:
        """The largest displacement of the warp alone, in dots: does it move?"""
        return float(self.warp.abs().max()) if self.warp.numel() else 0.0

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        return _sample(image, *_params(self.shift, self.scale, self.warp, image.device))


def _params(
    shift: tuple[float, float], scale: tuple[float, float], warp: torch.Tensor, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.tensor(shift, dtype=torch.float32, device=device),
        torch.tensor(scale, dtype=torch.float32, device=device),
        warp.to(device),
    )


def _sample(image: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor, warp: torch.Tensor) -> torch.Tensor:
    """The (H, W) image seen through the transform; edges repeat outside the photo."""
    height, width = image.shape
    ys = torch.arange(height, device=image.device, dtype=torch.float32) + 0.5
    xs = torch.arange(width, device=image.device, dtype=torch.float32) + 0.5
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    src_x = width / 2 + (x - width / 2) * scale[0] + shift[0]
    src_y = height / 2 + (y - height / 2) * scale[1] + shift[1]
    if warp.numel():
        field = F.interpolate(warp[None], size=(height, width), mode="bilinear", align_corners=True)[0]
        src_x = src_x + field[0]
        src_y = src_y + field[1]
    grid = torch.stack([src_x / width * 2 - 1, src_y / height * 2 - 1], dim=-1)
    return F.grid_sample(image[None, None], grid[None], mode="bilinear", padding_mode="border", align_corners=False)[
        0, 0
    ]


class CellFit:
    """How well the best glyph matches each cell: Σ over cells of min over glyphs of ‖cell − glyph‖²."""

    def __init__(self, ink: torch.Tensor, row_gap: int):
        k, h, w = ink.shape
        self.pitch, self.width = h + row_gap, w
        paper = F.pad(1.0 - ink, (0, 0, 0, row_gap), value=1.0)  # glyph cells with their gap
        self.glyphs = F.avg_pool2d(paper[:, None], POOL)[:, 0].reshape(k, -1)  # (K, D)
        self.norms = (self.glyphs**2).sum(dim=1)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(image[None, None], POOL)[0, 0]
        ph, pw = self.pitch // POOL, self.width // POOL
        rows, cols = pooled.shape[0] // ph, pooled.shape[1] // pw
        cells = pooled.reshape(rows, ph, cols, pw).permute(0, 2, 1, 3).reshape(rows * cols, -1)
        error = (cells**2).sum(dim=1, keepdim=True) - 2 * cells @ self.glyphs.T + self.norms
        return error.min(dim=1).values.sum() * POOL * POOL / image.numel()


def fit_alignment(target: torch.Tensor, ink: torch.Tensor, row_gap: int, warp: bool = True) -> Alignment:
    """The shift, scale and warp of `target` (H, W) that glyphs on this grid can draw best."""
    fit = CellFit(ink, row_gap)
    if fit.pitch % POOL or fit.width % POOL:
        return Alignment((0.0, 0.0), (1.0, 1.0), torch.zeros(0))  # cells that do not pool evenly: leave it
    one = torch.ones(2, device=target.device)
    none = torch.zeros(0, device=target.device)
    half_x, half_y = fit.width / 2, fit.pitch / 2
    best, best_shift = None, (0.0, 0.0)
    with torch.no_grad():
        for dy in torch.linspace(-half_y, half_y, 7).tolist():
            for dx in torch.linspace(-half_x, half_x, 7).tolist():
                loss = float(fit(_sample(target, torch.tensor([dx, dy], device=target.device), one, none)))
                if best is None or loss < best - 1e-9:
                    best, best_shift = loss, (dx, dy)
    height, width = target.shape
    rows, cols = height // fit.pitch, width // fit.width
    shift = torch.tensor(best_shift, device=target.device, requires_grad=True)
    log_scale = torch.zeros(2, device=target.device, requires_grad=True)
    field_shape = (2, rows // CONTROL + 2, cols // CONTROL + 2) if warp else (0,)
    field = torch.zeros(field_shape, device=target.device, requires_grad=True)
    optimiser = torch.optim.Adam(
        [
            {"params": [shift], "lr": 0.3},
            {"params": [log_scale], "lr": 0.002},
            {"params": [field], "lr": 0.15},
        ]
    )
    for _ in range(STEPS):
        loss = fit(_sample(target, shift, log_scale.exp(), field))
        if warp:
            roughness = (field.diff(dim=1) ** 2).mean() + (field.diff(dim=2) ** 2).mean()
            loss = loss + WARP_COST * (roughness + (field**2).mean())
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():  # stay where nobody sees the picture move: under half a cell, 5 %, 3 dots
            shift[0].clamp_(-half_x, half_x)
            shift[1].clamp_(-half_y, half_y)
            log_scale.clamp_(-MAX_SCALE, MAX_SCALE)
            field.clamp_(-MAX_WARP, MAX_WARP)
    scale = log_scale.detach().exp().tolist()
    return Alignment(tuple(shift.detach().tolist()), (scale[0], scale[1]), field.detach())  # type: ignore[arg-type]
