"""Lettering: words in the photo, spelled in letters on the print.

A sign's letters a cell or more tall are drawn by the search as blots and strokes of other glyphs,
which a person reads only now and then (the poster of benchmarks/faces.py: OCR read 2 of its 3
words off the print). Tesseract, where it is installed, reads the words on the fitted canvas; each
word it is sure of that fits its own box at one letter per cell is spelled there, centred in the
box on the row of the box's middle, as plain letters where the photo's are darker than their
ground and as reversed ones where lighter (emphasized where the modes allow: bold reads from a
step back). The rest of the word's box aims at its ground, so the search does not draw the big
letters again around the small ones. OCR finds; it is never part of the objective.
"""

from __future__ import annotations

import atexit
import csv
import io
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from ctypes.util import find_library
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from .framing import Box
from .reading_process import REPLY, REQUEST
from .vocabulary import OCR

log = logging.getLogger(__name__)
T = TypeVar("T")

# Tesseract's word confidence (0–100). On 30 photos and signs every false or misread word of 2
# letters or more scored ≤ 83 (HELLU for the gallery's HELLO), the signs' words 89–97.
MIN_CONFIDENCE = 85.0
# A word's box this many glyph heights tall is lettering to spell: smaller is small print, and
# letters taller than MAX_HEIGHT the search draws as strokes that read from a step back (the
# gallery's 200-px HELLO), which one letter per cell would shrink to a word in the middle of nothing.
MIN_HEIGHT = 0.8
MAX_HEIGHT = 3.0
MIN_LETTERS = 2
OCR_SECONDS = 20.0
# Tesseract reads best with letters 30 px or more tall, and lettering here starts at 19 px: it is
# shown the canvas twice as large (the shop sign of benchmarks/faces.py is read only so). Where it
# is sure of a word there, it looks again at three times (and the words of both are spelled): its
# layout is fragile, and the freephone sign's canvas made 3% taller lost 3 of its 5 words at ×2
# and read them all at ×3, where the other shop sign reads nothing. A photo with no sure word at ×2
# (every portrait) is read once.
OCR_SCALES = (2, 3)
PUNCTUATION = ".,;:!?\"'()[]-"
GROUND_RING = 3  # px around a word's box taken as its ground
# A word's box grown by this share of its height on every side aims at the ground: tesseract's
# boxes are tight, and the letters' antialiased rims outside them drew stray marks.
OVERFLOW = 0.1
PROCESS = Path(__file__).with_name("reading_process.py")
# The columns of tesseract's TSV, whose header line its C API leaves out.
TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
               "left", "top", "width", "height", "conf", "text")  # fmt: skip


@dataclass(frozen=True)
class Word:
    text: str
    box: Box  # on the canvas, in pixels
    confidence: float
    line: Box | None = None  # the box of its line of text: the words of one line share a row

    @property
    def middle(self) -> float:
        """Where its row is: the middle of its line (one word's own would put "Box" a row above
        "Stationery", whose y hangs below the line)."""
        line = self.line or self.box
        return (line.top + line.bottom) / 2


@dataclass(frozen=True)
class Spelled:
    """A word placed on the grid: its letters' codes from `column` on `row`, light on dark or not,
    and the canvas pixels (top, bottom, left, right) that aim at its ground `tone`. The cells
    just before and after it (`margins`) hold spaces, so that the search sets no glyph against
    the letters that would read as one more of them."""

    text: str
    row: int
    column: int
    codes: tuple[int, ...]
    light: bool
    area: tuple[int, int, int, int]
    tone: float
    margins: tuple[int, ...]


class Reading:
    """`read_words` of `img` in a thread, started now: tesseract reads while the renderer finds the
    faces (on two cores the two overlap), and `words()` waits for it."""

    def __init__(self, img: Image.Image):
        self._words: list[Word] = []
        self._thread = threading.Thread(target=self._read, args=(img,), name="lettering", daemon=True)
        self._thread.start()

    def _read(self, img: Image.Image) -> None:
        self._words = read_words(img)

    def words(self) -> list[Word]:
        self._thread.join()
        return self._words


class ReadingFailed(Exception):
    """Tesseract's reading process failed, or took longer than OCR_SECONDS."""


class ProcessEnded(ReadingFailed):
    """The reading process was gone: it closed its pipe instead of answering."""


