"""The guest page and its API (docs/architecture.md §9), served by the daemon when `web.enabled`.

Starlette on uvicorn: a small, well-kept ASGI stack whose request bodies stream (uploads go to disk
through python-multipart's parser, never whole into memory) and whose responses can stream, which
is all server-sent events need. uvicorn runs in a thread of the daemon, so the page sees the same
spool and printers as every other part.

Uploads enter the spool by the inbox's own intake: size limit, image check (Pillow's
decompression-bomb limit included), then `Spool.submit`. Host actions need the admin token in an
`Authorization: Bearer` header: a page on another site cannot send that header without a CORS
preflight, which this server never grants, so the actions are safe against cross-site requests.
Every answer carries a Content-Security-Policy that allows only the pages' own scripts and styles
(by hash) and no framing, so a name or a reason shown on the page can never run as code.

A job's page (`/j/TOKEN`, the link in the receipt's QR code) is found by the token in its record,
never by its ID: the IDs are listed in the status anyone may read.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import html
import io
import json
import logging
import re
import secrets
import shutil
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from optimizer import BadImageError

from ..atomic import atomic_write
from ..config import Config, LimitsConfig
from ..errors import InputError, UsageError
from ..jobs.art import ART_FLAGS, JobArt, parse_art
from ..jobs.spool import Job, JobState, Spool
from .intake import Host, Intake, JobActionError, Source

log = logging.getLogger(__name__)


class WebError(Exception):
    """An answer other than success: an HTTP status and a reason for the JSON body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


GUEST_COOKIE = "printd_guest"
GUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
HOST_HEADER = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
HOUR = 3600.0


class RateLimit:
    """At most `per_minute` uploads per client address in any 60 s (`what`: prints, or previews,
    counted apart so that looking does not spend the allowance to print)."""

    def __init__(self, per_minute: int, what: str):
        self.per_minute = per_minute
        self.what = what
        self.seen: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            times = self.seen[client]
            while times and now - times[0] > 60:
                times.popleft()
            if len(times) >= self.per_minute:
                raise WebError(429, f"too many {self.what} from {client}: {self.per_minute} a minute; try again soon")
            times.append(now)


class GuestLimits:
    """`limits:`: prints per guest in any hour (by address and by browser cookie, each counted) and
    prints from the page in the event (the spool's counters, kept across restarts). The hour's
    ledger starts from the spool's own records, so a restart does not hand out a new allowance."""

    def __init__(self, limits: LimitsConfig, spool: Spool):
        self.limits = limits
        self.counters = spool.counters
        self.lock = threading.Lock()
        self.ledger: dict[str, deque[tuple[float, int]]] = defaultdict(deque)
        if limits.per_guest_per_hour is not None:
            since = time.time() - HOUR
            for job in spool.recent():
                record = job.record
                if record.source == "web" and record.received_at > since:
                    for key in self._keys(record.client, record.guest):
                        self.ledger[key].append((record.received_at, record.copies))

    @staticmethod
    def _keys(client: str | None, guest: str | None) -> list[str]:
        return [f"{kind}:{who}" for kind, who in (("address", client), ("browser", guest)) if who]

    def take(self, client: str | None, guest: str | None, prints: int) -> None:
        """Count `prints` for this guest, or refuse them with the reason the page shows (429)."""
        now = time.time()
        per_hour, per_event = self.limits.per_guest_per_hour, self.limits.per_event
        with self.lock:
            if per_event is not None and self.counters.accepted("web") + prints > per_event:
                raise WebError(429, f"the event's {per_event} prints from this page are all used up: ask the host")
            keys = self._keys(client, guest) if per_hour is not None else []
            for key in keys:
                ledger = self.ledger[key]
                while ledger and now - ledger[0][0] > HOUR:
                    ledger.popleft()
                used = sum(count for _, count in ledger)
                if per_hour is not None and used + prints > per_hour:
                    wait = max(1, round((HOUR - (now - ledger[0][0])) / 60)) if ledger else 60
                    left = f"{per_hour - used} left" if used < per_hour else "none left"
                    raise WebError(429, f"{per_hour} prints per guest in an hour ({left}): try again in {wait} min")
            for key in keys:
                self.ledger[key].append((now, prints))
            self.counters.accept("web", prints)

    def give_back(self, client: str | None, guest: str | None, prints: int) -> None:
        """A print counted but not queued (its picture was refused) or rejected by the host."""
        with self.lock:
            for key in self._keys(client, guest):
                ledger = self.ledger[key]
                latest = next((entry for entry in reversed(ledger) if entry[1] == prints), None)
                if latest is not None:
                    ledger.remove(latest)
            self.counters.accept("web", -prints)


