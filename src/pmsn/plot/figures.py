"""Matplotlib plumbing shared by every figure of pmsn: headless backend, readable defaults, atomic saving."""

from __future__ import annotations

import io
from pathlib import Path

FORMATS = ("png", "svg", "pdf")


def pyplot():
    """``matplotlib.pyplot`` on the non-interactive Agg backend with readable font sizes."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 8,
                         "figure.dpi": 100, "savefig.bbox": "tight", "svg.fonttype": "none"})
    return plt


def check_formats(formats) -> tuple[str, ...]:
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"figure formats must be a non-empty subset of {FORMATS}, got {formats}")
    return formats


def save_figure(figure, stem: str | Path, formats=("png",), dpi: int = 120) -> list[Path]:
    """Write ``figure`` as ``stem.<format>`` for each format (temp file + rename), close it, return the paths."""
    from pmsn.io import atomic_write_bytes

    plt = pyplot()
    paths = []
    for fmt in check_formats(formats):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=dpi)
        path = Path(f"{stem}.{fmt}")
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    plt.close(figure)
    return paths
