"""Self-contained HTML reports: matplotlib figures embedded as PNG, tables, one stylesheet."""

from __future__ import annotations

import base64
import html
import io
import re

import pandas as pd
from matplotlib.figure import Figure

STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em;color:#222}"
    ".t{border-collapse:collapse;font-size:13px}"
    ".t td,.t th{padding:3px 8px;border-bottom:1px solid #ddd;text-align:right}"
    ".t td:first-child,.t th:first-child,.l2 td:nth-child(2),.l2 th:nth-child(2)"
    "{text-align:left}"
    ".grid{display:flex;flex-wrap:wrap;gap:12px}.note{background:#fff3cd;padding:6px}"
    ".cells{border-collapse:collapse;font-size:13px}.cells td{border:1px solid #ccc;"
    "padding:6px 8px;vertical-align:top;background:#f7f9fc;width:30%}.cells th{padding:6px}"
    "figcaption,.caption{color:#444;font-size:14px;max-width:900px}"
    ".grid figure{flex:1 1 480px;max-width:540px;margin:0}figure img{max-width:100%}"
)


def figure(width: float = 5, height: float = 4) -> tuple[Figure, object]:
    """A figure and its axes, without pyplot (no global backend state)."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def png_base64(fig: Figure) -> str:
    """The figure as base64 PNG text."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def img(b64: str, caption: str) -> str:
    """An embedded image with a caption."""
    return (
        f"<figure><img src='data:image/png;base64,{b64}' alt='{html.escape(caption)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


SETTING = re.compile(r"\b[a-z]+\.[a-z0-9]+_[a-z0-9_]+\b")
"""A setting's key in a sentence (model.clv_check): shown as code, not as words."""


def note(text: str) -> str:
    """A highlighted note; setting keys in it as code."""
    words = SETTING.sub(lambda m: f"<code>{m.group()}</code>", html.escape(text))
    return f"<p class='note'>{words}</p>"


def table(frame: pd.DataFrame, digits: int = 4, text_columns: int = 1) -> str:
    """A data frame as an HTML table; missing values as a dash; the first ``text_columns``
    columns (1 or 2) aligned left, the rest right."""
    return frame.to_html(
        index=False,
        float_format=lambda v: f"{v:,.{digits}f}",
        border=0,
        classes=["t", "l2"] if text_columns == 2 else "t",
        na_rep="\u2013",
    )


def page(title: str, sections: list[str]) -> str:
    """A complete HTML document."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )
