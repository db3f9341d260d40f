"""Ablations and reports of the three papers (``pmsn ablate NAME``, ``pmsn report RUN_DIR``).

    from pmsn.experiments import Options, run_ablation, write_report
    run_ablation("compartments", Options(out="ablations/compartments", smoke=True))
    write_report("runs/")

The papers' published numbers: ``pmsn.experiments.papers``.
"""

import importlib

# Loaded on first use: the ablations and the report import the training stack, and ``pmsn.bench`` reads the
# papers' numbers from ``pmsn.experiments.papers`` without them.
_EXPORTS = {
    "ABLATIONS": "pmsn.experiments.ablations", "Options": "pmsn.experiments.ablations",
    "run_ablation": "pmsn.experiments.ablations", "tclif_gradient_norm": "pmsn.experiments.gradients",
    "autograd_jacobian_norm": "pmsn.experiments.gradients", "gradient_through_time": "pmsn.experiments.gradients",
    "write_report": "pmsn.experiments.report",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
