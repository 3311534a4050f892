"""Choosing a glyph per cell: tone lookup, gradient descent over soft choices, discrete refinement.

The objective is the squared error between print and photo after Gaussian blurs (the photo from a
step back, and its shapes up close), so neighbouring cells are judged together, plus per-cell terms
that keep each cell true to its own patch, flat areas even and reverse in regions
(docs/architecture.md §3a says why each is there and what it did to the gallery).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metric import SSIM_BLUR, blur, gaussian_kernel
from .render import render_hard, render_soft
from .settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (units done, units in all)

# Cells whose blurred footprints barely overlap can change together: two rows apart (60 dots)
# and three columns apart (36 dots) the σ=4 kernel's overlap is below 1e-3 of its peak.
NEAR_ROWS = 1
NEAR_COLS = 2
# Greedy steps per "sweep" of the settings: about as many moves as one pass over every cell.
NEAR_MOVES = (2 * NEAR_ROWS + 1) * (2 * NEAR_COLS + 1)
FLAT = 0.002  # blurred variance at which a cell counts as half flat, half busy
BARRED = 1e3  # the cost of a candidate the cell may not use
TIE = 1e-6  # float32 noise in a score, relative to its size (a 289-term product rounded at 6e-8 a term)


@dataclass(frozen=True)
class Problem:
    """One render on one device: the target canvas and the glyphs that may fill its cells."""

    target: torch.Tensor  # (H, W) paper tone to reach, 1 = white
    ink: torch.Tensor  # (K, h, w) candidate glyphs, 1 = dot
    blank: torch.Tensor  # (K,) bool: glyphs that print nothing (space, NBSP)
    cost: torch.Tensor  # (K,) objective added per cell that uses the glyph, over the cell count
    row_gap: int
    reverse: torch.Tensor | None = None  # (K,) bool: candidates printed in reverse
    focus: torch.Tensor | None = None  # (R, C) in [0, 1]: how much of each cell lies on a face
    # What depends on the glyphs alone, computed once by a renderer: glyph_gram, glyph_texture.
    gram: torch.Tensor | None = None
    texture: torch.Tensor | None = None
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


class _Blurs:
    """Σ weight·mean((G_σ diff)²) over a list of blurs of one canvas, in the frequency domain.

    The blurs are full convolutions of the zero-padded difference: every cell, at the edge too, sees
    the same quadratic form, so the discrete search's second-order step is exact and cannot cycle.
    """

    def __init__(
        self, weights: tuple[tuple[float, float], ...], shape: tuple[int, int], mean_over: int, device: torch.device
    ):
        self.weights, self.mean_over = weights, mean_over
        self.margin = max(math.ceil(4 * sigma) for sigma, _ in weights)
        self.fft_shape = (fast_len(shape[0] + 2 * self.margin), fast_len(shape[1] + 2 * self.margin))
        self.transfer = self._transfer(self.fft_shape, device)
        self._patch_bands: dict[tuple[int, int], list[tuple[float, torch.Tensor, torch.Tensor]]] = {}

    def _transfer(self, fft_shape: tuple[int, int], device: torch.device) -> torch.Tensor:
        """Q's spectrum on an fft_shape circle, per canvas pixel (as a mean)."""
        ny, nx = fft_shape
        transfer = torch.zeros(ny, nx // 2 + 1, device=device)
        for sigma, weight in self.weights:
            gy = _kernel_power(sigma, ny, full=True, device=device)
            gx = _kernel_power(sigma, nx, full=False, device=device)
            transfer += weight * gy[:, None] * gx[None, :]
        return transfer / self.mean_over

    @property
    def spread(self) -> int:
        """How far Q reaches: its kernel, a sum of Gaussian autocorrelations, is zero beyond ±2·margin."""
        return 2 * self.margin

    def apply_q(self, diff: torch.Tensor) -> torch.Tensor:
        spectrum = torch.fft.rfft2(diff, s=self.fft_shape)
        return torch.fft.irfft2(spectrum * self.transfer, s=self.fft_shape)[: diff.shape[0], : diff.shape[1]]

    def respond(self, patches: torch.Tensor) -> torch.Tensor:
        """Q·patch of M patches (M, h, w), each alone on the canvas: (M, h + 2s, w + 2s) with s the
        spread, the patch's own pixels at offset s. Q's kernel is a sum of separable ones (each
        blur's autocorrelation along y times along x), so this is two small products per blur with
        band matrices: the same as apply_q's spectrum on a circle that does not wrap, without an
        FFT of a padded patch per moved cell."""
        h, w = patches.shape[1:]
        if (h, w) not in self._patch_bands:
            s, device = self.spread, patches.device
            self._patch_bands[h, w] = [
                (
                    weight / self.mean_over,
                    _autocorrelation_band(sigma, h, s, device),
                    _autocorrelation_band(sigma, w, s, device).T,
                )
                for sigma, weight in self.weights
            ]
        out = None
        for weight, along_y, along_x in self._patch_bands[h, w]:
            term = along_y @ (patches @ along_x)
            out = term.mul_(weight) if out is None else out.add_(term, alpha=weight)
        assert out is not None
        return out


def _autocorrelation_band(
    sigma: float, n: int, spread: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(n + 2·spread, n): a blur's autocorrelation as a product on an axis of length n, output index
    i at position i − spread (the response of n pixels reaches `spread` beyond them either side)."""
    k = gaussian_kernel(sigma, torch.float64) if sigma > 0 else torch.ones(1, dtype=torch.float64)
    r = k.numel() // 2
    auto = torch.zeros(4 * r + 1, dtype=torch.float64)
    for i, weight in enumerate(k.tolist()):
        auto[i : i + 2 * r + 1] += weight * k
    offset = torch.arange(n + 2 * spread)[:, None] - spread - torch.arange(n)[None, :] + 2 * r
    inside = (offset >= 0) & (offset <= 4 * r)
    return torch.where(inside, auto[offset.clamp(0, 4 * r)], 0.0).to(device, dtype)


def seen(canvas: torch.Tensor, cell_height: int, row_gap: int) -> torch.Tensor:
    """(R·(h+gap), W) paper → (R·h, W): the glyph rows only, as the eye reads a receipt up close
    (it skips the blank gaps between text rows)."""
    height, width = canvas.shape
    pitch = cell_height + row_gap
    return canvas.reshape(height // pitch, pitch, width)[:, :cell_height].reshape(-1, width)


def unseen(grad: torch.Tensor, cell_height: int, row_gap: int) -> torch.Tensor:
    """The adjoint of `seen`: glyph rows back in place, zeros in the gaps."""
    rows = grad.shape[0] // cell_height
    bands = grad.reshape(rows, cell_height, grad.shape[1])
    return F.pad(bands, (0, 0, 0, row_gap)).reshape(-1, grad.shape[1])


def seen_target(
    target: torch.Tensor, cell_height: int, row_gap: int, gain: float | torch.Tensor, sigma: float
) -> torch.Tensor:
    """What the glyph rows should look like up close: each text row's whole band of photo (gap rows
    included) squeezed onto its glyph rows, its detail (the photo minus its σ blur) times `gain`, as
    an artist exaggerates the features that make a face. The tone seen from a step back is not
    touched: only detail finer than σ is scaled. `gain`: one for all, or (R, C) per cell.

    The band's tone t is the pitch's, blank gap included: its glyph rows carry it when they are
    (pitch·t − gap) / cell height, darker than t, as the step-back term wants them. Aimed at t
    itself, the two terms pulled apart and the glyph rows stayed pale (on benchmarks/faces.py's
    portraits: 52% shades, σ4 1.22; aimed at the darker tone 40%, 1.07). That darkening is of the
    tone (the σ blur) alone: applied to the detail as well it stretched it by pitch / cell height,
    so that gain 2 acted as 2.5 (and the poster of benchmarks/faces.py lost OPEN at 42 columns)."""
    height, width = target.shape
    pitch = cell_height + row_gap
    bands = target.reshape(height // pitch, 1, pitch, width)
    squeezed = F.interpolate(bands, size=(cell_height, width), mode="bilinear", antialias=True, align_corners=False)
    squeezed = squeezed.reshape(-1, width)
    if isinstance(gain, torch.Tensor):
        gain = gain.repeat_interleave(cell_height, 0).repeat_interleave(width // gain.shape[1], 1)
    base = blur(squeezed, sigma) / blur(torch.ones_like(squeezed), sigma)
    return ((pitch * base - row_gap) / cell_height + gain * (squeezed - base)).clamp(0.0, 1.0)


class Objective:
    """J = Σ weight·mean((G_σ (print − target))²) over the configured blurs of the paper (σ=0: no
    blur), plus the same over the glyph rows seen up close against `seen_target` (seen_weights).

    Quadratic in the print, so refine's second-order step is exact. gradscii-art's average-pool
    term is optional and used by the gradient stage only.
    """

    def __init__(
        self,
        settings: Settings,
        target: torch.Tensor,
        cell_height: int,
        row_gap: int,
        focus: torch.Tensor | None = None,
    ):
        self.target = target
        self.cell_height, self.row_gap = cell_height, row_gap
        self.pool_weight = settings.pool_weight
        self.blur_weights = settings.blur_weights + settings.seen_weights
        device = target.device
        shape = tuple(target.shape)
        self.paper = _Blurs(settings.blur_weights, shape, shape[0] * shape[1], device)
        self.close: _Blurs | None = None
        self.margin = self.paper.margin
        if settings.seen_weights:
            gain: float | torch.Tensor = settings.detail_gain
            if focus is not None:
                gain = settings.detail_gain + (settings.face_gain - settings.detail_gain) * focus
            self.seen_target = seen_target(target, cell_height, row_gap, gain, settings.detail_sigma)
            seen_shape = tuple(self.seen_target.shape)
            self.close = _Blurs(settings.seen_weights, seen_shape, shape[0] * shape[1], device)
            self.margin = max(self.margin, self.close.margin)

    def reach(self, pitch: int, width: int) -> tuple[int, int]:
        """(rows, columns): how far apart two cells of this pitch and width can be and still
        interact. Q is a sum of Gaussian autocorrelations, each zero beyond twice its blur's radius
        (the spread), and the zero padding of the FFT is wide enough that nothing wraps round. Two
        cells d rows apart interact when their nearest glyph dots, d·pitch − (cell height − 1)
        apart, are within the spread; seen up close, past the gaps, text rows are a cell height
        apart instead of a pitch. With a 6-dot gap and σ=4 that is the next row only (2 rows
        apart the nearest dots are 37 apart, beyond the spread of 32)."""
        h = self.cell_height
        rows = (self.paper.spread + h - 1) // pitch
        if self.close is not None:
            rows = max(rows, (self.close.spread + h - 1) // h)
        return rows, (2 * self.margin + width - 1) // width

    def apply_q(self, diff: torch.Tensor, close_diff: torch.Tensor | None) -> torch.Tensor:
        """Q·diff, where J = diffᵀ Q diff (without the pool term): half the gradient."""
        q = self.paper.apply_q(diff)
        if self.close is not None and close_diff is not None:
            q = q + unseen(self.close.apply_q(close_diff), self.cell_height, self.row_gap)
        return q

    def _diffs(self, paper: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        diff = paper - self.target
        if self.close is None:
            return diff, None
        return diff, seen(paper, self.cell_height, self.row_gap) - self.seen_target

    def __call__(self, paper: torch.Tensor) -> torch.Tensor:
        diff, close_diff = self._diffs(paper)
        loss = (diff * self.paper.apply_q(diff)).sum()
        if self.close is not None and close_diff is not None:
            loss = loss + (close_diff * self.close.apply_q(close_diff)).sum()
        if self.pool_weight:
            pooled = F.avg_pool2d(diff[None, None], kernel_size=4, stride=2)
            loss = loss + self.pool_weight * pooled.square().mean()
        return loss

    def gradient(self, paper: torch.Tensor) -> torch.Tensor:
        """dJ/dpaper of the blur terms."""
        return 2.0 * self.apply_q(*self._diffs(paper))

    def gram(self, ink: torch.Tensor, cached: torch.Tensor | None = None) -> torch.Tensor:
        """(K, K): inkₐᵀ Q ink_b, how much two glyphs' blurred inks overlap (position-free);
        `cached`: glyph_gram(ink, these blur weights), which a renderer computes once."""
        overlap = glyph_gram(ink, self.blur_weights) if cached is None else cached
        return overlap / self.target.numel()


class _Gradient:
    """dJ/dpaper over every cell's glyph dots, kept up to date move by move.

    A move changes the gradient only within the blurs' spread of the cell, by Q applied to the
    change of ink there (`_Blurs.respond`), so after the first step refine needs no FFT of the
    whole canvas. Each view (the paper, and the glyph rows seen up close) keeps its Q·diff on a
    canvas padded by its spread, so that a cell's response lands whole, near an edge too.
    """

    def __init__(self, objective: Objective, problem: Problem, choice: torch.Tensor):
        h, w = problem.ink.shape[1:]
        rows, cols = problem.grid
        diff, close_diff = objective._diffs(render_hard(choice, problem.ink, problem.row_gap))
        views = [(objective.paper, diff, h + problem.row_gap)]
        if objective.close is not None and close_diff is not None:
            views.append((objective.close, close_diff, h))
        device = diff.device
        r, c = torch.arange(rows, device=device), torch.arange(cols, device=device)
        self.cols = cols
        # (blurs, padded 2·Q·diff, its (R, C, h, w) view on each cell's glyph dots, each cell's
        # response origin, a response's dots)
        self.views: list[tuple[_Blurs, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for blurs, view_diff, pitch in views:
            s = blurs.spread
            field = F.pad(2.0 * blurs.apply_q(view_diff), (s, s, s, s))
            stride = field.shape[1]
            glyph_dots = field.as_strided((rows, cols, h, w), (pitch * stride, w, stride, 1), s * stride + s)
            origin = ((r * pitch)[:, None] * stride + (c * w)[None, :]).reshape(-1)  # response's top left
            patch = torch.arange(h + 2 * s, device=device)[:, None] * stride + torch.arange(w + 2 * s, device=device)
            self.views.append((blurs, field, glyph_dots, origin, patch.reshape(-1)))

    def cells(self, at: torch.Tensor) -> torch.Tensor:
        """(N, h·w): the gradient over the glyph dots of the cells `at` (flat indexes)."""
        row, col = at // self.cols, at % self.cols
        grad = self.views[0][2][row, col]
        for _, _, glyph_dots, _, _ in self.views[1:]:
            grad += glyph_dots[row, col]
        return grad.reshape(at.numel(), -1)

    def move(self, at: torch.Tensor, more_ink: torch.Tensor) -> None:
        """Cells `at` (flat indexes) changed glyph, by `more_ink` (N, h, w): new ink − old."""
        for blurs, field, _, origin, patch in self.views:
            response = blurs.respond(-2.0 * more_ink)  # more ink is less paper
            field.view(-1).index_add_(0, (origin[at, None] + patch).reshape(-1), response.reshape(-1))


def glyph_gram(ink: torch.Tensor, blur_weights: tuple[tuple[float, float], ...]) -> torch.Tensor:
    """(K, K) Σ weight·⟨G_σ inkₐ, G_σ ink_b⟩ of glyphs in isolation: the objective's quadratic part
    per cell, the same wherever the cell is (so it is computed once per glyph set)."""
    # The blur is linear, so ⟨G a, G b⟩ = aᵀ (GᵀG) b, and GᵀG is the blur's autocorrelation along
    # y times along x: a (h·w)² metric of a cell's dots, then one product with the glyphs. Blurring
    # all 1 731 glyphs and multiplying those cost 1.3 s of a renderer's 1.6 s start; this 0.1 s.
    count, h, w = ink.shape
    metric = torch.zeros(h * w, h * w, dtype=torch.float64, device=ink.device)
    for sigma, weight in blur_weights:
        along_y = _autocorrelation_band(sigma, h, 0, ink.device, torch.float64)
        along_x = _autocorrelation_band(sigma, w, 0, ink.device, torch.float64)
        metric += weight * torch.kron(along_y, along_x)
    flat = ink.reshape(count, h * w).to(torch.float64)
    return (flat @ metric @ flat.T).to(ink.dtype)


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
        loss = objective(render_soft(weights, problem.ink, problem.row_gap))
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


def _local_winners(gain: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(R, C) bool: cells whose gain is the best within NEAR rows and columns (ties broken at random).

    Moving only these keeps every two moving cells at least NEAR_ROWS+1 rows or NEAR_COLS+1
    columns apart, so they do not interact, and unlike a fixed colouring of the grid into phases
    it leaves no periodic signature: which cells move together depends on the picture alone.
    """
    jitter = torch.rand(gain.shape, generator=generator, device=gain.device) * 1e-12
    score = torch.where(gain < -1e-12, -gain + jitter, torch.zeros_like(gain))
    window = (2 * NEAR_ROWS + 1, 2 * NEAR_COLS + 1)
    best = F.max_pool2d(score[None, None], window, stride=1, padding=(NEAR_ROWS, NEAR_COLS))[0, 0]
    return (score > 0) & (score == best)


def neighbour_count(flag: torch.Tensor) -> torch.Tensor:
    """(R, C): how many of each cell's 4 neighbours have `flag` set."""
    padded = F.pad(flag.float()[None, None], (1, 1, 1, 1))[0, 0]
    return padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]


