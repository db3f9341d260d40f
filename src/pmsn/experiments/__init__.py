"""Ablations and reports of the three papers (``pmsn ablate NAME``, ``pmsn report RUN_DIR``).

    from pmsn.experiments import Options, run_ablation, write_report
    run_ablation("compartments", Options(out="ablations/compartments", smoke=True))
    write_report("runs/")
"""

from pmsn.experiments.ablations import ABLATIONS, Options, run_ablation
from pmsn.experiments.gradients import TABLE7, autograd_jacobian_norm, gradient_through_time, tclif_gradient_norm

__all__ = ["ABLATIONS", "Options", "run_ablation", "TABLE7", "tclif_gradient_norm", "autograd_jacobian_norm",
           "gradient_through_time", "write_report"]


def __getattr__(name):  # the report imports the training stack; load it on first use
    if name == "write_report":
        from pmsn.experiments.report import write_report

        return write_report
    raise AttributeError(name)
