"""The diagonal linear system against its real-basis definition (docs/pmsn.md §1-4)."""

import math

import pytest
import torch

from pmsn.ops.linear_system import causal_conv_fft, convolution_kernel, coupling_matrix, diagonalize, discretize


@pytest.mark.parametrize("hidden", [1, 2, 3, 4, 8])
@pytest.mark.parametrize("output", ["last", "ones"])
def test_kernel_equals_matrix_exponential_form(hidden, output):
    """K[l] = C e^{AΔl} A⁻¹(e^{AΔ} − I) B with the real tridiagonal A (docs/pmsn.md §3.2)."""
    coupling, dt, steps = 5.0, 0.03, 40
    matrix = coupling_matrix(hidden, coupling)
    real, omega, input_gain, readout = diagonalize(matrix, output)
    full = lambda v: v.unsqueeze(0)  # one channel
    decay, b_bar, c_tilde = discretize(torch.tensor([math.log(dt)], dtype=torch.float64),
                                       full(torch.log(-real)), full(omega), full(input_gain.real),
                                       full(input_gain.imag), full(readout.real), full(readout.imag))
    kernel = convolution_kernel(decay, c_tilde * b_bar, steps)[:, 0]
    c_vec = torch.zeros(hidden, dtype=torch.float64)
    if output == "last":
        c_vec[-1] = 1.0
    else:
        c_vec[:] = 1.0
    step_matrix = torch.linalg.matrix_exp(matrix * dt)
    b_disc = torch.linalg.solve(matrix, (step_matrix - torch.eye(hidden, dtype=torch.float64)) @ torch.ones(hidden,
                                                                                                           dtype=torch.float64))
    expected = torch.stack([c_vec @ torch.linalg.matrix_power(step_matrix, l) @ b_disc for l in range(steps)])
    torch.testing.assert_close(kernel, expected, rtol=1e-9, atol=1e-12)


def test_diagonalisation_reconstructs_matrix():
    matrix = coupling_matrix(4, 5.0)
    real, omega, _, _ = diagonalize(matrix)
    skew = matrix + 0.5 * torch.eye(4, dtype=torch.float64)
    assert torch.allclose(skew, -skew.T)  # A + 0.5·I is skew-symmetric (normal)
    eig = torch.linalg.eigvals(matrix)
    assert torch.allclose(torch.sort(eig.imag).values, omega, atol=1e-9)
    assert torch.allclose(eig.real, torch.full((4,), -0.5, dtype=torch.float64))


@pytest.mark.parametrize("steps", [1, 2, 5, 33, 128])
def test_causal_conv_fft_equals_direct_sum(steps):
    gen = torch.Generator().manual_seed(steps)
    u = torch.randn(steps, 2, 3, 4, generator=gen, dtype=torch.float64)
    kernel = torch.randn(steps, 3, generator=gen, dtype=torch.float64)
    expected = torch.zeros_like(u)
    for t in range(steps):
        for lag in range(t + 1):
            expected[t] += kernel[lag].reshape(3, 1) * u[t - lag]
    torch.testing.assert_close(causal_conv_fft(u, kernel), expected)


def test_bad_output_init():
    with pytest.raises(ValueError, match="'last' or 'ones'.*'first'"):
        diagonalize(coupling_matrix(2, 1.0), "first")
