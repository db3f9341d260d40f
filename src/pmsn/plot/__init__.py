"""Figures of pmsn (matplotlib, Agg backend): PMSN dynamics and modes (``pmsn plot dynamics``).

    from pmsn.plot import plot_dynamics
    plot_dynamics("figures/", input_kind="digit")      # writes dynamics.png/.svg and modes.png/.svg
"""

from pmsn.plot.dynamics import (INPUTS, dynamics_figure, layer_response, make_input, modal_eigenvalues, modes_figure,
                                mode_impulse_responses, plot_dynamics)
from pmsn.plot.figures import pyplot, save_figure

__all__ = ["INPUTS", "make_input", "layer_response", "dynamics_figure", "modes_figure", "modal_eigenvalues",
           "mode_impulse_responses", "plot_dynamics", "pyplot", "save_figure"]
