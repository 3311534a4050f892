"""What the daemon tells the world about itself: `status.json` in the spool, read by `printd status`.

Light on purpose: `printd status` imports this and the spool, never the renderer or a printer library.
"""

from __future__ import annotations

import json
from pathlib import Path

from .spool import JobState, Spool

STATUS_FILE = "status.json"


def status_report(spool: Spool, last: int = 10) -> dict[str, object]:
    """One object for `printd status --json`: printer state and the jobs."""
    state_file = Path(spool.root) / STATUS_FILE
    printer, booth, printers, intake = "no daemon running", "off", {}, "no daemon running"
    if spool.daemon_running() and state_file.exists():
        try:
            state = json.loads(state_file.read_text())
            printer, booth = state.get("printer", "unknown"), state.get("booth", "off")
            printers = state.get("printers", {})
            intake = state.get("intake", "taking files")
        except ValueError:
            printer = "unknown"
    jobs = []
    for state in (JobState.ACTIVE, JobState.QUEUED, JobState.DONE, JobState.FAILED):
        found = spool.jobs(state)
        if state in (JobState.DONE, JobState.FAILED):
            found = found[-last:]
        for job in found:
            entry: dict[str, object] = {"id": job.id, "state": state.value, "source": job.record.source}
            entry["name"] = job.record.name
            if state is JobState.FAILED:
                entry["error"] = job.record.error
            if job.record.possible_duplicate:
                entry["possible_duplicate"] = True
            jobs.append(entry)
    return {
        "printer": printer,
        "printers": printers,
        "booth": booth,
        "intake": intake,
        "daemon": spool.daemon_running(),
        "spool_mb": spool.size() / 1e6 if spool.root.is_dir() else 0.0,
        "jobs": jobs,
    }
