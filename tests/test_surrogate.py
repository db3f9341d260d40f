"""Surrogate derivatives against the derivative of their primitives; Heaviside forward."""

import math

import pytest
import torch

from pmsn.surrogate import ATan, MultiGaussian, Rectangle, Sigmoid, Triangle, get_surrogate, spike

X = torch.linspace(-2.5, 2.5, 201, dtype=torch.float64)


def numeric_derivative(primitive, x, eps=1e-6):
    return (primitive(x + eps) - primitive(x - eps)) / (2 * eps)


@pytest.mark.parametrize("alpha", [2.0, 4.0])
def test_atan_is_derivative_of_its_primitive(alpha):
    primitive = lambda x: torch.atan(math.pi / 2 * alpha * x) / math.pi + 0.5
    torch.testing.assert_close(ATan(alpha).derivative(X), numeric_derivative(primitive, X), rtol=1e-6, atol=1e-8)


def test_sigmoid_is_derivative_of_sigmoid():
    primitive = lambda x: torch.sigmoid(4.0 * x)
    torch.testing.assert_close(Sigmoid(4.0).derivative(X), numeric_derivative(primitive, X), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("surrogate", [Triangle(1.0), Triangle(0.5), Rectangle(1.0), ATan(), Sigmoid()])
def test_unit_area(surrogate):
    x = torch.linspace(-60, 60, 1_200_001, dtype=torch.float64)
    area = torch.trapezoid(surrogate.derivative(x), x).item()
    assert area == pytest.approx(1.0, abs=4e-3)  # ATan tails: (2/π)·atan(60π) ≈ 0.9966


def test_triangle_values():
    assert Triangle().derivative(torch.tensor([0.0, 0.5, -1.0, 2.0])).tolist() == [1.0, 0.5, 0.0, 0.0]
    assert MultiGaussian().derivative(torch.tensor(0.0)).item() > MultiGaussian().derivative(torch.tensor(1.0)).item()


def test_spike_forward_backward():
    x = torch.tensor([-0.5, 0.0, 0.3], dtype=torch.float64, requires_grad=True)
    out = spike(x, "triangle")
    assert out.tolist() == [0.0, 1.0, 1.0]
    assert spike(x, "triangle", strict=True).tolist() == [0.0, 0.0, 1.0]
    out.sum().backward()
    assert x.grad.tolist() == [0.5, 1.0, 0.7]


def test_get_surrogate_errors():
    with pytest.raises(ValueError, match="unknown surrogate 'x'.*atan"):
        get_surrogate("x")
    with pytest.raises(TypeError, match="derivative"):
        get_surrogate(3)


def test_sigmoid_derivative_keeps_its_digits_far_from_threshold():
    # α·e/(1 + e)², e = exp(−α|x|): the form without cancellation; σ(αx)·(1 − σ(αx)) lost ~4 digits at x = 7
    x = torch.tensor([-9.0, -7.0, 0.0, 0.3, 6.9522, 12.0], dtype=torch.float64)
    e = torch.exp(-4.0 * x.abs())
    torch.testing.assert_close(Sigmoid(4.0).derivative(x), 4.0 * e / (1 + e) ** 2, rtol=1e-13, atol=0.0)
