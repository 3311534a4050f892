"""The config file: the bundled one is the defaults, and every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from printd.cli import main
from printd.config import Config, load_config
from printd.errors import ConfigError

BUNDLED = Path(__file__).resolve().parents[1] / "config" / "printd.yaml"


def test_bundled_config_lists_the_defaults() -> None:
    assert load_config(BUNDLED).replace(source=None) == Config()


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("camera: {countdown: -1}", "camera.countdown", "0 seconds or more"),
        ("camera: {backend: webcam}", "camera.backend", "opencv or picamera2"),
        ("camera: {width: 640}", "camera.width", "both width and height"),
        ("camera: {source: [0]}", "camera.source", "must be an integer or a string"),
        ("button: {gpio: seventeen}", "button.gpio", "must be an integer or null"),
        ("button: {key: KEY_SPACE}", "button.key", "both key and key_device"),
        ("printer: {colour: red}", "printer.colour", "unknown key"),
        ("art: {preset: fancy}", "art.preset", "unknown preset"),
        ("printer: [1, 2]", "printer", "must be a mapping"),
    ],
)
def test_mistakes_name_file_key_and_reason(tmp_path: Path, capsys, text: str, key: str, reason: str) -> None:
    path = tmp_path / "printd.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ConfigError, match=reason) as error:
        load_config(path)
    assert str(error.value).startswith(f"{path}: {key}")
    assert main(["status", "--config", str(path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line
