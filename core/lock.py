"""One writer at a time per output folder and per model registry.

:func:`hold` takes an exclusive ``flock`` on a lock file and writes who holds it (command,
process id, start time) into it. A second command that wants the same lock exits at once with
one line naming the running one. The kernel releases a ``flock`` when its process ends, however
it ends, so the lock of a killed run is never stale: the next run simply gets it (the file's
text, left behind, is only a note).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from core.errors import UserError


class BusyError(UserError):
    """Another command holds the lock; the message says which and what to do."""


@contextlib.contextmanager
def hold(path: Path, what: str, purpose: str) -> Iterator[None]:
    """Hold the lock file ``path`` while the block runs, or raise :class:`BusyError`.

    ``what``: the command holding it (``churnclv score``); ``purpose``: what the lock
    protects, for the message (``output folder outputs/demo``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 500, 0).decode("utf-8", "replace").strip() or "another command"
            raise BusyError(
                f"{purpose} is in use by {holder}; wait for it to finish, or use another "
                "folder (--out)"
            ) from None
        note = f"{what} (process {os.getpid()}, since {dt.datetime.now():%Y-%m-%d %H:%M:%S})"
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
