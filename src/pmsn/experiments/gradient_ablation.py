"""``pmsn ablate gradient_norm``: TC-LIF Table 7 and the gradient through time (``pmsn.experiments.gradients``).

The closed-form norms of the 16 Table 7 inits beside the paper's and autograd's, the mean |∂L/∂I[t]| reaching
back from the last step through LIF, TC-LIF and PMSN, and with ``--train`` the 16 inits trained on S-MNIST and
their β and norms after training.
"""

from __future__ import annotations

from pathlib import Path

from pmsn import papers
from pmsn.experiments.ablation_base import Options, choose_setting, tclif_smnist_settings, write_outputs
from pmsn.experiments.gradients import (autograd_jacobian_norm, comparison_neurons, gradient_through_time,
                                        tclif_gradient_norm)
from pmsn.experiments.sweep import Row, neuron_overrides, run_sweep
from pmsn.plot.figures import pyplot
from pmsn.tables import markdown_table


def gradient_norm(options: Options) -> dict:
    """TC-LIF Table 7: closed form vs paper (all 16 inits) and vs autograd; gradient through time of LIF, TC-LIF
    and PMSN; with ``train`` also the 16 inits trained (recurrent S-MNIST net) and their norms after training."""
    table = []
    for (beta1, beta2), (before, after_betas, after, accuracy) in papers.tclif_table7_gradient_norm().items():
        table.append({"beta1": beta1, "beta2": beta2, "norm_closed_form": tclif_gradient_norm(beta1, beta2),
                      "norm_autograd": autograd_jacobian_norm(beta1, beta2), "paper_norm_before": before,
                      "paper_beta_after": after_betas, "paper_norm_after": after,
                      "paper_norm_after_closed_form": tclif_gradient_norm(*after_betas), "paper_acc": accuracy})
    steps = 49 if options.smoke else 784
    channels = 8 if options.smoke else 64
    curves = {name: gradient_through_time(neuron, steps, options.batch or 4, channels)
              for name, neuron in comparison_neurons(channels).items()}
    through_time = [{"t": t, **{name: float(curve[t]) for name, curve in curves.items()}} for t in range(steps)]
    trained = _train_table7(options) if options.train else []
    lags = [lag for lag in (1, 10, 50, 100, 300, 783) if lag < steps]
    reach = [{"neuron": name, **{f"lag {lag}": float(curve[steps - 1 - lag]) for lag in lags}}
             for name, curve in curves.items()]
    markdown = ("# Ablation: gradient_norm\n\nTC-LIF Supp. Table 7 norm |1+β1β2| + |β2|·|2+β1β2| (first-column "
                "absolute sum of M², M = [[1, β1], [β2, 1+β1β2]]): closed form, autograd through two `TCLIF.step`s, "
                f"and the paper.\n\n{markdown_table(table)}\nGradient through time: mean |∂L/∂I[t]|, L = Σ of the "
                f"soma potential at the last step (PMSN: soma current), T = {steps}, random input; value at "
                f"t = T − 1 − lag:\n\n{markdown_table(reach)}\n")
    if trained:
        markdown += f"Trained (β after training, norm after):\n\n{markdown_table(trained)}\n"
    figure = _gradient_figure(curves, table)
    return write_outputs(options, "gradient_norm", table + trained, through_time, markdown, figure,
                  {"steps": steps, "channels": channels, "trained": bool(trained)})


def _train_table7(options: Options) -> list[dict]:
    from pmsn.neurons import TCLIF
    from pmsn.neurons.tclif import logits_from_betas
    from pmsn.train.checkpoint import load_checkpoint

    model = {"name": "tclif_rec", "neuron": "tclif", "options": {"preset": "smnist_large"}}
    paper, smoke = tclif_smnist_settings(model, "paper: S-MNIST recurrent 1-64r-256r-256-10 (TC-LIF Table 7)",
                                         "smoke: embedded 7×7 digits, TC-LIF Rec 1-8r-8r-8-10")
    setting = choose_setting(options, paper, smoke, keep_model=True)
    table7 = papers.tclif_table7_gradient_norm()
    inits = list(table7)[:2] if options.smoke else list(table7)
    rows = [Row(f"b1={b1} b2={b2}", neuron_overrides(decay_init=list(logits_from_betas(b1, b2))),
                {"beta1": b1, "beta2": b2}, table7[(b1, b2)].accuracy) for b1, b2 in inits]
    results = run_sweep(setting, rows, Path(options.out) / "runs", quiet=options.quiet, say=options.say)
    trained = []
    for row, result in zip(rows, results):
        state = load_checkpoint(Path(result["run"]) / "last.pt")["model"]
        keys = sorted(k for k in state if k.endswith("neuron.decay"))
        probe = TCLIF()
        probe.decay.data.copy_(state[keys[-1]])  # the last hidden layer, as in the paper
        beta1, beta2 = (float(b.detach()) for b in probe.betas())
        trained.append({"beta1_init": row.values["beta1"], "beta2_init": row.values["beta2"],
                        "beta1_after": beta1, "beta2_after": beta2, "norm_after": tclif_gradient_norm(beta1, beta2),
                        "best_test_acc": result["best_test_acc"], "paper_acc": row.paper})
    return trained


def _gradient_figure(curves: dict, table: list[dict]):
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(12, 4))
    for name, curve in curves.items():
        steps = len(curve)
        axes[0].plot(range(steps), curve.clamp_min(1e-30).numpy(), label=name)
    axes[0].set(yscale="log", xlabel="time step t of the input", ylabel="mean |∂L/∂I[t]|",
                title="gradient reaching back from the last step")
    axes[0].legend()
    for line in table:
        axes[1].plot(line["paper_norm_before"], line["norm_closed_form"], "o", color="tab:blue")
        axes[1].plot(line["paper_norm_after"], line["paper_norm_after_closed_form"], "s", color="tab:orange",
                     markerfacecolor="none")
    axes[1].plot([1.1, 2.5], [1.1, 2.5], color="grey", linewidth=0.8)
    axes[1].plot([], [], "o", color="tab:blue", label="before training (16 inits)")
    axes[1].plot([], [], "s", color="tab:orange", markerfacecolor="none", label="after (from printed β)")
    axes[1].set(xlabel="paper norm (TC-LIF Table 7)", ylabel="closed form", title="Table 7 reproduction")
    axes[1].legend()
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.tight_layout()
    return figure
