"""Ablations and reports of the three papers (``pmsn ablate NAME``, ``pmsn report RUN_DIR``).

    from pmsn.experiments import Options, run_ablation, write_report
    run_ablation("compartments", Options(out="ablations/compartments", smoke=True))
    write_report("runs/")

The papers' published numbers: ``pmsn.papers``.
"""

from pmsn.experiments.ablations import ABLATIONS, Options, run_ablation
from pmsn.experiments.gradients import autograd_jacobian_norm, gradient_through_time, tclif_gradient_norm
from pmsn.experiments.report import write_report

__all__ = ["ABLATIONS", "Options", "run_ablation", "tclif_gradient_norm", "autograd_jacobian_norm",
           "gradient_through_time", "write_report"]
