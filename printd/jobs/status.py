"""What the daemon tells the world about itself: `printd status --json`'s object.

In the daemon it is made from memory: the spool's job index and the daemon's own state (the web
page and MQTT ask it). The daemon also writes that state, with the spool's size, to `status.json`
in the spool, so `printd status` reads a bounded slice of the disk: that file, the names in the
state folders and the records of the jobs it lists. Light on purpose: `printd status` imports this
and the spool, never the renderer or a printer library.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .index import Entry, entry_of
from .spool import JobState, Spool

STATUS_FILE = "status.json"
LAST = 10  # done and failed jobs listed (the newest)


def status_report(spool: Spool, state: Mapping[str, Any] | None = None, last: int = LAST) -> dict[str, Any]:
    """One object for `printd status --json`: printer state and the jobs. `state`: the running
    daemon's own (printer, printers, booth, camera, intake); None: read from status.json if one runs,
    and with none, the jobs on disk (those a crash left in active/ listed as queued, `interrupted`)."""
    running = state is not None or spool.daemon_running()
    full = None
    if state is None:
        full = spool.space_problem() if running else None  # status.json is not rewritten on a full disk
        written = _written_state(spool)
        state = written if running else {}
        entries = _on_disk(spool, last)
        size = written.get("spool_bytes", 0)  # as the daemon last counted it: a walk would read every folder
    else:
        entries = spool.index.latest(last)
        size = spool.index.size
    absent = "no daemon running"
    jobs = [entry.public() for entry in entries]
    if not running:  # nothing is being printed: a job left in active/ by a crash waits for the next start
        for job in jobs:
            if job["state"] == JobState.ACTIVE.value:
                job.update(state=JobState.QUEUED.value, interrupted=True)
    intake = state.get("intake", "taking files" if running else absent)
    if full:
        intake = f"paused: {full}"
    return {
        "printer": state.get("printer", "unknown" if running else absent),
        "printers": state.get("printers", []),
        "booth": state.get("booth", "off"),
        "camera": state.get("camera", "off"),
        "intake": intake,
        "daemon": running,
        "counters": state.get("counters", {}),
        "spool_mb": size / 1e6,
        "jobs": jobs,
    }


def _written_state(spool: Spool) -> dict[str, Any]:
    try:
        return dict(json.loads((spool.root / STATUS_FILE).read_text()))
    except (OSError, ValueError):
        return {}


def _on_disk(spool: Spool, last: int) -> list[Entry]:
    """Active and queued jobs, and the newest `last` done and failed: only their records are read."""
    entries = []
    for state in (JobState.ACTIVE, JobState.QUEUED, JobState.DONE, JobState.FAILED):
        names = spool.names(state)
        if state in (JobState.DONE, JobState.FAILED):
            names = names[-last:]
        entries += [entry_of(spool.load(spool.folder(state) / name, state), 0) for name in names]
    return entries
