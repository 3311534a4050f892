"""Framing: the whole photo, the canvas filled, or the faces; no panorama prints as one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont
from skimage import data

from optimizer import Renderer, Settings, faces
from optimizer.framing import FACE_SHARE, SUBJECT_ASPECT, face_focus, find_faces, framing_box, salient_box, subject_box
from optimizer.search import seen_target


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def group_picture() -> Image.Image:
    """Three people side by side: the astronaut's head pasted three times on a plain wall."""
    face = find_faces(astronaut())[0]
    head = astronaut().crop((int(face.left) - 40, int(face.top) - 50, int(face.right) + 40, int(face.bottom) + 60))
    wall = Image.new("RGB", (1400, 700), (120, 140, 160))
    for x in (175, 525, 875):
        wall.paste(head, (x, 280))
    return wall


def test_subject_framing_makes_the_astronauts_face_a_good_share_of_the_columns() -> None:
    img = astronaut()
    (face,) = find_faces(img)
    assert 150 < (face.left + face.right) / 2 < 300 and (face.top + face.bottom) / 2 < 200  # her face, top left
    box = subject_box(img)
    assert box.left <= face.left and face.right <= box.right and box.top < face.top  # head room above
    share = face.width / box.width
    assert share >= 0.45, share  # whole photo: 99 of 512 px, 19% of the columns
    art = Renderer(Settings(columns=42, framing="subject", sweeps=2)).render(img)
    assert art.columns == 42 and art.rows >= 14  # a portrait crop, not a strip


def test_subject_framing_keeps_every_face_of_a_group() -> None:
    img = group_picture()
    faces = find_faces(img)
    assert len(faces) == 3
    box = subject_box(img)
    for face in faces:
        assert box.left <= face.left and face.right <= box.right and box.top <= face.top <= box.bottom
    # A group is framed whole: the detector misses turned faces, which a crop to the found ones cut off.
    assert box.rounded() == (0, 0, *img.size)


def test_two_faces_are_framed_together_as_a_subject() -> None:
    img = group_picture().crop((0, 0, 950, 700))  # the first two heads
    faces = find_faces(img)
    assert len(faces) == 2
    box = subject_box(img)
    for face in faces:
        assert box.left <= face.left and face.right <= box.right and box.top <= face.top <= box.bottom
    assert sum(f.width for f in faces) / box.width >= FACE_SHARE * 0.8


def test_no_face_frames_the_busiest_region() -> None:
    img = Image.new("L", (800, 600), 200)
    busy = Image.fromarray((np.random.default_rng(0).random((150, 150)) * 255).astype(np.uint8))
    img.paste(busy, (600, 420))
    box = subject_box(img.convert("RGB"))
    assert box.left <= 600 and box.right >= 750 and box.top <= 420 and box.bottom >= 570


def test_a_panorama_is_cropped_to_a_strip_not_printed_as_one_line() -> None:
    pano = Image.fromarray(np.tile(np.linspace(0, 255, 6000), (500, 1)).astype(np.uint8)).convert("RGB")
    box = framing_box(pano, "fit")
    assert box.height / box.width >= 1 / 3 - 1e-6
    renderer = Renderer(Settings(columns=42, sweeps=1))
    assert renderer.grid_for(renderer.frame(pano))[0] >= 5
    strip = Image.fromarray((np.random.default_rng(0).random((50, 10000)) * 255).astype(np.uint8)).convert("RGB")
    box = framing_box(strip, "fit")  # 50 px tall: its 2 grid rows are 25 px each, its columns 104
    assert box.height == 50 and abs(box.height / box.width - 1 / 3) < 1e-6
    assert renderer.grid_for(renderer.frame(strip))[0] >= 5


def test_fit_letterboxes_and_fill_crops_when_the_rows_are_fixed() -> None:
    black = Image.new("RGB", (400, 400), "black")
    fit = Renderer(Settings(columns=20, rows=4, framing="fit")).canvas(black)
    fill = Renderer(Settings(columns=20, rows=4, framing="fill")).canvas(black)
    assert fit[:, :40].min() == 1.0 and fit[:, 110:130].max() == 0.0  # white margins, whole photo
    assert fill.max() == 0.0


def test_fit_leaves_no_strip_thinner_than_a_row() -> None:
    # 640×480 at 42 columns is 12.6 rows: 13 rows leave the photo 12 dots short of its canvas, which
    # letterboxed as white strips that the first and last rows drew as `@@@@`.
    black = Image.new("RGB", (640, 480), "black")
    renderer = Renderer(Settings(columns=42))
    canvas = renderer.canvas(black)
    assert renderer.grid_for(renderer.frame(black))[0] == 13
    assert canvas.max() == 0.0


def test_face_focus_covers_the_face_and_nothing_far_from_it() -> None:
    img = astronaut()  # 512×512: her face is top left of centre
    (face,) = find_faces(img)
    focus = face_focus(img, (16, 16))  # 32-px cells
    row, col = int((face.top + face.bottom) / 2 // 32), int((face.left + face.right) / 2 // 32)
    assert focus[row, col] == 1.0
    assert focus[-3:, :].max() == 0.0 and focus[:, -3:].max() == 0.0  # her suit and the flag
    assert 0.0 < focus.mean() < 0.25


def test_letters_fur_and_things_are_not_faces() -> None:
    # Haar cascades, the detector before MTCNN, found "faces" in a poster's capitals and a dog's fur,
    # which were then drawn at the face gain.
    board = Image.new("RGB", (1000, 700), (230, 220, 200))
    draw = ImageDraw.Draw(board)
    font = ImageFont.load_default(120)
    draw.text((40, 100), "OPEN BAR", font=font, fill=(20, 20, 20))
    draw.text((40, 350), "TONIGHT", font=font, fill=(20, 20, 20))
    for img in (board, Image.fromarray(data.chelsea()), Image.fromarray(data.coffee()), Image.fromarray(data.rocket())):
        assert find_faces(img) == []
    assert face_focus(board, (16, 16)).max() == 0.0


def test_without_the_weights_no_face_is_found_and_the_photo_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "face_weights_dir", lambda: None)
    faces.networks.cache_clear()
    try:
        assert find_faces(astronaut()) == []
        assert subject_box(astronaut()) == salient_box(astronaut(), SUBJECT_ASPECT)
        assert Renderer(Settings(columns=16, sweeps=1)).render(astronaut()).columns == 16
    finally:
        faces.networks.cache_clear()


def test_detail_is_drawn_larger_inside_faces_only() -> None:
    renderer = Renderer(Settings(columns=24))
    img = astronaut()
    grid = renderer.grid_for(img)
    target, focus = renderer.aims(img, grid)
    assert focus is not None and focus.max() == 1.0
    settings = renderer.settings
    plain = seen_target(target, 24, 6, settings.detail_gain, settings.detail_sigma)
    faced = seen_target(
        target, 24, 6, settings.detail_gain + (settings.face_gain - settings.detail_gain) * focus, settings.detail_sigma
    )
    on_face = (focus == 1.0).repeat_interleave(24, 0).repeat_interleave(12, 1)
    off_face = (focus == 0.0).repeat_interleave(24, 0).repeat_interleave(12, 1)
    assert torch.equal(faced[off_face], plain[off_face])
    base = seen_target(target, 24, 6, 1.0, settings.detail_sigma)
    assert (faced[on_face] - base[on_face]).abs().mean() > 1.5 * (plain[on_face] - base[on_face]).abs().mean()
    assert Renderer(settings.replace(face_gain=settings.detail_gain)).aims(img, grid)[1] is None
