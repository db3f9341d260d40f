"""The PMSN ablation variants are classes of their own; ``build_pmsn`` maps the config names onto them."""

import pytest
import torch

from pmsn.neurons import (PMSN, GlobalPMSN, MemorylessPMSN, NoResetPMSN, SerialSomaPMSN, SoftResetPMSN, build_neuron,
                          build_pmsn)


@pytest.mark.parametrize("soma_mode, cls", [("parallel", PMSN), ("serial", SerialSomaPMSN),
                                            ("serial_soft", SoftResetPMSN), ("no_reset", NoResetPMSN),
                                            ("memoryless", MemorylessPMSN)])
def test_build_pmsn_picks_the_class(soma_mode, cls):
    neuron = build_neuron("pmsn", 4, soma_mode=soma_mode, compartments=3)
    assert type(neuron) is cls and neuron.soma_mode == soma_mode and neuron.compartments == 3
    assert neuron.resets == (soma_mode not in ("no_reset", "memoryless"))


def test_serial_soma_equals_the_parallel_soma():
    torch.manual_seed(0)
    paper, serial = PMSN(4, path="chunked"), SerialSomaPMSN(4, path="chunked")
    serial.load_state_dict(paper.state_dict())
    x = torch.randn(40, 2, 4, dtype=torch.float64) * 2
    assert torch.equal(paper.double()(x), serial.double()(x))


def test_variants_differ_from_the_paper_soma_where_they_should():
    torch.manual_seed(0)
    x = torch.rand(30, 1, 4, dtype=torch.float64) * 3
    neurons = {cls: cls(4, path="chunked").double() for cls in (PMSN, NoResetPMSN, MemorylessPMSN)}
    for neuron in neurons.values():
        neuron.load_state_dict(neurons[PMSN].state_dict())
    rate = {cls: neuron(x).mean().item() for cls, neuron in neurons.items()}
    assert rate[NoResetPMSN] >= rate[PMSN]  # without reset, a potential above θ stays above θ


def test_global_pmsn_sees_the_sequence_sum():
    torch.manual_seed(0)
    neuron = build_pmsn(3, global_mode="sum", path="chunked")
    assert isinstance(neuron, GlobalPMSN)
    x = torch.randn(10, 2, 3)
    shuffled = x[torch.randperm(10)]  # the same sum: every step sees the same input
    assert torch.equal(neuron(x), neuron(shuffled))
