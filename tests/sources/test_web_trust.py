"""The guest page's trust (issue 23 item 15): what a hostile phone or page may send is refused with a
reason, never a 500 and never a write outside a job's folder. The app runs in-process on a real spool;
the port test starts the real daemon."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd.config import Config
from printd.jobs.spool import JobState, Spool
from printd.sources.intake import Host, Intake
from printd.sources.web import create_app
from tests.support.asgi import TestClient
from tests.support.photos import write_photo

TOKEN = "s3cret-host"


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool")


@pytest.fixture
def http(tmp_path: Path, spool: Spool) -> Iterator[TestClient]:
    config = Config.model_validate(
        {
            "spool": {"path": str(spool.root)},
            "web": {"enabled": True, "admin_token": TOKEN, "approval": True, "max_copies": 2},
        }
    )
    paused: list[tuple[str, bool]] = []
    host = Host(
        status=lambda: {"printer": "ready"},
        printers=lambda: {"printer": "ready"},
        pause=lambda name, on: name == "printer" and not paused.append((name, on)),
        press=lambda source: "off",
        new_roll=lambda name: False,
    )
    app = create_app(config, Intake(spool, lambda: None, lambda job, event: None), host)
    with TestClient(app, base_url="http://booth.local:8437") as client:
        client.paused = paused  # type: ignore[attr-defined]
        yield client


def upload(http: TestClient, tmp_path: Path, name: str = "p.png", **fields: str):
    picture = write_photo(tmp_path / "p.png").read_bytes()
    return http.post("/api/jobs", data=fields, files={"image": (name, picture, "image/png")})


def test_an_unknown_form_field_is_refused_with_its_name(http: TestClient, tmp_path: Path, spool: Spool) -> None:
    answer = upload(http, tmp_path, colums="30")
    assert answer.status_code == 400 and "colums" in answer.json()["error"]
    assert upload(http, tmp_path, copies="3").json()["error"] == "copies: 1 to 2, not '3'"
    assert spool.jobs(JobState.QUEUED) == []


def test_tokens_are_bearer_only_and_never_a_500(http: TestClient) -> None:
    for header in (TOKEN, f"Basic {TOKEN}", "Bearer wrong", "Bearer ümlaut-tökén", "Bearer"):
        answer = http.post("/api/printers/printer/pause", headers={"Authorization": header.encode("latin-1")})
        assert answer.status_code == 401, header
        assert "Bearer" in answer.json()["error"]
    assert http.post("/api/printers/printer/pause", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_only_pause_and_resume_are_actions(http: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answer = http.post("/api/printers/printer/unpause", headers=auth)
    assert answer.status_code == 400 and "pause, resume" in answer.json()["error"]
    assert http.post("/api/printers/printer/resume", headers=auth).json() == {"printer": "printer", "paused": False}
    assert http.paused == [("printer", False)]  # type: ignore[attr-defined]


def test_job_ids_are_checked_before_the_disk_is(http: TestClient, spool: Spool) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = sorted(p.name for p in spool.root.iterdir())
    for job in ("%2e%2e", "..%2F..", "%2E", "queued", "tmp"):  # escaped: the client leaves the dots to the server
        assert http.get(f"/api/jobs/{job}").status_code == 404, job
        assert http.post(f"/api/jobs/{job}/cancel", headers=auth).status_code == 404, job
    assert sorted(p.name for p in spool.root.iterdir()) == before  # nothing written in the spool's root
    assert spool.find("..") is None and spool.find("../queued") is None


def test_every_answer_forbids_framing_and_foreign_scripts(http: TestClient) -> None:
    for path in ("/", "/host", "/api/status", "/api/jobs/nope"):
        headers = http.get(path).headers
        assert headers["x-frame-options"] == "DENY"
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy


def test_approval_holds_a_guest_job_until_the_host_says(http: TestClient, tmp_path: Path, spool: Spool) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    first = upload(http, tmp_path, copies="2").json()
    second = upload(http, tmp_path).json()
    assert first["awaiting_approval"] and second["awaiting_approval"]
    assert spool.claim_next() is None  # both held: the render worker takes neither
    inbox = spool.submit(write_photo(tmp_path / "dropped.png"), "inbox")
    taken = spool.claim_next()  # the inbox (like the booth) does not wait for the host
    assert taken is not None and taken.id == inbox.id
    assert http.post(f"/api/jobs/{first['id']}/approve").status_code == 401
    assert http.post(f"/api/jobs/{first['id']}/approve", headers=auth).status_code == 200
    rejected = http.post(f"/api/jobs/{second['id']}/reject", headers=auth, json={"reason": "not at this party"})
    assert rejected.status_code == 200
    taken = spool.claim_next()
    assert taken is not None and taken.id == first["id"] and taken.record.copies == 2
    (failed,) = spool.jobs(JobState.FAILED)
    assert failed.id == second["id"] and failed.record.error == "p.png: rejected by the host: not at this party"
    assert (failed.folder / "reason.txt").read_text().strip() == failed.record.error
    again = http.post(f"/api/jobs/{second['id']}/approve", headers=auth)
    assert again.status_code == 409 and "not waiting" in again.json()["error"]


def test_the_job_page_is_found_by_its_token_not_its_id(http: TestClient, tmp_path: Path, spool: Spool) -> None:
    job_id = upload(http, tmp_path).json()["id"]
    (job,) = spool.jobs(JobState.QUEUED)
    assert job.record.page_base == "http://booth.local:8437"  # the address the guest used
    token = job.record.token
    assert token and len(token) >= 22 and token not in job_id
    assert http.get(f"/j/{job_id}").status_code == 404
    page = http.get(f"/j/{token}")
    assert page.status_code == 200 and "p.png" in page.text
    assert token not in http.get("/api/status").text and token not in http.get(f"/api/jobs/{job_id}").text
    assert http.get(f"/j/{token}/original").status_code == 403  # web.share_original is off
    upload(http, tmp_path, name="<img src=x onerror=alert(1)>{{text}}.png")
    (named,) = [j for j in spool.jobs(JobState.QUEUED) if j.id != job_id]
    shown = http.get(f"/j/{named.record.token}").text
    assert "&lt;img src=x onerror=alert(1)&gt;{{text}}.png" in shown and "<img src=x" not in shown


def test_a_port_in_use_stops_the_start_with_the_reason(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        config = tmp_path / "web.yaml"
        config.write_text(
            f"spool: {{path: '{tmp_path / 'spool'}'}}\ninbox: {{path: '{tmp_path / 'inbox'}'}}\n"
            f"printer: {{uri: 'file://{tmp_path / 'out.bin'}'}}\n"
            f"web: {{enabled: true, listen: '127.0.0.1:{port}'}}\n"
        )
        run = subprocess.run(
            [sys.executable, "-m", "printd", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 2
    assert f"web.listen 127.0.0.1:{port}: cannot take the port" in run.stderr
