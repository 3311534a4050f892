"""The artistic controls against plain settings on scikit-image's photos (42 columns): σ=4 / σ=2
ratios to the Floyd–Steinberg floor, measured against the plain photo (what docs/architecture.md §3 scores)
and against the control's own target (what the art was asked to show), and the time each costs
as a ratio to the plain render in this process. Then animation flicker with and without the
temporal term, and the before/after pictures for the README (`--docs docs/`).

    python benchmarks/controls.py [--docs docs/]
"""

from __future__ import annotations

import argparse
import statistics
import time
from itertools import pairwise
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from skimage import data

from optimizer import Art, Renderer, Settings
from optimizer.metric import score

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket")
CONTROLS = {
    "plain": {},
    "color_map=learned": {"color_map": "learned"},
    "contrast=global": {"contrast": "global"},
    "contrast=local": {"contrast": "local"},
    "align=shift": {"align": "shift"},
    "align=warp": {"align": "warp"},
}
COLUMNS, ROWS = 42, 21


def photo(name: str) -> Image.Image:
    img = Image.fromarray(getattr(data, name)()).convert("RGB")
    return ImageOps.fit(img, (504, 630), method=Image.Resampling.LANCZOS)


def paper(art: Art, renderer: Renderer) -> np.ndarray:
    return np.asarray(art.preview(renderer.atlas), np.float32) / 255


def run(renderer: Renderer, img: Image.Image) -> tuple[Art, torch.Tensor, float]:
    """The art, the target it aimed at (aligned where asked), and the wall time."""
    start = time.perf_counter()
    target = renderer.target(img)
    if renderer.settings.align != "none":
        target = renderer.align(target).apply(target)
    art = renderer.solve(target)
    return art, target, time.perf_counter() - start


def controls_table(docs: Path | None) -> None:
    renderers = {name: Renderer(Settings(columns=COLUMNS, rows=ROWS, **kw)) for name, kw in CONTROLS.items()}
    run(renderers["plain"], photo("camera"))  # warm-up: the first torch call of a process is slow
    print(f"{'control':20s} {'photo':10s} {'vs photo σ4/σ2':>15s} {'vs own target':>14s} {'time ×plain':>11s}")
    summary: dict[str, list[tuple[float, float, float]]] = {name: [] for name in CONTROLS}
    for name in PHOTOS:
        img = photo(name)
        plain_grey = renderers["plain"].canvas(img)
        plain_time = None
        for control, renderer in renderers.items():
            art, target, seconds = run(renderer, img)
            plain_time = plain_time or seconds
            versus_photo = score(paper(art, renderer), plain_grey, 24, 6)
            own = score(paper(art, renderer), (target.cpu().numpy() - 0.2) / 0.8, 24, 6)
            summary[control].append((versus_photo.ratio_far, own.ratio_far, seconds / plain_time))
            print(
                f"{control:20s} {name:10s} {versus_photo.ratio_far:7.2f}/{versus_photo.ratio_near:<7.2f}"
                f" {own.ratio_far:6.2f}/{own.ratio_near:<7.2f} {seconds / plain_time:8.2f}×  ({seconds:.2f} s)"
            )
    print("\nmeans over the photos: σ4 vs photo, σ4 vs own target, time × plain")
    for control, rows in summary.items():
        means = [statistics.mean(column) for column in zip(*rows, strict=True)]
        print(f"  {control:20s} {means[0]:.2f}  {means[1]:.2f}  {means[2]:.2f}×")
    if docs is not None:
        pictures(renderers, docs)


def pictures(renderers: dict[str, Renderer], docs: Path) -> None:
    """Before | after previews at half size, one PNG per control."""
    docs.mkdir(parents=True, exist_ok=True)
    dim = Image.fromarray((np.asarray(photo("camera").convert("L")) * 0.35 + 60).astype(np.uint8)).convert("RGB")
    cases = {
        "color-map": (photo("coffee"), "color_map=learned"),
        "contrast": (dim, "contrast=local"),
        "align": (photo("camera"), "align=warp"),
    }
    for name, (img, control) in cases.items():
        before = renderers["plain"].render(img).preview(renderers["plain"].atlas)
        after = run(renderers[control], img)[0].preview(renderers[control].atlas)
        side_by_side([before, after]).save(docs / f"{name}.png", optimize=True)
    dark = Renderer(Settings(columns=COLUMNS, rows=ROWS, dark=True))
    img = photo("astronaut")
    side_by_side(
        [
            renderers["plain"].render(img).preview(renderers["plain"].atlas),
            dark.render(img).preview(dark.atlas, dark=True),
        ]
    ).save(docs / "dark.png", optimize=True)
    frames = moving_clip()
    animation = Renderer(Settings(columns=COLUMNS)).render_frames(frames[:3], [0.1] * 3)
    side_by_side([frame.preview(Renderer(Settings(columns=COLUMNS)).atlas) for frame in animation.frames]).save(
        docs / "animation.png", optimize=True
    )


def side_by_side(images: list[Image.Image]) -> Image.Image:
    half = [im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS) for im in images]
    sheet = Image.new("L", (sum(im.width for im in half) + 8 * (len(half) - 1), max(im.height for im in half)), 128)
    x = 0
    for im in half:
        sheet.paste(im, (x, 0))
        x += im.width + 8
    return sheet


def moving_clip(count: int = 8) -> list[Image.Image]:
    """The camera photo with a dark disc rolling across it: most of the picture stands still."""
    base = np.asarray(photo("camera").convert("L")).copy()
    y, x = np.mgrid[0 : base.shape[0], 0 : base.shape[1]]
    frames = []
    for i in range(count):
        frame = base.copy()
        frame[(y - 120) ** 2 + (x - 60 - 45 * i) ** 2 < 45**2] = 20
        frames.append(Image.fromarray(frame).convert("RGB"))
    return frames


def flicker_table() -> None:
    """Share of still cells that change glyph between frames, independent frames vs the temporal term."""
    frames = moving_clip()
    print("\nanimation: 8 frames, 42 columns, a disc rolling over a still photo")
    for steadiness in (0.0, 0.02):
        renderer = Renderer(Settings(columns=COLUMNS, steadiness=steadiness))
        start = time.perf_counter()
        work = renderer.render_frames(frames, [0.1] * len(frames))
        seconds = time.perf_counter() - start
        ratios = [
            score(paper(art, renderer), renderer.canvas(frame), 24, 6).ratio_far
            for art, frame in zip(work.frames, frames, strict=True)
        ]
        print(f"  temporal, steadiness {steadiness}: flicker {100 * (work.flicker or 0):.1f}%, "
              f"mean σ4 ratio {statistics.mean(ratios):.3f}, {seconds:.1f} s")  # fmt: skip
    renderer = Renderer(Settings(columns=COLUMNS))
    arts = [renderer.render(frame) for frame in frames]
    targets = [renderer.target(frame) for frame in frames]
    changed = still = 0
    for (a, b), (ta, tb) in zip(pairwise(arts), pairwise(targets), strict=True):
        is_still = renderer.still_cells(tb, ta).numpy()
        changed += int((((a.codes != b.codes) | (a.modes != b.modes)) & is_still).sum())
        still += int(is_still.sum())
    print(f"  independent frames (gradscii-art's way): flicker {100 * changed / still:.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, help="write the README's before/after pictures here")
    args = parser.parse_args()
    controls_table(args.docs)
    flicker_table()


if __name__ == "__main__":
    main()
