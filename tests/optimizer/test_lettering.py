"""Lettering (optimizer/lettering.py): words in a photo spelled in letters on the print."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from optimizer import Renderer, Settings, lettering
from optimizer.framing import Box
from optimizer.lettering import Word, aim_at_ground, read_words, spell, tesseract
from optimizer.renderer import one_thread_while_reading

CELL = (12, 24)
needs_tesseract = pytest.mark.skipif(lettering.find_library("tesseract") is None, reason="no tesseract-ocr (Debian)")


def sign(text: str, ink: int, ground: int, size: int = 110, width: int = 1200, height: int = 500) -> Image.Image:
    """`text` in Pillow's own scalable font, centred on a plain board: on the 504-px canvas of 42
    columns its capitals are ~1.4 glyphs tall."""
    img = Image.new("L", (width, height), ground)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((width - right - left) / 2, (height - bottom - top) / 2), text, font=font, fill=ink)
    return img.convert("RGB")


def cells_of(art_text: str, row: int) -> str:
    return art_text.splitlines()[row]


@needs_tesseract
def test_a_sign_is_spelled_in_letters_on_the_print() -> None:
    renderer = Renderer(Settings(columns=42, sweeps=2))
    art = renderer.render(sign("HAPPY BIRTHDAY", ink=30, ground=230))
    text = art.utf8()
    assert "HAPPY" in text and "BIRTHDAY" in text, text
    # Dark letters on a pale board print as plain (or emphasized) letters, with a space either side.
    row = next(i for i, line in enumerate(text.splitlines()) if "HAPPY" in line)
    column = cells_of(text, row).index("HAPPY")
    modes = [art.mode_names[m] for m in art.modes[row, column : column + 5]]
    assert set(modes) <= {"normal", "emphasized"}, modes
    assert cells_of(text, row)[column - 1] == " "


@needs_tesseract
def test_a_sure_word_gets_a_second_look_and_each_word_is_given_once(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = tesseract()
    assert engine is not None
    shown: list[int] = []
    tsv = engine.tsv

    def counted(img: Image.Image) -> str | None:
        shown.append(img.width)
        return tsv(img)

    monkeypatch.setattr(engine, "tsv", counted)
    board = sign("OPEN BAR", ink=30, ground=230, width=600, height=300)
    words = [w.text for w in read_words(board)]
    assert sorted(words) == ["BAR", "OPEN"]
    assert shown == [600 * scale for scale in lettering.OCR_SCALES]
    shown.clear()
    assert read_words(Image.new("RGB", (600, 300), "grey")) == []
    assert shown == [600 * lettering.OCR_SCALES[0]]  # no sure word: read once


@needs_tesseract
def test_the_search_gets_its_threads_back_after_the_faces_found_beside_tesseract() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Renderer(Settings(columns=16, sweeps=1)).render(sign("OPEN", ink=30, ground=230))
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


def test_renders_in_two_threads_give_torch_back_the_threads_it_had_before_the_first() -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        first, second = one_thread_while_reading(True), one_thread_while_reading(True)
        first.__enter__()
        second.__enter__()  # a preview starts while the worker's tesseract reads
        first.__exit__(None, None, None)
        assert torch.get_num_threads() == 1  # the preview's tesseract still reads
        second.__exit__(None, None, None)
        assert torch.get_num_threads() == 2
        with one_thread_while_reading(False):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)


@needs_tesseract
def test_light_letters_on_a_dark_board_are_spelled_reversed() -> None:
    renderer = Renderer(Settings(columns=42, sweeps=2))
    art = renderer.render(sign("EXIT HERE", ink=235, ground=40))
    text = art.utf8()
    row = next(i for i, line in enumerate(text.splitlines()) if "EXIT" in line)
    column = cells_of(text, row).index("EXIT")
    assert all("reverse" in art.mode_names[m] for m in art.modes[row, column : column + 4])


@needs_tesseract
def test_lettering_off_draws_the_letters_as_before() -> None:
    photo = sign("HAPPY BIRTHDAY", ink=30, ground=230)
    art = Renderer(Settings(columns=42, sweeps=2, lettering=False)).render(photo)
    assert "HAPPY" not in art.utf8()


def test_without_tesseract_a_photo_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lettering, "find_library", lambda name: None)
    tesseract.cache_clear()
    try:
        assert read_words(sign("OPEN", ink=30, ground=230)) == []
        art = Renderer(Settings(columns=16, sweeps=1)).render(sign("OPEN", ink=30, ground=230))
        assert art.columns == 16
    finally:
        tesseract.cache_clear()


@needs_tesseract
def test_one_reading_process_serves_every_render_and_a_dead_one_is_replaced() -> None:
    engine = lettering.tesseract()
    assert engine is not None
    board = sign("OPEN", ink=30, ground=230, width=600, height=300)
    assert "OPEN" in [w.text for w in read_words(board)]
    first = engine.pid
    assert "OPEN" in [w.text for w in read_words(board)] and engine.pid == first
    os.kill(first, signal.SIGKILL)
    assert "OPEN" in [w.text for w in read_words(board)]
    assert engine.pid not in (None, first)


@pytest.fixture
def read_once() -> tuple[lettering.Tesseract, Image.Image]:
    """The reading process, running after one reading of the board it returns with."""
    engine = lettering.tesseract()
    assert engine is not None
    board = sign("OPEN", ink=30, ground=230, width=600, height=300)
    read_words(board)
    return engine, board


@needs_tesseract
def test_a_process_that_ended_but_still_looks_alive_costs_no_reading(
    monkeypatch: pytest.MonkeyPatch, read_once: tuple[lettering.Tesseract, Image.Image]
) -> None:
    # Just after a kill (or the OOM killer) the process may not be reaped yet: poll() says it runs,
    # and the reading meets a closed pipe.
    engine, board = read_once
    dead = engine._process
    assert dead is not None
    dead.kill()
    os.waitid(os.P_PID, dead.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped
    monkeypatch.setattr(dead, "poll", lambda: None)
    assert "OPEN" in [w.text for w in read_words(board)]
    assert engine.pid not in (None, dead.pid)


@needs_tesseract
def test_a_warmed_up_renderer_reads_its_first_sign_with_the_process_it_started() -> None:
    engine = lettering.tesseract()
    assert engine is not None
    engine.stop()
    assert engine.pid is None
    renderer = Renderer(Settings(columns=42, sweeps=1))
    renderer.warm_up()  # the daemon's, at start-up
    started = engine.pid
    assert started is not None
    assert "OPEN" in renderer.render(sign("OPEN BAR", ink=30, ground=230)).utf8()
    assert engine.pid == started


@needs_tesseract
def test_readings_from_several_threads_each_get_their_own_words() -> None:
    boards = {"OPEN": sign("OPEN", ink=30, ground=230, width=600, height=300),
              "EXIT": sign("EXIT", ink=30, ground=230, width=600, height=300)}  # fmt: skip
    wrong: list[tuple[str, list[str]]] = []

    def read(word: str) -> None:  # the guest page's previews beside the worker
        for _ in range(3):
            got = [w.text for w in read_words(boards[word])]
            if got != [word]:
                wrong.append((word, got))

    threads = [threading.Thread(target=read, args=(word,)) for word in boards for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@needs_tesseract
def test_a_reading_that_hangs_is_given_up_and_the_next_render_reads(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    read_once: tuple[lettering.Tesseract, Image.Image],
) -> None:
    engine, board = read_once
    hung = engine.pid
    assert hung is not None
    os.kill(hung, signal.SIGSTOP)
    monkeypatch.setattr(lettering, "OCR_SECONDS", 0.3)
    assert read_words(board) == []
    assert "tesseract failed, words are drawn, not spelled: no answer in" in caplog.text
    monkeypatch.undo()
    assert "OPEN" in [w.text for w in read_words(board)] and engine.pid != hung


def test_a_tesseract_that_cannot_start_is_not_started_again(caplog: pytest.LogCaptureFixture) -> None:
    engine = lettering.Tesseract("libtesseract-that-is-not-here.so")
    board = Image.new("L", (40, 20), 255)
    assert engine.tsv(board) is None
    assert "cannot load libtesseract-that-is-not-here.so" in caplog.text
    caplog.clear()
    assert engine.tsv(board) is None and engine.pid is None
    assert caplog.text == ""  # said once


def test_a_word_goes_on_the_row_of_its_middle_centred_in_its_box() -> None:
    tones = np.full((8 * 30, 42 * 12), 0.9, np.float32)
    tones[95:140, 100:280] = 0.1  # the letters' ink, as a block
    (word,) = spell([Word("OPEN", Box(100, 95, 280, 140), 96.0)], tones, (8, 42), CELL)
    assert (word.row, word.column, word.codes) == (3, 14, tuple(b"OPEN"))  # middle 117 px: row 3 of 30-px rows
    assert word.margins == (13, 18)
    assert not word.light and word.tone == pytest.approx(0.9)


def test_light_letters_are_told_from_dark_ones_by_their_ground() -> None:
    tones = np.full((8 * 30, 42 * 12), 0.2, np.float32)
    tones[95:140, 100:280] = 0.7
    (word,) = spell([Word("EXIT", Box(100, 95, 280, 140), 96.0)], tones, (8, 42), CELL)
    assert word.light and word.tone == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("word", "why"),
    [
        (Word("OPEN", Box(100, 95, 280, 140), 70.0), "unsure"),
        (Word("OPEN", Box(100, 100, 160, 112), 96.0), "small print: letters half a cell tall"),
        (Word("OPEN", Box(40, 20, 480, 220), 96.0), "letters 8 cells tall: the search draws those"),
        (Word("TONIGHT", Box(100, 95, 160, 140), 96.0), "7 letters in 5 cells"),
        (Word("|~|", Box(100, 95, 280, 140), 96.0), "marks, not letters"),
        (Word("é", Box(100, 95, 280, 140), 96.0), "one letter"),
    ],
)
def test_what_is_not_spelled(word: Word, why: str) -> None:
    tones = np.full((8 * 30, 42 * 12), 0.9, np.float32)
    assert spell([word], tones, (8, 42), CELL) == [], why


def test_words_never_overlap_and_the_surest_wins() -> None:
    tones = np.full((8 * 30, 42 * 12), 0.9, np.float32)
    words = [Word("BAR", Box(100, 95, 200, 140), 91.0), Word("OPEN", Box(100, 95, 220, 140), 97.0)]
    (kept,) = spell(words, tones, (8, 42), CELL)
    assert kept.text == "OPEN"


def test_the_big_letters_are_taken_out_of_the_target() -> None:
    renderer = Renderer(Settings(columns=42, sweeps=1))
    tones = np.full((8 * 30, 42 * 12), 0.9, np.float32)
    tones[95:140, 100:280] = 0.1
    spelled = spell([Word("OPEN", Box(100, 95, 280, 140), 96.0)], tones, (8, 42), CELL)
    aimed = aim_at_ground(tones, spelled)
    assert aimed[90:145, 95:285].min() == pytest.approx(0.9)
    held = renderer.letters(spelled, (8, 42))
    codes = renderer.codes[held["keep"][3, 13:19].numpy()]
    assert bytes(codes.tolist()) == b" OPEN "
    assert held["keep_cost"][3, 13:19].min() > 0 and held["keep_cost"].count_nonzero() == 6
