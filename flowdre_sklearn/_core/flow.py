"""A trained transport flow: standardisation, velocity field, grid and solver together.

``train_flow`` runs the whole method (flow-matching start, then Q-flow
refinement); ``Flow`` answers every question asked of the result in data
coordinates: the map, its inverse, paths, snapshots and log-densities.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .budget import velocity_layer_sizes
from .initialise import ValidationPairs, flow_matching, flow_matching_steps
from .networks import VelocityField
from .ode import Solver, TimeGrid, integrate, integrate_with_divergence, push, resolved_grid
from .refine import refine
from .samples import TwoSamples
from .training import History, Progress


@dataclass
class Affine:
    """``z = (x - center) / scale``, fitted on the pooled P and Q samples.

    One scalar scale for every column (with a per-column centre) is a similarity
    map: optimal transport for the squared Euclidean cost commutes with it, so
    the flow learned in ``z`` is the optimal map in ``x`` too. A per-column
    scale would change the cost and with it the optimal map.
    """

    center: torch.Tensor
    scale: float

    @classmethod
    def fit(cls, p: torch.Tensor, q: torch.Tensor | None) -> Affine:
        """Moments of the equal-weight mixture of P and Q (Q = N(0, I) when ``q`` is None)."""
        mean_p, var_p = p.mean(0), p.var(0, unbiased=False)
        if q is None:
            mean_q, var_q = torch.zeros_like(mean_p), torch.ones_like(var_p)
        else:
            mean_q, var_q = q.mean(0), q.var(0, unbiased=False)
        center = (mean_p + mean_q) / 2
        var = (var_p + var_q) / 2 + ((mean_p - mean_q) / 2) ** 2
        return cls(center, float(var.mean().sqrt()))

    def to(self, device: torch.device) -> Affine:
        return Affine(self.center.to(device), self.scale)

    def to_flow(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.center) / self.scale

    def from_flow(self, z: torch.Tensor) -> torch.Tensor:
        return z * self.scale + self.center


@dataclass(frozen=True)
class FlowConfig:
    """Hyperparameters of the flow and of its training, named as ``FlowTransport``'s.

    No defaults here: ``FlowTransport.__init__`` is where they are stated.
    ``hidden_layer_sizes``, ``n_steps`` and ``init_steps`` are None for ``"auto"``.
    """

    hidden_layer_sizes: tuple[int, ...] | None
    activation: str
    n_blocks: int
    n_steps: int | None
    solver: str
    adjoint: bool
    tol: float
    init_steps: int | None
    init_pairing: str
    init_lr: float
    validation_fraction: float
    n_iter_no_change: int
    refine_steps: int
    refine_lr: float
    batch_size: int
    gamma: float
    directions: str
    classifier_hidden_layer_sizes: tuple[int, ...]
    classifier_lr: float
    classifier_warmup_steps: int
    classifier_steps: int

    @property
    def grid(self) -> TimeGrid:
        return TimeGrid(self.n_blocks, self.n_steps)

    @property
    def ode_solver(self) -> Solver:
        return Solver(self.solver, self.adjoint, self.tol, self.tol)


#: Largest round-trip error ``||T^-1(T(x)) - x||`` of a sound flow, in standardised
#: units (a fraction of the samples' standard deviation): above it ``FlowTransport``
#: warns that the grid is too coarse, and ``n_steps=None`` refines the grid until
#: half of it is met.
ROUND_TRIP_TOLERANCE = 1e-2
#: Root-mean-square difference, in standardised units, between the maps of a
#: grid and of twice its steps below which ``n_steps=None`` stops refining the grid.
GRID_TOLERANCE = 1e-2
#: Rows of P on which the grid is resolved: enough for a stable mean, cheap to push.
GRID_CHECK_ROWS = 1024


class Flow:
    """A velocity field with its grid, solver and standardisation, in data units."""

    def __init__(self, field: torch.nn.Module, affine: Affine, config: FlowConfig) -> None:
        self.field = field
        self.affine = affine
        self.config = config
        self.grid = config.grid
        self.solver = config.ode_solver

    def to(self, device: torch.device) -> Flow:
        """Move the flow to ``device`` (in place) and return it."""
        self.field.to(device)
        self.affine = self.affine.to(device)
        return self

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        """``T(x)``: from the P side (t = 0) to the Q side (t = 1)."""
        return self.affine.from_flow(push(self.field, self.affine.to_flow(x), self.grid,
                                          self.solver))

    def inverse_transform(self, y: torch.Tensor) -> torch.Tensor:
        """``T^-1(y)``: from the Q side back to the P side."""
        return self.affine.from_flow(
            push(self.field, self.affine.to_flow(y), self.grid, self.solver, reverse=True)
        )

    @torch.no_grad()
    def trajectory(self, x: torch.Tensor, times: torch.Tensor | None = None) -> torch.Tensor:
        """States ``x(t)`` at ``times`` (default: block ends), shape ``(len(times), n, d)``."""
        if times is None:
            times = self.grid.block_ends(x.device, x.dtype)
        solver = replace(self.solver, adjoint=False)
        z = integrate(self.field, self.affine.to_flow(x), self.grid, solver, times)
        return self.affine.from_flow(z)

    def log_density_change(
        self, x: torch.Tensor, probe: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T(x), log p_0(x) - log p_1(T(x)))`` with both densities in data units.

        The standardisation's Jacobian cancels: it enters once on each side.
        """
        z1, div = integrate_with_divergence(
            self.field, self.affine.to_flow(x), self.grid, self.solver, probe
        )
        return self.affine.from_flow(z1), div


