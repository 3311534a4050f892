"""scripts/install.sh into a temporary root, as root: every file it writes, the installed printd
printing through its own daemon to a loopback printer, an upgrade over itself that keeps an edited
config and the spool, the uninstall; and `printd doctor` on a broken set-up, as an unprivileged user."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from printd import __version__
from printd.jobs.spool import JobState, Spool
from tests.support.photos import write_photo
from tests.support.printers import CUT_PARTIAL, NetworkPrinter

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install.sh"
AS_ROOT = os.geteuid() == 0
SYSTEMD_TOOLS = all(shutil.which(t) for t in ("systemd-sysusers", "systemd-tmpfiles", "systemctl"))
# pip fills the venv in about 40 s on an idle machine (26 000 files, torch most of them); a busy one takes longer.
pytestmark = pytest.mark.timeout(600)
needs_root = pytest.mark.skipif(
    not (AS_ROOT and SYSTEMD_TOOLS), reason="install.sh runs as root with systemd's tools (Debian: apt install systemd)"
)
# What install.sh puts outside the venv: path in the root → the checkout's file it copies.
COPIED = {
    "etc/systemd/system/printd.service": "systemd/printd.service",
    "etc/sysusers.d/printd.conf": "config/printd.sysusers",
    "etc/tmpfiles.d/printd.conf": "config/printd.tmpfiles",
    "etc/udev/rules.d/99-printd.rules": "config/99-printd.rules",
}
ENABLED = "etc/systemd/system/multi-user.target.wants/printd.service"
CONFIG = "etc/printd/printd.yaml"
LINK = "usr/local/bin/printd"
SPOOL = "var/spool/printd"
# systemd-sysusers makes the user in the root's own account files (a real / has them already).
ACCOUNTS = {"etc/passwd", "etc/group", "etc/shadow", "etc/gshadow", "etc/.pwd.lock"}


def world_readable_dir(prefix: str) -> Path:
    """Open to all, as / is: the service's user must reach what the test gives it. In memory where
    there is a tmpfs: the venv's 26 000 files take a minute to delete from a disk mounted with discard."""
    shm = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None))
    path.chmod(0o755)
    return path


def install(root: Path, *options: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), *options], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def installed_printd(root: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """The installed command, with nothing of the checkout on its path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRINTD_CONFIG")}
    return subprocess.run(
        [str(root / "opt/printd/bin/printd"), *args], capture_output=True, text=True, env=env, timeout=120, **kwargs
    )


def tree(root: Path) -> set[str]:
    """Every path under the root but inside the venv, relative to it."""
    found = set()
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if relative.parts[:2] != ("opt", "printd"):
            found.add(str(relative))
    return found


def account_id(root: Path, file: str, name: str) -> int:
    for line in (root / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2])
    raise AssertionError(f"no {name} in {root / file}")


@pytest.fixture(scope="module")
def root() -> Iterator[Path]:
    """One install for the module: the venv takes most of a test's time."""
    path = world_readable_dir("printd-root-")
    try:
        install(path)
        yield path
    finally:
        shutil.rmtree(path)


def test_help_and_bad_options() -> None:
    shown = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and "--uninstall" in shown.stdout and "/opt/printd" in shown.stdout
    wrong = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True, text=True, timeout=30)
    assert wrong.returncode == 2 and wrong.stderr.strip() == "install.sh: unknown option --frobnicate (see --help)"


