"""Bad input gets a clear error naming what was expected and what came."""

import pytest
import torch

from pmsn.neurons import (ALIF, GLIF, IF, KLIF, LIF, PLIF, PMSN, PSN, TCLIF, MaskedPSN, SlidingPSN, build_neuron,
                          build_pmsn)

ALL = {
    "LIF": lambda: LIF(), "PLIF": lambda: PLIF(), "ALIF": lambda: ALIF(channels=3), "TCLIF": lambda: TCLIF(),
    "PSN": lambda: PSN(T=4), "MaskedPSN": lambda: MaskedPSN(T=4, order=2), "SlidingPSN": lambda: SlidingPSN(order=2),
    "PMSN": lambda: PMSN(channels=3), "IF": lambda: IF(), "KLIF": lambda: KLIF(), "GLIF": lambda: GLIF(channels=3, T=4),
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_wrong_rank(name):
    with pytest.raises(ValueError, match=r"\[T, B, C, \*spatial\].*\(4, 3\)"):
        ALL[name]()(torch.zeros(4, 3))


@pytest.mark.parametrize("name", sorted(ALL))
def test_integer_dtype(name):
    with pytest.raises(TypeError, match="floating-point.*int64"):
        ALL[name]()(torch.zeros(4, 2, 3, dtype=torch.int64))


@pytest.mark.parametrize("name", sorted(ALL))
def test_not_a_tensor(name):
    with pytest.raises(TypeError, match="torch.Tensor.*list"):
        ALL[name]()([[[0.0]]])


@pytest.mark.parametrize("name", ["ALIF", "GLIF", "PMSN"])
def test_wrong_channel_count(name):
    with pytest.raises(ValueError, match="3 channels.*got 5"):
        ALL[name]()(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="3 channels.*got 5"):
        ALL[name]().step(torch.zeros(2, 5))


def test_tclif_per_channel_wrong_channel_count():
    with pytest.raises(ValueError, match="4 channels.*got 2"):
        TCLIF(channels=4, beta_sharing="channel")(torch.zeros(3, 1, 2))


@pytest.mark.parametrize("cls", [PSN, MaskedPSN])
def test_wrong_T_for_fixed_T_psn(cls):
    neuron = cls(T=8, order=2) if cls is MaskedPSN else cls(T=8)
    with pytest.raises(ValueError, match="T=8.*got T=5"):
        neuron(torch.zeros(5, 2, 3))


@pytest.mark.parametrize("name", ["LIF", "IF", "KLIF", "GLIF", "ALIF", "TCLIF", "SlidingPSN", "PMSN", "MaskedPSN"])
def test_step_with_state_from_another_shape(name):
    neuron = ALL[name]()
    _, state = neuron.step(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"state.*shape.*expected"):
        neuron.step(torch.zeros(4, 3), state)


def test_glif_refuses_more_steps_than_its_conductances():
    """Built with T, GLIF has one conductance per step: a shorter sequence runs, a longer one is refused."""
    neuron = GLIF(channels=3, T=4)
    assert neuron(torch.ones(2, 1, 3)).shape == (2, 1, 3)
    with pytest.raises(ValueError, match=r"GLIF was built for T=4 steps.*got T=5 in input of shape \(5, 1, 3\)"):
        neuron(torch.zeros(5, 1, 3))
    state = None
    for _ in range(4):
        _, state = neuron.step(torch.zeros(1, 3), state)
    with pytest.raises(ValueError, match="GLIF was built for T=4 steps.*step 5 asked for more"):
        neuron.step(torch.zeros(1, 3), state)
    neuron = GLIF(channels=3)  # T=None: one conductance for any length
    assert neuron(torch.ones(50, 1, 3)).shape == (50, 1, 3)


def test_step_rank_and_dtype():
    with pytest.raises(ValueError, match=r"\[B, C, \*spatial\].*\(3,\)"):
        LIF().step(torch.zeros(3))
    with pytest.raises(TypeError, match="int32"):
        PMSN(channels=3).step(torch.zeros(2, 3, dtype=torch.int32))


def test_psn_has_no_step_and_masked_needs_lambda_one():
    with pytest.raises(RuntimeError, match="non-causal"):
        PSN(T=4).step(torch.zeros(2, 3))
    masked = MaskedPSN(T=4, order=2, mask_lambda=0.5)
    with pytest.raises(RuntimeError, match="mask_lambda = 1.*0.5"):
        masked.step(torch.zeros(2, 3))


def test_masked_psn_refuses_more_than_T_steps():
    neuron, state = MaskedPSN(T=2, order=2), None
    for _ in range(2):
        _, state = neuron.step(torch.zeros(1, 1), state)
    with pytest.raises(ValueError, match="T=2.*step 3"):
        neuron.step(torch.zeros(1, 1), state)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="compartments must be an int >= 2"):
        PMSN(channels=3, compartments=1)
    with pytest.raises(ValueError, match="soma_mode.*'bogus'"):
        build_pmsn(channels=3, soma_mode="bogus")
    with pytest.raises(ValueError, match="unknown surrogate 'foo'"):
        LIF(surrogate="foo")
    with pytest.raises(ValueError, match=r"order must be an int in \[1, T=4\], got 9"):
        MaskedPSN(T=4, order=9)
    with pytest.raises(ValueError, match="unknown neuron 'gru'"):
        build_neuron("gru", 3)
    with pytest.raises(ValueError, match="pass T"):
        build_neuron("psn", 3)
    with pytest.raises(ValueError, match="global_mode.*needs the whole sequence|no step"):
        build_pmsn(channels=3, global_mode="sum").step(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="parallel soma only"):
        build_pmsn(channels=3, global_mode="sum", soma_mode="serial")
    with pytest.raises(TypeError, match="soma_mode"):
        PMSN(channels=3, soma_mode="serial")  # the paper's neuron; variants are classes of their own


def test_empty_sequence_and_bad_pmsn_settings():
    with pytest.raises(ValueError, match="at least one time step, got T=0"):
        LIF()(torch.zeros(0, 2, 3))
    with pytest.raises(ValueError, match="chunk must be a positive int, got 0"):
        PMSN(channels=3, chunk=0)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, got -1.0"):
        PMSN(channels=3, threshold=-1.0)


@pytest.mark.parametrize("path, device", [("fused", "meta"), ("triton", "cpu")])
def test_forced_sweep_on_the_wrong_device_is_one_clear_error(path, device):
    neuron = PMSN(channels=3, path=path)
    with pytest.raises(ValueError, match=rf"PMSN path='{path}' runs on (cpu|cuda) tensors.*got device={device}"):
        neuron.chosen_path(torch.zeros(4, 2, 3, device=device))
