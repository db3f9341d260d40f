"""Every table pmsn writes: CSV text and files (atomic), Markdown tables and the one value formatter.

    write_csv(out / "speed.csv", rows)                   # columns: the union of the rows' keys, in order
    print(markdown_table(rows, headers={"acc": "best test acc (%)"}))
    format_value(0.123456)  -> "0.1235"      format_value(None) -> "–"      format_value(2.5, decimals=2) -> "2.50"

CSV cells keep full precision (None → empty cell); Markdown and console tables go through ``format_value``.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from pmsn.io import atomic_write_text

MISSING = "–"


def _columns(rows: list[dict], columns) -> list[str]:
    return list(columns) if columns is not None else list(dict.fromkeys(key for row in rows for key in row))


def csv_text(rows: list[dict], columns=None) -> str:
    """CSV with a header; keys outside ``columns`` are ignored, missing or None values are empty cells."""
    columns = _columns(rows, columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: ("" if row.get(key) is None else row[key]) for key in columns} for row in rows)
    return buffer.getvalue()


def write_csv(path: str | Path, rows: list[dict], columns=None) -> None:
    atomic_write_text(path, csv_text(rows, columns))


def format_value(value, decimals: int | None = None, missing: str = MISSING) -> str:
    """A number for people: ``decimals`` fixed decimals, else 4 significant digits (thousands separated from
    10,000 on); None → ``missing``; anything else as ``str``."""
    if value is None:
        return missing
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if decimals is not None:
            return f"{value:.{decimals}f}"
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1e4:
        return f"{value:,}"
    return str(value)


def markdown_table(rows: list[dict], columns=None, headers: dict | None = None) -> str:
    """A GitHub Markdown table; ``headers`` renames columns; values through ``format_value``."""
    if not rows:
        return "(no rows)\n"
    columns, headers = _columns(rows, columns), headers or {}
    lines = ["| " + " | ".join(headers.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_value(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"
