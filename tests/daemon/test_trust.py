"""Nothing lost, nothing opened that should not be, nothing decoded past a budget, prompt stops."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import printd.sources.submit  # noqa: F401  (loaded before the fork: the child cannot read site-packages)
from optimizer.target import BadImageError, load_frames
from printd.cli import main
from printd.jobs.spool import JobRecord, JobState, Spool
from tests.support.daemon import count, daemon_config, running, start, wait_for
from tests.support.photos import write_photo
from tests.support.printers import NetworkPrinter

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "printd.service"


def test_a_16_bit_grey_png_keeps_its_tones(tmp_path: Path) -> None:
    ramp = np.tile(np.linspace(0, 65535, 256), (64, 1)).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "g16.png")
    Image.fromarray((ramp // 257).astype(np.uint8)).save(tmp_path / "g8.png")
    (sixteen,), _ = load_frames(tmp_path / "g16.png")
    (eight,), _ = load_frames(tmp_path / "g8.png")
    assert abs(np.asarray(sixteen.convert("L"), float).mean() - np.asarray(eight.convert("L"), float).mean()) < 1


def test_a_huge_phone_jpeg_is_decoded_small_and_a_huge_animation_refused(tmp_path: Path) -> None:
    Image.new("RGB", (12000, 9000), (200, 120, 40)).save(tmp_path / "phone.jpg", quality=40)  # 108 MP
    (photo,), _ = load_frames(tmp_path / "phone.jpg")
    assert max(photo.size) <= 2048
    frames = [Image.new("L", (3000, 3000), i) for i in range(50)]
    frames[0].save(tmp_path / "big.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(BadImageError, match="megapixels"):
        load_frames(tmp_path / "big.gif")


def test_links_fifos_and_text_are_refused_by_what_they_are(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello " * 500)  # OpenCV's FFmpeg would read it as video
    os.mkfifo(tmp_path / "pipe.jpg")
    os.symlink("/etc/hostname", tmp_path / "link.png")
    for name, reason in (("notes.txt", "not an image"), ("pipe.jpg", "not a regular file"), ("link.png", "symlink")):
        with pytest.raises(BadImageError, match=reason):
            load_frames(tmp_path / name)


def test_recovery_completes_a_submission_cut_short(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    job_id = f"{time.time_ns():020d}-inbox-cat.png"
    folder = spool.root / "tmp" / job_id
    folder.mkdir()
    record = JobRecord(id=job_id, source="inbox", name="cat.png", received_at=time.time())
    (folder / "job.json").write_text(record.model_dump_json())
    write_photo(folder / "original.png")  # taken from the inbox, then the daemon died
    (spool.root / "tmp" / ".upload-123.jpg").write_bytes(b"half an upl")  # never acknowledged
    recovered = spool.recover()
    assert [j.id for j in recovered] == [job_id]
    (queued,) = spool.jobs(JobState.QUEUED)
    assert queued.record.name == "cat.png" and queued.original.is_file()
    assert list((spool.root / "tmp").iterdir()) == []


def test_a_fifo_and_a_link_in_the_inbox_block_nothing(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    with running(daemon_config(tmp_path, printer.uri), printer) as proc:
        os.mkfifo(inbox / "stuck.jpg")
        os.symlink("/etc/hostname", inbox / "secret.png")
        write_photo(inbox / "good.png", (40, 50))
        wait_for(lambda: count(spool, JobState.DONE) == 1 and count(spool, JobState.FAILED) == 2, 60)
        failed = {j.record.name: j.record.error for j in Spool(spool).jobs(JobState.FAILED)}
        assert "not a regular file" in failed["stuck.jpg"] and "symlink" in failed["secret.png"]
        assert not any(p.is_symlink() for p in spool.rglob("*"))  # a note was kept, never the link
        assert not (inbox / "secret.png").is_symlink()
        assert proc.poll() is None


def test_sigterm_during_a_long_animation_stops_well_before_systemd_would_kill_it_and_keeps_the_job(
    tmp_path: Path,
) -> None:
    printer = NetworkPrinter()
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    config = daemon_config(tmp_path, printer.uri)
    config.write_text(
        config.read_text().replace("art: {columns: 6, max_rows: 4}", "art: {columns: 42, max_frames: 60}")
    )
    frames = [Image.fromarray(np.full((200, 160), 4 * i, np.uint8)).convert("RGB") for i in range(60)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=40)
    proc = start(config)
    try:
        wait_for(lambda: (spool / "status.json").exists(), 60)
        os.replace(tmp_path / "anim.gif", inbox / "anim.gif")
        wait_for(lambda: count(spool, JobState.ACTIVE) == 1, 30)
        time.sleep(1.0)  # well into the render
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # The render is dropped at its next step (not at its end: the job stays queued, not done), within
        # half of the TimeoutStopSec after which systemd kills the service; the rest of the margin is a
        # busy machine's (the seconds themselves are benchmarks' business).
        limit = int(re.search(r"^TimeoutStopSec=(\d+)$", UNIT.read_text(), re.M)[1])  # type: ignore[index]
        assert proc.wait(timeout=limit) == 0
        assert time.monotonic() - stopped_at < limit / 2
        assert count(spool, JobState.QUEUED) == 1 and count(spool, JobState.DONE) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        printer.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_send_by_another_user_prints_and_the_next_inbox_file_prints_too(tmp_path: Path) -> None:
    """A member of the spool's group (here: nobody, with the group of the root-run daemon) sends."""
    printer = NetworkPrinter()
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    config = daemon_config(tmp_path, printer.uri)
    picture = write_photo(tmp_path / "mine.png", (40, 50))
    # pytest's folders (pytest-of-root/pytest-N/[a worker's]/test) are the owner's alone.
    temp = Path(tempfile.gettempdir())
    for folder in (tmp_path, *(temp / above for above in tmp_path.relative_to(temp).parents[:-1])):
        folder.chmod(folder.stat().st_mode | 0o050)
    picture.chmod(0o640)
    config.chmod(0o640)

    load_frames(picture)  # the image plugins loaded here: the child cannot read site-packages under /root
    with running(config, printer):
        wait_for(lambda: (spool / "run" / "printd.sock").exists(), 60)
        child = os.fork()
        if child == 0:  # the client, as nobody with the spool's group: printd send, in-process
            code = 1
            try:
                os.setgroups([os.getgid()])
                os.setgid(65534)
                os.setuid(65534)
                code = main(["send", str(picture), "--config", str(config), "--timeout", "60"])
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        write_photo(inbox / "next.png", (40, 50), seed=5)
        wait_for(lambda: count(spool, JobState.DONE) == 2, 60)
        records = {j.record.name: j.record for j in Spool(spool).jobs(JobState.DONE)}
        assert records["mine.png"].submitted_by == "nobody" and records["mine.png"].source == "send"
        assert all(p.stat().st_uid == 0 for p in spool.rglob("*"))  # only the daemon wrote its spool


