"""The three networks of the method: velocity field, classifier and time-score net.

All of them are plain ``torch.nn.Module`` objects working on tensors of shape
``(n, d)``; time is either a scalar tensor (the ODE solver's current time, shared
by every row) or a column ``(n, 1)`` of per-row times (quadrature nodes of the
telescopic density-ratio estimator, evaluated in one batched call).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .training import initial_generator

ACTIVATIONS = {
    "silu": nn.SiLU,
    "softplus": lambda: nn.Softplus(beta=20.0),
    "tanh": nn.Tanh,
    "elu": nn.ELU,
}


def linear(in_features: int, out_features: int, bias: bool = True,
           generator: torch.Generator | None = None) -> nn.Linear:
    """``nn.Linear`` with torch's initial law, drawn from ``generator`` (on its device).

    torch draws a new layer's parameters from its global generator, which all
    threads of the process share: two fits in threads would take each other's
    draws, and seeding it would change the caller's state. Built on the meta
    device, the layer draws nothing; its parameters are then drawn as torch
    would (``U(-1/sqrt(in_features), 1/sqrt(in_features))``, weights and bias
    alike) from ``generator``; when it is None, from the generator of the fit
    running in this thread (``training.initial_generator``), or outside a fit
    from the global one.
    """
    if generator is None:
        generator = initial_generator()
    layer = nn.Linear(in_features, out_features, bias=bias, device="meta")
    layer.to_empty(device="cpu" if generator is None else generator.device)
    bound = in_features**-0.5
    with torch.no_grad():
        for param in layer.parameters():
            param.uniform_(-bound, bound, generator=generator)
    return layer


def _activation(name: str) -> nn.Module:
    try:
        return ACTIVATIONS[name]()
    except KeyError:  # pragma: no cover - validated by the estimators
        raise ValueError(
            f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}"
        ) from None


class ConcatSquashLinear(nn.Module):
    """Affine layer whose output is gated and shifted by time.

    ``h -> (W h + b) * sigmoid(A t + a0) + C t``, the layer of FFJORD and of the
    Q-flow reference code, where ``t`` is a row of time features (the time alone,
    or with its Fourier features). Cheap and smooth in time, which the ODE solver
    and the time quadrature both need.
    """

    def __init__(self, in_features: int, out_features: int, time_features: int = 1,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.linear = linear(in_features, out_features, generator=generator)
        self.gate = linear(time_features, out_features, generator=generator)
        self.shift = linear(time_features, out_features, bias=False, generator=generator)

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        gate, shift = torch.sigmoid(self.gate(t)), self.shift(t)
        if t.numel() == t.shape[-1] and not torch.is_grad_enabled():
            # At prediction, with one time for every row (the ODE solver's calls): the
            # gate scales whole output columns, so it folds into the weights, and the
            # layer is one matmul with bias instead of a matmul and two passes over its
            # output, which raises the transform throughput. Not in training, where the
            # folded form's extra autograd steps make refinement slower.
            weight = self.linear.weight * gate.reshape(-1, 1)
            return F.linear(h, weight, self.linear.bias * gate.reshape(-1) + shift.reshape(-1))
        return self.linear(h) * gate + shift


class TimeConditionedMLP(nn.Module):
    """MLP ``(x, t) -> y`` made of concat-squash layers.

    Parameters
    ----------
    in_features, out_features : int
        Sizes of ``x`` and of the output.
    hidden : sequence of int
        Widths of the hidden layers.
    activation : str
        Name of the activation between layers.
    zero_last : bool
        Start the last layer at zero, so that the network is initially the
        zero function (a velocity field that does not move anything).
    time_frequencies : int
        Number of Fourier frequencies of the time features.
    generator : torch.Generator or None
        Draws the initial parameters (see :func:`linear`).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden: Sequence[int],
        activation: str = "silu",
        zero_last: bool = False,
        time_frequencies: int = 0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden, out_features]
        self.register_buffer(
            "frequencies", torch.pi * torch.arange(1, time_frequencies + 1, dtype=torch.float32)
        )
        time_features = 1 + 2 * time_frequencies
        self.layers = nn.ModuleList(
            ConcatSquashLinear(a, b, time_features, generator)
            for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.activations = nn.ModuleList(_activation(activation) for _ in hidden)
        if zero_last:
            last = self.layers[-1]
            nn.init.zeros_(last.linear.weight)
            nn.init.zeros_(last.linear.bias)
            nn.init.zeros_(last.shift.weight)

    def time_features(self, t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """``t``, followed by ``sin(k pi t), cos(k pi t)`` for each frequency, on a last axis.

        A scalar ``t`` gives one row ``(1, F)``; a tensor of shape ``(..., 1)`` gives
        ``(..., F)``, which broadcasts against rows of shape ``(..., d)``: a few
        distinct times (the quadrature nodes) then cost a few rows of features
        instead of one per point.
        """
        t = (t.reshape(1, 1) if t.dim() == 0 else t).to(dtype)
        if self.frequencies.numel() == 0:
            return t
        angles = t * self.frequencies.to(dtype)
        return torch.cat([t, torch.sin(angles), torch.cos(angles)], dim=-1)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.on_features(self.time_features(t, x.dtype), x)

    def on_features(self, features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The network on precomputed time features (see :meth:`time_features`)."""
        h = x
        for layer, act in zip(self.layers[:-1], self.activations):
            h = act(layer(features, h))
        return self.layers[-1](features, h)


class VelocityField(TimeConditionedMLP):
    """Velocity ``v(x, t)`` of the flow; ``forward(t, x)`` is torchdiffeq's signature."""

    def __init__(self, dim: int, hidden: Sequence[int], activation: str = "silu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__(dim, dim, hidden, activation, generator=generator)


class TimeScoreNet(TimeConditionedMLP):
    """Time score ``r(x, t)``, a model of ``d/dt log p_t(x)``; returns shape ``(n,)``.

    With ``quadratic=True`` a quadratic form in ``x`` with time-varying
    coefficients is added to the MLP: ``sum_k a_k(t) z_k^2 + b_k(t) z_k`` with
    ``z = W x`` (``2 d`` learned directions, ``a`` and ``b`` linear in the time
    features). Between Gaussians ``d/dt log p_t`` is exactly such a form, and
    the MLP alone extrapolates it poorly into the tails of the snapshots, where
    a log-density is often wanted (the P end, far out in Q's tail).
    """

    def __init__(self, dim: int, hidden: Sequence[int], activation: str = "silu",
                 time_frequencies: int = 0, quadratic: bool = False,
                 generator: torch.Generator | None = None) -> None:
        # Starting at r = 0 means every interval logit starts at 0 (chance), the
        # right prior for a classifier and a stable start for the sum over time.
        super().__init__(dim, 1, hidden, activation, zero_last=True,
                         time_frequencies=time_frequencies, generator=generator)
        self.directions = self.coefficients = None
        if quadratic:
            self.directions = linear(dim, 2 * dim, bias=False, generator=generator)
            # Per direction: the coefficient of z_k^2, then that of z_k.
            self.coefficients = linear(1 + 2 * time_frequencies, 4 * dim, generator=generator)
            nn.init.zeros_(self.coefficients.weight)
            nn.init.zeros_(self.coefficients.bias)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        features = self.time_features(t, x.dtype)
        r = self.on_features(features, x).squeeze(-1)
        if self.directions is None:
            return r
        z = self.directions(x)
        square, linear = self.coefficients(features).chunk(2, dim=-1)
        return r + (square * z.square() + linear * z).sum(-1)


class Classifier(nn.Module):
    """Logistic classifier ``c(x)``; returns logits of shape ``(n,)``."""

    def __init__(self, dim: int, hidden: Sequence[int], activation: str = "silu",
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        sizes = [dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [linear(a, b, generator=generator), _activation(activation)]
        layers.append(linear(sizes[-1], 1, generator=generator))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def logistic_loss(logit_0: torch.Tensor, logit_1: torch.Tensor) -> torch.Tensor:
    """Balanced logistic loss of a classifier with label 0 on the first logits.

    Minimised by ``logit = log p_1 - log p_0``, the log-ratio of the two laws.
    """
    return F.softplus(logit_0).mean() + F.softplus(-logit_1).mean()
