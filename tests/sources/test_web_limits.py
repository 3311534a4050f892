"""`limits:` on the guest page, in-process on a real spool: per guest in an hour (by address and by
browser), per event, kept across a restart; previews are counted apart from prints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from printd.config import Config
from printd.jobs.spool import JobState, Spool
from printd.sources.intake import Host, Intake
from printd.sources.web import create_app
from tests.support.asgi import TestClient
from tests.support.photos import write_photo

HOST = Host(
    status=lambda: {}, printers=lambda: {}, pause=lambda name, on: False, press=lambda source: "off", new_roll=bool
)


def app_on(spool: Spool, **limits: Any) -> TestClient:
    config = Config.model_validate(
        {"spool": {"path": str(spool.root)}, "web": {"enabled": True, "max_copies": 3}, "limits": limits}
    )
    return TestClient(create_app(config, Intake(spool, lambda: None, lambda job, event: None), HOST))


def prints(http: TestClient, picture: Path, copies: int = 1, guest: str | None = None) -> tuple[int, str]:
    http.cookies.clear()
    if guest:
        http.cookies.set("printd_guest", guest)
    answer = http.post("/api/jobs", data={"copies": str(copies)}, files={"image": ("p.png", picture.read_bytes())})
    return answer.status_code, answer.json().get("error", "")


def test_a_guest_gets_so_many_prints_an_hour_copies_included_even_after_a_restart(tmp_path: Path) -> None:
    spool, picture = Spool(tmp_path / "spool"), write_photo(tmp_path / "p.png")
    with app_on(spool, per_guest_per_hour=3) as http:
        assert prints(http, picture, copies=2, guest="browser-one")[0] == 201
        code, reason = prints(http, picture, copies=2, guest="browser-two")  # another browser, the same address
        assert code == 429 and reason.startswith("3 prints per guest in an hour (1 left): try again in")
        assert prints(http, picture, guest="browser-two")[0] == 201
        assert prints(http, picture)[1].startswith("3 prints per guest in an hour (none left)")
    with app_on(spool, per_guest_per_hour=3) as http:  # the daemon restarted: the hour is read from the records
        assert prints(http, picture)[0] == 429
    assert sum(job.record.copies for job in spool.jobs(JobState.QUEUED)) == 3


def test_the_event_has_so_many_prints_from_the_page(tmp_path: Path) -> None:
    spool, picture = Spool(tmp_path / "spool"), write_photo(tmp_path / "p.png")
    with app_on(spool, per_event=2) as http:
        assert prints(http, picture, copies=2)[0] == 201
        code, reason = prints(http, picture)
        assert code == 429 and "the event's 2 prints from this page are all used up" in reason
        http.cookies.clear()
        assert http.get("/").cookies.get("printd_guest")  # a new browser gets its guest cookie
    assert spool.counters.report()["accepted"] == {"web": 2}
    assert len(spool.jobs(JobState.QUEUED)) == 1  # the refused one left nothing behind
    assert not list((spool.root / "tmp").iterdir())


def test_previews_do_not_spend_the_allowance_to_print(tmp_path: Path) -> None:
    """Issue 23.15: 6 previews, then 429 on print. Each try counts, whether or not it is a picture."""
    spool, picture = Spool(tmp_path / "spool"), write_photo(tmp_path / "p.png")
    with app_on(spool) as http:  # web.per_client_per_minute: 6
        looks = [http.post("/api/preview", files={"image": ("x.png", b"not a picture")}).status_code for _ in range(7)]
        assert looks == [400] * 6 + [429]
        assert "too many previews" in http.post("/api/preview", files={"image": ("x.png", b"x")}).json()["error"]
        assert prints(http, picture)[0] == 201
