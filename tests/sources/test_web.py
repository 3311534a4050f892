"""Guests print from their phones: the daemon's web page, over HTTP and in a real browser."""

from __future__ import annotations

import io
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from printd.jobs.spool import JobState
from tests.support.daemon import count, running, wait_for
from tests.support.net import free_port
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter

TOKEN = "s3cret-host"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DOCS = Path(__file__).resolve().parents[2] / "docs"


class Site:
    def __init__(self, root: Path, printer: NetworkPrinter, url: str):
        self.root, self.printer, self.url = root, printer, url
        self.spool = root / "spool"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("web")
    printer = NetworkPrinter()
    port = free_port()
    config = root / "web.yaml"
    config.write_text(
        "art: {columns: 24, max_rows: 12}\n"
        f"printer: {{uri: '{printer.uri}', timeout: 2}}\n"
        f"spool: {{path: '{root / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{root / 'inbox'}', settle: 0.3}}\n"
        f"web: {{enabled: true, listen: '127.0.0.1:{port}', admin_token: {TOKEN}, max_upload_mb: 0.3,"
        " per_client_per_minute: 8}\n"
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/api/status", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with running(config, printer):
        wait_for(up, 60)
        yield Site(root, printer, url)


def photo_bytes(tmp_path: Path, size: tuple[int, int] = (120, 150), seed: int = 0) -> bytes:
    return write_photo(tmp_path / f"p{seed}.png", size, seed=seed).read_bytes()


def test_upload_prints_and_the_job_can_be_followed(site: Site, tmp_path: Path) -> None:
    with site.client() as http:
        sent_at = time.monotonic()
        answer = http.post("/api/jobs", files={"image": ("party.png", photo_bytes(tmp_path), "image/png")})
        assert answer.status_code == 201, answer.text
        job = answer.json()["id"]
        wait_for(lambda: http.get(f"/api/jobs/{job}").json()["state"] == "done", 60)
        record = http.get(f"/api/jobs/{job}").json()
        assert record["name"] == "party.png" and record["source"] == "web"
        assert record["printed_at"] - record["received_at"] < time.monotonic() - sent_at + 1
        png = http.get(f"/api/jobs/{job}/preview.png")
        assert png.headers["content-type"] == "image/png" and Image.open(io.BytesIO(png.content)).width == 24 * 12
        text = http.get(f"/api/jobs/{job}/art.txt").text
        assert len(text.splitlines()[0]) == 24
        status = http.get("/api/status").json()
        assert status["printer"].startswith("ready") and any(j["id"] == job for j in status["jobs"])
    assert site.printer.model.jobs(expect=1)


def test_bad_uploads_get_a_4xx_with_a_reason(site: Site, tmp_path: Path) -> None:
    with site.client() as http:
        not_image = http.post("/api/jobs", files={"image": ("notes.jpg", b"not a picture at all", "image/jpeg")})
        assert not_image.status_code == 400 and "notes.jpg" in not_image.json()["error"]
        too_big = http.post("/api/jobs", files={"image": ("big.png", os.urandom(400_000), "image/png")})
        assert too_big.status_code == 413 and "too big" in too_big.json()["error"]
        no_field = http.post("/api/jobs", files={"photo": ("a.png", photo_bytes(tmp_path), "image/png")})
        assert no_field.status_code == 400
        bad_flag = http.post("/api/jobs", data={"columns": "9999"}, files={"image": ("a.png", b"x", "image/png")})
        assert bad_flag.status_code == 400 and "columns" in bad_flag.json()["error"]
        assert http.get("/api/jobs/nope").status_code == 404
    assert count(site.spool, JobState.QUEUED) == 0 and not list((site.spool / "tmp").glob(".upload-*"))


def test_host_actions_need_the_token(site: Site, tmp_path: Path) -> None:
    with site.client() as http:
        (job,) = [j["id"] for j in http.get("/api/status").json()["jobs"] if j["state"] == "done"][:1]
        assert http.post(f"/api/jobs/{job}/reprint").status_code == 401
        wrong = http.post(f"/api/jobs/{job}/reprint", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 401 and "token" in wrong.json()["error"]
        paused = http.post("/api/printers/printer/pause", headers={"Authorization": f"Bearer {TOKEN}"})
        assert paused.status_code == 200
        try:
            wait_for(lambda: "paused" in http.get("/api/status").json()["printers"][0]["state"], 30)
            again = http.post(f"/api/jobs/{job}/reprint", headers={"Authorization": f"Bearer {TOKEN}"})
            assert again.status_code == 201
            copy = again.json()["id"]
            before = len(site.printer.model.jobs())
            wait_for(lambda: http.get(f"/api/jobs/{copy}/art.txt").status_code == 200, 30)  # rendered, waiting
            assert http.get(f"/api/jobs/{copy}").json()["state"] == "active"
            assert len(site.printer.model.jobs()) == before  # paused: not printed
        finally:  # the next tests need the printer back, whatever happened here
            resumed = http.post("/api/printers/printer/resume", headers={"Authorization": f"Bearer {TOKEN}"})
        assert resumed.status_code == 200
        wait_for(lambda: http.get(f"/api/jobs/{copy}").json()["state"] == "done", 60)


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_a_guest_prints_from_a_phone_sized_browser(site: Site, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    picture = write_photo(tmp_path / "guest.png", (300, 380), seed=7)
    before = len(site.printer.model.jobs())
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        page.goto(site.url + "/")
        expect(page.locator("#printers")).to_contain_text("ready")
        page.set_input_files("#picker", str(picture))
        expect(page.locator("#art")).to_be_visible(timeout=60_000)
        expect(page.locator("#message")).to_contain_text("how it will print")
        page.screenshot(path=str(tmp_path / "preview.png"))
        page.click("#print")
        mine = page.locator("#jobs li", has_text="★ guest.png")
        expect(mine).to_contain_text("printed", timeout=60_000)
        page.screenshot(path=str(tmp_path / "printed.png"), full_page=True)
        browser.close()
    assert len(site.printer.model.jobs(expect=before + 1)) == before + 1
    if os.environ.get("PRINTD_DOCS_SCREENSHOTS"):  # refresh the README's pictures
        shutil.copy(tmp_path / "preview.png", DOCS / "web-preview.png")
        shutil.copy(tmp_path / "printed.png", DOCS / "web-printed.png")


def test_a_flood_from_one_client_gets_429(site: Site, tmp_path: Path) -> None:
    """Last in this file: it spends the client's allowance."""
    with site.client() as http:
        codes = [
            http.post("/api/jobs", files={"image": ("x.jpg", b"not an image", "image/jpeg")}).status_code
            for _ in range(10)
        ]
        assert 429 in codes and codes[-1] == 429
        assert "too many" in http.post("/api/jobs", files={"image": ("x.png", b"x", "image/png")}).json()["error"]
