"""The receipt's QR code in raster mode (drawn into the bit image, read back with OpenCV as a phone
would), the link's base (web.public_url over the address used over the listen address) and the
original photo where the host shares it."""

from __future__ import annotations

import httpx

from printd.config import Config
from printd.jobs.spool import JobRecord
from printd.render.receipt import job_link, receipt_for
from tests.support.daemon import running, wait_for
from tests.support.net import free_port
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, qr_links, raster_images, read_qr


def test_a_raster_receipt_ends_in_a_qr_code_a_camera_can_read(tmp_path) -> None:
    printer = NetworkPrinter()
    port = free_port()
    public = f"http://localhost:{port}"  # not the address the upload uses: public_url wins
    config = tmp_path / "web.yaml"
    config.write_text(
        "art: {columns: 12, max_rows: 6}\n"
        f"printer: {{uri: '{printer.uri}', timeout: 2, mode: raster}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.3}}\n"
        f"web: {{enabled: true, listen: '127.0.0.1:{port}', public_url: '{public}', share_original: true}}\n"
        "receipt: {footer: ['{date} {time}']}\n"
    )
    photo = write_photo(tmp_path / "shared.png", (120, 150), seed=3).read_bytes()
    with running(config, printer), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
        wait_for(lambda: _up(http), 90)
        answer = http.post("/api/jobs", files={"image": ("shared.png", photo, "image/png")})
        assert answer.status_code == 201, answer.text
        (receipt,) = printer.model.jobs(expect=1, timeout=90)
        art, code = raster_images(receipt)
        assert art.shape[1] == 12 * 12 and not qr_links(receipt)  # drawn, not asked of the printer
        link = read_qr(code)
        assert link.startswith(public + "/j/")
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and 'href="/j/' in page.text and "Your photo" in page.text
        token = link.rsplit("/", 1)[1]
        assert httpx.get(f"{public}/j/{token}/original", timeout=10).content == photo
        assert httpx.get(f"{public}/j/{token}/preview.png", timeout=10).content[:4] == b"\x89PNG"


def test_the_link_uses_the_public_url_else_the_address_used_else_the_listen_address() -> None:
    record = JobRecord(id="1", source="web", name="a.png", received_at=0.0, token="T0k3n")
    listening = Config.model_validate({"web": {"enabled": True, "listen": "192.0.2.9:8437"}})
    assert job_link(listening.web, record) == "http://192.0.2.9:8437/j/T0k3n"
    record.page_base = "http://booth.local:8437"
    assert job_link(listening.web, record) == "http://booth.local:8437/j/T0k3n"
    public = listening.replace(web={**listening.web.model_dump(), "public_url": "https://party.example/"})
    assert job_link(public.web, record) == "https://party.example/j/T0k3n"
    assert receipt_for(public, record).qr == "https://party.example/j/T0k3n"
    assert receipt_for(public.replace(web={"enabled": False}), record).qr is None  # no page, no link
    no_qr = public.replace(receipt={"qr": False})
    assert receipt_for(no_qr, record).qr is None


def _up(http: httpx.Client) -> bool:
    try:
        return http.get("/api/status", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
