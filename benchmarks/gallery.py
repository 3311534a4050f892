"""The gallery: a fixed set of pictures rendered by the default and every preset, scored on measures
the renderer does not optimise, and drawn into a contact sheet (docs/architecture.md, "Quality").

    python benchmarks/gallery.py [--out out/gallery] [--methods epson,text,plain,discord,lookup] [--only NAMES]
                                 [--atlas ATLAS]

Per picture and method: σ1/σ2/σ4/σ8 blurred MSE as ratios to the Floyd–Steinberg floor, SSIM of
the σ=2-blurred print beside the floor's, the lag-3 excess (a periodic tile), the share of reverse
cells in islands of ≤3, box-drawing and block shares, bytes per job and warm render time. Writes
`table.md` and one contact sheet per method (photo | print | the print from a step back | halftone).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps
from skimage import data

from optimizer import Art, Renderer, preset
from optimizer.glyphs import BLOCK_CODES
from optimizer.metric import BOX_CODES, SIGMAS, blur, halftone_floor, island_share, lag3_excess, reference_tone, score
from optimizer.search import Problem, tone_lookup
from optimizer.target import flatten
from optimizer.vocabulary import bundled_font_dir

log = logging.getLogger("gallery")
COLUMNS = 42
MAX_ROWS = 30
SKIMAGE = (
    "astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "page", "horse", "logo",
    "immunohistochemistry", "retina", "moon", "clock", "text", "hubble_deep_field",
)  # fmt: skip


def ramp() -> Image.Image:
    x = np.linspace(0, 255, 504)
    return Image.fromarray(np.tile(x, (400, 1)).astype(np.uint8)).convert("RGB")


def checkerboard() -> Image.Image:
    return Image.fromarray(data.checkerboard()).convert("RGB")


def lettering() -> Image.Image:
    """A big bold HELLO, black on white: Terminus letters blown up to 440×200 px."""
    font = ImageFont.truetype(str(bundled_font_dir() / "terminus-normal.otb"), 24)
    small = Image.new("L", (100, 30), 255)
    for dx in (0, 1):  # bold: every stroke twice, a dot apart, as a printer emphasizes
        ImageDraw.Draw(small).text((2 + dx, 2), "HELLO", font=font, fill=0)
    letters = small.crop(ImageOps.invert(small).getbbox())
    img = Image.new("L", (504, 300), 255)
    img.paste(letters.resize((440, 200), Image.Resampling.NEAREST), (32, 50))
    return img.convert("RGB")


def pictures(only: set[str] | None = None) -> dict[str, Image.Image]:
    made = {"ramp": ramp, "checkerboard": checkerboard, "hello": lettering}
    out: dict[str, Image.Image] = {}
    for name in (*SKIMAGE, *made):
        if only and name not in only:
            continue
        if name in made:
            out[name] = made[name]()
            continue
        pixels = getattr(data, name)()
        if pixels.dtype == bool:
            pixels = (pixels * 255).astype(np.uint8)
        out[name] = flatten(Image.fromarray(pixels))
    return out


@dataclass
class Row:
    picture: str
    method: str
    ratios: dict[float, float]
    ssim: float
    floor_ssim: float
    lag3: float
    islands: float
    box: float
    block: float
    job_bytes: int
    seconds: float


def lookup_art(renderer: Renderer, img: Image.Image) -> Art:
    """The per-cell tone lookup on the renderer's glyph set: the baseline no picture may lose to."""
    target = renderer.target(renderer.frame(img))
    problem = Problem(target, renderer.ink, renderer.blank, renderer.cost, renderer.settings.row_gap)
    return renderer.art(tone_lookup(problem))


def measure(name: str, method: str, renderer: Renderer, img: Image.Image) -> tuple[Row, Art, np.ndarray]:
    start = time.perf_counter()
    art = lookup_art(renderer, img) if method == "lookup" else renderer.render(img)
    seconds = time.perf_counter() - start
    grey = renderer.canvas(renderer.frame(img), (art.rows, art.columns))
    paper = renderer.atlas.compose(art.codes, art.row_gap, art.modes, art.mode_names)
    s = score(paper, grey, renderer.atlas.cell_height, art.row_gap)
    names = np.array(art.mode_names)[art.modes]
    reverse = names == "reverse"
    cells = art.codes.astype(np.int64) + 256 * art.modes.astype(np.int64)
    row = Row(
        picture=name,
        method=method,
        ratios={sigma: s.ratio(sigma) for sigma in SIGMAS},
        ssim=s.ssim,
        floor_ssim=s.floor_ssim,
        lag3=lag3_excess(cells),
        islands=island_share(reverse),
        box=float(np.isin(art.codes, BOX_CODES).mean()),
        block=float((np.isin(art.codes, BLOCK_CODES) | (reverse & np.isin(art.codes, (0x20, 0xFF)))).mean()),
        job_bytes=len(art.cp437()) + int(art.modes.size if art.uses_modes else 0),
        seconds=seconds,
    )
    return row, art, paper


