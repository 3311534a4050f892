"""Pictures that are small files but large images decode within a bounded memory (issue 23 item 2):
measured as the peak resident set of a child process that loads them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from optimizer.target import BadImageError, load_frames

LOAD = """
import resource, sys
from pathlib import Path
from optimizer.target import load_frames
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
frames, _ = load_frames(Path(sys.argv[1]), max_frames=int(sys.argv[2]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(peak - base, max(frames[0].size), len(frames))
"""


def peak_mb(picture: Path, frames: int = 1) -> tuple[float, int, int]:
    """The child's own peak above what its imports took (MB), the first frame's longer side, frames kept."""
    done = subprocess.run([sys.executable, "-c", LOAD, str(picture), str(frames)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    used, side, kept = (int(v) for v in done.stdout.split())
    return used / 1024, side, kept


@pytest.fixture(scope="module")
def huge_rgba(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    img = Image.new("RGBA", (9400, 9400), (200, 120, 40, 255))
    img.paste((20, 20, 20, 128), (2000, 2000, 7000, 7000))
    img.save(path)
    return path


def test_a_9400_square_rgba_png_decodes_once_at_its_own_size(huge_rgba: Path) -> None:
    # 353 MB decoded; composited on paper whole it took 1.4 GB more (4.0 GB in the daemon).
    used, side, _ = peak_mb(huge_rgba)
    assert side == 2048
    assert used < 353 + 150, f"{used:.0f} MB"


def test_a_9400_square_16_bit_grey_png_is_scaled_a_band_at_a_time(tmp_path: Path) -> None:
    values = np.full((9400, 9400), 50000, dtype=np.uint16)
    values[:, :4700] = 5000
    Image.fromarray(values).save(tmp_path / "grey16.png")
    del values
    used, side, _ = peak_mb(tmp_path / "grey16.png")
    assert side == 2048
    assert used < 177 + 150, f"{used:.0f} MB"  # 177 MB decoded; scaled as float64 whole it took 2 GB more
    (frame,), _ = load_frames(tmp_path / "grey16.png")
    grey = np.asarray(frame.convert("L"), float)
    assert abs(grey[:, :900].mean() - 5000 / 65535 * 255) < 2 and abs(grey[:, -900:].mean() - 50000 / 65535 * 255) < 2


def test_video_frames_are_shrunk_as_they_are_read(tmp_path: Path) -> None:
    cv2 = pytest.importorskip("cv2")
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (2400, 1800))
    frame = np.full((1800, 2400, 3), 160, np.uint8)
    for i in range(60):
        frame[:, 40 * i : 40 * i + 200] = 30
        writer.write(frame)
    writer.release()
    used, side, kept = peak_mb(path, frames=60)
    assert kept == 60 and side < 2400
    assert used < 400, f"{used:.0f} MB"  # kept whole: 60 × 17 MB, over 1 GB


def test_the_budget_counts_bytes_per_pixel_before_decoding(tmp_path: Path) -> None:
    # 30 frames of 2600×2600 RGBA: 270 megapixels (within a pixel budget) but 811 MB decoded.
    frames = [Image.new("RGBA", (2600, 2600), (i, 0, 0, 255)) for i in range(30)]
    frames[0].save(tmp_path / "wide.png", save_all=True, append_images=frames[1:])
    del frames
    with pytest.raises(BadImageError, match="would decode 811 MB"):
        load_frames(tmp_path / "wide.png")


def test_exif_orientation_still_turns_a_reduced_photo(tmp_path: Path) -> None:
    img = Image.new("RGB", (6000, 3000), "white")
    img.paste((0, 0, 0), (0, 0, 3000, 3000))  # the left half dark
    exif = Image.Exif()
    exif[0x0112] = 6  # held turned: shown rotated 90° clockwise
    img.save(tmp_path / "turned.png", exif=exif)
    (frame,), _ = load_frames(tmp_path / "turned.png")
    assert frame.size == (1024, 2048)
    grey = np.asarray(frame.convert("L"), float)
    assert grey[:900].mean() < 10 and grey[-900:].mean() > 245  # the dark half now on top