class Previewer:
    """Renders a preview for the guest before it prints, one at a time, beside the daemon's own
    render worker (a renderer is not shared between threads)."""

    def __init__(self, config: Config):
        from ..render.artist import Artist

        self.artist = Artist(config)
        self.lock = threading.Lock()

    def png(self, path: Path, art: JobArt) -> bytes:
        with self.lock:
            printable = self.artist.render(path, art)
        buffer = io.BytesIO()
        printable.art.preview(printable.atlas).save(buffer, format="PNG")
        return buffer.getvalue()


@dataclass
class Site:
    """What the handlers share: the config, the way into the spool, the daemon, the limits."""

    config: Config
    intake: Intake
    host: Host
    prints: RateLimit
    previews: RateLimit
    guests: GuestLimits
    previewer: Previewer
    page: str
    job_page: str

    @property
    def spool(self) -> Spool:
        return self.intake.spool


@dataclass(frozen=True)
class Upload:
    """A picture received and checked, with what its form asked and who sent it."""

    path: Path
    name: str
    art: JobArt
    copies: int
    client: str | None
    guest: str | None


def site(request: Request) -> Site:
    here: Site = request.app.state.site
    return here


async def receive_upload(request: Request, limit: RateLimit) -> Upload:
    """The `image` field on disk (in the spool's tmp/), checked as the inbox would check it, its
    name, and the other fields (`copies` and art settings), checked."""
    here = site(request)
    web = here.config.web
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise WebError(411, "send the picture with a Content-Length")
    if int(length) > web.max_upload_mb * 1e6:
        raise WebError(413, f"picture too big: {int(length) / 1e6:.1f} MB, the limit is {web.max_upload_mb:g} MB")
    client = request.client.host if request.client else None
    limit.check(client or "unknown")
    async with request.form(max_files=1, max_fields=len(ART_FLAGS) + 1) as form:
        upload = form.get("image")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise WebError(400, "no picture: send it as the multipart field 'image'")
        texts = {key: str(value) for key, value in form.multi_items() if not isinstance(value, UploadFile)}
        copies = _copies(texts.pop("copies", ""), web.max_copies)
        art = parse_art(texts, here.config)
        name = Path(upload.filename).name or "upload"
        path = here.intake.scratch("upload", name)
        with path.open("wb") as out:
            await asyncio.to_thread(shutil.copyfileobj, upload.file, out, 1 << 20)
    try:
        await asyncio.to_thread(here.intake.check, path)
    except BadImageError as exc:
        path.unlink(missing_ok=True)
        raise WebError(400, str(exc).replace(str(path), name)) from exc
    guest = request.cookies.get(GUEST_COOKIE)
    return Upload(path, name, art, copies, client, guest if guest and GUEST_ID.fullmatch(guest) else None)


def _copies(text: str, most: int) -> int:
    if text == "":
        return 1
    if not text.isdigit() or not 1 <= int(text) <= most:
        raise WebError(400, f"copies: 1 to {most}, not {text!r}")
    return int(text)


def _page_base(request: Request) -> str | None:
    """The address the guest reached the page on (the Host header, when it is one), for the link."""
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}" if HOST_HEADER.fullmatch(host) else None


async def submit(request: Request) -> Response:
    here = site(request)
    upload = await receive_upload(request, here.prints)
    details = {
        "copies": upload.copies,
        "client": upload.client,
        "guest": upload.guest,
        "page_base": _page_base(request),
        "awaiting_approval": here.config.web.approval,
    }
    try:
        here.guests.take(upload.client, upload.guest, upload.copies)
        try:
            (job,) = here.intake.take(upload.path, "web", upload.name, upload.art, details=details)
        except BaseException:
            here.guests.give_back(upload.client, upload.guest, upload.copies)
            raise
    finally:
        upload.path.unlink(missing_ok=True)
    log.info("%s: from the web page (%r, %d copies)", job.id, upload.name, upload.copies)
    return JSONResponse({"id": job.id, "awaiting_approval": job.record.awaiting_approval}, status_code=201)


