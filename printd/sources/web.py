"""The guest page and its API (docs/architecture.md §9), served by the daemon when `web.enabled`.

Starlette on uvicorn: a small, well-kept ASGI stack whose request bodies stream (uploads go to disk
through python-multipart's parser, never whole into memory) and whose responses can stream, which
is all server-sent events need. uvicorn runs in a thread of the daemon, so the page sees the same
spool and printers as every other part.

Uploads enter the spool by the inbox's own intake: size limit, image check (Pillow's
decompression-bomb limit included), then `Spool.submit`. Host actions need the admin token in an
`Authorization: Bearer` header: a page on another site cannot send that header without a CORS
preflight, which this server never grants, so the actions are safe against cross-site requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import secrets
import shutil
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

from optimizer import BadImageError

from ..config import Config
from ..errors import InputError
from ..jobs.art import ART_FLAGS, JobArt, parse_art
from ..jobs.spool import Job, Spool
from .intake import Host, Intake, JobActionError, Source

log = logging.getLogger(__name__)


class WebError(Exception):
    """An answer other than success: an HTTP status and a reason for the JSON body."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


class RateLimit:
    """At most `per_minute` uploads per client address in any 60 s."""

    def __init__(self, per_minute: int):
        self.per_minute = per_minute
        self.seen: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def check(self, client: str) -> None:
        now = time.monotonic()
        with self.lock:
            times = self.seen[client]
            while times and now - times[0] > 60:
                times.popleft()
            if len(times) >= self.per_minute:
                raise WebError(429, f"too many pictures from {client}: {self.per_minute} a minute; try again soon")
            times.append(now)


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
    limit: RateLimit
    previewer: Previewer
    page: str

    @property
    def spool(self) -> Spool:
        return self.intake.spool


def site(request: Request) -> Site:
    here: Site = request.app.state.site
    return here


async def receive_upload(request: Request) -> tuple[Path, str, JobArt]:
    """The `image` field on disk (in the spool's tmp/), checked as the inbox would check it, its
    name, and the other fields as art settings, checked."""
    here = site(request)
    web = here.config.web
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise WebError(411, "send the picture with a Content-Length")
    if int(length) > web.max_upload_mb * 1e6:
        raise WebError(413, f"picture too big: {int(length) / 1e6:.1f} MB, the limit is {web.max_upload_mb:g} MB")
    here.limit.check(request.client.host if request.client else "unknown")
    async with request.form(max_files=1, max_fields=len(ART_FLAGS) + 2) as form:
        upload = form.get("image")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise WebError(400, "no picture: send it as the multipart field 'image'")
        art = _art_fields(form, here.config)
        name = Path(upload.filename).name or "upload"
        path = here.intake.scratch("upload", name)
        with path.open("wb") as out:
            await asyncio.to_thread(shutil.copyfileobj, upload.file, out, 1 << 20)
    try:
        await asyncio.to_thread(here.intake.check, path)
    except BadImageError as exc:
        path.unlink(missing_ok=True)
        raise WebError(400, str(exc).replace(str(path), name)) from exc
    return path, name, art


async def submit(request: Request) -> Response:
    path, name, art = await receive_upload(request)
    try:
        (job,) = site(request).intake.take(path, "web", name, art)
    finally:
        path.unlink(missing_ok=True)
    log.info("%s: from the web page (%r)", job.id, name)
    return JSONResponse({"id": job.id}, status_code=201)


async def preview(request: Request) -> Response:
    path, name, art = await receive_upload(request)
    try:
        png = await asyncio.to_thread(site(request).previewer.png, path, art)
    except (BadImageError, InputError) as exc:
        raise WebError(400, str(exc).replace(str(path), name)) from exc
    finally:
        path.unlink(missing_ok=True)
    return Response(png, media_type="image/png")


def status(request: Request) -> Response:
    return JSONResponse(site(request).host.status())


def find(request: Request) -> Job:
    job = site(request).spool.find(request.path_params["job"])
    if job is None:
        raise WebError(404, f"no job {request.path_params['job']!r}")
    return job


def job(request: Request) -> Response:
    found = find(request)
    return JSONResponse({"id": found.id, "state": found.state.value, **_public(found.record)})


def job_file(name: str, media_type: str) -> Callable[[Request], Response]:
    def serve(request: Request) -> Response:
        path = find(request).folder / name
        if not path.is_file():
            raise WebError(404, f"{name} is not there yet: the job has not been rendered")
        data = path.read_bytes()
        if name == "art.txt":
            data = data.decode("cp437").encode("utf-8")
        return Response(data, media_type=media_type)

    return serve


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
    token = site(request).config.web.admin_token
    given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not token:
        raise WebError(403, "host actions are off: set web.admin_token in the config")
    if not secrets.compare_digest(given, token):
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


def pause(request: Request) -> Response:
    admin(request)
    name, paused = request.path_params["printer"], request.path_params["action"] == "pause"
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
    return HTMLResponse(site(request).page, headers={"Cache-Control": "no-store"})


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
    Route("/api/printers/{printer}/paper", new_roll, methods=["POST"]),  # before the pause/resume route
    Route("/api/printers/{printer}/{action:str}", pause, methods=["POST"]),
]


def create_app(config: Config, intake: Intake, host: Host) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={WebError: refused, InputError: refused})
    page = resources.files("printd").joinpath("static/index.html").read_text(encoding="utf-8")
    limit = RateLimit(config.web.per_client_per_minute)
    app.state.site = Site(config, intake, host, limit, Previewer(config), page)
    return app


def _art_fields(form: Any, config: Config) -> JobArt:
    """The form's other fields: art settings (`send`'s flags), checked against the printers; an unknown
    field is refused with the known ones."""
    texts = {key: str(value) for key, value in form.multi_items() if not isinstance(value, UploadFile)}
    return parse_art(texts, config)


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
    """uvicorn in a thread of the daemon, stopped with it."""

    def __init__(self, config: Config, intake: Intake, host: Host):
        self.address = config.web.address
        app = create_app(config, intake, host)
        address, port = self.address
        self.server = uvicorn.Server(uvicorn.Config(app, host=address, port=port, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, name="web", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("guest page on http://%s:%d/", *self.address)

    def close(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(RuntimeError):
            self.thread.join(timeout=5)