def glyph_texture(ink: torch.Tensor, row_gap: int) -> torch.Tensor:
    """(K,): the variance of each glyph's print seen at σ=2, tiled 3×3 (gap included): the pattern a
    glyph leaves on a flat area. Fine, even glyphs (·:░) leave little; strokes and lattices much."""
    _, h, w = ink.shape
    cell = F.pad(1.0 - ink, (0, 0, 0, row_gap), value=1.0)  # (K, h+gap, w)
    tiled = cell.repeat(1, 3, 3)
    seen = blur(tiled, SSIM_BLUR)[:, h + row_gap : 2 * (h + row_gap), w : 2 * w]
    return seen.var(dim=(1, 2), unbiased=False)


def cell_terms(problem: Problem, settings: Settings) -> torch.Tensor:
    """Per cell and candidate (R, C, K): what the cell costs on its own, apart from the objective.

    - Own tone: (cell's printed tone − the photo's tone over the cell)², so that a cell stands for
      its own patch instead of neighbours compensating for it (they make blotches and lattices).
    - Texture where the photo is flat: a glyph's own pattern (glyph_texture), weighed by how flat
      the photo is in the cell, so flat areas get even glyphs and strokes go where the photo has
      structure. This is the part of SSIM a squared error misses: on a flat patch any pattern costs
      nearly all of SSIM, whatever its energy.
    - Block glyphs pay `cost` where the photo is busy, so characters draw its features.
    - Reverse only where the photo, seen over about three cells, is dark, so reverse comes in
      regions and not in islands.
    """
    rows, cols = problem.grid
    _, h, w = problem.ink.shape
    pitch = h + problem.row_gap
    cells = problem.target.reshape(rows, pitch, cols, w)
    cell_tone = cells.mean(dim=(1, 3))  # (R, C)
    paper = 1.0 - problem.ink.mean(dim=(1, 2)) * h / pitch  # (K,)
    terms = settings.tone_weight * (paper - cell_tone[..., None]).square()
    # Normalised at the edges: blurred against the blank beyond them, every edge cell of a grey
    # photo looked busy, and prints were framed in rows of `@@@@` where the photo was flat.
    blurred = blur(problem.target, SSIM_BLUR) / blur(torch.ones_like(problem.target), SSIM_BLUR)
    blurred = blurred.reshape(rows, pitch, cols, w)
    flat = FLAT / (FLAT + blurred.var(dim=(1, 3), unbiased=False))  # (R, C): 1 flat, 0 busy
    if settings.texture_weight:
        texture = glyph_texture(problem.ink, problem.row_gap) if problem.texture is None else problem.texture
        terms = terms + settings.texture_weight * flat[..., None] * texture
    # Shades fill, characters draw: a block glyph costs what it costs only where the photo has
    # something to draw; on a flat patch ▒ is the even fill no character can give.
    terms = terms + (1.0 - flat)[..., None] * problem.cost
    if problem.reverse is not None and settings.reverse_below < 1.0:
        region = blur(cell_tone[None], 1.0)[0] / blur(torch.ones_like(cell_tone)[None], 1.0)[0]
        barred = region > settings.reverse_below
        terms = terms + (barred[..., None] & problem.reverse) * BARRED
    return terms / (rows * cols)


