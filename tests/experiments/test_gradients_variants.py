"""TC-LIF Table 7 closed form (all 16 inits to 3 decimals), its autograd check."""

import pytest
import torch

from pmsn.experiments.gradients import (autograd_jacobian_norm, comparison_neurons, gradient_through_time,
                                        tclif_gradient_norm)
from pmsn.papers import tclif_table7_gradient_norm
from pmsn.neurons import TCLIF

TABLE7 = tclif_table7_gradient_norm()


@pytest.mark.parametrize("betas", list(TABLE7))
def test_table7_norm_before_training(betas):
    before, after_betas, after, _ = TABLE7[betas]
    assert round(tclif_gradient_norm(*betas), 3) == before
    assert abs(tclif_gradient_norm(*after_betas) - after) <= 3e-3  # printed β are rounded to 3 decimals
    assert autograd_jacobian_norm(*betas) == pytest.approx(tclif_gradient_norm(*betas), abs=1e-6)


def test_norm_is_above_one_in_quadrant_two():
    grid = torch.linspace(-0.99, -0.01, 25)
    b1, b2 = torch.meshgrid(grid, -grid, indexing="ij")
    assert torch.all(tclif_gradient_norm(b1, b2) > 1.0)  # docs/neurons.md §3.5: no vanishing in the TC-LIF domain


def test_gradient_reaches_further_back_in_tclif_and_pmsn_than_in_lif():
    torch.manual_seed(0)
    curves = {name: gradient_through_time(neuron, steps=60, batch=2, channels=8)
              for name, neuron in comparison_neurons(8).items()}
    assert all(curve.shape == (60,) for curve in curves.values())
    lag = 60 - 1 - 30  # 30 steps before the loss
    assert curves["TC-LIF"][lag] > curves["LIF"][lag]
    assert curves["PMSN"][lag] > curves["LIF"][lag]


def test_free_tclif_costs_as_tclif():
    from pmsn.bench.energy_model import NeuronCost, neuron_cost

    assert neuron_cost(TCLIF(parametrization="free"), 10) == NeuronCost(2.0, 2.0)
