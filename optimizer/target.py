"""Load a photo (EXIF orientation, alpha on white), fit it to the canvas, turn it into grey tones."""

from __future__ import annotations

import errno
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import BadImageError


def load_image(path: Path) -> Image.Image:
    """Open `path` fully decoded and upright, as RGB on white; a bad file raises BadImageError.
    Of a multi-frame image this is the first frame."""
    return load_frames(path, max_frames=1)[0][0]


# What decoding may cost, in bytes of memory (width × height × bytes per pixel × frames), checked
# from the header before anything is decoded: a 344 KB PNG can decode to 353 MB. A frame is then
# reduced as it is decoded (JPEG: draft; others: a band at a time, composited and box-reduced) and
# kept at most MAX_SIDE on its longer side (kept_scale), the frames kept at most KEPT_BYTES together; only one
# full-size frame is decoded at a time in a process, so the daemon's sources and its render worker
# never hold two (docs/architecture.md §6a).
MAX_SIDE = 2048
MIN_SHORT = 256
DECODE_BUDGET = 400_000_000  # bytes decoded across all frames of an image
KEPT_BYTES = 200_000_000  # bytes of the reduced frames kept for the render
BAND_BYTES = 16_000_000  # bytes of one band of a frame being flattened
_full_size = threading.Lock()
# Pillow frees an image's 16 MB blocks to malloc, which keeps them in the arena of the thread that
# decoded it: the next full-size decode in another thread (the inbox's check, then the render
# worker) took as much again (1.2 GB for one 9400×9400 PNG). Pillow keeps this many freed blocks for
# its next image instead, whatever the thread, so full-size decodes reuse one budget's memory.
Image.core.set_blocks_max(max(Image.core.get_blocks_max(), DECODE_BUDGET // Image.core.get_block_size()))
# Video containers OpenCV may read, by their first bytes: anything else that Pillow cannot open is
# refused, not handed to FFmpeg (which reads a text file as frames of "video").
VIDEO_MAGIC = (b"\x1aE\xdf\xa3", b"RIFF", b"OggS", b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")
ORIENTATION = 0x0112  # EXIF: how the camera was held
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def pixel_bytes(mode: str) -> int:
    """Bytes Pillow holds per pixel of `mode`: bands of 8 bits share 4 bytes, 16-bit grey takes 2."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


def kept_scale(count: int, size: tuple[int, int]) -> float:
    """The scale (at most 1) each of `count` frames of `size` is kept at: MAX_SIDE on the longer
    side, but the shorter side no less than MIN_SHORT (a panorama is cropped after, not squashed to
    a line), and all of them (RGB, 4 bytes a pixel) within KEPT_BYTES."""
    longer, shorter = max(size), max(1, min(size))
    scale = max(MAX_SIDE / longer, min(1.0, MIN_SHORT / shorter))
    fits = (KEPT_BYTES / (4 * count * longer * shorter)) ** 0.5
    return min(1.0, scale, fits)


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
            video = _video_frames(path, max_frames) if _is_video(file) else None
            if video is None:
                raise BadImageError(f"{path}: not an image Pillow can read") from exc
            return video
        except (OSError, EOFError) as exc:
            raise BadImageError(f"{path}: unreadable or truncated image ({exc})") from exc


def probe(path: Path) -> None:
    """BadImageError unless `path` is a regular file that Pillow knows by its header, or a video:
    nothing is decoded, so bad input is refused at once, before any work is done for it."""
    path = Path(path)
    with open_regular(path) as file:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # load_frames decides
                Image.open(file).close()
        except Image.DecompressionBombError as exc:
            raise BadImageError(f"{path}: refused as a decompression bomb ({exc})") from exc
        except UnidentifiedImageError as exc:
            if not _is_video(file):
                raise BadImageError(f"{path}: not an image Pillow can read") from exc
        except (OSError, EOFError) as exc:
            raise BadImageError(f"{path}: unreadable image ({exc})") from exc


def _is_video(file: BinaryIO) -> bool:
    file.seek(0)
    head = file.read(12)
    return head.startswith(VIDEO_MAGIC) or head[4:8] == b"ftyp"


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
    with _full_size, img:  # closed (its full-size pixels freed) before the next decode may start
        count = getattr(img, "n_frames", 1)
        picked = _spread(count, max_frames)
        scale = kept_scale(len(picked), img.size)
        if img.format == "JPEG":
            img.draft(img.mode, (max(1, round(img.width * scale)), max(1, round(img.height * scale))))
            scale = kept_scale(len(picked), img.size)
        frames_decoded = (picked[-1] + 1) if count > 1 else 1
        decoded = img.width * img.height * pixel_bytes(img.mode) * frames_decoded
        if decoded > DECODE_BUDGET:
            raise Image.DecompressionBombError(
                f"{frames_decoded} frame(s) of {img.width}×{img.height} {img.mode} would decode "
                f"{decoded / 1e6:.0f} MB ({img.width * img.height * frames_decoded / 1e6:.0f} megapixels);"
                f" the limit is {DECODE_BUDGET / 1e6:.0f} MB"
            )
        orientation = img.getexif().get(ORIENTATION)
        frames, durations = [], []
        for index in picked:
            img.seek(index)
            img.load()
            frames.append(upright(reduced(img, scale), orientation))
            # Frames left out lengthen the ones kept, so the whole still plays in its time.
            durations.append(img.info.get("duration", 100) / 1000 * count / len(picked))
    return frames, durations


def reduced(img: Image.Image, scale: float) -> Image.Image:
    """The decoded frame as RGB on paper, at `scale`. A frame much larger is flattened a band at a
    time and each band box-reduced at once, so no full-size copy of it (RGBA composited, 16-bit
    scaled: several times its size) ever exists beside it."""
    width, height = img.size
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    factor = int(1 / scale)
    top = grey_top(img)
    if factor < 2:
        frame = on_paper(img, top)
    else:
        frame = Image.new("RGB", (-(-width // factor), -(-height // factor)), "white")
        band = factor * max(1, BAND_BYTES // (width * 4 * factor))
        for y in range(0, height, band):
            strip = on_paper(img.crop((0, y, width, min(y + band, height))), top)
            frame.paste(strip.reduce(factor), (0, y // factor))
    return frame if frame.size == size else frame.resize(size, Image.Resampling.LANCZOS)


def upright(img: Image.Image, orientation: int | None) -> Image.Image:
    """Turned as the EXIF orientation of its original says the camera was held."""
    method = TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
    return img.transpose(method) if method is not None else img


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
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    if size[0] * size[1] * pixel_bytes("RGB") > DECODE_BUDGET:  # frames are decoded one at a time
        capture.release()
        raise Image.DecompressionBombError(
            f"video frames of {size[0]}×{size[1]} would decode {size[0] * size[1] * 4 / 1e6:.0f} MB each;"
            f" the limit is {DECODE_BUDGET / 1e6:.0f} MB"
        )
    scale = kept_scale(len(picked), size)
    frames = []
    try:
        for index in range(count):
            if index in picked:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(_small_frame(cv2, frame, scale))
            elif not capture.grab():
                break
    finally:
        capture.release()
    if not frames:
        return None
    return frames, [count / len(frames) / fps] * len(frames)


def _small_frame(cv2: Any, frame: np.ndarray, scale: float) -> Image.Image:
    """A decoded video frame (BGR) as RGB at `scale`, shrunk before anything else is made of it:
    sixty 4000×3000 frames kept whole took gigabytes."""
    height, width = frame.shape[:2]
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))


def flatten(img: Image.Image) -> Image.Image:
    """Upright RGB with any transparency composited on white paper."""
    return on_paper(ImageOps.exif_transpose(img))


def grey_top(img: Image.Image) -> float | None:
    """The white of a 16-bit or float grey image (its full range); None for 8-bit modes."""
    if img.mode.startswith("I;16"):
        return 65535.0
    if img.mode in ("I", "F"):
        return 65535.0 if float(img.getextrema()[1]) > 255 else 255.0
    return None


def on_paper(img: Image.Image, top: float | None = None) -> Image.Image:
    """RGB with any transparency composited on white paper; 16-bit and float greys scaled to their
    full range, `top` being white (Pillow's convert would clip them to 0–255: a 16-bit PNG printed
    blank). A band of a larger image is given its whole image's `top`."""
    top = top if top is not None else grey_top(img)
    if top is not None:
        values = np.asarray(img, dtype=np.float32)
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