class Tesseract:
    """Tesseract's reading process (optimizer/reading_process.py), started at the first reading and
    kept: a new `tesseract` program per render spent 0.15–0.2 s loading its English model, most of
    what it took to read a portrait's canvas (0.05 s once loaded). In a process of its own, not
    loaded into the renderer's, so that it runs on one OpenMP thread beside torch's and a crash or
    a hang in it costs one render its lettering, never the daemon: a process that fails is stopped
    and the next reading starts another. One reading at a time (the guest page's previews and the
    worker share it)."""

    def __init__(self, library: str):
        self.library = library
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._owner = 0  # the pid that started the process: a forked child starts its own
        self._unusable: str | None = None  # why it never can read here (no English model)
        self._failure = ""  # why the last attempt failed
        atexit.register(self.stop)

    @property
    def pid(self) -> int | None:
        """The reading process's, while one runs."""
        return self._process.pid if self._process is not None else None

    def start(self) -> str | None:
        """The reading process started now, where it is not running: None, or why it cannot be."""
        with self._lock:
            return None if self._attempt(self._started) else self._unusable or self._failure

    def tsv(self, img: Image.Image) -> str | None:
        """Tesseract's TSV of the 8-bit grey `img`; None where it failed (logged)."""
        with self._lock:
            reply = self._attempt(lambda: self._read(img))
        if reply is None:
            return None
        kind, payload = reply
        if kind != b"T":
            log.warning("tesseract failed, words are drawn, not spelled: %s", payload.decode("utf-8", "replace"))
            return None
        return payload.decode("utf-8", "replace")

    def _attempt(self, step: Callable[[], T]) -> T | None:
        """`step`'s result; None where tesseract cannot be used, or failed (logged, the process
        stopped: the next reading starts another)."""
        if self._unusable is not None:
            return None
        try:
            return step()
        except (OSError, ReadingFailed) as exc:
            self._stop()
            self._failure = str(exc)
            log.warning("tesseract failed, words are drawn, not spelled: %s", exc)
            return None

    def _read(self, img: Image.Image) -> tuple[bytes, bytes]:
        request = REQUEST.pack(img.width, img.height) + img.tobytes()
        kept = self._alive()
        try:
            return self._exchange(self._started(), request)
        except (BrokenPipeError, ProcessEnded):
            if not kept:
                raise
            # It ended between readings (killed, out of memory), and may still have looked alive
            # a moment after: this reading did not end it, so it gets a process of its own.
            log.info("tesseract's reading process had ended: starting another")
            self._stop()
            return self._exchange(self._started(), request)

    def _exchange(self, process: subprocess.Popen[bytes], request: bytes) -> tuple[bytes, bytes]:
        deadline = time.monotonic() + OCR_SECONDS
        self._send(process, request, deadline)
        return self._reply(process, deadline)

    def _alive(self) -> bool:
        return self._process is not None and self._owner == os.getpid() and self._process.poll() is None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._alive():
            assert self._process is not None
            return self._process
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(PROCESS), self.library],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
        )  # fmt: skip
        self._owner = os.getpid()
        kind, payload = self._reply(self._process, time.monotonic() + OCR_SECONDS)
        if kind != b"R":
            # Not installed as it should be (no English model): the same at every render.
            self._unusable = payload.decode("utf-8", "replace")
            raise ReadingFailed(self._unusable)
        return self._process

    @staticmethod
    def _send(process: subprocess.Popen[bytes], data: bytes, deadline: float) -> None:
        """`data` to the process by `deadline`: a process that hangs stops reading, and a blocking
        write would wait on its full pipe for good."""
        assert process.stdin is not None
        into = process.stdin.fileno()
        os.set_blocking(into, False)
        left = memoryview(data)
        while left:
            if not _ready(into, select.POLLOUT, deadline):
                raise ReadingFailed(f"no answer in {OCR_SECONDS:.0f} s")
            left = left[os.write(into, left) :]

    def _reply(self, process: subprocess.Popen[bytes], deadline: float) -> tuple[bytes, bytes]:
        kind, length = REPLY.unpack(self._exactly(process, REPLY.size, deadline))
        return kind, self._exactly(process, length, deadline)

    @staticmethod
    def _exactly(process: subprocess.Popen[bytes], size: int, deadline: float) -> bytes:
        assert process.stdout is not None
        out = process.stdout.fileno()
        got = bytearray()
        while len(got) < size:
            if not _ready(out, select.POLLIN, deadline):
                raise ReadingFailed(f"no answer in {OCR_SECONDS:.0f} s")
            chunk = os.read(out, size - len(got))
            if not chunk:
                raise ProcessEnded(f"its process ended (exit status {process.wait()})")
            got += chunk
        return bytes(got)

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or self._owner != os.getpid():
            return
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()
        try:
            process.wait(timeout=1)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(fd: int, event: int, deadline: float) -> bool:
    """Whether `fd` is ready for `event` (or its other end closed) by `deadline`. Poll, not select:
    a daemon with many connections open may hand the pipes numbers past select's 1024."""
    poll = select.poll()
    poll.register(fd, event)
    return bool(poll.poll(max(0, round(1000 * (deadline - time.monotonic())))))


@lru_cache(maxsize=1)
def tesseract() -> Tesseract | None:
    """The process's tesseract, where libtesseract is installed."""
    library = find_library(OCR)
    if library is None:
        log.info("tesseract is not installed: words in photos are drawn, not spelled")
        return None
    return Tesseract(library)


