"""Header and footer lines in the printer's font, filled in for the job, inside the job's bytes."""

from __future__ import annotations

import pytest

from printd.config import Config
from printd.errors import ConfigError
from printd.jobs.spool import JobRecord
from printd.printer.encoding import PaperSettings, Receipt, encode_job
from printd.render.receipt import receipt_for
from tests.support.printers import decode_rows, qr_links


def test_header_and_footer_are_filled_in_and_wrapped_at_the_printers_width() -> None:
    config = Config.model_validate(
        {"receipt": {"event": "Ada & Bo's wedding", "header": ["{event}", "{date} {time} #{count}"],
                     "footer": ["job {job}: thank you for coming to the party and for smiling"]}}
    )  # fmt: skip
    record = JobRecord(id="00000000000000000001-web-a.png", source="web", name="a.png", received_at=0.0, number=7)
    receipt = receipt_for(config, record)
    assert receipt.header[0] == "Ada & Bo's wedding" and receipt.header[1].endswith(" #7")
    job = encode_job([(b"#" * 10, ["normal"] * 10)], 30, PaperSettings(columns=42), receipt)
    rows = [text for text, _ in decode_rows(job)]
    assert rows[0] == b"Ada & Bo's wedding" and rows[2] == b"#" * 10
    assert rows[3:] == [
        b"job 00000000000000000001-web-a.png: thank",
        b"you for coming to the party and for",
        b"smiling",
    ]
    assert all(len(row) <= 42 for row in rows)  # each line on paper is one LF in the bytes
    assert job.endswith(b"\x1bd\x04\x1dV\x01")  # the footer sits inside the job, before the feed and cut


def test_characters_the_printer_lacks_print_as_a_question_mark() -> None:
    job = encode_job([], 30, PaperSettings(), Receipt(header=("snow ☃ \x1b@ café",), qr="http://x/j/abc"))
    assert decode_rows(job)[0][0] == b"snow ? ?@ caf\x82"  # no control byte reaches the printer
    assert qr_links(job) == ["http://x/j/abc"]


def test_a_template_naming_an_unknown_value_is_a_config_error(tmp_path) -> None:
    from printd.config import load_config

    path = tmp_path / "printd.yaml"
    path.write_text("receipt: {header: ['{venue}']}\n")
    with pytest.raises(ConfigError, match=r"receipt.header: '\{venue\}' is not a template"):
        load_config(path)