async def preview(request: Request) -> Response:
    here = site(request)
    upload = await receive_upload(request, here.previews)
    try:
        png = await asyncio.to_thread(here.previewer.png, upload.path, upload.art)
    except (BadImageError, InputError) as exc:
        raise WebError(400, str(exc).replace(str(upload.path), upload.name)) from exc
    finally:
        upload.path.unlink(missing_ok=True)
    return Response(png, media_type="image/png")


def status(request: Request) -> Response:
    return JSONResponse(site(request).host.status())


def find(request: Request) -> Job:
    job = site(request).spool.find(request.path_params["job"])
    if job is None:
        raise WebError(404, f"no job {request.path_params['job']!r}")
    return job


def by_token(request: Request) -> Job:
    """The job whose page this is: by its token, never its ID."""
    spool = site(request).spool
    entry = spool.index.by_token(request.path_params["token"])
    job = spool.find(entry.id) if entry is not None else None
    if job is None:
        raise WebError(404, "no such print: the link is wrong, or the print was removed")
    return job


def job(request: Request) -> Response:
    found = find(request)
    return JSONResponse({"id": found.id, "state": found.state.value, **_public(found.record)})


async def job_preview(found: Job, here: Site) -> Path:
    """preview.png of a job; a job held for approval has none yet, so the host's look renders it."""
    path = found.folder / "preview.png"
    if not path.is_file() and found.state is JobState.QUEUED and found.record.awaiting_approval:
        png = await asyncio.to_thread(here.previewer.png, found.original, found.record.art)
        with contextlib.suppress(FileNotFoundError):  # approved and taken meanwhile: the render writes its own
            atomic_write(path, png)
    return path


def job_file(name: str, media_type: str, lookup: Callable[[Request], Job] = find) -> Callable[[Request], Any]:
    async def serve(request: Request) -> Response:
        found = lookup(request)
        path = await job_preview(found, site(request)) if name == "preview.png" else found.folder / name
        if not path.is_file():
            raise WebError(404, f"{name} is not there yet: the job has not been rendered")
        data = path.read_bytes()
        if name == "art.txt":
            data = data.decode("cp437").encode("utf-8")
        return Response(data, media_type=media_type)

    return serve


def original(request: Request) -> Response:
    """The guest's own photo, where the host shares it (web.share_original)."""
    if not site(request).config.web.share_original:
        raise WebError(403, "the host does not share the original photos (web.share_original)")
    found = by_token(request)
    if not found.original.is_file():
        raise WebError(404, "the original photo is gone (retention)")
    disposition = f'attachment; filename="{_download_name(found.record.name)}"'
    return Response(
        found.original.read_bytes(), media_type="application/octet-stream", headers={"Content-Disposition": disposition}
    )


def job_page(request: Request) -> Response:
    """The QR code's page: the print's preview, its text to copy and, where shared, the original."""
    here = site(request)
    found = by_token(request)
    token = request.path_params["token"]
    art = found.folder / "art.txt"
    text = art.read_bytes().decode("cp437") if art.is_file() else ""
    state = {"done": "printed", "failed": "not printed"}.get(found.state.value, "being made")
    shared = (
        f'<a download href="/j/{token}/original">Your photo</a>'
        if here.config.web.share_original and found.original.is_file()
        else ""
    )
    values = {
        "name": html.escape(found.record.name),
        "state": state,
        "token": token,
        "text": html.escape(text),
        "original": shared,
        "hidden": "" if text else "hidden",
    }
    page = re.sub(r"\{\{(\w+)\}\}", lambda slot: values[slot[1]], here.job_page)  # one pass: a name's braces stay
    return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def events(request: Request) -> Response:
    host = site(request).host

    async def stream() -> AsyncIterator[bytes]:
        last = None
        while not await request.is_disconnected():
            text = json.dumps(host.status())
            if text != last:
                yield f"data: {text}\n\n".encode()
                last = text
            await asyncio.sleep(0.5)

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def admin(request: Request) -> None:
    """The admin token, as `Authorization: Bearer TOKEN` and nothing else (a bare token is refused)."""
    token = site(request).config.web.admin_token
    if not token:
        raise WebError(403, "host actions are off: set web.admin_token in the config")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Compared as bytes: a header Starlette decoded as Latin-1 may hold what compare_digest refuses as text.
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
        raise WebError(401, "host actions need the admin token (Authorization: Bearer TOKEN)")


