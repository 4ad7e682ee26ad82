"""Execute the quickstart notebook on the current demo outputs and store it with its outputs
(`make notebook-run`). Run `make demo` first.

The kernel starts in notebooks/ as in JupyterLab; cell timings are not recorded, so a refresh
changes only what the outputs show.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def main() -> int:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    os.environ.setdefault("CHURNCLV_ROOT", str(ROOT))
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        stop = [line for line in str(exc).splitlines() if line.startswith("STOP: ")]
        print(f"error: {stop[0][6:] if stop else exc}", file=sys.stderr)
        return 1
    nbformat.write(nb, NOTEBOOK)
    print(f"stored {NOTEBOOK.relative_to(ROOT)} with its outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
