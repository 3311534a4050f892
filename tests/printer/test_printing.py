"""The printer path: what `printd send` puts on the wire is exactly the rendered art, on every
transport, and a printer that is not ready is reported as such, never taken for success."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from optimizer import Art
from optimizer.glyphs import MODES
from printd.cli import main
from printd.errors import PaperOut, PrinterNotFound, PrinterPermissionDenied, PrinterTimeout
from printd.printer.connection import Printer, parse_status
from printd.printer.encoding import PaperSettings, encode_line, receipt_bytes
from printd.printer.transport import make_transport
from tests.support.photos import write_photo
from tests.support.printers import EpsonUsbBackend, NetworkPrinter, PrinterModel, SerialPrinter, decode_rows


@pytest.fixture
def network_printer():
    printer = NetworkPrinter()
    yield printer
    printer.close()


def rendered(tmp_path: Path, photo: Path, config: Path) -> tuple[bytes, bytes | None]:
    art = tmp_path / "art.txt"
    assert main(["render", str(photo), "-o", str(art), "--config", str(config)]) == 0
    modes = art.with_suffix(".modes")
    return art.read_bytes(), modes.read_bytes() if modes.exists() else None


def assert_job_is_the_art(job: bytes, text: bytes, modes: bytes | None) -> None:
    """Zero mismatches: every row, every byte, every mode."""
    names = MODES
    rows = decode_rows(job)
    lines = text.rstrip(b"\n").split(b"\n")
    mode_lines = modes.rstrip(b"\n").split(b"\n")[1:] if modes else [b"0" * len(line) for line in lines]
    assert [r for r, _ in rows] == lines
    assert [m for _, m in rows] == [[names[d - 48] for d in line] for line in mode_lines]


def test_send_over_tcp_prints_exactly_the_rendered_art(tmp_path, photo, fast_config, network_printer) -> None:
    text, modes = rendered(tmp_path, photo, fast_config)
    assert main(["send", str(photo), "--printer", network_printer.uri, "--config", str(fast_config)]) == 0
    [job] = network_printer.model.jobs(expect=1)
    assert job.startswith(b"\x1b@\x1bt\x00\x1b2")  # init, PC437, 30-dot line pitch
    assert job.endswith(b"\x1bd\x04\x1dV\x01")  # feed to the cutter, partial cut
    assert_job_is_the_art(job, text, modes)


def test_copies_send_the_job_again(tmp_path, photo, fast_config, network_printer) -> None:
    args = [
        "send",
        str(photo),
        "--printer",
        network_printer.uri,
        "--copies",
        "2",
        "--config",
        str(fast_config),
    ]
    assert main(args) == 0
    first, second = network_printer.model.jobs(expect=2)
    assert first == second


@pytest.mark.parametrize(
    ("state", "message"),
    [("paper_out", "out of paper"), ("cover_open", "cover is open"), ("offline", "offline")],
)
def test_printer_not_ready_exits_1_with_the_reason(photo, fast_config, network_printer, capsys, state, message) -> None:
    network_printer.model.state = state
    assert main(["send", str(photo), "--printer", network_printer.uri, "--config", str(fast_config)]) == 1
    assert message in capsys.readouterr().err
    assert network_printer.model.jobs() == []


def test_silence_is_not_success(photo, tmp_path, network_printer, capsys) -> None:
    network_printer.model.state = "silent"
    config = tmp_path / "quick.yaml"
    config.write_text("art: {columns: 6, max_rows: 4}\nprinter: {timeout: 0.3}\n")
    assert main(["send", str(photo), "--printer", network_printer.uri, "--config", str(config)]) == 1
    assert "did not answer" in capsys.readouterr().err
    assert network_printer.model.jobs() == []


def test_nobody_listening_is_printer_not_found() -> None:
    with pytest.raises(PrinterNotFound, match="Connection refused"):
        Printer("tcp://127.0.0.1:1", timeout=1).status()


def test_usb_bytes_arrive_on_the_out_endpoint_through_pyusb() -> None:
    backend = EpsonUsbBackend()
    art = Art(np.frombuffer(b"AB##", np.uint8).reshape(2, 2).copy())
    job = receipt_bytes(art, PaperSettings())
    status = Printer("usb://04b8:0202", timeout=1, usb_backend=backend).print_job(job)
    assert status.answered and status.online
    assert backend.model.jobs() == [job]


def test_usb_printer_absent_or_locked() -> None:
    with pytest.raises(PrinterNotFound, match="not found"):
        Printer("usb://04b8:0202", timeout=1, usb_backend=EpsonUsbBackend(present=False)).status()
    with pytest.raises(PrinterPermissionDenied, match="udev"):
        Printer("usb://04b8:0202", timeout=1, usb_backend=EpsonUsbBackend(denied=True)).print_job(b"x")


def test_usb_paper_out_is_reported() -> None:
    backend = EpsonUsbBackend(PrinterModel(state="paper_out"))
    with pytest.raises(PaperOut):
        Printer("usb://04b8:0202", timeout=1, usb_backend=backend).print_job(b"\x1b@")
    assert backend.model.jobs() == []


def test_file_transport_writes_the_same_bytes(tmp_path, photo, fast_config, network_printer) -> None:
    device = tmp_path / "lp0"
    assert main(["send", str(photo), "--printer", f"file://{device}", "--config", str(fast_config)]) == 0
    assert main(["send", str(photo), "--printer", network_printer.uri, "--config", str(fast_config)]) == 0
    assert device.read_bytes() == network_printer.model.jobs(expect=1)[0]


def test_serial_through_a_pty_pair(tmp_path, photo, fast_config) -> None:
    printer = SerialPrinter()
    try:
        text, modes = rendered(tmp_path, photo, fast_config)
        assert main(["send", str(photo), "--printer", printer.uri, "--config", str(fast_config)]) == 0
        [job] = printer.model.jobs(expect=1)
        assert_job_is_the_art(job, text, modes)
    finally:
        printer.close()


def test_testpage_prints_every_mode(fast_config, network_printer) -> None:
    assert main(["testpage", "--printer", network_printer.uri, "--config", str(fast_config)]) == 0
    rows = decode_rows(network_printer.model.jobs(expect=1)[0])
    used = {mode for _, modes in rows for mode in modes}
    assert used == set(MODES)
    assert any(b"\xdb" not in r and r.startswith(b"Dx ") for r, _ in rows)  # blocks banned: blank there
    assert all(len(r) <= 42 for r, _ in rows)  # a TM-T88V's 42 columns: nothing wraps


def test_mode_switches_only_where_the_mode_changes() -> None:
    line = encode_line(b"abcd", ["normal", "reverse", "reverse", "emphasized"])
    assert line == b"a\x1dB\x01bc\x1dB\x00\x1bE\x01d\x1bE\x00\n"


def test_line_pitch_in_the_printers_motion_unit() -> None:
    assert PaperSettings().line_spacing(30) == b"\x1b2"
    assert PaperSettings(motion_unit=360, dpi=180).line_spacing(24) == b"\x1b3\x30"  # 48/360 inch


def test_a_42_by_21_job_is_small() -> None:
    rng = np.random.default_rng(0)
    codes = rng.choice(np.r_[0x20:0x7F, 0x80:0xFF], size=(21, 42)).astype(np.uint8)
    assert len(receipt_bytes(Art(codes), PaperSettings())) < 1200


def test_status_bits() -> None:
    assert parse_status(0x16, 0x12, 0x12).describe() == "ready"
    assert parse_status(0x16, 0x12, 0x1E).describe() == "ready (paper near end)"
    assert parse_status(0x1E, 0x32, 0x72).paper_out


@pytest.mark.parametrize("uri", ["lpt://x", "usb://zz", "tcp://", "file://"])
def test_bad_uri_is_a_usage_error(uri: str) -> None:
    from printd.errors import UsageError

    with pytest.raises(UsageError):
        make_transport(uri, 1.0)


def test_usb_timeout_maps_to_printer_timeout() -> None:
    import usb.core

    transport = make_transport("usb://04b8:0202", 1.0)
    err = usb.core.USBError("Operation timed out", errno.ETIMEDOUT, errno.ETIMEDOUT)
    assert isinstance(transport.failed(err), PrinterTimeout)


def decode_raster(job: bytes) -> np.ndarray:
    """The dots of every `GS v 0` band in a job, stacked: what the printer prints."""
    bands, i = [], 0
    while (i := job.find(b"\x1dv0\x00", i)) >= 0:
        width = int.from_bytes(job[i + 4 : i + 6], "little")
        height = int.from_bytes(job[i + 6 : i + 8], "little")
        data = np.frombuffer(job[i + 8 : i + 8 + width * height], np.uint8).reshape(height, width)
        bands.append(np.unpackbits(data, axis=1))
        i += 8 + width * height
    return np.concatenate(bands)


def test_raster_job_is_the_preview_dot_for_dot(tmp_path, fast_config, network_printer) -> None:
    img = tmp_path / "p.png"
    write_photo(img, (504, 630))
    preview = tmp_path / "preview.png"
    assert main(["render", str(img), "-o", str(tmp_path / "a.txt"), "--preview", str(preview),
                 "--columns", "42", "--rows", "21", "--config", str(fast_config)]) == 0  # fmt: skip
    assert main(["send", str(img), "--raster", "--columns", "42", "--rows", "21",
                 "--printer", network_printer.uri, "--config", str(fast_config)]) == 0  # fmt: skip
    [job] = network_printer.model.jobs(expect=1)
    dots = decode_raster(job)
    expected = np.asarray(Image.open(preview)) < 128
    np.testing.assert_array_equal(dots[:, : expected.shape[1]], expected)
    assert not dots[:, expected.shape[1] :].any()
    assert len(job) <= 45_000, len(job)
    assert job.count(b"\x1dv0") == 3  # 630 dot rows in bands of 240: status asked between them


def test_a_203_dpi_printer_gets_48_columns_and_a_30_dot_pitch() -> None:
    from printd.config import PrinterConfig
    from printd.printer.profiles import profile
    from printd.render.artist import paper_for

    t20 = profile("TM-T20III")
    assert (t20.columns, t20.dpi, t20.dots) == (48, 203, 576)
    assert paper_for(PrinterConfig(profile="TM-T20III")).line_spacing(30) == b"\x1b3\x1e"  # 30/203 inch
    assert paper_for(PrinterConfig(profile="TM-T88VI")).line_spacing(30) == b"\x1b2"


def test_printing_leaves_nothing_in_tmpdir(tmp_path: Path, photo: Path, fast_config: Path) -> None:
    """python-escpos makes a folder with mkdtemp() when imported: printd points it at its cache."""
    scratch, cache, device = tmp_path / "tmpdir", tmp_path / "cache", tmp_path / "lp0"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "XDG_CACHE_HOME": str(cache)}
    command = [sys.executable, "-m", "printd", "send", str(photo), "--printer", f"file://{device}"]
    subprocess.run([*command, "--config", str(fast_config)], env=env, check=True, timeout=120)
    assert device.stat().st_size > 0
    assert list(scratch.iterdir()) == []