def cancel(request: Request) -> Response:
    admin(request)
    try:
        site(request).intake.cancel(find(request))
    except JobActionError as exc:
        raise WebError(409, str(exc)) from exc
    return JSONResponse({"id": request.path_params["job"], "state": "failed"})


def reprint(request: Request) -> Response:
    admin(request)
    try:
        job = site(request).intake.reprint(find(request), "web")
    except JobActionError as exc:
        raise WebError(409, str(exc)) from exc
    return JSONResponse({"id": job.id}, status_code=201)


def held(request: Request) -> Job:
    admin(request)
    found = find(request)
    if found.state is not JobState.QUEUED or not found.record.awaiting_approval:
        raise WebError(409, f"job is {found.state.value}, not waiting for approval")
    return found


def approve(request: Request) -> Response:
    found = held(request)
    found.record.awaiting_approval = False
    found.record.history.append(f"{time.strftime('%FT%T')} approved by the host")
    here = site(request)
    here.spool.save(found)
    here.intake.wake()
    log.info("%s: approved by the host", found.id)
    return JSONResponse({"id": found.id, "state": "queued"})


async def reject(request: Request) -> Response:
    found = held(request)
    body = await request.body()
    try:
        given = json.loads(body or b"{}").get("reason", "")
    except (ValueError, AttributeError) as exc:
        raise WebError(400, 'send the reason as JSON: {"reason": "…"}') from exc
    if not isinstance(given, str) or len(given) > 200:
        raise WebError(400, "reason: text of at most 200 characters")
    reason = f"{found.record.name}: rejected by the host" + (f": {given.strip()}" if given.strip() else "")
    here = site(request)
    try:
        here.spool.fail(found, reason)
    except FileNotFoundError as exc:
        raise WebError(409, "the job has just been approved: too late to reject") from exc
    here.guests.give_back(found.record.client, found.record.guest, found.record.copies)
    log.info("%s: %s", found.id, reason)
    return JSONResponse({"id": found.id, "state": "failed", "error": reason})


ACTIONS = {"pause": True, "resume": False}


def pause(request: Request) -> Response:
    admin(request)
    name, action = request.path_params["printer"], request.path_params["action"]
    if action not in ACTIONS:
        raise WebError(400, f"no action {action!r} for a printer (actions: {', '.join(ACTIONS)})")
    paused = ACTIONS[action]
    if not site(request).host.pause(name, paused):
        raise WebError(404, f"no printer named {name!r}")
    return JSONResponse({"printer": name, "paused": paused})


def new_roll(request: Request) -> Response:
    admin(request)
    name = request.path_params["printer"]
    if not site(request).host.new_roll(name):
        raise WebError(404, f"no printer named {name!r}")
    return JSONResponse({"printer": name, "new_roll": True})


async def index(request: Request) -> Response:
    """The guest page (and /host); a browser seen for the first time gets its guest cookie, by which
    the limits count it besides its address."""
    response = HTMLResponse(site(request).page, headers={"Cache-Control": "no-store"})
    if not GUEST_ID.fullmatch(request.cookies.get(GUEST_COOKIE, "")):
        response.set_cookie(
            GUEST_COOKIE, secrets.token_urlsafe(16), max_age=86400 * 7, httponly=True, samesite="strict"
        )
    return response


async def refused(request: Request, exc: Exception) -> Response:
    """Every refusal, as JSON with the reason: a WebError's own status, bad input 400."""
    code = exc.status if isinstance(exc, WebError) else 400
    return JSONResponse({"error": str(exc)}, status_code=code)


