"""The event appliance: several printers, jobs that keep their settings, instant commands, limits."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from printd.cli import main
from printd.jobs.spool import JobState, Spool
from tests.support.daemon import count, pool_config, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, PrinterModel, decode_rows


def printed_art(printer: NetworkPrinter, expect: int) -> list[bytes]:
    """The text of every job the printer received, as art.txt would hold it."""
    return [b"".join(row + b"\n" for row, _ in decode_rows(job)) for job in printer.model.jobs(expect=expect)]


def test_paper_out_on_one_printer_and_the_other_prints_the_rest_once(tmp_path: Path) -> None:
    left = NetworkPrinter(PrinterModel(print_seconds=0.1))
    right = NetworkPrinter(PrinterModel(print_seconds=0.1))
    left.model.after_job = lambda n: setattr(left.model, "state", "paper_out") if n == 3 else None
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(pool_config(tmp_path, {"left": left.uri, "right": right.uri}), left, right):
        total = 16
        for i in range(total):
            write_photo(inbox / f"p{i:02d}.png", (40, 50), seed=i)
        wait_for(lambda: count(spool, JobState.DONE) == total, 90)
        done = Spool(spool).jobs(JobState.DONE)
        by_printer = Counter(job.record.printer for job in done)
        assert by_printer["left"] == 3 and by_printer["right"] == total - 3  # left ran out after its third
        art = {job.id: (job.folder / "art.txt").read_bytes() for job in done}
        on_paper = printed_art(left, 3) + printed_art(right, total - 3)
        assert Counter(on_paper) == Counter(art.values())  # every job once, none twice
        for name in ("left", "right"):  # in order per printer
            mine = [job for job in done if job.record.printer == name]
            assert [j.record.printed_at for j in mine] == sorted(j.record.printed_at for j in mine)
        status = json.loads((spool / "status.json").read_text())
        states = {printer["name"]: printer["state"] for printer in status["printers"]}
        assert "out of paper" in states["left"] and states["right"].startswith("ready")


def test_a_printer_cut_off_mid_job_prints_it_again_marked(tmp_path: Path) -> None:
    """The printer takes the second job's bytes and never answers after it: not done, printed again."""
    printer = NetworkPrinter(PrinterModel(hang_up_after_job=2))
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(pool_config(tmp_path, {"only": printer.uri}), printer):
        for name in ("a.png", "b.png", "c.png"):
            write_photo(inbox / name, (40, 50), seed=len(name) + ord(name[0]))
        wait_for(lambda: count(spool, JobState.DONE) == 3, 60)
        records = {j.record.name: j.record for j in Spool(spool).jobs(JobState.DONE)}
        assert records["b.png"].possible_duplicate and records["b.png"].attempts == 2
        assert not records["a.png"].possible_duplicate and not records["c.png"].possible_duplicate
        assert len(printer.model.jobs(expect=4)) == 4  # b twice: once lost, once printed


def test_send_through_the_daemon_prints_what_its_flags_ask(tmp_path: Path, photo: Path) -> None:
    printer = NetworkPrinter()
    config = pool_config(tmp_path, {"desk": printer.uri})
    spool = tmp_path / "spool"
    with running(config, printer):
        wait_for(lambda: Spool(spool, create=False).daemon_running(), 30)
        sent = subprocess.run(
            [
                sys.executable,
                "-m",
                "printd",
                "send",
                str(photo),
                "--columns",
                "4",
                "--rows",
                "2",
                "--config",
                str(config),
            ],
            capture_output=True,
            timeout=120,
        )
        assert sent.returncode == 0, sent.stderr.decode()
        rows = decode_rows(printer.model.jobs(expect=1)[0])
        assert [len(text) for text, _ in rows] == [4, 4]
        (job,) = Spool(spool).jobs(JobState.DONE)
        assert job.record.art.asked() == {"columns": 4, "rows": 2} and job.record.printer == "desk"
        dark = subprocess.run(
            [sys.executable, "-m", "printd", "send", str(photo), "--dark", "--config", str(config)],
            capture_output=True,
            timeout=60,
        )
        assert dark.returncode == 2 and b"dark mode" in dark.stderr
        assert count(spool, JobState.QUEUED) == 0


@pytest.mark.parametrize("command", [["status", "--json"], ["snap"], ["--version"]])
def test_commands_that_do_not_render_import_no_torch(tmp_path: Path, command: list[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"printer: {{uri: 'file://{tmp_path}/out.bin'}}\nspool: {{path: '{tmp_path / 'spool'}'}}\n")
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "printd", *command, "--config", str(config)],
        capture_output=True,
        timeout=60,
    )
    imported = {line.split("|")[-1].strip() for line in run.stderr.decode().splitlines() if "|" in line}
    assert "torch" not in imported and "optimizer.renderer" not in imported
    assert not (tmp_path / "spool").exists()  # asking creates nothing


def test_retention_prunes_the_oldest_and_keeps_the_rest(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    now = time.time_ns()
    for age_days, name in ((40, "old"), (3, "a"), (2, "b"), (1, "c")):
        folder = spool.folder(JobState.DONE) / f"{now - age_days * 86_400 * 10**9:020d}-send-{name}"
        folder.mkdir()
        (folder / "original.png").write_bytes(b"x" * 1000)
    removed = spool.prune(days=30, jobs=2, megabytes=100)
    assert [r.rsplit("-", 1)[-1] for r in removed] == ["old", "a"]  # too old, then one too many
    assert [j.id.rsplit("-", 1)[-1] for j in spool.jobs(JobState.DONE)] == ["b", "c"]
    assert spool.prune(days=30, jobs=5, megabytes=0.0015) and len(spool.jobs(JobState.DONE)) == 1  # by size


def test_a_bad_config_lists_every_problem_in_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "printer: {feed: 300, timeout: 0}\n"
        "art: {framing: wide, colour: red}\n"
        "printers: [{name: a, uri: 'tcp://127.0.0.1:9'}, {name: a, uri: 'tcp://127.0.0.1:10'}]\n"
    )
    assert main(["status", "--config", str(bad)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    for problem in ("printers[0].feed", "printers[1].timeout", "art.colour", "art.framing"):
        assert problem in lines[0]
    # Checks across keys run once the keys themselves are right (pydantic's order).
    bad.write_text("printers: [{name: a, uri: 'tcp://127.0.0.1:9'}, {name: a, uri: 'tcp://127.0.0.1:10'}]\n")
    assert main(["status", "--config", str(bad)]) == 2
    assert "printers: names must differ, not a, a" in capsys.readouterr().err
