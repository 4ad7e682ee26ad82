"""Named fault points, for the fault-injection tests (``tests/test_faults.py``, marker ``faults``).

The commands pass named points where they write (``checkpoint("score:switched")``). With the
environment variable ``CHURNCLV_FAULT=<point>:<kind>`` a point fails on purpose, so a test can
stop a run at an exact step instead of relying on timing:

* ``kill``: the process kills itself with SIGKILL (a crash, an out-of-memory kill, a pulled
  plug: nothing runs after it, no ``finally``);
* ``disk-full``: ``OSError`` ENOSPC, as a full disk gives;
* ``read-only``: ``OSError`` EROFS, as a read-only file system gives;
* ``pause``: the process sleeps (60 s), still holding its locks, so a second command can meet
  the first one running.

Without the variable (always, outside the tests) a checkpoint does nothing.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path

ENV = "CHURNCLV_FAULT"
PAUSE_SECONDS = 60


def checkpoint(point: str, path: Path | None = None) -> None:
    """Fail here when ``CHURNCLV_FAULT`` names this point; ``path``: what was being written."""
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    name, _, kind = wanted.rpartition(":")
    if name != point:
        return
    if kind == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if kind == "disk-full":
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path or point))
    if kind == "read-only":
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path or point))
    if kind == "pause":
        time.sleep(PAUSE_SECONDS)
        return
    raise ValueError(f"{ENV}={wanted}: unknown fault kind '{kind}'")