ROUTES = [
    Route("/", index),
    Route("/host", index),
    Route("/api/status", status),
    Route("/api/events", events),
    Route("/api/preview", preview, methods=["POST"]),
    Route("/api/jobs", submit, methods=["POST"]),
    Route("/api/jobs/{job}", job),
    Route("/api/jobs/{job}/preview.png", job_file("preview.png", "image/png")),
    Route("/api/jobs/{job}/art.txt", job_file("art.txt", "text/plain; charset=utf-8")),
    Route("/api/jobs/{job}/cancel", cancel, methods=["POST"]),
    Route("/api/jobs/{job}/reprint", reprint, methods=["POST"]),
    Route("/api/jobs/{job}/approve", approve, methods=["POST"]),
    Route("/api/jobs/{job}/reject", reject, methods=["POST"]),
    Route("/api/printers/{printer}/paper", new_roll, methods=["POST"]),  # before the pause/resume route
    Route("/api/printers/{printer}/{action:str}", pause, methods=["POST"]),
    Route("/j/{token}", job_page),
    Route("/j/{token}/preview.png", job_file("preview.png", "image/png", by_token)),
    Route("/j/{token}/art.txt", job_file("art.txt", "text/plain; charset=utf-8", by_token)),
    Route("/j/{token}/original", original),
]


class SecurityHeaders:
    """Every answer: the Content-Security-Policy of the pages (their own inline script and style,
    allowed by hash; images from here; no framing), X-Frame-Options for older browsers, no sniffing."""

    def __init__(self, app: ASGIApp, *pages: str):
        def hashes(tag: str) -> str:
            blocks = [m for page in pages for m in re.findall(rf"<{tag}>(.*?)</{tag}>", page, re.S)]
            digests = (base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() for b in blocks)
            return " ".join(f"'sha256-{d}'" for d in digests)

        policy = (
            f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; img-src 'self' blob:; "
            "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
        )
        self.app = app
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(config: Config, intake: Intake, host: Host) -> ASGIApp:
    app = Starlette(routes=ROUTES, exception_handlers={WebError: refused, InputError: refused})
    static = resources.files("printd").joinpath("static")
    page = static.joinpath("index.html").read_text(encoding="utf-8")
    page = page.replace('data-max-copies="3"', f'data-max-copies="{config.web.max_copies}"')
    job_page = static.joinpath("job.html").read_text(encoding="utf-8")
    prints = RateLimit(config.web.per_client_per_minute, "pictures")
    previews = RateLimit(config.web.per_client_per_minute, "previews")
    guests = GuestLimits(config.limits, intake.spool)
    app.state.site = Site(config, intake, host, prints, previews, guests, Previewer(config), page, job_page)
    return SecurityHeaders(app, page, job_page)


def _download_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80] or "photo"


def _public(record: Any) -> dict[str, object]:
    return {
        "name": record.name,
        "source": record.source,
        "received_at": record.received_at,
        "printed_at": record.printed_at,
        "printer": record.printer,
        "error": record.error,
        "possible_duplicate": record.possible_duplicate,
    }


def source(config: Config, intake: Intake, host: Host) -> WebServer:
    return WebServer(config, intake, host)


class WebServer(Source):
    """uvicorn in a thread of the daemon, stopped with it. The port is taken here, before the thread
    starts: a port already in use stops the daemon's start with the reason, instead of a daemon
    running without its page and uvicorn's complaint in the log."""

    def __init__(self, config: Config, intake: Intake, host: Host):
        self.address = config.web.address
        app = create_app(config, intake, host)
        address, port = self.address
        self.server = uvicorn.Server(uvicorn.Config(app, host=address, port=port, log_level="warning", lifespan="off"))
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        address, port = self.address
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            listening = socket.create_server((address, port), family=family)
        except OSError as exc:
            raise UsageError(
                f"web.listen {address}:{port}: cannot take the port ({exc.strerror or exc}); is another program "
                "(or printd) on it? Choose another in web.listen"
            ) from exc
        # Connections inherit TCP_NODELAY from the listening socket. asyncio sets it only on sockets
        # made with proto IPPROTO_TCP, which create_server's are not: without it a page polling over
        # one connection waited ~40 ms per answer (the body held back for the ACK of the headers).
        listening.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [listening]}, name="web", daemon=True)
        self.thread.start()
        log.info("guest page on http://%s:%d/", *self.address)

    def close(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)