def sheet_row(renderer: Renderer, img: Image.Image, art: Art, paper: np.ndarray) -> Image.Image:
    """photo (as mapped grey) | print | print blurred at σ=4 | halftone floor, side by side."""
    grey = renderer.canvas(renderer.frame(img), (art.rows, art.columns))
    ref = reference_tone(grey, renderer.atlas.cell_height, art.row_gap)
    far = blur(torch.from_numpy(paper.astype(np.float32)), 4.0).numpy()
    halftone = halftone_floor(ref, renderer.atlas.cell_height, art.row_gap)
    panels = [ref, paper, far, halftone]
    height, width = paper.shape
    out = Image.new("L", (4 * width + 30, height + 10), 200)
    for index, panel in enumerate(panels):
        out.paste(Image.fromarray(np.clip(panel * 255, 0, 255).astype(np.uint8)), (5 + index * (width + 7), 5))
    return out


def contact_sheet(rows: list[Image.Image], path: Path) -> None:
    width = max(r.width for r in rows)
    out = Image.new("L", (width, sum(r.height for r in rows)), 200)
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path, optimize=True)


def renderers(methods: list[str], atlas: Path | None = None) -> dict[str, Renderer]:
    grid = {"columns": COLUMNS, "max_rows": MAX_ROWS, "atlas": atlas}
    built = {}
    for method in methods:
        name = "epson" if method == "lookup" else method
        built[method] = Renderer(preset(name, **grid))
    return built


def table(rows: list[Row]) -> str:
    head = "| picture | method | σ1 | σ2 | σ4 | σ8 | SSIM | floor SSIM | lag-3 | rev. islands | box | block | bytes | s"
    head += " |"
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        lines.append(
            f"| {r.picture} | {r.method} | "
            + " | ".join(f"{r.ratios[s]:.2f}" for s in SIGMAS)
            + f" | {r.ssim:.3f} | {r.floor_ssim:.3f} | {100 * r.lag3:+.1f} | {r.islands:.0%} | {r.box:.0%} |"
            f" {r.block:.0%} | {r.job_bytes} | {r.seconds:.2f} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    head = "| method | σ1 | σ2 | σ4 | σ8 | SSIM | floor SSIM | worst lag-3 | rev. islands | box | block | s |"
    lines = [head, "|" + "---|" * 12]
    for method in dict.fromkeys(r.method for r in rows):
        mine = [r for r in rows if r.method == method]

        def mean(values: list[float]) -> float:
            return float(np.mean(values))

        lines.append(
            f"| {method} | "
            + " | ".join(f"{mean([r.ratios[s] for r in mine]):.2f}" for s in SIGMAS)
            + f" | {mean([r.ssim for r in mine]):.3f} | {mean([r.floor_ssim for r in mine]):.3f}"
            f" | {100 * max(r.lag3 for r in mine):+.1f} | {mean([r.islands for r in mine]):.0%}"
            f" | {mean([r.box for r in mine]):.0%} | {mean([r.block for r in mine]):.0%}"
            f" | {mean([r.seconds for r in mine]):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("out/gallery"))
    parser.add_argument("--methods", default="epson,text,plain,discord,lookup")
    parser.add_argument("--only", help="comma-separated picture names")
    parser.add_argument("--atlas", type=Path, help="score with the printer's measured glyphs (printd calibrate)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    methods = args.methods.split(",")
    built = renderers(methods, args.atlas)
    gallery = pictures(set(args.only.split(",")) if args.only else None)
    for renderer in built.values():  # warm: the first render pays for allocations
        renderer.render(next(iter(gallery.values())))
    rows: list[Row] = []
    sheets: dict[str, list[Image.Image]] = {m: [] for m in methods}
    for name, img in gallery.items():
        for method in methods:
            row, art, paper = measure(name, method, built[method], img)
            rows.append(row)
            sheets[method].append(sheet_row(built[method], img, art, paper))
            log.info(
                "%-22s %-8s σ4 %.2f σ2 %.2f SSIM %.3f (floor %.3f) lag3 %+.1f islands %.0f%% box %.0f%% %.2fs",
                name, method, row.ratios[4.0], row.ratios[2.0], row.ssim, row.floor_ssim,
                100 * row.lag3, 100 * row.islands, 100 * row.box, row.seconds,
            )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    text = f"## Mean over {len(gallery)} pictures\n\n{summary(rows)}\n\n## Every picture\n\n{table(rows)}\n"
    (args.out / "table.md").write_text(text)
    for method, images in sheets.items():
        contact_sheet(images, args.out / f"{method}.png")
    print(text)


if __name__ == "__main__":
    main()