def test_a_copy_that_stalls_is_taken_once_whole(tmp_path: Path) -> None:
    printer = NetworkPrinter()
    inbox, spool = tmp_path / "inbox", tmp_path / "spool"
    inbox.mkdir()
    data = write_photo(tmp_path / "p.png", (60, 80)).read_bytes()
    with running(daemon_config(tmp_path, printer.uri), printer):  # settle: 0.5 s
        wait_for(lambda: (spool / "status.json").exists(), 60)
        with (inbox / "slow.png").open("wb") as out:
            out.write(data[: len(data) // 2])
            out.flush()
            time.sleep(2.0)  # the copy stalls for four settle times
            out.write(data[len(data) // 2 :])
        wait_for(lambda: count(spool, JobState.DONE) == 1, 60)
        assert count(spool, JobState.FAILED) == 0
        (job,) = Spool(spool).jobs(JobState.DONE)
        assert job.original.read_bytes() == data


def test_a_grid_too_big_for_memory_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo = write_photo(tmp_path / "p.png")
    assert main(["render", str(photo), "-o", str(tmp_path / "a.txt"), "--columns", "1000", "--rows", "1000"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "GB" in error[0]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 3 MB tmpfs for the spool and inbox, where the test may mount one (root, and a kernel that lets it)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.decode().strip()}")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=False)


def test_a_full_disk_loses_nothing_and_the_daemon_lives(small_disk: Path, tmp_path: Path) -> None:
    printer = NetworkPrinter()
    inbox, spool = small_disk / "inbox", small_disk / "spool"
    inbox.mkdir()
    aside = tmp_path / "aside"
    aside.mkdir()
    with running(daemon_config(small_disk, printer.uri), printer) as proc:
        wait_for(lambda: (spool / "status.json").exists(), 60)
        for i in range(4):
            write_photo(inbox / f"before{i}.png", (40, 50), seed=i)
        filler = small_disk / "filler"
        with contextlib.suppress(OSError), filler.open("wb") as out:
            while True:
                out.write(b"\0" * 65536)  # the disk is full now, in the middle of the batch
        for i in range(4):
            picture = write_photo(aside / f"after{i}.png", (40, 50), seed=10 + i)
            with contextlib.suppress(OSError):
                shutil.copy(picture, inbox / picture.name)  # may fail, or leave half a file
        wait_for(lambda: json.loads((spool / "status.json").read_text()).get("intake") is not None, 10)
        assert proc.poll() is None
        filler.unlink()  # space again: the user copies what did not arrive whole
        for picture in aside.iterdir():
            if not (inbox / picture.name).exists() or (inbox / picture.name).stat().st_size != picture.stat().st_size:
                shutil.copy(picture, inbox / picture.name)
        names = {f"before{i}.png" for i in range(4)} | {f"after{i}.png" for i in range(4)}
        wait_for(lambda: {j.record.name for j in Spool(spool).jobs(JobState.DONE)} >= names, 120)
        assert proc.poll() is None
