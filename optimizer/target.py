"""Load a photo (EXIF orientation, alpha on white), fit it to the canvas, turn it into grey tones."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class BadImageError(ValueError):
    """The input cannot be turned into art; the message names the file and the reason."""


def load_image(path: Path) -> Image.Image:
    """Open `path` fully decoded and upright, as RGB on white; a bad file raises BadImageError.
    Of a multi-frame image this is the first frame."""
    return load_frames(path, max_frames=1)[0][0]


def load_frames(path: Path, max_frames: int = 60) -> tuple[list[Image.Image], list[float]]:
    """Every frame of an image or video (spread evenly over at most `max_frames`), with each
    frame's duration in seconds; a still image is one frame."""
    path = Path(path)
    if path.is_dir():
        raise BadImageError(f"{path}: is a directory, not an image")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadImageError(f"{path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise BadImageError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1× and 2× its pixel limit: treat that as a bomb too.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                count = getattr(img, "n_frames", 1)
                picked = _spread(count, max_frames)
                frames, durations = [], []
                for index in picked:
                    img.seek(index)
                    img.load()
                    frames.append(flatten(img))
                    # Frames left out lengthen the ones kept, so the whole still plays in its time.
                    durations.append(img.info.get("duration", 100) / 1000 * count / len(picked))
                return frames, durations
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadImageError(f"{path}: refused as a decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        video = _video_frames(path, max_frames)
        if video is None:
            raise BadImageError(f"{path}: not an image Pillow can read") from exc
        return video
    except (OSError, EOFError) as exc:
        raise BadImageError(f"{path}: unreadable or truncated image ({exc})") from exc


def _spread(count: int, most: int) -> list[int]:
    """At most `most` frame indexes spread evenly over `count` frames."""
    if count <= most:
        return list(range(count))
    return sorted({round(i * (count - 1) / (most - 1)) for i in range(most)}) if most > 1 else [0]


def _video_frames(path: Path, max_frames: int) -> tuple[list[Image.Image], list[float]] | None:
    """Frames of a video file through OpenCV, when it is installed and can read the file."""
    try:
        import cv2
    except ImportError:
        return None
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        return None
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if 1 <= fps <= 240 else 25.0
    count = 0
    while capture.grab():  # count first (the container's count may be wrong), decoding nothing
        count += 1
    capture.release()
    if count == 0:
        return None
    picked = set(_spread(count, max_frames))
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        for index in range(count):
            if index in picked:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)))
            elif not capture.grab():
                break
    finally:
        capture.release()
    if not frames:
        return None
    return frames, [count / len(frames) / fps] * len(frames)


def flatten(img: Image.Image) -> Image.Image:
    """Upright RGB with any transparency composited on white paper."""
    img = ImageOps.exif_transpose(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("RGB")
    return img.convert("RGB")


def rows_for(img_size: tuple[int, int], columns: int, cell: tuple[int, int], row_gap: int) -> int:
    """Rows that keep the photo's proportions at `columns` wide, a row being cell height + gap."""
    width, height = img_size
    cell_w, cell_h = cell
    return max(1, round(height / width * columns * cell_w / (cell_h + row_gap)))


def to_grey(img: Image.Image) -> np.ndarray:
    """(H, W) float32 in [0, 1], 0 black, by ITU-R 601 luma."""
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def darkest_printable(cell_height: int, row_gap: int) -> float:
    """Solid ink on every dot row but the gap: 0.2 for 24 rows of glyph and 6 of gap."""
    return row_gap / (cell_height + row_gap)


def printable_tone(grey: np.ndarray, darkest: float) -> np.ndarray:
    """Map [0, 1] onto what paper with blank gaps can show: [darkest, 1]."""
    return darkest + (1.0 - darkest) * grey
