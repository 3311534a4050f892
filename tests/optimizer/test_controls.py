"""The artistic controls: colour map, adaptive contrast, alignment, dark mode, animation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from optimizer import Renderer, Settings
from optimizer.art import CUT_LINE
from optimizer.metric import score
from printd.cli import main
from tests.support.printers import NetworkPrinter, decode_rows


def equal_luminance_pair() -> Image.Image:
    """Orange beside purple, both of ITU-R 601 luma 158.4."""
    orange = (255, 140, 0)
    luma = 0.299 * 255 + 0.587 * 140
    purple = (170, round((luma - 0.299 * 170 - 0.114 * 230) / 0.587), 230)
    pixels = np.zeros((90, 96, 3), np.uint8)
    pixels[:, :48], pixels[:, 48:] = orange, purple
    return Image.fromarray(pixels)


@pytest.mark.parametrize(("color_map", "apart"), [("luma", False), ("learned", True)])
def test_learned_colour_map_keeps_equal_luminance_colours_apart(color_map: str, apart: bool) -> None:
    grey = Renderer(Settings(columns=8, rows=3, color_map=color_map)).canvas(equal_luminance_pair())
    difference = abs(float(grey[:, :40].mean()) - float(grey[:, -40:].mean()))
    assert difference >= 0.2 if apart else difference < 0.02


def structure(grey: np.ndarray) -> float:
    """Mean tone step between neighbouring pixels: the detail there is to see."""
    return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())


@pytest.mark.parametrize("contrast", ["global", "local"])
def test_contrast_brings_out_a_dim_flat_photo(photo: Path, contrast: str) -> None:
    dim = Image.fromarray((np.asarray(Image.open(photo).convert("L")) * 0.25 + 20).astype(np.uint8)).convert("RGB")
    plain = Renderer(Settings(columns=8)).canvas(dim)
    adapted = Renderer(Settings(columns=8, contrast=contrast)).canvas(dim)
    assert structure(adapted) > 1.5 * structure(plain)
    order = np.argsort(plain.ravel(), kind="stable")
    if contrast == "global":  # one monotone curve: darker stays darker
        assert np.all(np.diff(adapted.ravel()[order]) >= -1e-6)
    # Blended curves: no seam anywhere, neighbouring pixels stay close.
    assert np.abs(np.diff(adapted, axis=0)).max() < 0.2 and np.abs(np.diff(adapted, axis=1)).max() < 0.2


def half_cell_bars(columns: int = 10, rows: int = 8) -> Image.Image:
    """Horizontal bars above, vertical bars below, every edge half a cell off the grid."""
    width, height = columns * 12, rows * 30
    y, x = np.mgrid[0:height, 0:width]
    dark = np.where(y < height // 2, ((y - 15) // 30) % 2 == 0, ((x - 6) // 12) % 2 == 0)
    return Image.fromarray(np.where(dark, 0, 255).astype(np.uint8)).convert("RGB")


def test_alignment_puts_edges_on_cell_boundaries() -> None:
    img = half_cell_bars()
    scores = {}
    for align in ("none", "shift", "warp"):
        renderer = Renderer(Settings(columns=10, rows=8, align=align))
        target = renderer.target(img)
        alignment = renderer.align(target) if align != "none" else None
        if alignment is not None:
            target = alignment.apply(target)
        art = renderer.solve(target)
        paper = np.asarray(art.preview(renderer.atlas), np.float32) / 255
        scores[align] = score(paper, (target.numpy() - 0.2) / 0.8, 24, 6).near
        if align == "warp":
            assert alignment is not None and alignment.warp_dots > 0.5  # the warp moves
    # Not half: the half blocks ▄▌▐▀ already draw edges half a cell off the grid (next test), and
    # since the glyph rows are judged up close past the gaps the unaligned print is nearer already
    # (shift 0.62 of none, was under 0.6).
    assert scores["shift"] < 0.7 * scores["none"] and scores["warp"] < 0.7 * scores["none"]


def test_half_blocks_draw_edges_half_a_cell_off_the_grid() -> None:
    img = half_cell_bars()
    near = {}
    for blocks in ("none", "shades"):
        renderer = Renderer(Settings(columns=10, rows=8, blocks=blocks))
        target = renderer.target(img)
        art = renderer.solve(target)
        paper = np.asarray(art.preview(renderer.atlas), np.float32) / 255
        near[blocks] = score(paper, (target.numpy() - 0.2) / 0.8, 24, 6).near
        if blocks == "shades":
            assert np.isin(art.codes, (0xDC, 0xDD, 0xDE, 0xDF)).mean() > 0.25
    assert near["shades"] < 0.7 * near["none"]


def test_dark_mode_draws_light_glyphs_on_dark(tmp_path: Path, fast_config: Path) -> None:
    white = tmp_path / "white.png"
    Image.new("RGB", (120, 120), "white").save(white)
    for flags, name in (([], "light"), (["--dark"], "dark")):
        out = ["-o", str(tmp_path / f"{name}.txt"), "--preview", str(tmp_path / f"{name}.png")]
        assert main(["render", str(white), *out, "--config", str(fast_config), *flags]) == 0
    light = np.asarray(Image.open(tmp_path / "light.png"))
    dark = np.asarray(Image.open(tmp_path / "dark.png"))
    assert light.mean() > 250  # white paper: blank
    assert dark.mean() > 150  # a white photo on a dark screen: light glyphs, densely, on black
    assert (dark.reshape(-1, 30, dark.shape[1])[:, 24:] == 0).all()  # the gaps are the dark screen
    assert set((tmp_path / "light.txt").read_bytes()) <= {0x20, 0xFF, 0x0A}


def test_dark_mode_is_refused_for_paper(tmp_path: Path, photo: Path, fast_config: Path, capsys) -> None:
    assert main(["send", str(photo), "--dark", "--printer", "tcp://127.0.0.1:9", "--config", str(fast_config)]) == 2
    assert "negative" in capsys.readouterr().err
    dark_config = tmp_path / "dark.yaml"
    dark_config.write_text(fast_config.read_text().replace("art:\n", "art:\n  dark: true\n"))
    assert main(["send", str(photo), "--printer", "tcp://127.0.0.1:9", "--config", str(dark_config)]) == 2
    assert "negative" in capsys.readouterr().err


def moving_square(path: Path, frames: int = 6) -> Path:
    """A still photo-like background with a dark square crossing it: a GIF made by Pillow."""
    y, x = np.mgrid[0:150, 0:120]
    background = (60 + 120 * x / 120 + 40 * np.sin(y / 9)).astype(np.uint8)
    images = []
    for i in range(frames):
        frame = background.copy()
        frame[20:50, 10 + 15 * i : 40 + 15 * i] = 0
        images.append(Image.fromarray(frame).convert("RGB"))
    images[0].save(path, save_all=True, append_images=images[1:], duration=80, loop=0)
    return path


def test_animation_keeps_still_cells_still(tmp_path: Path) -> None:
    anim = moving_square(tmp_path / "anim.gif")
    renderer = Renderer(Settings(columns=10))
    work = renderer.render_path(anim)
    assert len(work.frames) == 6 and work.durations == pytest.approx([0.08] * 6)
    assert work.flicker is not None and work.flicker < 0.05
    moving = [int((a.codes != b.codes).sum()) for a, b in zip(work.frames, work.frames[1:], strict=False)]
    assert all(m > 0 for m in moving)  # the square still moves


def test_render_and_play_an_animation(tmp_path: Path, fast_config: Path) -> None:
    anim = moving_square(tmp_path / "anim.gif", frames=3)
    out = tmp_path / "anim.txt"
    assert main(["render", str(anim), "-o", str(out), "--config", str(fast_config)]) == 0
    timing = json.loads(out.with_suffix(".anim.json").read_text())
    lines = out.read_bytes().splitlines()
    assert timing["frames"] == 3 and len(lines) == 3 * timing["rows"] + 2
    assert lines[timing["rows"]] == bytes([CUT_LINE]) * 10  # the cut line between frames
    play = [sys.executable, "-m", "printd", "play", str(out), "--config", str(fast_config)]
    played = subprocess.run(play, capture_output=True, timeout=60)
    assert played.returncode == 0 and played.stdout.count(b"\x1b[H\x1b[2J") == 3


def test_a_video_file_renders_as_frames(tmp_path: Path) -> None:
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 64))
    for i in range(5):
        frame = np.full((64, 48, 3), 200, np.uint8)
        frame[10:30, 5 + 5 * i : 20 + 5 * i] = 0
        writer.write(frame)
    writer.release()
    work = Renderer(Settings(columns=6)).render_path(video)
    assert len(work.frames) == 5 and work.durations == pytest.approx([0.1] * 5)


def test_send_prints_an_animation_as_a_flip_book(tmp_path: Path, fast_config: Path) -> None:
    anim = moving_square(tmp_path / "anim.gif", frames=2)
    printer = NetworkPrinter()
    try:
        assert main(["send", str(anim), "--printer", printer.uri, "--config", str(fast_config)]) == 0
        (job,) = printer.model.jobs(expect=1)
    finally:
        printer.close()
    rows = [row for row, _ in decode_rows(job)]
    assert bytes([CUT_LINE]) * 10 in rows and len(rows) % 2 == 1
