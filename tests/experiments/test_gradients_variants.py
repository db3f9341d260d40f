"""TC-LIF Table 7 closed form (all 16 inits to 3 decimals), its autograd check, and the ablation-only neurons."""

import pytest
import torch

from pmsn.experiments.gradients import (TABLE7, autograd_jacobian_norm, comparison_neurons, gradient_through_time,
                                        tclif_gradient_norm)
from pmsn.experiments.variants import ScheduledMaskedPSN
from pmsn.neurons import NEURONS, TCLIF


@pytest.mark.parametrize("betas", list(TABLE7))
def test_table7_norm_before_training(betas):
    before, after_betas, after, _ = TABLE7[betas]
    assert round(tclif_gradient_norm(*betas), 3) == before
    assert abs(tclif_gradient_norm(*after_betas) - after) <= 3e-3  # printed β are rounded to 3 decimals
    assert autograd_jacobian_norm(*betas) == pytest.approx(tclif_gradient_norm(*betas), abs=1e-6)


def test_norm_is_above_one_in_quadrant_two():
    grid = torch.linspace(-0.99, -0.01, 25)
    b1, b2 = torch.meshgrid(grid, -grid, indexing="ij")
    assert torch.all(tclif_gradient_norm(b1, b2) > 1.0)  # spec §3.5: no vanishing in the TC-LIF domain


def test_gradient_reaches_further_back_in_tclif_and_pmsn_than_in_lif():
    torch.manual_seed(0)
    curves = {name: gradient_through_time(neuron, steps=60, batch=2, channels=8)
              for name, neuron in comparison_neurons(8).items()}
    assert all(curve.shape == (60,) for curve in curves.values())
    lag = 60 - 1 - 30  # 30 steps before the loss
    assert curves["TC-LIF"][lag] > curves["LIF"][lag]
    assert curves["PMSN"][lag] > curves["LIF"][lag]


def test_scheduled_masked_psn_is_registered():
    assert NEURONS["masked_psn_schedule"] is ScheduledMaskedPSN


def test_scheduled_masked_psn_lambda():
    neuron = ScheduledMaskedPSN(steps=8, epochs=9, speed=2.0)
    seen = []
    for _ in range(9):
        neuron.set_lambda(0.123)  # the trainer's value is replaced by the neuron's own schedule
        seen.append(float(neuron.mask_lambda))
    assert seen == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 1])
    fixed = ScheduledMaskedPSN(steps=8, epochs=9, speed=None)
    fixed.set_lambda(0.0)
    assert float(fixed.mask_lambda) == 1.0 and fixed.order == 8
    with pytest.raises(ValueError, match="speed"):
        ScheduledMaskedPSN(steps=8, epochs=3, speed=0.0)


def test_variants_cost_as_their_base_kind():
    from pmsn.bench.energy import NeuronCost, neuron_cost

    assert neuron_cost(TCLIF(parametrization="free"), 10) == NeuronCost(2.0, 2.0)
    assert neuron_cost(ScheduledMaskedPSN(steps=8, epochs=3, order=4), 8) == NeuronCost(4.0, 0.0)
