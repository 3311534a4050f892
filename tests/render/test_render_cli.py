"""`printd render` and `printd glyphs` as docs/architecture.md §4 promises them, bad input included."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from optimizer import Art
from optimizer.glyphs import MODES, PRINTABLE
from printd.cli import main


def read_grid(path: Path) -> list[bytes]:
    """The rows of an art or `.modes` file (past the `.modes` header that names the modes)."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    rows = data[:-1].split(b"\n")
    if rows[0].startswith(b"modes: "):
        assert rows[0] == b"modes: " + " ".join(MODES).encode()
        rows = rows[1:]
    return rows


def test_render_end_to_end_writes_every_form(tmp_path: Path, photo: Path, fast_config: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "printd",
            "render",
            str(photo),
            "-o",
            str(out / "art.txt"),
            "--utf8",
            str(out / "art.utf8.txt"),
            "--preview",
            str(out / "art.png"),
            "--ansi",
            str(out / "art.ansi"),
            "--rows",
            "6",
            "--config",
            str(fast_config),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = read_grid(out / "art.txt")
    assert len(lines) == 6
    assert all(len(line) == 10 for line in lines)
    codes = np.frombuffer(b"".join(lines), dtype=np.uint8)
    assert PRINTABLE[codes].all(), "control codes must never be emitted as glyphs"
    assert (out / "art.utf8.txt").read_text(encoding="utf-8") == (out / "art.txt").read_bytes().decode("cp437")
    assert Image.open(out / "art.png").size == (12 * 10, 30 * 6)


def sheet_composition(sheet: Image.Image, codes: list[bytes], modes: list[bytes] | None, gap: int) -> np.ndarray:
    """Build the print by hand from the glyph sheet's cells: the contract the preview must meet."""
    cells = np.asarray(sheet)
    rows = []
    for r, line in enumerate(codes):
        row = []
        for c, code in enumerate(line):
            block = 0 if modes is None else modes[r][c] - ord("0")
            y, x = (block * 16 + code // 16) * 24, (code % 16) * 12
            row.append(cells[y : y + 24, x : x + 12])
        rows.append(np.vstack([np.hstack(row), np.full((gap, 12 * len(line)), 255, np.uint8)]))
    return np.vstack(rows)


@pytest.mark.parametrize("preset", ["epson", "plain", "discord"])
def test_preview_equals_glyph_sheet_composition(tmp_path: Path, photo: Path, fast_config: Path, preset: str) -> None:
    art, preview, sheet = tmp_path / "a.txt", tmp_path / "a.png", tmp_path / "sheet.png"
    config = tmp_path / f"{preset}.yaml"
    config.write_text(fast_config.read_text().replace("art:\n", f"art:\n  preset: {preset}\n"))
    assert main(["render", str(photo), "-o", str(art), "--preview", str(preview), "--config", str(config)]) == 0
    assert main(["glyphs", "--sheet", str(sheet), "--config", str(config)]) == 0
    modes_file = art.with_suffix(".modes")
    modes = read_grid(modes_file) if modes_file.exists() else None
    gap = 0 if preset == "discord" else 6
    expected = sheet_composition(Image.open(sheet), read_grid(art), modes, gap)
    got = np.asarray(Image.open(preview))
    assert set(np.unique(got)) <= {0, 255}, "the preview is black ink on white, nothing grey"
    np.testing.assert_array_equal(got, expected)
    if preset == "discord":
        assert max(b"".join(read_grid(art))) < 0x7F and b"`" not in art.read_bytes()


def test_glyph_sheet_is_16_by_16_cells_per_mode(tmp_path: Path, fast_config: Path) -> None:
    sheet = tmp_path / "sheet.png"
    assert main(["glyphs", "--sheet", str(sheet), "--config", str(fast_config)]) == 0
    img = np.asarray(Image.open(sheet))
    assert img.shape == (len(MODES) * 16 * 24, 16 * 12)  # epson: a block per print mode
    plain = img[: 16 * 24]
    control_rows = plain[: 2 * 24]  # codes 0x00–0x1F are printer controls: blank cells
    assert (control_rows == 255).all()
    a = plain[4 * 24 : 5 * 24, 1 * 12 : 2 * 12]  # 0x41 'A'
    assert (a == 0).any()
    reverse = img[16 * 24 : 32 * 24]
    np.testing.assert_array_equal(reverse[4 * 24 : 5 * 24, 12:24], 255 - a)


def test_same_seed_same_art(tmp_path: Path, photo: Path, fast_config: Path) -> None:
    outputs = []
    for name in ("one", "two"):
        path = tmp_path / f"{name}.txt"
        assert main(["render", str(photo), "-o", str(path), "--seed", "7", "--config", str(fast_config)]) == 0
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def make_bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input and a word its error message must contain."""
    good = tmp / "good.png"
    Image.new("RGB", (64, 64), "gray").save(good)
    truncated = tmp / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (tmp / "empty.jpg").write_bytes(b"")
    (tmp / "notes.jpg").write_text("this is not an image\n")
    (tmp / "folder.png").mkdir()
    # A PNG that claims 40000×40000 pixels: Pillow's decompression-bomb limit refuses it.
    bomb = tmp / "bomb.png"
    raw = zlib.compress(b"\x00" * (1 + 40000) * 10)
    header = (40000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    bomb.write_bytes(
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", raw) + png_chunk(b"IEND", b"")
    )
    return {
        "missing": (tmp / "nope.jpg", "no such file"),
        "directory": (tmp / "folder.png", "directory"),
        "not an image": (tmp / "notes.jpg", "not an image"),
        "truncated": (truncated, "truncated"),
        "zero bytes": (tmp / "empty.jpg", "empty"),
        "decompression bomb": (bomb, "bomb"),
    }


@pytest.mark.parametrize(
    "case", ["missing", "directory", "not an image", "truncated", "zero bytes", "decompression bomb"]
)
def test_bad_input_is_one_line_exit_2_no_output(
    tmp_path: Path, fast_config: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    path, reason = make_bad_inputs(tmp_path)[case]
    out = tmp_path / "out" / "art.txt"
    code = main(
        [
            "render",
            str(path),
            "-o",
            str(out),
            "--preview",
            str(tmp_path / "out" / "p.png"),
            "--config",
            str(fast_config),
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and reason in err.lower()
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "out" / "p.png").exists()


@pytest.mark.parametrize("flag", [["--columns", "0"], ["--columns", "-3"], ["--rows", "1001"], ["--columns", "many"]])
def test_absurd_grid_is_refused(
    tmp_path: Path, photo: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    out = tmp_path / "art.txt"
    assert main(["render", str(photo), "-o", str(out), *flag]) == 2  # refused by the art schema, before rendering
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and flag[0] in err
    assert not out.exists()


def test_a_modes_file_names_its_modes_so_it_outlives_the_config() -> None:
    codes = np.array([[0x41, 0x42]], np.uint8)
    art = Art(codes, 6, np.array([[0, 1]], np.uint8), ("normal", "underline2"))
    again = Art.from_text(art.cp437(), modes=art.modes_text(), mode_names=("normal", "reverse"))
    assert again.mode_names == ("normal", "underline2") and again.modes.tolist() == [[0, 1]]
    old = Art.from_text(art.cp437(), modes=b"01\n", mode_names=("normal", "reverse"))  # no header: as before
    assert old.mode_names == ("normal", "reverse")
