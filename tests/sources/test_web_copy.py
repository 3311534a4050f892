"""The guest's digital copy (issue 24), in a real browser on the daemon's page with a loopback
printer: a guest asks for 2 copies, the host approves, two receipts print with the event's header,
each ending in the QR code of the job's page, which serves the art; the guest's fourth print in an
hour is refused with the page's reason and the host's counters say 3."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.support.daemon import running, wait_for
from tests.support.net import free_port
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, decode_rows, qr_links

TOKEN = "s3cret-host"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("PRINTD_SCREENSHOTS")  # a folder to keep the pages' screenshots in


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_two_approved_copies_each_carry_the_link_to_the_jobs_page(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    printer = NetworkPrinter()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = tmp_path / "web.yaml"
    config.write_text(
        "art: {columns: 16, max_rows: 8}\n"
        f"printer: {{uri: '{printer.uri}', timeout: 2}}\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.3}}\n"
        f"web: {{enabled: true, listen: '127.0.0.1:{port}', admin_token: {TOKEN}, approval: true, max_copies: 3,"
        " per_client_per_minute: 3}\n"
        "receipt: {event: Ada's party, header: ['{event}', 'print {count}'], footer: ['thank you'], qr: true}\n"
        "limits: {per_guest_per_hour: 3}\n"
    )
    shots = Path(SHOTS) if SHOTS else tmp_path
    with running(config, printer), sync_playwright() as playwright:
        wait_for(lambda: _up(url), 90)
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        guest = browser.new_page(viewport={"width": 390, "height": 844})
        host = browser.new_context(viewport={"width": 900, "height": 1000}).new_page()
        guest.goto(url + "/")
        host.goto(url + "/host")
        host.fill("#token", TOKEN)
        host.dispatch_event("#token", "change")

        def guest_prints(seed: int, copies: str) -> None:
            """Pick a photo (its preview: not counted against the prints), choose copies, print."""
            guest.set_input_files("#picker", str(write_photo(tmp_path / f"guest{seed}.png", (200, 240), seed=seed)))
            expect(guest.locator("#message")).to_contain_text("how it will print", timeout=90_000)
            guest.select_option("#copies", copies)
            guest.click("#print")

        def host_approves(name: str) -> None:
            held = host.locator("#jobs li", has_text=name)
            expect(held).to_contain_text("waiting for the host", timeout=30_000)
            expect(held.locator("img")).to_be_visible(timeout=90_000)  # the host sees what it would print
            host.wait_for_function(
                "name => [...document.querySelectorAll('#jobs li')].some(li => li.textContent.includes(name)"
                " && li.querySelector('img')?.naturalWidth > 0)",
                arg=name,
                timeout=90_000,
            )
            host.screenshot(path=str(shots / f"host-approval-{Path(name).stem}.png"), full_page=True)
            held.get_by_role("button", name="approve").click()

        guest_prints(1, "2")
        expect(guest.locator("#message")).to_contain_text("the host looks at it")
        host_approves("guest1.png")
        receipts = printer.model.jobs(expect=2, timeout=90)
        assert len(receipts) == 2 and receipts[0] == receipts[1]  # two prints of one render
        for receipt in receipts:
            rows = [text for text, _ in decode_rows(receipt)]
            assert rows[:2] == [b"Ada's party", b"print 1"] and b"thank you" in rows
            (link,) = qr_links(receipt)
            assert receipt.rindex(b"\x1d(k") > receipt.index(b"thank you")  # the receipt ends with it
        assert link.startswith(url + "/j/")  # the address the guest used
        page = httpx.get(link, timeout=10)
        assert page.status_code == 200 and "guest1.png" in page.text
        text = httpx.get(link + "/art.txt", timeout=10).text
        assert len(text.splitlines()) == len(rows) - 4 and all(len(line) == 16 for line in text.splitlines())
        assert text.splitlines()[0] in page.text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        png = httpx.get(link + "/preview.png", timeout=10)
        assert Image.open(io.BytesIO(png.content)).size == (16 * 12, len(text.splitlines()) * 30)
        job_page = browser.new_page(viewport={"width": 390, "height": 844})
        job_page.goto(link)
        expect(job_page.locator("#art")).to_be_visible()
        expect(job_page.locator("#state")).to_have_text("printed")
        job_page.screenshot(path=str(shots / "job-page.png"), full_page=True)

        guest_prints(2, "1")  # the third print of the hour
        host_approves("guest2.png")
        printer.model.jobs(expect=3, timeout=90)
        guest_prints(3, "1")  # the fourth: refused, with the reason on the page
        expect(guest.locator("#message")).to_contain_text("3 prints per guest in an hour (none left)")
        guest.screenshot(path=str(shots / "guest-refused.png"), full_page=True)
        expect(host.locator("#counters")).to_contain_text("Printed by source: web 3. By printer: printer 3.")
        host.screenshot(path=str(shots / "host.png"), full_page=True)
        counters = httpx.get(url + "/api/status", timeout=10).json()["counters"]
        assert counters["by_source"] == {"web": 3} and counters["by_printer"] == {"printer": 3}
        browser.close()
    assert len(printer.model.jobs()) == 3


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/api/status", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
