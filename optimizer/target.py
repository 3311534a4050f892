"""Load a photo (EXIF orientation, alpha on white), fit it to the canvas, turn it into grey tones."""

from __future__ import annotations

import errno
import os
import stat
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImageError


def load_image(path: Path) -> Image.Image:
    """Open `path` fully decoded and upright, as RGB on white; a bad file raises BadImageError.
    Of a multi-frame image this is the first frame."""
    return load_frames(path, max_frames=1)[0][0]


# What decoding may cost: a frame is kept at most MAX_SIDE on its longer side (far more than a
# canvas needs), and the pixels decoded for all the frames kept are bounded, so that a 110 KB GIF
# of 3000×3000 frames or a 9400×9400 JPEG cannot take gigabytes.
MAX_SIDE = 2048
DECODE_BUDGET = 400_000_000  # pixels decoded across all frames
# Video containers OpenCV may read, by their first bytes: anything else that Pillow cannot open is
# refused, not handed to FFmpeg (which reads a text file as frames of "video").
VIDEO_MAGIC = (b"\x1aE\xdf\xa3", b"RIFF", b"OggS", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")


def open_regular(path: Path) -> BinaryIO:
    """The file opened without following a link and without blocking (a FIFO), checked to be a
    regular file through the descriptor itself: what was checked is what is read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise BadImageError(f"{path}: a symlink, not an image") from exc
        if exc.errno == errno.EISDIR:
            raise BadImageError(f"{path}: is a directory, not an image") from exc
        raise BadImageError(f"{path}: {exc.strerror or exc}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise BadImageError(f"{path}: {kind}, not an image")
    if info.st_size == 0:
        os.close(fd)
        raise BadImageError(f"{path}: empty file (0 bytes)")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def load_frames(path: Path, max_frames: int = 60) -> tuple[list[Image.Image], list[float]]:
    """Every frame of an image or video (spread evenly over at most `max_frames`), with each
    frame's duration in seconds; a still image is one frame."""
    path = Path(path)
    with open_regular(path) as file:
        try:
            return _image_frames(file, max_frames)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise BadImageError(f"{path}: refused as a decompression bomb ({exc})") from exc
        except UnidentifiedImageError as exc:
            file.seek(0)
            head = file.read(12)
            is_video = head.startswith(VIDEO_MAGIC) or head[4:8] == b"ftyp"
            video = _video_frames(path, max_frames) if is_video else None
            if video is None:
                raise BadImageError(f"{path}: not an image Pillow can read") from exc
            return video
        except (OSError, EOFError) as exc:
            raise BadImageError(f"{path}: unreadable or truncated image ({exc})") from exc


def _image_frames(file: BinaryIO, max_frames: int) -> tuple[list[Image.Image], list[float]]:
    with warnings.catch_warnings():
        # Pillow only warns between 1× and 2× its pixel limit: a bomb too, except for a JPEG, which
        # is decoded at a fraction of its size (draft mode: a 108-megapixel phone photo is a photo).
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(file)
        except Image.DecompressionBombWarning:
            file.seek(0)
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(file)
            if img.format != "JPEG":
                raise
    with img:
        count = getattr(img, "n_frames", 1)
        picked = _spread(count, max_frames)
        if img.format == "JPEG":
            img.draft(img.mode, (MAX_SIDE, MAX_SIDE))
        decoded = img.width * img.height * ((picked[-1] + 1) if count > 1 else 1)
        if decoded > DECODE_BUDGET:
            raise Image.DecompressionBombError(
                f"{count} frame(s) of {img.width}×{img.height} would decode {decoded / 1e6:.0f} megapixels;"
                f" the limit is {DECODE_BUDGET / 1e6:.0f}"
            )
        frames, durations = [], []
        for index in picked:
            img.seek(index)
            img.load()
            frame = flatten(img)
            frame.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)  # kept small, decoded once
            frames.append(frame)
            # Frames left out lengthen the ones kept, so the whole still plays in its time.
            durations.append(img.info.get("duration", 100) / 1000 * count / len(picked))
        return frames, durations


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
    """Upright RGB with any transparency composited on white paper; 16-bit and float greys scaled
    to their full range (Pillow's convert would clip them to 0–255: a 16-bit PNG printed blank)."""
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max() > 255 else 255.0
        return Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8)).convert("RGB")
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
