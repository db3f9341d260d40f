"""PSN paper Fig. 2: the PSN family's parameter counts and which inputs build each hidden state.

Counted from the built modules, not from formulas: PSN and masked PSN hold a T×T weight and T biases (T² + T,
PSN eq. 8 and 11), sliding PSN k weights and one bias (k + 1, PSN eq. 14). The masks show, for a short T, which
inputs X[j] (columns) enter H[t] (rows): all of them (PSN, non-causal), the last k (masked PSN with λ = 1), the
last k with weights shared along the diagonals (sliding PSN) — docs/neurons.md §4.
"""

from __future__ import annotations

from pathlib import Path

import torch

from pmsn.neurons import PSN, MaskedPSN, SlidingPSN
from pmsn.plot.figures import pyplot, save_figure


def parameter_counts(steps: list[int], order: int) -> list[dict]:
    """n_param of each PSN-family neuron per T (masked PSN's order is min(k, T))."""
    def count(module) -> int:
        return sum(parameter.numel() for parameter in module.parameters())

    return [{"T": t, "psn": count(PSN(T=t)), "masked_psn": count(MaskedPSN(T=t, order=min(order, t))),
             "sliding_psn": count(SlidingPSN(order=order))} for t in steps]


def time_masks(steps: int, order: int) -> dict[str, torch.Tensor]:
    """``[T, T]``: entry (t, j) ≠ 0 when input X[j] reaches H[t], read off each neuron's weight matrix; 1 for
    PSN and masked PSN (each entry its own weight), sliding PSN's shared weights w_i / max w (its initial
    2^{i−k+1}), constant along each diagonal."""
    masked = MaskedPSN(T=steps, order=min(order, steps))
    with torch.no_grad():
        masked.weight.fill_(1.0)
        return {"PSN": (PSN(T=steps).weight != 0).float(),
                "masked PSN (λ = 1)": (masked.effective_weight() != 0).float(),
                "sliding PSN": (lambda w: w / w.max())(SlidingPSN(order=order).toeplitz(steps))}


def plot_psn_family(out: str | Path, max_steps: int = 64, order: int = 4, mask_steps: int = 8,
                    formats=("png", "svg")) -> list[Path]:
    if not (1 <= order <= mask_steps <= max_steps):
        raise ValueError(f"psn-family expects 1 <= order <= mask T <= max T, got order={order}, "
                         f"mask T={mask_steps}, max T={max_steps}")
    plt = pyplot()
    figure, axes = plt.subplots(1, 4, figsize=(15, 3.6), gridspec_kw={"width_ratios": [1.4, 1, 1, 1]})
    steps = sorted({t for t in (2 ** i for i in range(max_steps.bit_length())) if t <= max_steps} | {max_steps})
    rows = parameter_counts(steps, order)
    for key, label in (("psn", "PSN: T² + T"), ("masked_psn", "masked PSN: T² + T"),
                       ("sliding_psn", f"sliding PSN: k + 1 (k = {order})")):
        axes[0].plot(steps, [row[key] for row in rows], marker="o", label=label,
                     linestyle="--" if key == "masked_psn" else "-")
    axes[0].set(xscale="log", yscale="log", xlabel="T", ylabel="n_param per layer", title="parameters")
    axes[0].legend()
    axes[0].grid(True, which="both", alpha=0.3)
    for axis, (name, mask) in zip(axes[1:], time_masks(mask_steps, order).items()):
        axis.imshow(mask.numpy(), cmap="Greys", vmin=0, vmax=1.2)
        axis.set(title=f"{name}: X → H", xlabel="input step j", ylabel="hidden state t")
    figure.suptitle(f"PSN family (PSN paper Fig. 2): mask T = {mask_steps}, order k = {order}", fontsize=10)
    return save_figure(figure, out, formats)