@needs_root
def test_install_writes_each_file_once_and_runs_the_daemon(root: Path, tmp_path: Path) -> None:
    assert tree(root) == {
        *COPIED,
        ENABLED,
        CONFIG,
        SPOOL,
        f"{SPOOL}/inbox",
        f"{SPOOL}/run",
        *ACCOUNTS,
        # the folders the files are in
        "etc",
        "etc/printd",
        "etc/systemd",
        "etc/systemd/system",
        "etc/systemd/system/multi-user.target.wants",
        "etc/sysusers.d",
        "etc/tmpfiles.d",
        "etc/udev",
        "etc/udev/rules.d",
        "opt",
        "usr",
        "usr/local",
        "usr/local/bin",
        LINK,
        "var",
        "var/spool",
    }
    for target, source in COPIED.items():
        assert (root / target).read_bytes() == (ROOT / source).read_bytes(), target
        assert (root / target).stat().st_mode & 0o777 == 0o644
    assert os.readlink(root / ENABLED) == "/etc/systemd/system/printd.service"
    assert os.readlink(root / LINK) == "/opt/printd/bin/printd"
    unit = (root / "etc/systemd/system/printd.service").read_text()
    assert "\nExecStart=/opt/printd/bin/printd run\n" in unit

    config = root / CONFIG
    assert config.read_bytes() == (ROOT / "config/printd.yaml").read_bytes()
    info = config.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, account_id(root, "etc/group", "printd"), 0o640)

    uid = account_id(root, "etc/passwd", "printd")
    assert f"printd:x:{uid}:" in (root / "etc/passwd").read_text()
    lp_members = next(line for line in (root / "etc/group").read_text().splitlines() if line.startswith("lp:"))
    assert lp_members.rsplit(":", 1)[1] == "printd"
    for folder, mode in ((SPOOL, 0o3770), (f"{SPOOL}/inbox", 0o2770), (f"{SPOOL}/run", 0o750)):
        info = (root / folder).stat()
        assert (info.st_uid, info.st_mode & 0o7777) == (uid, mode), folder

    version = installed_printd(root, "--version")
    assert version.stdout.strip() == f"printd {__version__}"
    assert (root / "opt/printd/pyvenv.cfg").read_text().startswith("home = /usr/bin")

    if shutil.which("systemd-analyze"):
        # verify wants the command to exist where the unit says: there, it is under the test's root
        checked = tmp_path / "printd.service"
        checked.write_text(unit.replace("ExecStart=/opt/printd/", f"ExecStart={root}/opt/printd/"))
        result = subprocess.run(["systemd-analyze", "verify", str(checked)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0 and not result.stderr.strip(), result.stderr

    # the installed printd's own daemon takes a job from `printd send` and prints it on the loopback printer
    printer = NetworkPrinter()
    spool = tmp_path / "spool"
    settings = tmp_path / "printd.yaml"
    settings.write_text(
        f"printer: {{uri: '{printer.uri}', timeout: 5}}\nart: {{columns: 10, max_rows: 8}}\n"
        f"spool: {{path: {spool}}}\ninbox: {{path: {spool / 'inbox'}}}\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PRINTD_CONFIG")}
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        daemon = subprocess.Popen(
            [str(root / "opt/printd/bin/printd"), "run", "--config", str(settings)], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while not Spool(spool, create=False).daemon_running():  # else send would print by itself
            assert daemon.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        sent = installed_printd(root, "send", str(write_photo(tmp_path / "photo.png")), "--config", str(settings))
        assert sent.returncode == 0, sent.stderr
        assert "printed" in sent.stderr
        jobs = printer.model.jobs(expect=1)
        assert len(jobs) == 1 and jobs[0].endswith(CUT_PARTIAL)
        assert len(list((spool / JobState.DONE.value).iterdir())) == 1
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
        printer.close()
    assert daemon.returncode == 0, log.read_text()


@pytest.fixture
def broken_setup() -> Iterator[Path]:
    """A config whose spool the checking user cannot write, whose camera is missing and whose
    printer does not listen."""
    base = world_readable_dir("printd-doctor-")
    spool = base / "spool"
    spool.mkdir(mode=0o755)  # root's: closed to the user the doctor checks as
    if not AS_ROOT:
        spool.chmod(0o555)  # the user's own, but read-only
    with socket.create_server(("127.0.0.1", 0)) as listener:
        uri = f"tcp://127.0.0.1:{listener.getsockname()[1]}"  # closed again: nothing answers there
    config = base / "printd.yaml"
    config.write_text(
        f"printer: {{uri: '{uri}', timeout: 2}}\n"
        f"spool: {{path: {spool}}}\ninbox: {{path: {spool / 'inbox'}}}\n"
        f"camera: {{enabled: true, source: {base / 'no-camera.mp4'}}}\nbutton: {{gpio: null}}\n"
    )
    config.chmod(0o644)
    try:
        yield config
    finally:
        spool.chmod(0o755)
        shutil.rmtree(base)


def test_doctor_says_each_problem_in_one_line(request: pytest.FixtureRequest, broken_setup: Path) -> None:
    if AS_ROOT:
        if not SYSTEMD_TOOLS:
            pytest.skip("as root the doctor runs the installed printd as nobody, and install.sh needs systemd's tools")
        # as an unprivileged user, from the installed venv: nobody may read it, as the service may
        root = request.getfixturevalue("root")
        result = installed_printd(root, "doctor", "--config", str(broken_setup), "--user", "nobody")
    else:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "printd", "doctor", "--config", str(broken_setup)]
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    lines = result.stdout.splitlines()
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(lines) == 3, lines
    spool, printer, camera = lines
    assert spool.startswith(f"error: {broken_setup.parent / 'spool'}: printd (user ") and "fix: chown -R" in spool
    assert printer.startswith("warning: printer printer: tcp://127.0.0.1:") and "fix: " in printer
    camera_file = broken_setup.parent / "no-camera.mp4"
    assert camera.startswith(f"warning: camera {camera_file}: missing (no such device or file)") and "fix: " in camera


@needs_root
def test_upgrade_keeps_the_config_and_the_spool_and_uninstall_keeps_them_unless_purged(root: Path) -> None:
    before = tree(root)
    config = root / CONFIG
    config.write_text(config.read_text().replace("uri: usb://04b8:0202", "uri: tcp://192.0.2.7:9100"))
    edited = config.read_bytes()
    kept_job = root / SPOOL / "done" / "kept"
    kept_job.parent.mkdir()
    kept_job.write_text("a job of before")

    result = install(root)
    assert "printd.yaml kept as it is" in result.stdout
    assert config.read_bytes() == edited
    assert kept_job.read_text() == "a job of before"
    assert tree(root) == before | {f"{SPOOL}/done", f"{SPOOL}/done/kept"}
    assert installed_printd(root, "--version").stdout.strip() == f"printd {__version__}"

    result = install(root, "--uninstall")
    assert "kept /etc/printd and /var/spool/printd" in result.stdout
    assert not (root / "opt/printd").exists() and not (root / LINK).is_symlink()
    left = {p for p in tree(root) if not (p.startswith(SPOOL) or p in ACCOUNTS or p == CONFIG)}
    assert all((root / p).is_dir() for p in left), left  # only the empty folders above what was removed
    assert config.read_bytes() == edited and kept_job.exists()

    install(root, "--uninstall", "--purge")
    assert not config.exists() and not (root / SPOOL).exists()
