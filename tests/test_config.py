"""The config file: the bundled one is the defaults, and every mistake names the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from printd.cli import main
from printd.config import Config, example_yaml, load_config
from printd.errors import ConfigError

BUNDLED = Path(__file__).resolve().parents[1] / "config" / "printd.yaml"


def test_bundled_config_is_generated_from_the_model() -> None:
    """The defaults are written once, in printd/config.py: the bundled file is made from them."""
    assert BUNDLED.read_text() == example_yaml(), "run: python3 -m printd.config > config/printd.yaml"
    assert load_config(BUNDLED).replace(source=None) == Config()


def test_every_problem_at_once_with_its_key(tmp_path: Path) -> None:
    path = tmp_path / "printd.yaml"
    path.write_text("printers: [{name: a, timeout: 0}]\nart: {columns: 0, rows: 0}\nweb: {listen: nope}\n")
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    for key in ("printers[0].timeout", "art.columns", "art.rows", "web.listen"):
        assert f"{key}: " in message


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("camera: {countdown: -1}", "camera.countdown", "greater than or equal to 0"),
        ("camera: {backend: webcam}", "camera.backend", "'opencv' or 'picamera2'"),
        ("camera: {width: 640}", "camera.width", "both width and height"),
        ("camera: {source: [0]}", "camera.source", "must be an integer or a string"),
        ("button: {gpio: seventeen}", "button.gpio", "must be a valid integer"),
        ("button: {key: KEY_SPACE}", "button.key", "both key and key_device"),
        ("printer: {colour: red}", "printer.colour", r"unknown key \(known: name, uri, profile"),
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