def energy(
    problem: Problem, objective: Objective, settings: Settings, choice: torch.Tensor, own: torch.Tensor | None = None
) -> float:
    """What refine minimises, whole: the objective, the cell terms (`own`: cell_terms', given when
    many choices are weighed on one problem) and reverse coherence."""
    rows, cols = problem.grid
    paper = render_hard(choice, problem.ink, problem.row_gap)
    own = cell_terms(problem, settings) if own is None else own
    total = objective(paper) + own.gather(-1, choice[..., None]).sum()
    if problem.reverse is not None:
        flag = problem.reverse[choice].float()
        edges = (flag[1:] != flag[:-1]).sum() + (flag[:, 1:] != flag[:, :-1]).sum()
        total = total + settings.reverse_coherence / (rows * cols) * edges
    return float(total)


def refine(
    problem: Problem,
    objective: Objective,
    choice: torch.Tensor,
    settings: Settings,
    progress: Progress | None = None,
) -> torch.Tensor:
    """Discrete greedy search, as direct binary search halftoning does with dots.

    Each cell's exact best glyph given its neighbours comes from a second-order expansion of the
    objective (exact: it is quadratic in the print); the cells whose gain is the best in their
    neighbourhood move together, until no cell gains. A move changes the gradient only within the
    objective's reach (objective.reach), so after each step only the cells that close to a move
    are searched again, and the gradient is brought up to date there alone (_Gradient); of those,
    a cell whose best candidate's lead cannot have been overtaken is not searched over every
    candidate again (below). The result is the same as searching every cell every step with a fresh
    gradient, in a fraction of the time.
    """
    rows, cols = problem.grid
    k, h, w = problem.ink.shape
    gram = objective.gram(problem.ink, problem.gram)
    # What a candidate costs in a cell apart from its neighbours: its cell terms and its own
    # quadratic part (a per-cell constant, such as the current glyph's, drops out of the argmin
    # and out of the gain, which is taken against the current glyph's own score).
    base = cell_terms(problem, settings).reshape(rows * cols, k) + gram.diagonal()
    if problem.keep is not None and problem.keep_cost is not None:
        candidates = torch.arange(k, device=choice.device)
        base += (problem.keep_cost[..., None] * (candidates != problem.keep[..., None])).reshape(rows * cols, k)
    reverse = problem.reverse if settings.reverse_coherence else None
    coherence = settings.reverse_coherence / (rows * cols)
    # The linear part −⟨g, ink_b⟩ as one product; with reverse coherence one more column: a reversed
    # candidate beside n reversed neighbours has 4 − n plain ones, a plain candidate n reversed ones,
    # so reversing costs coherence·(4 − 2n) more than not (a per-cell constant dropped).
    inks = problem.ink.reshape(k, h * w).T
    if reverse is not None:
        inks = torch.cat([inks, reverse.float()[None]])
    reach = objective.reach(h + problem.row_gap, w)
    window = (2 * reach[0] + 1, 2 * reach[1] + 1)
    generator = torch.Generator(device=choice.device).manual_seed(settings.seed)
    choice = choice.clone()
    gradient = _Gradient(objective, problem, choice)
    # Each candidate's score apart from the linear part, against the cell's current glyph: it
    # changes only where the cell itself moves, so it is kept instead of gathered every step.
    own = base - 2.0 * gram[choice.reshape(-1)]
    # A cell searched in full keeps its gradient then (`searched`) and by how much its best candidate
    # beat the runner-up (`margin`, less float noise). Its own scores unchanged, a candidate's lead
    # over another moves by ⟨change of gradient, ink_b − ink_a⟩, at most the change's L1 norm (the
    # inks are 0 or 1): while that is below the margin the best stays best, and only the best's and
    # the current glyph's scores are needed, not all K. A cell that moves is searched in full.
    candidate_inks = inks.T.contiguous()  # (K, h·w [+ 1])
    searched = torch.zeros(rows * cols, inks.shape[0], device=choice.device)
    margin = torch.full((rows * cols,), -1.0, device=choice.device)
    gain = torch.zeros(rows, cols, device=choice.device)
    best = choice.clone()
    dirty = torch.ones(rows, cols, dtype=torch.bool, device=choice.device)
    most = settings.sweeps * NEAR_MOVES
    for step in range(most):
        at = dirty.reshape(-1).nonzero()[:, 0]
        grad = gradient.cells(at)
        if reverse is not None:
            neighbours = neighbour_count(reverse[choice]).reshape(-1)[at]
            grad = torch.cat([grad, (2 * coherence * neighbours - 4 * coherence)[:, None]], dim=1)
        sure = (grad - searched[at]).abs().sum(dim=1) < margin[at]
        full, kept = at[~sure], at[sure]
        if full.numel():
            full_grad = grad[~sure]
            # Adding ink lowers the paper tone, hence the sign: Δ = −⟨g, ink_b − ink_a⟩ + quadratic.
            score = own.index_select(0, full).addmm_(full_grad, inks, alpha=-1.0)
            two, first = score.topk(2, dim=-1, largest=False)
            current = choice.view(-1)[full]
            gain.view(-1)[full] = two[:, 0] - score.gather(-1, current[:, None])[:, 0]
            best.view(-1)[full] = first[:, 0]
            margin[full] = two[:, 1] - two[:, 0] - TIE * (two[:, 0].abs() + two[:, 1].abs())
            searched[full] = full_grad
        if kept.numel():
            ahead, current = best.view(-1)[kept], choice.view(-1)[kept]
            linear = (grad[sure] * (candidate_inks[ahead] - candidate_inks[current])).sum(dim=1)
            gain.view(-1)[kept] = own[kept, ahead] - own[kept, current] - linear
        move = _local_winners(gain, generator) & (best != choice)
        if progress and step % NEAR_MOVES == 0:
            progress(settings.steps + step // NEAR_MOVES + 1, settings.steps + settings.sweeps)
        if not bool(move.any()):
            break
        moved = move.reshape(-1).nonzero()[:, 0]
        chosen = best.view(-1)[moved]
        gradient.move(moved, problem.ink[chosen] - problem.ink[choice.view(-1)[moved]])
        own[moved] = base[moved] - 2.0 * gram[chosen]
        margin[moved] = -1.0
        choice = torch.where(move, best, choice)
        dirty = F.max_pool2d(move.float()[None, None], window, stride=1, padding=reach)[0, 0] > 0
    log.debug("refined in %d steps", step + 1)
    return choice


def optimise(problem: Problem, settings: Settings, progress: Progress | None = None) -> torch.Tensor:
    """The configured pipeline: start, gradient stage, discrete refinement → (R, C) choice."""
    generator = torch.Generator(device=problem.target.device).manual_seed(settings.seed)
    objective = Objective(settings, problem.target, problem.ink.shape[1], problem.row_gap, problem.focus)
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
