"""`printd testpage [--calibration] --png FILE`: the sheet drawn as it would print, read back from
the very bytes that would be sent; the calibration sheet's picture is one `printd calibrate` reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from printd.cli import PAPER_MARGIN, main
from printd.config import load_config
from printd.printer.sheet import length_mm
from printd.render.artist import paper_for, renderer_for


def test_the_test_page_as_a_picture_is_the_glyphs_it_prints(tmp_path: Path, fast_config: Path) -> None:
    out = tmp_path / "page.png"
    assert main(["testpage", "--png", str(out), "--config", str(fast_config)]) == 0
    page = np.asarray(Image.open(out).convert("L")) < 128
    config = load_config(fast_config)
    atlas = renderer_for(config).atlas
    assert page.shape[1] == 42 * 12 + 2 * PAPER_MARGIN  # a TM-T88V: 42 columns of 12 dots
    title = np.concatenate([atlas.ink[code] for code in b"printd test page"], axis=1)
    top = page[PAPER_MARGIN : PAPER_MARGIN + 24, PAPER_MARGIN : PAPER_MARGIN + title.shape[1]]
    np.testing.assert_array_equal(top, title)  # the first line, dot for dot
    assert not page[:PAPER_MARGIN].any() and not page[:, -PAPER_MARGIN:].any()  # blank paper round it
    from printd.printer.encoding import encode_job
    from printd.render.testpage import testpage_lines

    renderer = renderer_for(config)
    job = encode_job(testpage_lines(renderer, 42), 30, paper_for(config.pool[0]))
    dots = length_mm([job], paper_for(config.pool[0])) / 25.4 * 180
    assert page.shape[0] - 2 * PAPER_MARGIN == round(dots)  # as long as the paper it would take


def test_the_calibration_sheet_as_a_picture_calibrates(tmp_path: Path, fast_config: Path) -> None:
    sheet, atlas = tmp_path / "sheet.png", tmp_path / "atlas.png"
    assert main(["testpage", "--calibration", "--png", str(sheet), "--config", str(fast_config)]) == 0
    assert main(["calibrate", str(sheet), "-o", str(atlas), "--config", str(fast_config)]) == 0
    assert atlas.is_file()


def test_a_png_that_cannot_be_written_is_one_line_and_exit_1(tmp_path: Path, fast_config: Path, capsys) -> None:
    (tmp_path / "file").write_text("")
    assert main(["testpage", "--png", str(tmp_path / "file" / "x.png"), "--config", str(fast_config)]) == 1
    assert capsys.readouterr().err.count("\n") == 1
