"""The printer's own glyphs: the calibration sheet read back from synthetic scans and photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from optimizer import Renderer, Settings
from optimizer.calibration import CODES, CalibrationError, Layout, read_sheet, render_sheet
from optimizer.glyphs import MODES, load_atlas, load_atlas_file
from printd.cli import main
from printd.printer.encoding import PaperSettings
from printd.render.testpage import calibration_job
from tests.support.photos import write_photo


def printers_glyphs(seed: int = 0) -> dict[str, np.ndarray]:
    """Glyphs that are not Terminus: Terminus in each mode with 3% of its dots flipped at random."""
    rng = np.random.default_rng(seed)
    glyphs = {}
    for mode in MODES:
        ink = load_atlas().mode_ink((mode,))[0].copy()
        ink[CODES] ^= rng.random(ink[CODES].shape) < 0.03
        glyphs[mode] = ink
    return glyphs


def photograph(sheet: np.ndarray, px_per_dot: float, angle: float, perspective: float, seed: int = 1) -> np.ndarray:
    """The printed sheet as a scanner or a phone sees it: each dot a blurred spot, turned and seen
    at an angle, lit unevenly, saved as JPEG at quality 80."""
    rng = np.random.default_rng(seed)
    h, w = sheet.shape
    image = cv2.resize(
        (~sheet).astype(np.float32), (round(w * px_per_dot), round(h * px_per_dot)), interpolation=cv2.INTER_AREA
    )
    image = 0.08 + 0.87 * cv2.GaussianBlur(image, (0, 0), 0.45 * px_per_dot)
    pad = round(0.3 * max(h, w) * px_per_dot)
    image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0.95)
    height, width = image.shape
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    seen = (corners + rng.uniform(-perspective, perspective, (4, 2)) * [width, height]).astype(np.float32)
    tilt = np.vstack([cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0), [0, 0, 1]])
    image = cv2.warpPerspective(
        image, tilt @ cv2.getPerspectiveTransform(corners, seen), (width, height), borderValue=0.6
    )
    ys, xs = np.mgrid[0:height, 0:width]
    image *= 0.55 + 0.45 * (xs / width) * (0.7 + 0.3 * ys / height)  # light from one side
    ok, jpeg = cv2.imencode(".jpg", np.clip(image * 255, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    return cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize(
    ("px_per_dot", "angle", "perspective"),
    [(300 / 180, 5, 0.03), (300 / 180, 15, 0.04), (2.0, 8, 0.02), (2.0, 12, 0.05)],
    ids=["scan-300dpi-5deg", "scan-300dpi-15deg", "phone-2px-8deg", "phone-2px-12deg"],
)
def test_calibration_recovers_99_percent_of_dots(px_per_dot: float, angle: float, perspective: float) -> None:
    # Two of the sheet's sections, a plain and a reversed one: each is read on its own (the sheet of
    # every mode, 37 megapixels as a phone sees it, is read in the atlas test below).
    modes = ("normal", "reverse+emphasized")
    truth = printers_glyphs()
    layout = Layout(modes)
    reading = read_sheet(photograph(render_sheet(layout, truth), px_per_dot, angle, perspective), layout)
    for mode in modes:
        agreement = (reading.ink[mode][CODES] == truth[mode][CODES]).mean()
        assert agreement >= 0.99, (mode, agreement)
        assert reading.offset[mode] == (0, 0)
        assert reading.confidence[mode][CODES].mean() > 0.8


def test_a_picture_without_the_sheet_is_refused_in_one_line(tmp_path, capsys) -> None:
    holiday = write_photo(tmp_path / "holiday.png", (400, 300))
    with pytest.raises(CalibrationError, match="no section of the calibration sheet"):
        read_sheet(np.asarray(Image.open(holiday).convert("L")), Layout(MODES), "holiday.png")
    assert main(["calibrate", str(holiday), "-o", str(tmp_path / "atlas.png")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_calibrate_writes_an_atlas_the_renderer_prints_with(tmp_path) -> None:
    truth = printers_glyphs(seed=3)
    scan = tmp_path / "receipt.jpg"
    cv2.imwrite(str(scan), photograph(render_sheet(Layout(MODES), truth), 2.0, 6, 0.02))
    atlas = tmp_path / "printer.png"
    assert main(["calibrate", str(scan), "-o", str(atlas)]) == 0
    measured = load_atlas_file(atlas)
    for mode in MODES:
        assert (measured.mode_ink((mode,))[0][CODES] == truth[mode][CODES]).mean() >= 0.99
    renderer = Renderer(Settings(columns=8, atlas=atlas))
    art = renderer.render(Image.open(write_photo(tmp_path / "p.png")))
    preview = np.asarray(art.preview(renderer.atlas)) < 128
    cell = preview[:24, :12]  # the first cell, drawn with the printer's measured glyph
    assert (cell == measured.mode_ink(art.mode_names)[art.modes[0, 0], art.codes[0, 0]]).all()


def test_the_calibration_job_prints_markers_as_images_and_glyphs_as_text() -> None:
    job = calibration_job(MODES, PaperSettings())
    assert job.count(b"\x1dv0") == 2 * len(MODES)  # a band above and below each mode's grid
    assert all(bytes([c]) in job for c in CODES)
    reversed_sections = sum("reverse" in mode.split("+") for mode in MODES)  # reverse, reverse+emphasized
    assert job.count(b"\x1dB\x01") == 7 * reversed_sections  # switched on once per row of each such section
