"""What makes the search fast must not change what it computes: the gradient kept move by move, the
reach between cells, the near-duplicate cells left out, the blur as a band product or a sum of shifted copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from optimizer import Renderer, Settings
from optimizer.metric import BAND_MAX, blur, gaussian_kernel
from optimizer.render import cell_view, render_hard
from optimizer.renderer import candidate_cells
from optimizer.search import Objective, Problem, _Gradient
from tests.support.photos import write_photo


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Renderer, Problem, Objective]:
    renderer = Renderer(Settings(columns=9, rows=5))
    img = Image.open(write_photo(tmp_path_factory.mktemp("img") / "p.png"))
    target = renderer.target(img)
    problem = Problem(target, renderer.ink, renderer.blank, renderer.cost, 6, renderer.reverse)
    return renderer, problem, Objective(renderer.settings, target, 24, 6)


def full_gradient(problem: Problem, objective: Objective, choice: torch.Tensor) -> torch.Tensor:
    """(R·C, h·w): the gradient over every cell's glyph dots from whole-canvas FFTs."""
    grad = objective.gradient(render_hard(choice, problem.ink, 6))
    return cell_view(grad, 24, 12, 6).reshape(choice.numel(), -1)


def test_the_gradient_kept_move_by_move_is_the_whole_canvas_one(setup: tuple[Renderer, Problem, Objective]) -> None:
    _, problem, objective = setup
    generator = torch.Generator().manual_seed(1)
    k = problem.ink.shape[0]
    choice = torch.randint(k, problem.grid, generator=generator)
    gradient = _Gradient(objective, problem, choice)
    every = torch.arange(choice.numel())
    for _ in range(3):  # cells at the edges and corners too, several at once
        moved = torch.randperm(choice.numel(), generator=generator)[:7]
        new = torch.randint(k, (7,), generator=generator)
        gradient.move(moved, problem.ink[new] - problem.ink[choice.view(-1)[moved]])
        choice.view(-1)[moved] = new
        torch.testing.assert_close(gradient.cells(every), full_gradient(problem, objective, choice), rtol=0, atol=1e-7)


def test_a_move_changes_the_gradient_within_the_reach_and_nowhere_beyond(
    setup: tuple[Renderer, Problem, Objective],
) -> None:
    _, problem, objective = setup
    rows, cols = problem.grid
    reach = objective.reach(30, 12)
    assert reach == (1, 3)  # 2 rows apart the nearest dots are 37 apart, beyond σ=4's 32
    choice = torch.zeros(problem.grid, dtype=torch.long)
    darkest = int(problem.ink.sum(dim=(1, 2)).argmax())
    moved = choice.clone()
    moved[2, 4] = darkest
    change = (full_gradient(problem, objective, moved) - full_gradient(problem, objective, choice)).abs()
    change = change.amax(dim=1).reshape(rows, cols)
    r, c = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    within = ((r - 2).abs() <= reach[0]) & ((c - 4).abs() <= reach[1])
    # Beyond the reach only the FFT's float noise (< 1e-10 here); at its edge the σ=4 tail (7e-10
    # three columns on, the move's own cell 3e-4): the reach is tight.
    assert float(change[~within].max()) < 1.5e-10
    assert float(change[2 + reach[0], 4]) > 1e-5 and float(change[2, 4 + reach[1]]) > 4e-10


def test_near_duplicate_cells_are_left_out_and_each_has_a_kept_one_near() -> None:
    rng = np.random.default_rng(0)
    base = rng.random((1, 40, 6, 4)) < 0.4
    flipped = base.copy()
    flipped[0, :20, 0, 0] ^= True  # a second mode: the first 20 codes one dot off, the others the same
    mode_ink = np.concatenate([base, flipped])
    allowed = np.ones(40, dtype=bool)
    modes, codes = candidate_cells(mode_ink, allowed)
    assert len(codes) == 60
    modes, codes = candidate_cells(mode_ink, allowed, within=1)
    kept = mode_ink[modes, codes].reshape(len(codes), -1)
    apart = (kept[:, None] != kept[None]).sum(axis=2)
    np.fill_diagonal(apart, 99)
    assert apart.min() > 1
    assert len(codes) == 40 and (modes == 0).all()  # the first mode wins among near-equals
    for code in (10, 0x21):  # a near-copy of the code before it: left out, unless it is ASCII
        mode_ink[0, code] = mode_ink[0, code - 1]
        mode_ink[0, code, 0, 0] ^= True
    modes, codes = candidate_cells(mode_ink, allowed, within=1)
    assert 10 not in codes[modes == 0] and 0x21 in codes[modes == 0]


@pytest.mark.parametrize("shape", [(7, 5), (3, 40, 28), (17 * BAND_MAX + 5, 30), (2, 9, 17 * BAND_MAX + 1)])
def test_the_blur_is_the_convolution_with_zeros_beyond_the_edges(shape: tuple[int, ...]) -> None:
    img = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k = gaussian_kernel(2.0, torch.float64)
    r = k.numel() // 2
    x = img.reshape(-1, 1, *img.shape[-2:])
    x = F.conv2d(F.conv2d(x, k.view(1, 1, 1, -1), padding=(0, r)), k.view(1, 1, -1, 1), padding=(r, 0))
    torch.testing.assert_close(blur(img, 2.0), x.reshape(img.shape))