def read_words(img: Image.Image) -> list[Word]:
    """The words tesseract reads on `img`, with their boxes, lines and confidence; none where
    tesseract is missing or fails (logged). Page segmentation 4 (a column of text of any sizes): of
    the modes tried on 30 photos and signs, the one that read the signs and a card held up in front
    of a portrait (11, sparse text, missed the card; 6, one block, read junk and took 40% longer),
    and the fastest. Tesseract's layout still misses some cards in busy photos (a card pasted on
    the astronaut was read at 1 of 9 sizes and places): those are drawn, not spelled."""
    engine = tesseract()
    if engine is None:
        return []
    first, *again = OCR_SCALES
    words = _read(engine, img, first)
    if any(_sure(word) for word in words):
        for scale in again:
            words += [w for w in _read(engine, img, scale) if not any(_same_place(w, k) for k in words)]
    return words


def _same_place(word: Word, other: Word) -> bool:
    """The same word read twice: its box's centre inside the other's."""
    x, y = (word.box.left + word.box.right) / 2, (word.box.top + word.box.bottom) / 2
    return other.box.left <= x <= other.box.right and other.box.top <= y <= other.box.bottom


def _sure(word: Word) -> bool:
    """Confident, and a word of letters rather than a mark."""
    return word.confidence >= MIN_CONFIDENCE and sum(c.isalnum() for c in word.text) >= MIN_LETTERS


def _read(engine: Tesseract, img: Image.Image, scale: int) -> list[Word]:
    """The words tesseract reads on `img` shown `scale` times as large, boxed in `img`'s pixels."""
    big = img.convert("L").resize((img.width * scale, img.height * scale), Image.Resampling.LANCZOS)
    tsv = engine.tsv(big)
    if tsv is None:
        return []
    rows = csv.DictReader(io.StringIO(tsv), fieldnames=TSV_COLUMNS, delimiter="\t", quoting=csv.QUOTE_NONE)
    lines: dict[tuple[str, ...], Box] = {}
    words = []
    for row in rows:
        line = tuple(row.get(key) or "" for key in ("page_num", "block_num", "par_num", "line_num"))
        left, top, width, height = (int(row[key]) / scale for key in ("left", "top", "width", "height"))
        box = Box(left, top, left + width, top + height)
        text = (row.get("text") or "").strip()
        if row.get("level") == "4":  # a line comes before its words
            lines[line] = box
        elif row.get("level") == "5" and text:
            words.append(Word(text, box, float(row["conf"]), lines.get(line)))
    return words


def spell(words: list[Word], tones: np.ndarray, grid: tuple[int, int], cell: tuple[int, int]) -> list[Spelled]:
    """Where on the grid each lettering word goes. `tones`: the canvas's paper tone (H, W), 1 white;
    `cell`: (width, height) of a glyph; the pitch is the canvas height over the rows."""
    rows, columns = grid
    width, height = cell
    pitch = tones.shape[0] // rows
    taken = np.zeros(grid, bool)
    spelled = []
    for word in sorted(words, key=lambda w: -w.confidence):
        text = word.text.strip(PUNCTUATION)
        box = word.box
        letters = sum(c.isalnum() for c in text)
        if not _sure(word) or letters < len(text) - 1:
            continue  # a word has letters (and one hyphen or apostrophe at most), not marks
        try:
            codes = tuple(text.encode("cp437"))
        except UnicodeEncodeError:
            continue
        if not MIN_HEIGHT * height <= box.height <= MAX_HEIGHT * height or len(codes) * width > box.width + width:
            continue  # letters narrower than a cell: one letter per cell would not fit
        row = min(rows - 1, int(word.middle // pitch))
        column = min(max(0, round((box.left + box.right) / 2 / width - len(codes) / 2)), columns - len(codes))
        end = column + len(codes)
        if column < 0 or taken[row, max(0, column - 1) : end + 1].any():
            continue
        grow = OVERFLOW * box.height
        area = (
            max(0, round(box.top - grow)), round(box.bottom + grow),
            max(0, round(box.left - grow)), round(box.right + grow),
        )  # fmt: skip
        inside, ground = _ground(tones, area)
        margins = tuple(c for c in (column - 1, end) if 0 <= c < columns)
        taken[row, max(0, column - 1) : end + 1] = True
        spelled.append(Spelled(text, row, column, codes, inside > ground, area, ground, margins))
        log.debug("spelling %r at row %d, column %d", text, row, column)
    return spelled


def _ground(tones: np.ndarray, area: tuple[int, int, int, int]) -> tuple[float, float]:
    """(mean tone inside `area`, the median tone of the ring of GROUND_RING px around it)."""
    top, bottom, left, right = area
    outer = (max(0, top - GROUND_RING), bottom + GROUND_RING, max(0, left - GROUND_RING), right + GROUND_RING)
    ring = np.zeros(tones.shape, bool)
    ring[outer[0] : outer[1], outer[2] : outer[3]] = True
    ring[top:bottom, left:right] = False
    inside = tones[top:bottom, left:right]
    return float(inside.mean()), float(np.median(tones[ring] if ring.any() else inside))


def aim_at_ground(tones: np.ndarray, spelled: list[Spelled]) -> np.ndarray:
    """`tones` with each spelled word's box at its ground, the big letters taken out."""
    out = tones.copy()
    for word in spelled:
        top, bottom, left, right = word.area
        out[top:bottom, left:right] = word.tone
    return out
