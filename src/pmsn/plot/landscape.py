"""Loss landscapes side by side: a contour map and a 3-D surface per network (TC-LIF Fig. 5, docs/training.md §7).

``landscape_figure({"LIF": (coordinates, losses), "TC-LIF": ...})`` takes, per network, the grid coordinates
(the same values on both axes) and the loss grid ``losses[j][i] = L(θ + a_i·d1 + b_j·d2)``; all panels share one
logarithmic colour scale so that the networks' basins can be compared by eye.
"""

from __future__ import annotations

import numpy as np

from pmsn.plot.figures import pyplot

AXIS_LABELS = ("α (direction 1, filter-normalised)", "β (direction 2, filter-normalised)")


def landscape_figure(grids: dict, title: str = "loss landscape around the trained weights"):
    """Top row: filled contours of the loss over (α, β) with θ marked; bottom row: log10 loss as a surface."""
    if not grids:
        raise ValueError("landscape_figure expects at least one network's grid, got none")
    from matplotlib.colors import LogNorm

    plt = pyplot()
    columns = len(grids)
    figure = plt.figure(figsize=(5.0 * columns + 1.2, 9.6), layout="constrained")
    losses = {label: np.asarray(loss, dtype=float) for label, (_, loss) in grids.items()}
    low = max(min(float(loss.min()) for loss in losses.values()), 1e-12)  # a log scale needs loss > 0
    losses = {label: np.clip(loss, low, None) for label, loss in losses.items()}
    high = max(float(loss.max()) for loss in losses.values())
    high = max(high, low * 1.01)  # a flat grid still gets a colour scale
    levels = np.geomspace(low, high, 16)
    image, contours = None, []
    for index, (label, (coordinates, _)) in enumerate(grids.items()):
        a, b = np.meshgrid(np.asarray(coordinates, dtype=float), np.asarray(coordinates, dtype=float))
        loss = losses[label]
        contour = figure.add_subplot(2, columns, index + 1)
        contours.append(contour)
        image = contour.contourf(a, b, loss, levels=levels, norm=LogNorm(low, high), cmap="viridis")
        contour.contour(a, b, loss, levels=levels, colors="white", linewidths=0.4, alpha=0.6)
        contour.plot(0.0, 0.0, marker="*", color="red", markersize=10, linestyle="none", label="trained θ")
        contour.set(xlabel=AXIS_LABELS[0], ylabel=AXIS_LABELS[1], aspect="equal",
                    title=f"{label}\nL(θ) = {_centre(coordinates, loss):.4g}")
        contour.legend(loc="upper right")
        surface = figure.add_subplot(2, columns, columns + index + 1, projection="3d")
        surface.plot_surface(a, b, np.log10(loss), cmap="viridis", vmin=np.log10(low), vmax=np.log10(high),
                             linewidth=0)
        surface.set_zlim(np.log10(low), np.log10(high))
        ends = [float(coordinates[0]), 0.0, float(coordinates[-1])]
        surface.set(xlabel="α", ylabel="β", zlabel="log10 loss", title=f"{label}: surface", xticks=ends, yticks=ends)
    figure.colorbar(image, ax=contours, label="loss (cross-entropy, log scale)", ticks=levels[::3], format="%.3g")
    figure.suptitle(title)
    return figure


def _centre(coordinates, loss: np.ndarray) -> float:
    """The loss at (α, β) = (0, 0), or the grid point nearest to it when the resolution is even."""
    middle = int(np.argmin(np.abs(np.asarray(coordinates, dtype=float))))
    return float(loss[middle, middle])
