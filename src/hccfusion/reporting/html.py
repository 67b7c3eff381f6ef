"""Assembling the HTML report from sections of tables and figures.

The report is a folder: ``report.html``, ``tables/*.csv`` (every number shown, traceable) and
``figures/*.png|svg``. Sections are data (:class:`Section` with table and figure blocks); this
module only writes files and renders the Jinja2 template.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd

from hccfusion import __version__


@dataclass(frozen=True)
class TableBlock:
    caption: str
    frame: pd.DataFrame
    name: str  # file stem under tables/
    #: Optional display format per column (e.g. ``{"estimate": "{:.3f}"}``); the CSV keeps
    #: full precision.
    formats: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureBlock:
    caption: str
    draw: Callable[[], Any]  # returns a matplotlib Axes
    name: str  # file stem under figures/
    data: pd.DataFrame  # what the figure shows, written beside it


@dataclass(frozen=True)
class NoteBlock:
    """A one-line note between blocks, e.g. why a part of a section is omitted."""

    text: str


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    tripod: str
    text: str = ""
    note: str = ""
    blocks: tuple[TableBlock | FigureBlock | NoteBlock, ...] = field(default_factory=tuple)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")


def _cell(value: object, fmt: str | None = None) -> dict[str, object]:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return {"text": "", "num": False}
    if fmt is not None and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return {"text": fmt.format(value), "num": True}
    if isinstance(value, (int,)) and not isinstance(value, bool):
        return {"text": f"{value:,}", "num": True}
    if isinstance(value, float):
        return {"text": f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:,.2f}",
                "num": True}
    if isinstance(value, (pd.Timestamp, dt.date)):
        return {"text": pd.Timestamp(value).date().isoformat(), "num": False}
    return {"text": str(value), "num": False}


def render_report(*, sections: list[Section], out: Path, title: str,
                  meta: dict[str, object]) -> Path:
    """Write every table (CSV) and figure (PNG + SVG) of ``sections`` under ``out`` and render
    ``report.html``; returns its path."""
    import jinja2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    rendered = []
    for section in sections:
        blocks = []
        for block in section.blocks:
            if isinstance(block, NoteBlock):
                blocks.append({"kind": "note", "text": block.text})
            elif isinstance(block, TableBlock):
                source = f"tables/{_slug(block.name)}.csv"
                block.frame.to_csv(out / source, index=False)
                fmts = [block.formats.get(c) for c in block.frame.columns]
                rows = [[_cell(v, f) for v, f in zip(rec, fmts)]
                        for rec in block.frame.itertuples(index=False)]
                blocks.append({"kind": "table", "caption": block.caption,
                               "columns": list(block.frame.columns), "rows": rows,
                               "source": source})
            else:
                stem = f"figures/{_slug(block.name)}"
                source = f"tables/{_slug(block.name)}_data.csv"
                block.data.to_csv(out / source, index=False)
                ax = block.draw()
                for suffix in ("png", "svg"):
                    ax.figure.savefig(out / f"{stem}.{suffix}", dpi=150, bbox_inches="tight")
                plt.close(ax.figure)
                blocks.append({"kind": "figure", "caption": block.caption, "png": f"{stem}.png",
                               "svg": f"{stem}.svg", "source": source})
        rendered.append({"id": section.id, "title": section.title, "tripod": section.tripod,
                         "text": section.text, "note": section.note, "blocks": blocks})
    env = jinja2.Environment(loader=jinja2.PackageLoader("hccfusion.reporting", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        title=title, sections=rendered, version=__version__,
        generated=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), **meta)
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
