"""The daemon's runtime folder (spool.runtime; run/ in the spool by default): its lock and its
sockets, in a folder only the daemon may write (docs/architecture.md §5b).

The spool is group-writable (2770) so that the group may drop pictures; in a folder like that any
member could replace a socket (and receive the next user's private picture) or remove the lock
(and start a second daemon). The runtime folder is the daemon's own, 0750 (the group may connect,
not create or remove), and its parent must not let anyone else rename it away: either nobody else
may write there, or the sticky bit is set, which the daemon sets on a spool it owns.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from ..errors import UsageError
from ..sources.submit import user_name

log = logging.getLogger(__name__)
MODE = 0o750
OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


def make_runtime_dir(path: Path) -> None:
    """Make `path` the daemon's own folder, or say why it cannot be (UsageError)."""
    _guard_parent(path.parent)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=MODE)
    info = path.lstat()
    me = os.geteuid()
    if not stat.S_ISDIR(info.st_mode):
        raise UsageError(f"{path}: not a folder (the daemon's sockets and lock go there): remove it")
    if info.st_uid != me:
        raise UsageError(
            f"{path}: owned by {user_name(info.st_uid)}, not by the daemon's user {user_name(me)}: only the "
            "daemon may make its sockets and lock; remove it (the daemon makes it again)"
        )
    if stat.S_IMODE(info.st_mode) & (OTHERS_WRITE | stat.S_IRWXO) or not stat.S_IMODE(info.st_mode) & stat.S_IXGRP:
        path.chmod(MODE)  # ours: the group may connect, nobody else may add or remove a door


def _guard_parent(parent: Path) -> None:
    """Nobody but the daemon may rename or remove the runtime folder in `parent`."""
    info = parent.stat()
    mode = stat.S_IMODE(info.st_mode)
    if not mode & OTHERS_WRITE or mode & stat.S_ISVTX:
        return
    if info.st_uid != os.geteuid():
        raise UsageError(
            f"{parent}: others may write here (mode {mode:o}) and could replace the daemon's sockets: "
            f"chmod +t {parent}, or set spool.runtime to a folder of the daemon's own (e.g. /run/printd)"
        )
    parent.chmod(mode | stat.S_ISVTX)  # the group still drops files; only owners rename or remove
    log.info("%s: sticky bit set: members of its group can no longer remove what is not theirs", parent)
