"""Choosing a glyph per cell: tone lookup, gradient descent over soft choices, discrete refinement.

All three minimise the same perceptual objective: the squared error between print and photo after
Gaussian blurs (what the eye sees from a step back), so neighbouring cells are judged together.
Plain pixel error would separate cell by cell, and a per-cell lookup would be its exact optimum.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metric import blur, gaussian_kernel
from .render import cell_view, render_hard, render_soft
from .settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (units done, units in all)

# Cells whose blurred footprints barely overlap can change together: two rows apart (60 dots)
# and three columns apart (36 dots) the σ=4 kernel's overlap is below 1e-3 of its peak.
PHASE_ROWS = 2
PHASE_COLS = 3


@dataclass(frozen=True)
class Problem:
    """One render on one device: the target canvas and the glyphs that may fill its cells."""

    target: torch.Tensor  # (H, W) paper tone to reach, 1 = white
    ink: torch.Tensor  # (K, h, w) candidate glyphs, 1 = dot
    blank: torch.Tensor  # (K,) bool: glyphs that print nothing (space, NBSP)
    cost: torch.Tensor  # (K,) objective added per cell that uses the glyph, over the cell count
    row_gap: int
    # Animation: the previous frame's choice (R, C), and what leaving it costs in each cell (R, C).
    keep: torch.Tensor | None = None
    keep_cost: torch.Tensor | None = None

    @property
    def grid(self) -> tuple[int, int]:
        height, width = self.target.shape
        h, w = self.ink.shape[1:]
        return height // (h + self.row_gap), width // w


def fast_len(n: int) -> int:
    """The smallest 5-smooth length ≥ n: FFTs of such sizes are several times faster."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


