"""A job's art settings: one schema for the flags, the submit socket, the web form, MQTT and the record,
with the printers in its checks (a guest's columns=200 on a 42-column printer is refused)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from printd.cli import main
from printd.config import load_config
from printd.errors import InputError
from printd.jobs.art import JobArt, parse_art
from printd.jobs.spool import JobState, Spool
from printd.sources.intake import Host, Intake
from printd.sources.web import create_app
from tests.support.photos import write_photo


def test_text_from_a_form_and_numbers_from_a_flag_give_the_same_settings() -> None:
    as_text = parse_art({"columns": "30", "dark": "", "color_map": "learned", "seed": "7"})
    as_values = parse_art({"columns": 30, "color_map": "learned", "seed": 7})
    assert as_text == as_values == JobArt(columns=30, color_map="learned", seed=7)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"colums": "30"}, "colums: unknown key (known: preset, columns"),
        ({"columns": "0"}, "columns: must be greater than or equal to 1"),
        ({"rows": "many"}, "rows: must be"),
        ({"framing": "zoom"}, "unknown framing 'zoom'"),
        ({"dark": "on"}, "dark mode is for screens"),
    ],
)
def test_bad_settings_are_refused_with_the_key(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(InputError, match=re.escape(reason)):
        parse_art(fields)


def test_no_more_columns_than_the_printer_prints(tmp_path: Path) -> None:
    config_file = tmp_path / "printd.yaml"
    config_file.write_text("printers:\n  - {name: narrow, profile: TM-T88V}\n  - {name: wide, profile: TM-T20II}\n")
    config = load_config(config_file)
    assert parse_art({"columns": 48}, config).columns == 48  # the wide one prints it
    with pytest.raises(InputError, match="columns: 48 is more than printer 'narrow' prints \\(42\\)"):
        parse_art({"columns": 48}, config, pin="narrow")
    with pytest.raises(InputError, match="more than printer 'wide' prints \\(48\\)"):
        parse_art({"columns": 200}, config)


def test_the_record_keeps_what_was_asked(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    job = spool.submit(write_photo(tmp_path / "p.png"), "send", art=JobArt(columns=12, framing="fill"))
    assert (job.folder / "job.json").read_text().count('"art": {') == 1
    (loaded,) = spool.jobs(JobState.QUEUED)
    assert loaded.record.art == JobArt(columns=12, framing="fill")


def test_a_guest_asking_for_200_columns_gets_400_and_nothing_is_queued(tmp_path: Path) -> None:
    config_file = tmp_path / "printd.yaml"
    config_file.write_text(f"spool: {{path: {tmp_path / 'spool'}}}\nweb: {{enabled: true}}\n")
    config = load_config(config_file)
    spool = Spool(config.spool.path)
    intake = Intake(spool, lambda: None, lambda job, event: None)
    host = Host(status=dict, printers=dict, pause=lambda name, paused: False, press=str, new_roll=bool)
    app = create_app(config, intake, host)
    picture = write_photo(tmp_path / "p.png").read_bytes()

    def post(fields: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://booth") as client:
                return await client.post("/api/jobs", files={"image": ("p.png", picture)}, data=fields)

        return asyncio.run(send())

    answer = post({"columns": "200"})
    assert answer.status_code == 400
    assert "columns: 200 is more than the printer prints (42)" in answer.json()["error"]
    answer = post({"colums": "30"})
    assert answer.status_code == 400 and "unknown key" in answer.json()["error"]
    assert spool.jobs(JobState.QUEUED) == []
    assert post({"columns": "30"}).status_code == 201
    (job,) = spool.jobs(JobState.QUEUED)
    assert job.record.art == JobArt(columns=30)


def test_send_refuses_more_columns_than_its_printer_before_rendering(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "paper.bin"
    photo = write_photo(tmp_path / "p.png")
    code = main(["send", str(photo), "--printer", f"file://{out}", "--columns", "200", "--config", "/dev/null"])
    assert code == 2
    assert "--columns: 200 is more than the printer prints (42)" in capsys.readouterr().err
    assert not out.exists()
