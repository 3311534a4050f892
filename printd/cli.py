"""The `printd` command: render, glyphs, send, testpage, doctor, run, status, snap; the host's jobs,
cancel, reprint and paper (over the daemon's socket)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from optimizer.errors import BadImageError, FontError
from optimizer.settings import MAX_GRID
from optimizer.vocabulary import MODES

from . import __version__
from .config import Config, PrinterConfig, load_config
from .errors import InputError, PrintdError, PrinterError, UsageError
from .jobs.art import ART_FLAGS, JobArt, parse_art, setting
from .jobs.spool import JobRecord, JobState, Spool
from .jobs.status import status_report

# Commands that render or print import the renderer (torch) and python-escpos inside themselves:
# status, snap, send --no-wait and --version answer in well under a second (docs/architecture.md §4).

log = logging.getLogger("printd")
RESTART_WAIT = 30.0  # seconds `send` waits for a daemon to take its spool (a restart)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, exit 2: argparse's default prints the whole usage first."""
        sys.stderr.write(f"printd: error: {message}\n")
        raise SystemExit(2)


def grid_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_GRID:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1–{MAX_GRID})")
    return value


PAPER_MARGIN = 32  # dots of blank paper around a sheet drawn by `testpage --png`, as a printout has
FLAG_FORMS: dict[str, dict[str, Any]] = {"align": {"nargs": "?", "const": "warp"}}  # bare --align: warp


