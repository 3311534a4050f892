"""`printd doctor`'s checks of the booth's devices, the web port and the broker, in-process on
real sockets and files (the spool, printer and camera are tests/test_install.py's, end to end)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from optimizer import lettering
from printd import doctor
from printd.config import load_config
from printd.doctor import Severity, check_broker, check_faces, check_lettering, check_triggers, check_web_port


def config_with(tmp_path: Path, text: str):
    path = tmp_path / "printd.yaml"
    path.write_text(f"spool: {{path: {tmp_path / 'spool'}}}\ninbox: {{path: {tmp_path / 'spool' / 'inbox'}}}\n{text}")
    return load_config(path)


def test_a_taken_web_port_is_a_warning_and_a_free_one_passes(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as held:
        port = held.getsockname()[1]
        taken = check_web_port(config_with(tmp_path, f"web: {{enabled: true, listen: '127.0.0.1:{port}'}}\n"))
    assert taken.severity is Severity.WARNING
    assert taken.line.startswith(f"warning: web: cannot listen on 127.0.0.1:{port} (taken by another program)")
    assert "fix: " in taken.line
    free = check_web_port(config_with(tmp_path, f"web: {{enabled: true, listen: '127.0.0.1:{port}'}}\n"))
    assert free.severity is Severity.OK


def test_an_unreachable_broker_is_a_warning_and_a_listening_one_passes(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as broker:
        port = broker.getsockname()[1]
        assert (
            check_broker(config_with(tmp_path, f"mqtt: {{url: 'mqtt://127.0.0.1:{port}'}}\n")).severity is Severity.OK
        )
    down = check_broker(config_with(tmp_path, f"mqtt: {{url: 'mqtt://127.0.0.1:{port}'}}\n"))
    assert down.severity is Severity.WARNING
    assert down.line.startswith(f"warning: mqtt: broker 127.0.0.1:{port} unreachable (") and "fix: " in down.line


def test_the_key_device_must_be_there(tmp_path: Path) -> None:
    device = tmp_path / "event-kbd"
    booth = f"camera: {{enabled: true}}\nbutton: {{gpio: null, key: KEY_SPACE, key_device: {device}}}\n"
    [missing] = check_triggers(config_with(tmp_path, booth), "me")
    assert missing.line == (
        f"warning: key KEY_SPACE: no device {device}; fix: plug it in, or correct button.key_device"
    )
    device.write_bytes(b"")
    [there] = check_triggers(config_with(tmp_path, booth), "me")
    assert there.severity is Severity.OK


def test_lettering_without_tesseract_is_a_warning_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    if lettering.find_library("tesseract"):
        assert check_lettering().severity is Severity.OK
    monkeypatch.setattr(lettering, "tesseract", lambda: None)
    missing = check_lettering()
    assert missing.severity is Severity.WARNING
    assert "words on signs are drawn, not spelled" in missing.line and "fix: apt install tesseract-ocr" in missing.line


def test_a_tesseract_that_cannot_read_is_a_warning_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lettering, "tesseract", lambda: lettering.Tesseract("libtesseract-that-is-not-here.so"))
    broken = check_lettering()
    assert broken.severity is Severity.WARNING
    assert "tesseract cannot read (cannot load libtesseract-that-is-not-here.so" in broken.line
    assert "fix: apt install tesseract-ocr tesseract-ocr-eng" in broken.line


def test_faces_without_the_detectors_weights_are_a_warning_with_its_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_faces().severity is Severity.OK  # the test machine installs weights.txt
    monkeypatch.setattr(doctor, "face_weights_dir", lambda: None)
    missing = check_faces()
    assert missing.severity is Severity.WARNING
    assert "faces are drawn like the rest" in missing.line
    assert "fix: scripts/install.sh again, or pip install --no-deps --require-hashes -r weights.txt" in missing.line