class Objective:
    """J = Σ weight·mean((G_σ (print − target))²) over the configured blurs (σ=0: no blur).

    The blurs are full convolutions of the zero-padded difference, computed in the frequency
    domain: every cell, at the edge too, sees the same quadratic form, so the discrete search's
    second-order step is exact and cannot cycle. gradscii-art's average-pool term is optional and
    used by the gradient stage only.
    """

    def __init__(self, settings: Settings, shape: tuple[int, int], device: torch.device):
        self.shape = shape
        self.pool_weight = settings.pool_weight
        self.blur_weights = settings.blur_weights
        self.margin = max(math.ceil(4 * sigma) for sigma, _ in settings.blur_weights)
        self.fft_shape = (fast_len(shape[0] + 2 * self.margin), fast_len(shape[1] + 2 * self.margin))
        ny, nx = self.fft_shape
        transfer = torch.zeros(ny, nx // 2 + 1, device=device)
        for sigma, weight in settings.blur_weights:
            gy = _kernel_power(sigma, ny, full=True, device=device)
            gx = _kernel_power(sigma, nx, full=False, device=device)
            transfer += weight * gy[:, None] * gx[None, :]
        self.transfer = transfer / (shape[0] * shape[1])  # per canvas pixel, as a mean

    def apply_q(self, diff: torch.Tensor) -> torch.Tensor:
        """Q·diff, where J = diffᵀ Q diff (without the pool term): half the gradient."""
        spectrum = torch.fft.rfft2(diff, s=self.fft_shape)
        return torch.fft.irfft2(spectrum * self.transfer, s=self.fft_shape)[: diff.shape[0], : diff.shape[1]]

    def __call__(self, paper: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        diff = paper - target
        loss = (diff * self.apply_q(diff)).sum()
        if self.pool_weight:
            pooled = F.avg_pool2d(diff[None, None], kernel_size=4, stride=2)
            loss = loss + self.pool_weight * pooled.square().mean()
        return loss

    def gradient(self, paper: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """dJ/dpaper of the blur terms."""
        return 2.0 * self.apply_q(paper - target)

    def gram(self, ink: torch.Tensor) -> torch.Tensor:
        """(K, K): inkₐᵀ Q ink_b, how much two glyphs' blurred inks overlap (position-free)."""
        m = self.margin
        isolated = F.pad(ink, (m, m, m, m))  # (K, h+2m, w+2m): room for the whole blur
        flat_dim = isolated[0].numel()
        gram = torch.zeros(ink.shape[0], ink.shape[0], dtype=ink.dtype, device=ink.device)
        for sigma, weight in self.blur_weights:
            b = (blur(isolated, sigma) if sigma > 0 else isolated).reshape(-1, flat_dim)
            gram += weight * b @ b.T
        return gram / (self.shape[0] * self.shape[1])


def _kernel_power(sigma: float, n: int, full: bool, device: torch.device) -> torch.Tensor:
    """|DFT|² of the 1-D Gaussian kernel centred on index 0 of a length-n circle."""
    if sigma == 0:
        return torch.ones(n if full else n // 2 + 1, device=device)
    k = gaussian_kernel(sigma).to(device)
    r = k.numel() // 2
    circle = torch.zeros(n, device=device)
    circle[: r + 1] = k[r:]
    circle[n - r :] = k[:r]
    spectrum = torch.fft.fft(circle) if full else torch.fft.rfft(circle)
    return spectrum.abs().square()


def tone_lookup(problem: Problem) -> torch.Tensor:
    """(R, C) per-cell choice of the glyph whose ink coverage best matches the cell's mean tone."""
    h, w = problem.ink.shape[1:]
    gap = problem.row_gap
    rows, cols = problem.grid
    # Mean target tone over each whole cell (gap included) → ink share the glyph rows must carry.
    cell_tone = problem.target.reshape(rows, h + gap, cols, w).mean(dim=(1, 3))
    wanted = ((1.0 - cell_tone) * (h + gap) / h).clamp(0.0, 1.0)
    coverage = problem.ink.mean(dim=(1, 2))
    return (wanted[..., None] - coverage).abs().argmin(dim=-1)


def _temperature_and_lr(step: int, settings: Settings) -> tuple[float, float]:
    """Linear warm-up, then cosine decay; temperature follows the LR down from start to end."""
    if step < settings.warmup:
        return settings.temp_start, (step + 1) / settings.warmup
    span = max(1, settings.steps - settings.warmup)
    lr_ratio = 0.5 * (1.0 + math.cos(math.pi * (step - settings.warmup) / span))
    temperature = settings.temp_end + (settings.temp_start - settings.temp_end) * lr_ratio
    return temperature, lr_ratio


def gradient_stage(
    problem: Problem,
    objective: Objective,
    settings: Settings,
    generator: torch.Generator,
    start: torch.Tensor | None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Soft per-cell glyph choice optimised by AdamW, annealed to a discrete (R, C) choice."""
    rows, cols = problem.grid
    k = problem.ink.shape[0]
    device = problem.target.device
    if start is None:
        logits = torch.randn(rows, cols, k, generator=generator, device=device) * 0.1
    else:
        logits = F.one_hot(start, k).float() * 2.0
    logits.requires_grad_(True)
    optimiser = torch.optim.AdamW([logits], lr=settings.lr)
    visible = ~problem.blank
    total = settings.steps + settings.sweeps
    for step in range(settings.steps):
        temperature, lr_ratio = _temperature_and_lr(step, settings)
        for group in optimiser.param_groups:
            group["lr"] = settings.lr * lr_ratio
        noisy = logits
        if settings.gumbel:
            u = torch.rand(logits.shape, generator=generator, device=device).clamp_(1e-9, 1 - 1e-9)
            noisy = logits - torch.log(-torch.log(u))
        weights = torch.softmax(noisy / temperature, dim=-1)  # (R, C, K)
        loss = objective(render_soft(weights, problem.ink, problem.row_gap), problem.target)
        loss = loss + (weights @ problem.cost).mean()
        if settings.diversity_weight:
            usage = weights.mean(dim=(0, 1))[visible]  # blank glyphs are free to fill paper
            p = usage / usage.sum()
            loss = loss + settings.diversity_weight * (p * torch.log(p + 1e-10)).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if progress and step % 50 == 0:
            progress(step, total)
    return logits.detach().argmax(dim=-1)


def refine(
    problem: Problem,
    objective: Objective,
    choice: torch.Tensor,
    settings: Settings,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Discrete coordinate search, as direct binary search halftoning does with dots.

    Each cell's exact best glyph given its neighbours comes from a second-order expansion of the
    objective (exact: it is quadratic in the print); cells far enough apart change together.
    """
    rows, cols = problem.grid
    k, h, w = problem.ink.shape
    flat_ink = problem.ink.reshape(k, h * w)
    gram = objective.gram(problem.ink)
    self_term = gram.diagonal()
    cell_cost = problem.cost / (rows * cols)
    r_idx = torch.arange(rows, device=choice.device)[:, None]
    c_idx = torch.arange(cols, device=choice.device)[None, :]
    phases = [
        ((r_idx % PHASE_ROWS == pr) & (c_idx % PHASE_COLS == pc))
        for pr in range(PHASE_ROWS)
        for pc in range(PHASE_COLS)
    ]
    candidates = torch.arange(k, device=choice.device)
    choice = choice.clone()
    for sweep in range(settings.sweeps):
        changed = 0
        for phase in phases:
            paper = render_hard(choice, problem.ink, problem.row_gap)
            grad = objective.gradient(paper, problem.target)
            grad = cell_view(grad, h, w, problem.row_gap).reshape(rows, cols, h * w)
            # Adding ink lowers the paper tone, hence the sign: Δ = −⟨g, ink_b − ink_a⟩ + quadratic.
            linear = -grad @ flat_ink.T  # (R, C, K)
            current = choice[..., None]
            delta = (
                linear
                - linear.gather(-1, current)
                + self_term
                - 2 * gram[choice]
                + self_term[choice][..., None]
                + cell_cost
                - cell_cost[choice][..., None]
            )
            if problem.keep is not None and problem.keep_cost is not None:
                leave = problem.keep_cost[..., None] * (candidates != problem.keep[..., None])
                delta = delta + leave - leave.gather(-1, current)
            gain, best = delta.min(dim=-1)
            move = phase & (gain < -1e-12) & (best != choice)
            choice = torch.where(move, best, choice)
            changed += int(move.sum())
        if progress:
            progress(settings.steps + sweep + 1, settings.steps + settings.sweeps)
        log.debug("sweep %d: %d cells changed", sweep, changed)
        if changed == 0:
            break
    return choice


def optimise(problem: Problem, settings: Settings, progress: Progress | None = None) -> torch.Tensor:
    """The configured pipeline: start, gradient stage, discrete refinement → (R, C) choice."""
    generator = torch.Generator(device=problem.target.device).manual_seed(settings.seed)
    objective = Objective(settings, tuple(problem.target.shape), problem.target.device)
    choice = tone_lookup(problem) if settings.init == "lookup" else None
    if choice is not None and problem.keep is not None and problem.keep_cost is not None:
        choice = torch.where(problem.keep_cost > 0, problem.keep, choice)  # still cells start as they were
    if settings.steps:
        choice = gradient_stage(problem, objective, settings, generator, choice, progress)
    if choice is None:
        choice = torch.zeros(problem.grid, dtype=torch.long, device=problem.target.device)
    if settings.sweeps:
        choice = refine(problem, objective, choice, settings, progress)
    return choice