def build_parser() -> Parser:
    common = Parser(add_help=False)
    common.add_argument("--config", type=Path, help="config file (default: $PRINTD_CONFIG or /etc/printd/printd.yaml)")
    common.add_argument("-v", "--verbose", action="store_true", help="log details")

    art = Parser(add_help=False)
    for name in ART_FLAGS:  # the flags are the schema's settings, checked there
        kind, description = setting(name)
        flag = "--" + name.replace("_", "-")
        if kind is bool:
            art.add_argument(flag, action="store_true", default=None, help=description)
        else:
            art.add_argument(flag, metavar=name.upper(), help=description, **FLAG_FORMS.get(name, {}))
    art.add_argument("--atlas", type=Path, help="the printer's measured glyphs (printd calibrate); not via a daemon")

    parser = Parser(prog="printd", description="Photos → CP437 text art on an Epson receipt printer.")
    parser.add_argument("--version", action="version", version=f"printd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("render", parents=[common, art], help="render a photo to text art files")
    p.add_argument("image", type=Path)
    p.add_argument("-o", "--output", type=Path, required=True, help="CP437 text, one line per row")
    p.add_argument("--utf8", type=Path, help="the same art as UTF-8 text")
    p.add_argument("--ansi", type=Path, help="UTF-8 text with terminal escapes for the print modes")
    p.add_argument("--preview", type=Path, help="PNG of the exact print")
    p.set_defaults(handler=cmd_render)

    p = sub.add_parser("play", parents=[common], help="play rendered frames in the terminal")
    p.add_argument("art", type=Path, help="ART.txt written by `printd render` (with its .anim.json)")
    p.add_argument("--loops", type=grid_size, default=1, help="times to play it")
    p.set_defaults(handler=cmd_play)

    p = sub.add_parser("glyphs", parents=[common], help="export the glyph atlas in use")
    p.add_argument("--sheet", type=Path, required=True, help="PNG: 16×16 cells per print mode")
    p.set_defaults(handler=cmd_glyphs)

    p = sub.add_parser("send", parents=[common, art], help="render and print photos")
    p.add_argument("images", type=Path, nargs="+")
    p.add_argument("--printer", help="a printer's name in the config, or a URI (default: the first ready)")
    p.add_argument("--copies", type=grid_size, default=1)
    p.add_argument("--no-wait", action="store_true", help="with a daemon: queue and return the job ids")
    p.add_argument("--mqtt", action="store_true", help="publish to the fleet on the broker (mqtt.url): any node prints")
    p.add_argument("--raster", action="store_true", help="send the preview as a bit image (any font prints exact)")
    p.add_argument("--timeout", type=float, default=600.0, help="with a daemon: give up waiting after this (s)")
    p.add_argument("--direct", action="store_true", help="print here, around the spool, even when a daemon runs")
    p.set_defaults(handler=cmd_send)

    p = sub.add_parser("testpage", parents=[common], help="print the glyph sheet and a shade strip")
    p.add_argument("--printer", help="a printer's name in the config, or a URI (default: the first)")
    p.add_argument("--calibration", action="store_true", help="the calibration sheet, for printd calibrate")
    p.add_argument("--png", type=Path, help="draw the sheet as it would print, into this PNG, instead of printing")
    p.set_defaults(handler=cmd_testpage)

    p = sub.add_parser("calibrate", parents=[common], help="measure the printer's glyphs from scans of its sheet")
    p.add_argument("scans", type=Path, nargs="+", help="a scan (300 dpi or more) or photo per receipt")
    p.add_argument("-o", "--output", type=Path, default=Path("printer-atlas.png"), help="the atlas file to write")
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser("run", parents=[common], help="the daemon, in the foreground (systemd starts this)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("status", parents=[common], help="printer state, queue and last jobs")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("snap", parents=[common], help="ask the running daemon for a photo-booth shot")
    p.set_defaults(handler=cmd_snap)

    p = sub.add_parser("jobs", parents=[common], help="the daemon's jobs, oldest first (waiting, then the last done)")
    p.add_argument("--state", choices=[s.value for s in JobState], help="only jobs in this state")
    p.set_defaults(handler=cmd_jobs)

    p = sub.add_parser("cancel", parents=[common], help="cancel a queued job (it moves to failed/, marked so)")
    p.add_argument("id", help="the job's ID (printd jobs lists them)")
    p.set_defaults(handler=cmd_cancel)

    p = sub.add_parser("reprint", parents=[common], help="print a job's picture again, with its settings")
    p.add_argument("id", help="the job's ID (printd jobs lists them)")
    p.set_defaults(handler=cmd_reprint)

    p = sub.add_parser("paper", parents=[common], help="paper left on each printer's roll; --new-roll after a change")
    p.add_argument("--new-roll", action="store_true", help="a full roll was just put in")
    p.add_argument("--printer", help="the printer's name (needed for --new-roll with several printers)")
    p.set_defaults(handler=cmd_paper)

    p = sub.add_parser("doctor", parents=[common], help="check what the service needs, as its user; say what to fix")
    p.add_argument("--user", help="check as this user (root only; default as root: printd, the service's)")
    p.set_defaults(handler=cmd_doctor)
    return parser


def art_flags(args: argparse.Namespace, config: Config | None = None, pin: str | None = None) -> JobArt:
    """The art settings given as flags, checked (for paper when the command prints)."""
    given = {flag: getattr(args, flag) for flag in ART_FLAGS if getattr(args, flag, None) is not None}
    try:
        return parse_art(given, config, pin, paper=args.handler is not cmd_render)
    except InputError as exc:  # named as the user typed it: the flag
        problems = [problem.partition(": ") for problem in str(exc).split("; ")]
        named = [f"--{k.replace('_', '-')}: {why}" if k in ART_FLAGS else k + sep + why for k, sep, why in problems]
        raise UsageError("; ".join(named)) from None


def cmd_render(args: argparse.Namespace, config: Config) -> int:
    from optimizer.target import probe  # Pillow, not torch: commands that do not read pictures load neither

    probe(args.image)  # bad input refused at once, before the renderer (torch) loads
    asked = art_flags(args)
    check_outputs(args.output, args.utf8, args.ansi, args.preview)
    from .render.artist import ArtFiles, render_path, renderer_for
    from .render.progress import ProgressBar

    renderer = renderer_for(config, asked)
    bar = ProgressBar(f"rendering {args.image.name}")
    try:
        work = render_path(renderer, args.image, progress=bar)
    finally:
        bar.close()
    files = ArtFiles(text=args.output, utf8=args.utf8, preview=args.preview, ansi=args.ansi)
    files.write(work, renderer.atlas, renderer.settings.dark)
    frames = f"{len(work.frames)} frames of " if len(work.frames) > 1 else ""
    art = work.frames[0]
    log.info("%s: %s%d×%d art written to %s", args.image, frames, art.columns, art.rows, args.output)
    if work.flicker is not None:
        log.info("glyphs changed in %.1f%% of the cells where the picture stood still", 100 * work.flicker)
    return 0


def check_outputs(*outputs: Path | None) -> None:
    """Each output file can be written (its folder made if need be), said with the user's own path
    before any rendering: a folder given for a file, or a folder that cannot be written in."""
    for out in outputs:
        if out is None:
            continue
        if out.is_dir():
            raise UsageError(f"{out}: is a folder; give a file name (e.g. {out / 'art.txt'})")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"{out}: cannot make its folder ({exc.strerror or exc})") from exc
        if not os.access(out.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{out}: cannot write in {out.parent} (permission denied)")


def cmd_play(args: argparse.Namespace, config: Config) -> int:
    """Rendered frames in the terminal at their own pace, paper-coloured unless made dark."""
    from optimizer import Animation, Art

    try:
        strip = Art.from_text(args.art.read_bytes(), modes=_read_if(args.art.with_suffix(".modes")), mode_names=MODES)
    except ValueError as exc:
        raise UsageError(f"{args.art}: not printd art ({exc})") from exc
    timing_file = args.art.with_suffix(".anim.json")
    timing = json.loads(timing_file.read_text()) if timing_file.exists() else None
    work = Animation.from_strip(strip, timing) if timing else Animation([strip], [1.0])
    base = "" if timing and timing.get("dark") else "30;107"  # paper: black glyphs on white
    out = sys.stdout
    for _ in range(args.loops):
        for frame, duration in zip(work.frames, work.durations, strict=True):
            started = time.monotonic()
            out.write("\x1b[H\x1b[2J" + frame.ansi(base))  # home and clear, then the frame
            out.flush()
            time.sleep(max(0.0, duration - (time.monotonic() - started)))
    return 0


def _read_if(path: Path) -> bytes | None:
    return path.read_bytes() if path.exists() else None


def cmd_glyphs(args: argparse.Namespace, config: Config) -> int:
    from .atomic import atomic_write
    from .render.artist import renderer_for

    renderer = renderer_for(config)
    sheet = renderer.atlas.sheet(renderer.allowed, renderer.settings.modes)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write(args.sheet, buffer.getvalue())
    log.info("glyph sheet (%s) written to %s", ", ".join(renderer.settings.modes), args.sheet)
    return 0


def cmd_send(args: argparse.Namespace, config: Config) -> int:
    from optimizer.target import probe

    for image in args.images:
        probe(image)  # bad input refused at once, before anything loads or is queued
    art = art_flags(args)  # refused here, with a daemon or without; the printer's width below
    if args.mqtt:
        from .sources.mqtt import publish_picture

        for image in args.images:
            for _ in range(args.copies):
                publish_picture(config, image, art)
            log.info("%s: published to the fleet on %s", image, config.mqtt.url)
        return 0
    target = printer_for(config, args.printer)
    named = target.name if args.printer and config.printer_named(args.printer) else None
    spool = Spool(config.spool.path, create=False, runtime=config.spool.run_dir)
    # A URI is a printer outside the pool, and --direct a choice: both print here. Otherwise the
    # spool is the way whenever there is one (its folder exists): through its daemon (§4).
    if not args.direct and (args.printer is None or named is not None):
        if spool.root.is_dir() and not spool.daemon_running():
            wait_for_daemon(args, spool)
        if spool.daemon_running():
            return send_through_daemon(args, spool, art, named)
    return print_directly(args, config, target)


def printer_for(config: Config, name: str | None) -> PrinterConfig:
    """`--printer`: a printer of the config by name, or a URI (with the first printer's settings),
    checked now: a name that is none of them is said with the names there are."""
    if name is None:
        return config.pool[0]
    named = config.printer_named(name)
    if named is not None:
        return named
    if "://" not in name:
        names = ", ".join(p.name for p in config.pool)
        raise UsageError(f"no printer named {name} (printers: {names}; or give a URI such as tcp://HOST)")
    from .printer.transport import make_transport  # only for a URI: a client as another user may not read escpos

    make_transport(name, config.pool[0].timeout)  # a URI no transport takes is refused here
    return config.pool[0].replace(name=name, uri=name)


def print_directly(args: argparse.Namespace, config: Config, target: PrinterConfig) -> int:
    """Render and print here, every check first: the art settings, then the printer (is it there
    and ready?), and only then the renders."""
    from .printer.connection import Printer
    from .render.artist import Artist

    art = art_flags(args, config.replace(printer=target, printers=()))
    artist = Artist(config)
    artist.settings(art, target)  # the config's own refusals (art.dark) before the printer is asked
    printer = Printer(target.uri, target.timeout, bytes_per_s=target.slowest_bytes_per_s)
    printer.ready()  # a printer that is away, or out of paper, is said before any rendering
    printables = [artist.render(image, art, target, raster=args.raster) for image in args.images]  # all checked first
    for image, printable in zip(args.images, printables, strict=True):
        job = printable.receipt(target)
        printer.print_job(job, copies=args.copies)
        log.info("%s: printed on %s (%d bytes)", image, target.name, sum(len(part) for part in job) * args.copies)
    return 0


def wait_for_daemon(args: argparse.Namespace, spool: Spool) -> None:
    """A spool and no daemon holding it: a restart takes seconds, so wait for one (at most
    RESTART_WAIT, or --timeout) and say so; then fail with the reason. Never print around it."""
    wait = min(args.timeout, RESTART_WAIT)
    log.warning("no printd daemon is running on %s; waiting up to %g s for it to start", spool.root, wait)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if spool.daemon_running():
            return
    raise PrinterError(
        f"{spool.root}: no printd daemon is running (or this user cannot read its lock); nothing printed: "
        "start it (systemctl start printd, or printd run), or print around it with --direct"
    )


def send_through_daemon(args: argparse.Namespace, spool: Spool, art: JobArt, pin: str | None) -> int:
    """Queue each image with its settings and, unless --no-wait, follow it until it printed,
    failed or --timeout passed (exit 1: it stays queued and prints when it can)."""
    from optimizer import load_image

    from .sources.submit import submit_to_daemon

    if args.atlas is not None:  # the daemon reads no file of the user's: it would print with its own
        raise UsageError("--atlas is not sent to the daemon: set art.atlas in its config, or use --direct")
    for image in args.images:
        load_image(image)  # bad input is refused here, before it reaches the queue
    request = {"art": art.asked(), "pin": pin, "raster": args.raster, "copies": args.copies}
    ids = [job_id for image in args.images for job_id in submit_to_daemon(spool.runtime, image, request)]
    if args.no_wait:
        for job_id in ids:
            sys.stdout.write(job_id + "\n")
        return 0
    deadline = time.monotonic() + args.timeout
    worst = 0
    for job_id in ids:
        said = ""
        while (found := spool.find(job_id)) is not None and found.state in (JobState.QUEUED, JobState.ACTIVE):
            progress = job_progress(spool, found.state, found.record)
            if progress != said:
                log.info("%s: %s", found.record.name, progress)
                said = progress
            if time.monotonic() > deadline:
                log.error("error: %s: %s after %g s; it stays queued (job %s)", found.record.name, progress,
                          args.timeout, job_id)  # fmt: skip
                return 1
            time.sleep(0.1)
        if found is not None and found.state is JobState.DONE:
            log.info("%s: printed on %s (job %s)", found.record.name, found.record.printer, job_id)
        else:
            log.error("error: %s", found.record.error if found else f"job {job_id} vanished")
            worst = max(worst, 2)
    return worst


def job_progress(spool: Spool, state: JobState, record: JobRecord) -> str:
    """queued, rendering, printing on NAME, or waiting for a printer (and why)."""
    if state is JobState.QUEUED:
        return "queued"
    if record.on_the_wire_at is not None:
        return f"printing on {record.printer}"
    if record.history and record.attempts:
        return f"waiting for a printer ({record.history[-1].split(' ', 1)[-1]})"
    return (
        "rendering" if not (spool.folder(JobState.ACTIVE) / record.id / "art.txt").exists() else "waiting for a printer"
    )


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    from .daemon.systemd import log_formatter
    from .daemon.wiring import Daemon

    for handler in logging.getLogger().handlers:
        handler.setFormatter(log_formatter())
    return Daemon(config).run()


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """The daemon's word where one runs; without one, what the disk shows, said as such (the
    printers are not asked: a printer that answers is not a daemon that prints)."""
    report = status_report(Spool(config.spool.path, create=False, runtime=config.spool.run_dir))
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")
        return 0
    camera = report.get("camera")
    booth = report["booth"] + (f" (camera {camera})" if camera and report["booth"] != "off" else "")
    sys.stdout.write(f"printer: {report['printer']}\nbooth: {booth}\nspool: {report['spool_mb']:.1f} MB\n")
    printers = report["printers"]
    for printer in printers:
        paper = printer.get("paper") or {}
        if len(printers) > 1:
            sys.stdout.write(f"  {printer['name']}: {printer['state']}\n")
        if paper.get("left_m") is not None or paper.get("near_end"):
            sys.stdout.write(f"  {printer['name']}: {paper_line(paper)}\n")
    for job in report["jobs"]:
        error = f"  ({job['error']})" if job.get("error") else ""
        sys.stdout.write(f"{job['state']:7s} {job['id']}{error}\n")
    return 0


def paper_line(paper: dict[str, Any]) -> str:
    """A printer's paper, in words: what is left of the roll, and whether it runs low."""
    left = f"{paper['left_m']:.1f} m of {paper['roll_m']:g} m left" if paper.get("left_m") is not None else ""
    warning = "near its end (sensor)" if paper.get("near_end") else "LOW: put in a new roll" if paper.get("low") else ""
    return "paper: " + ", ".join(part for part in (left, warning) if part)


def cmd_testpage(args: argparse.Namespace, config: Config) -> int:
    from .printer.connection import Printer
    from .printer.encoding import encode_job
    from .printer.profiles import profile
    from .render.artist import paper_for, renderer_for
    from .render.testpage import calibration_job, testpage_lines

    target = printer_for(config, args.printer)
    renderer = renderer_for(config)
    pitch = renderer.atlas.cell_height + renderer.settings.row_gap
    paper = paper_for(target)
    columns = profile(target.profile).columns
    if args.calibration:
        job = calibration_job(renderer.settings.modes, paper)
    else:
        job = encode_job(testpage_lines(renderer, columns), pitch, paper)
    sheet = "calibration sheet" if args.calibration else "test page"
    if args.png is not None:
        from PIL import ImageOps

        from .atomic import atomic_write
        from .printer.sheet import picture

        image = picture([job], paper, renderer.atlas, columns * renderer.atlas.cell_width)
        image = ImageOps.expand(image, PAPER_MARGIN, fill=255)  # the paper around what prints: found in a scan
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        atomic_write(args.png, buffer.getvalue())
        log.info("%s for %s drawn in %s (%d×%d dots)", sheet, target.name, args.png, *image.size)
        return 0
    Printer(target.uri, target.timeout, bytes_per_s=target.slowest_bytes_per_s).print_job(job)
    if args.calibration:
        log.info("calibration sheet printed on %s: scan it (300 dpi or more) or photograph it flat, then "
                 "printd calibrate SCAN... -o ATLAS", target.name)  # fmt: skip
    else:
        log.info("test page printed on %s", target.name)
    return 0


def cmd_calibrate(args: argparse.Namespace, config: Config) -> int:
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    from optimizer.calibration import CalibrationError, Layout, merge, read_sheet
    from optimizer.glyphs import save_atlas_file

    from .render.artist import renderer_for

    modes = renderer_for(config).settings.modes
    layout = Layout(modes)
    readings = []
    for scan in args.scans:
        try:
            with Image.open(scan) as image:
                grey = np.asarray(image.convert("L"))
        except (OSError, UnidentifiedImageError) as exc:
            raise UsageError(f"{scan}: not a picture ({exc})") from exc
        try:
            readings.append(read_sheet(grey, layout, str(scan)))
        except CalibrationError as exc:  # the renderer's word for a picture that is not the sheet
            raise InputError(str(exc)) from exc
    reading = merge(readings)
    missing = [m for m in modes if m not in reading.ink]
    if missing:
        raise UsageError(
            f"no section for mode {', '.join(missing)} in {len(args.scans)} picture(s): scan every receipt"
        )
    save_atlas_file(args.output, reading.ink, reading.confidence)
    for mode in modes:
        sure = reading.confidence[mode][reading.confidence[mode] > 0]
        worst = np.argsort(np.where(reading.confidence[mode] > 0, reading.confidence[mode], 2))[:3]
        unsure = ", ".join(f"0x{c:02X} ({reading.confidence[mode][c]:.2f})" for c in worst)
        log.info("%s: %d glyphs, confidence %.2f on average; least sure %s; grid offset %s dots",
                 mode, sure.size, sure.mean(), unsure, reading.offset[mode])  # fmt: skip
    log.info("atlas written to %s: set art.atlas to it, or pass --atlas", args.output)
    return 0


def cmd_snap(args: argparse.Namespace, config: Config) -> int:
    """Returns at once: the daemon answers whether a session started, not how it ended."""
    from .booth.triggers import request_snap

    answer = request_snap(config.spool.run_dir)
    if not answer.startswith(("ok:", "busy:")):
        raise PrintdError(answer or "the daemon did not answer")
    log.info("%s", answer)
    return 0


def cmd_jobs(args: argparse.Namespace, config: Config) -> int:
    from .sources.submit import ask_daemon

    spool = Spool(config.spool.path, create=False, runtime=config.spool.run_dir)
    for job in ask_daemon(spool, "jobs", state=args.state)["jobs"]:
        error = f"  ({job['error']})" if job.get("error") else ""
        sys.stdout.write(f"{job['state']:7s} {job['id']}  {job['name']}{error}\n")
    return 0


def cmd_cancel(args: argparse.Namespace, config: Config) -> int:
    from .sources.submit import ask_daemon

    ask_daemon(Spool(config.spool.path, create=False, runtime=config.spool.run_dir), "cancel", id=args.id)
    log.info("%s: cancelled", args.id)
    return 0


def cmd_reprint(args: argparse.Namespace, config: Config) -> int:
    from .sources.submit import ask_daemon

    answer = ask_daemon(Spool(config.spool.path, create=False, runtime=config.spool.run_dir), "reprint", id=args.id)
    sys.stdout.write(answer["id"] + "\n")
    return 0


def cmd_paper(args: argparse.Namespace, config: Config) -> int:
    """What is left on each roll, from the daemon's count; --new-roll starts a printer's count afresh."""
    from .sources.submit import ask_daemon

    spool = Spool(config.spool.path, create=False, runtime=config.spool.run_dir)
    if args.new_roll:
        names = [args.printer] if args.printer else [p.name for p in config.pool]
        if len(names) > 1:
            raise UsageError(f"--new-roll: which printer? name it with --printer ({', '.join(names)})")
        ask_daemon(spool, "new_roll", printer=names[0])
        log.info("%s: new roll", names[0])
    for printer in ask_daemon(spool, "paper")["printers"]:
        if args.printer in (None, printer["name"]):
            paper = printer.get("paper") or {}
            tracked = paper.get("left_m") is not None or paper.get("near_end")
            line = paper_line(paper) if tracked else "paper: not counted (set printer.roll_m)"
            sys.stdout.write(f"{printer['name']}: {line}\n")
    return 0


def cmd_doctor(args: argparse.Namespace, config: Config) -> int:
    """Problems only, one line each (-v: every check); exit 1 when one would stop the daemon."""
    from .doctor import Severity, become, diagnose

    user = become(args.user)
    findings = list(diagnose(config, user))
    problems = [f for f in findings if f.severity is not Severity.OK]
    for finding in findings if args.verbose else problems:
        sys.stdout.write(finding.line + "\n")
    if not problems:
        sys.stdout.write(f"ok: {len(findings)} checks passed as user {user}\n")
    return 1 if any(f.severity is Severity.ERROR for f in findings) else 0


def setup_logging(verbose: bool) -> None:
    # python-escpos logs chatter ("File printer enabled") on the root logger: keep it at WARNING.
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="printd: %(message)s",
        stream=sys.stderr,
        force=True,  # a library may have configured the root logger at import
    )
    for name in ("printd", "optimizer"):
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    try:
        config = load_config(args.config)
        if getattr(args, "atlas", None) is not None:
            config = config.replace(art=config.art.replace(atlas=args.atlas))
        code = int(args.handler(args, config))
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except PrintdError as exc:  # InputError (exit 2) and the printer's errors (exit 1)
        log.error("error: %s", exc)
        return exc.exit_code
    except (BadImageError, FontError) as exc:  # the renderer's word for bad input
        log.error("error: %s", exc)
        return 2
    except BrokenPipeError:  # `printd status | head -3`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's flush writes nowhere
        return 0
    except OSError as exc:
        log.error("error: %s: %s", exc.filename or "I/O", exc.strerror or exc)
        return 1
    except KeyboardInterrupt:
        return 130
