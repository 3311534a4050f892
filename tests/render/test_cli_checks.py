"""The command checks what it was given before it renders (issue 23 items 13, 14, 15): the picture,
the output path and the printer are refused at once, with one line that names what the user typed,
before the renderer (torch) is imported; `send` with a spool never prints around it unasked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from printd.cli import main
from printd.daemon.runtime import make_runtime_dir
from printd.jobs.spool import JobState, Spool
from tests.support.photos import write_photo

RUN = "import sys; from printd.cli import main; code = main(sys.argv[1:]); print(code, 'torch' in sys.modules)"


def printd(*args: str) -> tuple[int, bool, str]:
    """The command in a fresh process: its exit code, whether torch was imported, what it said."""
    done = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, timeout=300)
    code, torch = done.stdout.split()[-2:]
    return int(code), torch == "True", done.stderr.strip()


@pytest.fixture
def two_printers(tmp_path: Path) -> Path:
    path = tmp_path / "pool.yaml"
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    path.write_text(
        "art: {columns: 6, max_rows: 4}\n"
        f"printers: [{{name: a, uri: 'file://{a}'}}, {{name: b, uri: 'file://{b}'}}]\n"
        f"spool: {{path: '{tmp_path / 'spool'}'}}\n"
    )
    return path


@pytest.mark.parametrize("kind", ["missing", "text", "folder"])
def test_a_bad_picture_is_refused_before_the_renderer_loads(tmp_path: Path, two_printers: Path, kind: str) -> None:
    picture = tmp_path / "photo.png"
    if kind == "text":
        picture.write_text("not a picture at all\n" * 20)
    elif kind == "folder":
        picture.mkdir()
    for command in (["render", str(picture), "-o", str(tmp_path / "art.txt")], ["send", str(picture)]):
        code, torch, said = printd(*command, "--config", str(two_printers))
        assert (code, torch) == (2, False), said
        assert said.count("\n") == 0 and str(picture) in said


def test_an_output_folder_is_refused_with_the_users_path(tmp_path: Path, two_printers: Path) -> None:
    photo = write_photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    out.mkdir()
    code, torch, said = printd("render", str(photo), "-o", str(out), "--config", str(two_printers))
    assert (code, torch) == (2, False)
    assert said == f"printd: error: {out}: is a folder; give a file name (e.g. {out / 'art.txt'})"


def test_a_printer_is_named_from_the_config_or_refused_with_the_names(tmp_path: Path, two_printers: Path) -> None:
    photo = write_photo(tmp_path / "photo.png")
    code, torch, said = printd("send", str(photo), "--printer", "kitchen", "--config", str(two_printers))
    assert (code, torch) == (2, False)
    assert "no printer named kitchen (printers: a, b" in said
    code, torch, said = printd("send", str(photo), "--printer", "usb://zz:zz", "--config", str(two_printers))
    assert (code, torch) == (2, False)
    assert "usb://zz:zz" in said and "invalid literal" not in said and "unpack" not in said


def test_an_unreachable_printer_is_found_before_the_render(tmp_path: Path, two_printers: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        uri = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
    code, torch, said = printd(
        "send", str(write_photo(tmp_path / "p.png")), "--printer", uri, "--config", str(two_printers)
    )
    assert (code, torch) == (1, False), said
    assert uri in said


def test_a_profile_typo_lists_the_known_profiles(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "typo.yaml"
    config.write_text(f"printer: {{uri: 'file://{tmp_path / 'lp0'}', profile: TM-T88X}}\n")
    assert main(["send", str(write_photo(tmp_path / "p.png")), "--config", str(config)]) == 2
    said = capsys.readouterr().err
    assert "did you mean TM-T88V" in said and "TM-T20II" in said


def test_send_reports_the_bytes_it_sent_and_a_panorama_prints(
    tmp_path: Path, two_printers: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pano = tmp_path / "pano.png"
    Image.new("RGB", (100000, 10), (90, 90, 90)).save(pano)
    assert main(["send", str(pano), "--printer", "a", "--direct", "--config", str(two_printers)]) == 0
    sent = (tmp_path / "a.bin").stat().st_size
    assert f"printed on a ({sent} bytes)" in capsys.readouterr().err
    assert sent > 6  # the one row of 6 glyphs, with the job's own commands


def test_send_with_a_spool_and_no_daemon_says_so_and_prints_nothing(tmp_path: Path, two_printers: Path) -> None:
    spool = Spool(tmp_path / "spool")  # set up, as the installer leaves it; no daemon holds it
    photo = write_photo(tmp_path / "p.png")
    code, torch, said = printd("send", str(photo), "--timeout", "1", "--config", str(two_printers))
    assert (code, torch) == (1, False)
    assert "no printd daemon is running" in said and "--direct" in said
    assert not (tmp_path / "a.bin").exists() and not (tmp_path / "b.bin").exists()  # nothing printed around it
    assert spool.names(JobState.QUEUED) == []


def test_send_atlas_through_a_daemon_is_refused_not_dropped(tmp_path: Path, two_printers: Path) -> None:
    spool = Spool(tmp_path / "spool")
    make_runtime_dir(spool.runtime)
    assert spool.acquire()  # the daemon's lock, held: send goes through the daemon
    atlas = tmp_path / "atlas.png"
    Image.new("L", (12, 24)).save(atlas)
    code, torch, said = printd(
        "send", str(write_photo(tmp_path / "p.png")), "--atlas", str(atlas), "--config", str(two_printers)
    )
    assert (code, torch) == (2, False)
    assert "--atlas" in said and "art.atlas" in said
    assert json.dumps(spool.names(JobState.QUEUED)) == "[]"