def standard_normal_log_density(x: torch.Tensor) -> torch.Tensor:
    """``log N(x; 0, I)`` per row."""
    return -0.5 * x.pow(2).sum(1) - 0.5 * x.shape[1] * math.log(2 * math.pi)


#: Fewest held-out rows of each sample for early stopping of flow matching.
MIN_VALIDATION_ROWS = 16


def held_out(
    data: TwoSamples, config: FlowConfig, generator: torch.Generator
) -> tuple[TwoSamples, ValidationPairs | None]:
    """Rows for flow matching and held-out pairs for its early stopping.

    ``config.validation_fraction`` of each sample, drawn at random, is held out;
    none when that leaves fewer than ``MIN_VALIDATION_ROWS`` of either. A
    Gaussian Q is drawn afresh for the held-out pairs.
    """
    n_p = int(config.validation_fraction * data.n_p)
    n_q = n_p if data.q is None else int(config.validation_fraction * data.n_q)
    if min(n_p, n_q) < MIN_VALIDATION_ROWS:
        return data, None
    order_p = torch.randperm(data.n_p, generator=generator, device=data.p.device)
    if data.q is None:
        training = replace(data, p=data.p[order_p[n_p:]])
        held_q = data.draw_q(n_q, generator)
    else:
        order_q = torch.randperm(data.n_q, generator=generator, device=data.q.device)
        training = replace(data, p=data.p[order_p[n_p:]], q=data.q[order_q[n_q:]])
        held_q = data.q[order_q[:n_q]]
    size = min(config.batch_size, n_p, n_q)
    return training, ValidationPairs.build(data.p[order_p[:n_p]], held_q, size,
                                           config.init_pairing, generator)


def train_flow(
    x_p: torch.Tensor,
    x_q: torch.Tensor | None,
    config: FlowConfig,
    generator: torch.Generator,
    progress: Progress,
) -> tuple[Flow, list[dict]]:
    """Fit a flow carrying the sample ``x_p`` to ``x_q`` (to N(0, I) when ``x_q`` is None).

    ``config.hidden_layer_sizes=None`` takes :func:`~.budget.velocity_layer_sizes`
    of the dimension; ``config.init_steps=None`` :func:`flow_matching_steps` of it;
    ``config.n_steps=None`` the coarsest grid that resolves the flow-matching field
    (:func:`resolved_grid`). The returned flow's ``config`` holds the values used.
    """
    affine = Affine.fit(x_p, x_q)
    if x_q is None:
        data = TwoSamples(affine.to_flow(x_p), None, -affine.center / affine.scale,
                          1.0 / affine.scale)
    else:
        data = TwoSamples(affine.to_flow(x_p), affine.to_flow(x_q))
    if config.hidden_layer_sizes is None:
        config = replace(config, hidden_layer_sizes=velocity_layer_sizes(data.dim))
    field = VelocityField(data.dim, config.hidden_layer_sizes, config.activation).to(
        device=x_p.device, dtype=x_p.dtype
    )
    history = History()
    if config.init_steps is None:
        config = replace(config, init_steps=flow_matching_steps(data.dim))
    training, validation = held_out(data, config, generator)
    steps_run = flow_matching(
        field, training, steps=config.init_steps, batch_size=config.batch_size,
        lr=config.init_lr, pairing=config.init_pairing, generator=generator, progress=progress,
        history=history, validation=validation, n_iter_no_change=config.n_iter_no_change,
    )
    config = replace(config, init_steps=steps_run)
    if config.n_steps is None:
        grid = resolved_grid(field, data.draw_p(GRID_CHECK_ROWS, generator), config.n_blocks,
                             config.ode_solver, GRID_TOLERANCE, ROUND_TRIP_TOLERANCE / 2)
        config = replace(config, n_steps=grid.n_steps)
    refine(
        field, data, config.grid, config.ode_solver, steps=config.refine_steps,
        batch_size=config.batch_size, lr=config.refine_lr, gamma=config.gamma,
        directions=config.directions, classifier_hidden=config.classifier_hidden_layer_sizes,
        classifier_activation=config.activation, classifier_lr=config.classifier_lr,
        classifier_warmup_steps=config.classifier_warmup_steps,
        classifier_steps=config.classifier_steps, generator=generator, progress=progress,
        history=history,
    )
    field.eval()
    for param in field.parameters():
        param.requires_grad_(False)
    return Flow(field, affine, config), history
