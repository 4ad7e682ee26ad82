"""The stored quickstart notebook: executed, with every output kept, readable without running;
and its one-line stop when there are no outputs to read. Executing it on a real run:
tests/test_end_to_end.py::test_quickstart_notebook_runs."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from core.money import currency_symbol
from core.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "quickstart.ipynb"


def test_stored_notebook_has_its_outputs_and_no_errors() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) >= 6
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # one clean run
    assert all(c.outputs for c in code), "a code cell without outputs: run `make notebook-run`"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 4  # the plots, as PNG
    text = "".join(o.get("text", "") for o in outputs)
    demo = load_settings(ROOT / "configs" / "demo.yaml")
    assert (
        f"Reading {demo.output_dir} (settings configs/demo.yaml; amounts in {demo.currency})"
        in text
    )
    assert f"{currency_symbol(demo.currency)}" in text and "Win back VIPs:" in text
    raw = NOTEBOOK.read_text()
    assert len(raw) < 1_000_000
    assert str(ROOT) not in raw  # no path of the machine that ran it
    assert '"iopub.execute_input"' not in raw  # no cell timings (make notebook-run)


@pytest.mark.slow
def test_notebook_stops_with_one_line_without_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started outside the project (CHURNCLV_ROOT tells where it is) before any `make demo`."""
    nb = nbformat.read(NOTEBOOK, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    monkeypatch.setenv("CHURNCLV_ROOT", str(ROOT))
    monkeypatch.setenv("CHURNCLV_OUTPUT", str(tmp_path / "none"))
    nb.cells = [first]
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    [error] = [o for o in first.outputs if o.output_type == "error"]
    assert error.traceback == [
        f"STOP: no scores in {tmp_path / 'none'}: run `make demo` first, then run this notebook "
        "again"
    ]
