"""A pinned job waits for its printer without holding back the rest, and in a mixed pool an
unpinned job is rendered for the printer that prints it (issue 23 item 10)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from printd.jobs.spool import JobState, Spool
from tests.support.daemon import count, running, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter, decode_rows


def mixed_pool(tmp_path: Path, wide: str, narrow: str) -> Path:
    path = tmp_path / "mixed.yaml"
    path.write_text(
        "art: {max_rows: 3}\n"
        "printer: {timeout: 2, status_interval: 0.3}\n"
        f"printers: [{{name: wide, uri: '{wide}', profile: TM-T20II}}, {{name: narrow, uri: '{narrow}'}}]\n"
        f"spool: {{path: '{tmp_path / 'spool'}', retry_min: 0.2, retry_max: 0.5}}\n"
        f"inbox: {{path: '{tmp_path / 'inbox'}', settle: 0.2}}\n"
    )
    return path


def send(config: Path, image: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "printd", "send", str(image), "--config", str(config), *flags],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_job_pinned_to_a_printer_out_of_paper_holds_back_nothing(tmp_path: Path) -> None:
    wide, narrow = NetworkPrinter(), NetworkPrinter()
    wide.model.state = "paper_out"
    config = mixed_pool(tmp_path, wide.uri, narrow.uri)
    spool = tmp_path / "spool"
    with running(config, wide, narrow):
        wait_for(lambda: (spool / "status.json").exists(), 60)
        clock = write_photo(tmp_path / "clock.png", (40, 50), seed=1)
        rockets = [write_photo(tmp_path / f"rocket{i}.png", (40, 50), seed=2 + i) for i in range(3)]
        pinned = send(config, clock, "--printer", "wide", "--no-wait")
        assert pinned.returncode == 0, pinned.stderr
        for rocket in rockets:  # more than one per printer: the pinned job must not fill the line
            sent = send(config, rocket, "--timeout", "60")
            assert sent.returncode == 0, sent.stderr
        names = {job.record.name: job.record.printer for job in Spool(spool).jobs(JobState.DONE)}
        assert names == {r.name: "narrow" for r in rockets}
        assert count(spool, JobState.ACTIVE) + count(spool, JobState.QUEUED) == 1  # the clock, waiting
        wide.model.state = "online"
        wait_for(lambda: count(spool, JobState.DONE) == 4, 60)
        assert Spool(spool).find(pinned.stdout.strip()).record.printer == "wide"


def test_an_unpinned_job_is_rendered_for_the_wide_printer_that_prints_it(tmp_path: Path) -> None:
    wide, narrow = NetworkPrinter(), NetworkPrinter()
    narrow.model.state = "paper_out"  # only the wide one can print: it is the one the job is for
    config = mixed_pool(tmp_path, wide.uri, narrow.uri)
    spool = tmp_path / "spool"
    with running(config, wide, narrow):
        wait_for(lambda: (spool / "status.json").exists(), 60)
        sent = send(config, write_photo(tmp_path / "p.png", (40, 50)))
        assert sent.returncode == 0, sent.stderr
        (job,) = Spool(spool).jobs(JobState.DONE)
        assert job.record.printer == "wide"
        rows = decode_rows(wide.model.jobs(expect=1)[0])
        assert rows and all(len(text) == 48 for text, _ in rows)  # TM-T20II: 48 columns, not the pool's 42


def test_a_wide_job_whose_printer_ran_out_is_rendered_again_for_the_narrow_one(tmp_path: Path) -> None:
    wide, narrow = NetworkPrinter(), NetworkPrinter()
    wide.model.state = "paper_out"  # found out only when it takes the job rendered for it
    config = mixed_pool(tmp_path, wide.uri, narrow.uri)
    spool = tmp_path / "spool"
    with running(config, wide, narrow):
        wait_for(lambda: (spool / "status.json").exists(), 60)
        sent = send(config, write_photo(tmp_path / "p.png", (40, 50)), "--timeout", "60")
        assert sent.returncode == 0, sent.stderr
        (job,) = Spool(spool).jobs(JobState.DONE)
        assert job.record.printer == "narrow" and not job.record.possible_duplicate
        rows = decode_rows(narrow.model.jobs(expect=1)[0])
        assert rows and all(len(text) == 42 for text, _ in rows)  # on its paper, not wrapped
