"""Score runs that switch as a whole: write a run's set apart, then publish it in one step.

A score run writes every file of its set into ``runs/.staging-<token>/`` (see
:class:`core.catalog.OutputCatalog`). :func:`publish` renames that folder to ``runs/<run id>``
and switches the ``current`` link to it with one atomic ``rename`` of a new link over the old,
so a reader (report, service, page, a person) sees the previous complete set or the new one,
never a mix. A run that is killed or fails before the switch leaves only its staging folder,
which the next run removes (:func:`clear_staging`); after the switch the older runs beyond
``keep`` are deleted (:func:`prune`), never the current one.

Written by hand: publishing a folder by swapping a symbolic link is a few lines of ``os``
calls, and no maintained library does exactly this.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

from core.catalog import STAGING_PREFIX, OutputCatalog
from core.files import write_text


def clear_staging(catalog: OutputCatalog) -> list[Path]:
    """Remove the staging folders of runs that never finished; return what was removed.

    Call it while holding the folder's lock (:func:`core.lock.hold`): a staging folder is then
    never another live run's.
    """
    removed = []
    if catalog.runs.is_dir():
        for leftover in sorted(catalog.runs.glob(f"{STAGING_PREFIX}*")):
            shutil.rmtree(leftover, ignore_errors=True)
            removed.append(leftover)
    for link in catalog.root.glob(".current.*.tmp"):  # a link made but never switched
        link.unlink(missing_ok=True)
    return removed


def current_run_id(catalog: OutputCatalog) -> str | None:
    """The id of the published run (the name of the folder ``current`` points to), if any."""
    if not catalog.current.is_symlink():
        return None
    return Path(os.readlink(catalog.current)).name


def publish(staged: OutputCatalog, run_id: str, info: dict[str, object]) -> OutputCatalog:
    """Make the staged run ``runs/<run_id>`` and point ``current`` at it, in one step.

    ``info`` is written beside the set as ``run.json`` (with the id and the time published).
    Returns the catalog of the published run.
    """
    assert staged.run_dir is not None, "publish a catalog from OutputCatalog.staging()"
    published = {
        "run_id": run_id,
        "published_at": dt.datetime.now(dt.UTC).isoformat(timespec="microseconds"),
        **info,
    }
    write_text(json.dumps(published, indent=2, default=str), staged.run_info)
    final = staged.runs / run_id
    os.rename(staged.run_dir, final)
    link = staged.root / f".current.{run_id}.tmp"
    link.unlink(missing_ok=True)
    os.symlink(Path("runs") / run_id, link)
    os.replace(link, staged.current)  # the switch: one rename over the old link
    _sync_dir(staged.root)
    return OutputCatalog(staged.root, final)


def prune(catalog: OutputCatalog, keep: int) -> list[Path]:
    """Delete published runs beyond the ``keep`` newest (never the current one)."""
    if not catalog.runs.is_dir():
        return []
    current = current_run_id(catalog)
    runs = [
        p
        for p in catalog.runs.iterdir()
        if p.is_dir() and not p.name.startswith(STAGING_PREFIX) and p.name != current
    ]
    runs.sort(key=_published_at, reverse=True)
    removed = runs[max(keep - 1, 0) :]  # the current run counts as one of the kept
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed


def _published_at(run: Path) -> str:
    try:
        return str(json.loads((run / "run.json").read_text())["published_at"])
    except (OSError, ValueError, KeyError):
        return ""


def _sync_dir(folder: Path) -> None:
    """Flush the folder's entries (the switch) to disk where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
