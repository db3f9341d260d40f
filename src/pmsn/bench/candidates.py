"""The neurons of ``pmsn bench speed`` and the two calls measured on each, on the same inputs.

Every neuron of this package, the forced PMSN paths, and SpikingJelly's ``LIFNode`` (multi-step, tau 2), ``PSN``
and ``SlidingPSN`` (k 32) as outside baselines when SpikingJelly is importable. Train step = forward + backward
of ``(spikes * w).sum()`` with gradients to the input and every parameter; inference = forward under
``torch.no_grad``. The timing (``pmsn.bench.timing``) and the peak-memory child (``pmsn.bench.memory``) both
build their inputs with ``make_inputs`` and call ``Candidate.prepare`` before every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from pmsn.neurons import build_neuron
from pmsn.neurons.pmsn import PATHS as PMSN_PATHS

DTYPES = {"float32": torch.float32, "float64": torch.float64}
SPIKINGJELLY_HINT = "pip install --no-deps spikingjelly loguru"


@dataclass(frozen=True)
class Candidate:
    """One neuron of the comparison: ``build(T, channels)`` → module; cost grows like ``T ** time_power``."""

    name: str
    label: str
    family: str  # "pmsn" (this package) or "spikingjelly"
    build: Callable[[int, int], nn.Module]
    time_power: int = 1  # 2 for the dense T×T time mixing of the PSN family
    reset: Callable[[nn.Module], None] | None = None  # stateful modules are reset before every call
    by_default: bool = True  # part of `pmsn bench speed` without --neurons (the slow serial loop is not)

    def prepare(self, module: nn.Module, x: torch.Tensor) -> None:
        """Before every call: reset the neuron's state (if it keeps one) and clear the gradients."""
        if self.reset is not None:
            self.reset(module)
        module.zero_grad(set_to_none=True)
        x.grad = None


def spikingjelly_status() -> tuple[object | None, str]:
    """``(spikingjelly.activation_based, "")`` when importable, else ``(None, why not)``."""
    try:
        from spikingjelly import activation_based
        from spikingjelly.activation_based import functional, neuron  # noqa: F401  (the submodules used below)
    except Exception as error:  # ImportError, or a missing dependency of spikingjelly (e.g. loguru)
        return None, f"SpikingJelly not importable ({type(error).__name__}: {error}); install: {SPIKINGJELLY_HINT}"
    return activation_based, ""


def _pmsn_factory(name: str, **kwargs) -> Callable[[int, int], nn.Module]:
    return lambda steps, channels: build_neuron(name, channels, T=steps, **kwargs)


class SerialLoop(nn.Module):
    """A neuron run by its serial definition, the loop of ``step`` (PMSN paper Fig. 5's "serial MSN")."""

    def __init__(self, neuron: nn.Module):
        super().__init__()
        self.neuron = neuron

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron.serial(x)


def candidates() -> dict[str, Candidate]:
    """Every neuron the bench knows, by CLI name (SpikingJelly ones only when it is importable)."""
    table = [
        Candidate("lif", "LIF", "pmsn", _pmsn_factory("lif")),
        Candidate("plif", "PLIF", "pmsn", _pmsn_factory("plif")),
        Candidate("alif", "ALIF", "pmsn", _pmsn_factory("alif")),
        Candidate("tclif", "TC-LIF", "pmsn", _pmsn_factory("tclif")),
        Candidate("psn", "PSN", "pmsn", _pmsn_factory("psn"), time_power=2),
        Candidate("masked_psn", "masked PSN k=32", "pmsn", _pmsn_factory("masked_psn", mask_lambda=1.0),
                  time_power=2),
        Candidate("sliding_psn", "sliding PSN k=32", "pmsn", _pmsn_factory("sliding_psn", order=32), time_power=2),
        Candidate("pmsn", "PMSN n=5", "pmsn", _pmsn_factory("pmsn", compartments=5)),
        Candidate("pmsn_serial", "PMSN n=5 serial (step loop)", "pmsn",
                  lambda steps, channels: SerialLoop(build_neuron("pmsn", channels, compartments=5)),
                  by_default=False),
    ]
    for path in PMSN_PATHS:  # forced paths; "fused" is the CPU default, "triton*" run on CUDA only
        if path != "fused" and (not path.startswith("triton") or torch.cuda.is_available()):
            table.append(Candidate(f"pmsn_{path}", f"PMSN n=5 {path}", "pmsn",
                                   _pmsn_factory("pmsn", compartments=5, path=path)))
    sj, _ = spikingjelly_status()
    if sj is not None:
        reset = sj.functional.reset_net
        table += [
            Candidate("sj_lif", "SJ LIFNode", "spikingjelly",
                      lambda steps, channels: sj.neuron.LIFNode(tau=2.0, step_mode="m"), reset=reset),
            Candidate("sj_psn", "SJ PSN", "spikingjelly", lambda steps, channels: sj.neuron.PSN(T=steps),
                      time_power=2, reset=reset),
            Candidate("sj_sliding_psn", "SJ SlidingPSN k=32", "spikingjelly",
                      lambda steps, channels: sj.neuron.SlidingPSN(k=32, step_mode="m"), time_power=2, reset=reset),
        ]
    return {candidate.name: candidate for candidate in table}


def neuron_path(module: nn.Module, x: torch.Tensor) -> str:
    """The PMSN path (fused / fft / chunked) this module takes for ``x``; ``""`` for other neurons."""
    choose = getattr(module, "chosen_path", None)
    return choose(x) if choose is not None else ""


# ------------------------------------------------------------------------------------------------ one call
def make_inputs(steps: int, batch: int, channels: int, dtype: torch.dtype, device: torch.device,
                seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, w)`` of shape ``[T, B, C]``, the same for every neuron at this T: x requires grad, w weights the loss."""
    generator = torch.Generator().manual_seed(seed + steps)
    shape = (steps, batch, channels)
    x = torch.randn(shape, generator=generator, dtype=dtype).to(device).requires_grad_(True)
    weights = torch.randn(shape, generator=generator, dtype=dtype).to(device)
    return x, weights


def train_step(module: nn.Module, x: torch.Tensor, weights: torch.Tensor) -> None:
    """Forward + backward of ``(spikes * w).sum()``: gradients to ``x`` (requires grad) and every parameter."""
    (module(x) * weights).sum().backward()


def inference(module: nn.Module, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


__all__ = ["Candidate", "SerialLoop", "candidates", "spikingjelly_status", "neuron_path", "make_inputs", "train_step", "inference",
           "DTYPES", "SPIKINGJELLY_HINT"]
