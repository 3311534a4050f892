"""Quality per CPU-second on scikit-image's photos (docs/architecture.md §3): σ=4 and σ=2 scores as ratios to
the Floyd–Steinberg floor, render time, distinct glyphs and the share of block cells, per method.

    python benchmarks/quality.py [--gradscii-steps 10000] [--previews DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from skimage import data

from optimizer import Art, Renderer, preset
from optimizer.glyphs import BLOCK_CODES
from optimizer.metric import score
from optimizer.search import Problem, tone_lookup

PHOTOS = ("camera", "astronaut", "coffee", "chelsea", "rocket")
COLUMNS, ROWS = 42, 21


def photo(name: str) -> Image.Image:
    """The photo cropped to the 42×21 canvas aspect (504×630)."""
    img = Image.fromarray(getattr(data, name)()).convert("RGB")
    return ImageOps.fit(img, (504, 630), method=Image.Resampling.LANCZOS)


def lookup_render(renderer: Renderer, img: Image.Image) -> Art:
    """The per-cell tone lookup, on the plain glyph set with blocks (its best case)."""
    grey = renderer.canvas(img)
    target = torch.from_numpy(0.2 + 0.8 * grey)
    problem = Problem(target, renderer.ink, renderer.blank, renderer.cost, renderer.settings.row_gap)
    choice = tone_lookup(problem).numpy()
    return Art(
        renderer.codes[choice].astype(np.uint8),
        renderer.settings.row_gap,
        renderer.modes[choice].astype(np.uint8),
        renderer.settings.modes,
    )


def block_share(art: Art) -> float:
    """Cells printed as shade or solid blocks: ░▒▓█▄▌▐▀■ in any mode, or a reversed blank."""
    reverse = np.array(art.mode_names)[art.modes] == "reverse"
    blank = np.isin(art.codes, (0x20, 0xFF))
    return float((np.isin(art.codes, BLOCK_CODES) | (reverse & blank)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gradscii-steps", type=int, default=10_000)
    parser.add_argument("--previews", type=Path, help="save each method's previews here")
    parser.add_argument("--methods", default="printd,plain,lookup,gradscii")
    args = parser.parse_args()
    grid = {"columns": COLUMNS, "rows": ROWS}
    methods = {
        "printd": Renderer(preset("epson", **grid)),
        "plain": Renderer(preset("plain", **grid)),
        "lookup": Renderer(preset("plain", **grid, sweeps=0)),
        "gradscii": Renderer(
            preset("gradscii", **grid, steps=args.gradscii_steps, warmup=min(1000, args.gradscii_steps // 10))
        ),
    }
    chosen = args.methods.split(",")
    print(f"{'method':9s} {'photo':10s} {'σ4/floor':>8s} {'σ2/floor':>8s} {'time s':>7s} {'glyphs':>6s} {'blocks':>6s}")
    summary: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in chosen}
    for name in PHOTOS:
        img = photo(name)
        for method in chosen:
            renderer = methods[method]
            start = time.process_time()
            t0 = time.perf_counter()
            art = lookup_render(renderer, img) if method == "lookup" else renderer.render(img)
            wall, cpu = time.perf_counter() - t0, time.process_time() - start
            grey = renderer.canvas(img)
            paper = renderer.atlas.compose(art.codes, art.row_gap, art.modes, art.mode_names)
            s = score(paper, grey, 24, art.row_gap)
            blocky = block_share(art)
            glyphs = len(np.unique(art.codes))
            print(
                f"{method:9s} {name:10s} {s.ratio_far:8.3f} {s.ratio_near:8.3f} {wall:7.2f} {glyphs:6d} {blocky:6.1%}"
                f"   (cpu {cpu:.2f}s)"
            )
            summary[method].append((s.ratio_far, s.ratio_near, wall, blocky))
            if args.previews:
                args.previews.mkdir(parents=True, exist_ok=True)
                art.preview(renderer.atlas).save(args.previews / f"{name}-{method}.png")
    print("\nmean over photos")
    for method, rows in summary.items():
        far, near, wall, blocky = np.mean(rows, axis=0)
        print(f"{method:9s} σ4 {far:.3f}  σ2 {near:.3f}  time {wall:.2f}s  blocks {blocky:.1%}")


if __name__ == "__main__":
    main()
