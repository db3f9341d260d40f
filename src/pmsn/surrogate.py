"""Surrogate gradients for the Heaviside spike function (docs/neurons.md §1.2-1.3).

The forward pass is always the step function Θ(x) (``x >= 0`` fires, or ``x > 0`` with ``strict=True``);
the backward pass multiplies the incoming gradient by the surrogate derivative ``derivative(x)``.

    from pmsn.surrogate import spike, ATan
    s = spike(v - threshold, ATan(alpha=2.0))

Neurons take a surrogate object or one of the names in ``SURROGATES`` (``"triangle"``, ``"atan"``,
``"sigmoid"``, ``"rectangle"``, ``"multi_gaussian"``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Triangle:
    """(1/γ²)·max(0, γ − |x|); γ = 1 gives the PMSN / TC-LIF surrogate max(0, 1 − |v − θ|)."""

    width: float = 1.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (self.width - x.abs()).clamp_min(0.0) / (self.width * self.width)


@dataclass(frozen=True)
class ATan:
    """α / (2·(1 + (π α x / 2)²)), the derivative of (1/π)·atan(π α x / 2) + 1/2 (SpikingJelly; α = 2)."""

    alpha: float = 2.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.alpha / (2.0 * (1.0 + (math.pi / 2.0 * self.alpha * x) ** 2))


@dataclass(frozen=True)
class Sigmoid:
    """α·σ(αx)·(1 − σ(αx)) (SpikingJelly's LIF default, α = 4)."""

    alpha: float = 4.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        # σ(a)·σ(−a) instead of σ(a)·(1 − σ(a)): no cancellation far from the threshold, where 1 − σ(a) loses
        # every digit (the fused kernels use the same stable form)
        scaled = self.alpha * x
        return self.alpha * torch.sigmoid(scaled) * torch.sigmoid(-scaled)


@dataclass(frozen=True)
class Rectangle:
    """1/width inside |x| < width/2, else 0 (straight-through window)."""

    width: float = 1.0

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() < 0.5 * self.width).to(x.dtype) / self.width


@dataclass(frozen=True)
class MultiGaussian:
    """Yin et al.'s multi-Gaussian: (1+h)·N(x;0,σ) − h·N(x;σ,sσ) − h·N(x;−σ,sσ), scaled by ``scale``."""

    sigma: float = 0.5
    height: float = 0.15
    spread: float = 6.0
    scale: float = 0.5

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        def normal(mu: float, sigma: float) -> torch.Tensor:
            return torch.exp(-((x - mu) ** 2) / (2.0 * sigma**2)) / (math.sqrt(2.0 * math.pi) * sigma)

        wide = self.spread * self.sigma
        return self.scale * (
            (1.0 + self.height) * normal(0.0, self.sigma)
            - self.height * normal(self.sigma, wide)
            - self.height * normal(-self.sigma, wide)
        )


SURROGATES = {
    "triangle": Triangle,
    "atan": ATan,
    "sigmoid": Sigmoid,
    "rectangle": Rectangle,
    "multi_gaussian": MultiGaussian,
}

Surrogate = Triangle | ATan | Sigmoid | Rectangle | MultiGaussian


def get_surrogate(surrogate: "str | Surrogate") -> "Surrogate":
    """Return a surrogate object from a name or pass an object with a ``derivative`` method through."""
    if isinstance(surrogate, str):
        try:
            return SURROGATES[surrogate]()
        except KeyError:
            raise ValueError(f"unknown surrogate {surrogate!r}; expected one of {sorted(SURROGATES)}") from None
    if not callable(getattr(surrogate, "derivative", None)):
        raise TypeError(f"surrogate must be a name or have a derivative(x) method, got {type(surrogate).__name__}")
    return surrogate


def heaviside(x: torch.Tensor, strict: bool = False) -> torch.Tensor:
    """Θ(x) as a float tensor of x's dtype: 1 where x >= 0 (x > 0 if strict), else 0."""
    return (x > 0).to(x.dtype) if strict else (x >= 0).to(x.dtype)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate, strict):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x, strict)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.derivative(x), None, None


def spike(x: torch.Tensor, surrogate: "str | Surrogate" = "triangle", strict: bool = False) -> torch.Tensor:
    """Heaviside forward, surrogate-derivative backward."""
    return _Spike.apply(x, get_surrogate(surrogate), strict)
