"""Integration of ``dx/dt = v(x, t)`` over a block time grid, with torchdiffeq.

The time interval [0, 1] is cut into ``n_blocks`` blocks of ``n_steps`` fixed
solver steps each. A fixed grid is the default because an adaptive solver
chooses its steps from the whole batch, so a row's image would depend on the
other rows passed with it; with a fixed grid, ``T(x)`` is a function of ``x``
alone, as a transform must be.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torchdiffeq import odeint, odeint_adjoint

FIXED_METHODS = ("rk4", "midpoint", "euler")
ADAPTIVE_METHODS = ("dopri5",)


@dataclass(frozen=True)
class TimeGrid:
    """Block time grid on [0, 1].

    Attributes
    ----------
    n_blocks : int
        Number of blocks; their end states are the flow's snapshots.
    n_steps : int
        Fixed solver steps per block.
    """

    n_blocks: int
    n_steps: int

    def fine(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """All solver step times, ``n_blocks * n_steps + 1`` points from 0 to 1."""
        return torch.linspace(
            0.0, 1.0, self.n_blocks * self.n_steps + 1, device=device, dtype=dtype
        )

    def block_ends(self, device=None, dtype=torch.float32) -> torch.Tensor:
        """Times of the block ends, sliced from :meth:`fine` so they are bit-identical."""
        return self.fine(device, dtype)[:: self.n_steps]


@dataclass(frozen=True)
class Solver:
    """How to integrate: solver name, gradient mode and, for adaptive solvers, tolerances."""

    method: str = "rk4"
    adjoint: bool = False
    rtol: float = 1e-5
    atol: float = 1e-5


def _solver_options(solver: Solver, fine: torch.Tensor) -> dict:
    """torchdiffeq arguments: the fixed step grid, or an adaptive solver's tolerances."""
    if solver.method not in FIXED_METHODS:
        return {"method": solver.method, "rtol": solver.rtol, "atol": solver.atol}

    def grid_constructor(func, y0, t: torch.Tensor) -> torch.Tensor:
        # The fixed steps inside the span of ``t``, from its first time to its last:
        # the adjoint's backward pass asks for one output interval at a time.
        # torchdiffeq hands the times in the caller's direction.
        low, high = torch.minimum(t[0], t[-1]), torch.maximum(t[0], t[-1])
        inside = fine[(fine > low) & (fine < high)].to(t.dtype)
        steps = torch.cat([low.reshape(1), inside, high.reshape(1)])
        return steps if t[0] < t[-1] else steps.flip(0)

    return {"method": solver.method, "options": {"grid_constructor": grid_constructor}}


def integrate(
    field: torch.nn.Module,
    x: torch.Tensor,
    grid: TimeGrid,
    solver: Solver,
    times: torch.Tensor | None = None,
    reverse: bool = False,
) -> torch.Tensor:
    """States of the flow at ``times``.

    Parameters
    ----------
    field : Module
        Velocity field with signature ``field(t, x)``.
    x : Tensor of shape (n, d)
        Initial states: at t = 0, or at t = 1 when ``reverse``.
    grid : TimeGrid
        The fixed step grid (ignored by adaptive solvers, except for output times).
    solver : Solver
        Method and gradient mode.
    times : Tensor, optional
        Increasing output times in [0, 1] that start at 0 and end at 1. Defaults to
        every step of the grid. Times between grid points are linearly interpolated.
    reverse : bool
        Integrate from t = 1 down to t = 0 (the inverse map).

    Returns
    -------
    Tensor of shape (len(times), n, d)
        States in the order of integration: ``[x(t_0), ..., x(t_m)]``, or, when
        ``reverse``, ``[x(t_m), ..., x(t_0)]``.
    """
    fine = grid.fine(x.device, x.dtype)
    times = fine if times is None else times.to(device=x.device, dtype=x.dtype)
    if reverse:
        times = times.flip(0)
    kwargs = _solver_options(solver, fine)
    if solver.adjoint:
        return odeint_adjoint(field, x, times, adjoint_params=tuple(field.parameters()), **kwargs)
    return odeint(field, x, times, **kwargs)


class _BothWays(torch.nn.Module):
    """The field run forward in time on the rows where ``sign`` is +1, backward on the rest.

    In the integration variable ``s`` in [0, 1], a forward row is at time ``t = s``
    and moves with ``v``; a backward row is at ``t = 1 - s`` and moves with ``-v``.
    One call of the field serves both, with per-row times.
    """

    def __init__(self, field: torch.nn.Module, sign: torch.Tensor) -> None:
        super().__init__()
        self.field = field
        self.sign = sign  # (n, 1): +1 forward, -1 backward
        self.backward_rows = sign < 0

    def forward(self, s: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        s = s.to(x.dtype)
        t = torch.where(self.backward_rows, 1 - s, s)
        return self.field(t, x) * self.sign


def integrate_both_ways(
    field: torch.nn.Module,
    x_forward: torch.Tensor,
    x_backward: torch.Tensor,
    grid: TimeGrid,
    solver: Solver,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``integrate(field, x_forward, ...)`` and ``integrate(field, x_backward, ...,
    reverse=True)`` on every step of the grid, as one batched integration.

    Small networks on small batches are bound by per-call overhead, not by
    arithmetic, so one solve over both batches costs little more than one of them.
    For fixed-step solvers the states are those of the two separate solves (up to
    rounding: the backward rows see the times ``1 - s``); an adaptive solver picks
    its steps for the two batches together.
    """
    n, m = x_forward.shape[0], x_backward.shape[0]
    sign = torch.cat([x_forward.new_ones(n, 1), x_backward.new_full((m, 1), -1.0)])
    states = integrate(_BothWays(field, sign), torch.cat([x_forward, x_backward]), grid, solver)
    return states[:, :n], states[:, n:]


def kinetic_energy(states: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Discrete kinetic energy of paths, per row.

    ``sum_j ||x(t_j) - x(t_{j-1})||^2 / (t_j - t_{j-1})``: by Cauchy-Schwarz a lower
    bound of ``int ||v||^2 dt`` over the path, equal to it for paths of constant
    speed, and at least ``||x(1) - x(0)||^2``, the transport cost.

    Parameters
    ----------
    states : Tensor of shape (m, n, d)
        States on the step grid, as returned by :func:`integrate`.
    times : Tensor of shape (m,)
        The step times (the sign of the steps does not matter).
    """
    steps = states[1:] - states[:-1]
    dt = (times[1:] - times[:-1]).abs().reshape(-1, 1)
    return (steps.pow(2).sum(-1) / dt).sum(0)


@torch.no_grad()
def push(
    field: torch.nn.Module,
    x: torch.Tensor,
    grid: TimeGrid,
    solver: Solver,
    reverse: bool = False,
    chunk_size: int = 65536,
) -> torch.Tensor:
    """End states of ``x`` pushed through the flow, in chunks, without gradient."""
    times = grid.block_ends(x.device, x.dtype)[[0, -1]]
    solver = replace(solver, adjoint=False)  # no gradient, so nothing for the adjoint to save
    parts = [
        integrate(field, x[i : i + chunk_size], grid, solver, times, reverse)[-1]
        for i in range(0, x.shape[0], chunk_size)
    ]
    return torch.cat(parts) if parts else x.clone()


class _FieldWithDivergence(torch.nn.Module):
    """Augmented dynamics ``(x, l) -> (v(x, t), div v(x, t))`` for log-densities."""

    def __init__(self, field: torch.nn.Module, probe: torch.Tensor | None) -> None:
        super().__init__()
        self.field = field
        self.probe = probe

    def forward(self, t: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        x = state[0]
        with torch.enable_grad():
            x = x.detach().requires_grad_(True) if not x.requires_grad else x
            v = self.field(t, x)
            if self.probe is None:
                div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
                for i in range(x.shape[1]):
                    (g,) = torch.autograd.grad(v[:, i].sum(), x, retain_graph=True)
                    div = div + g[:, i]
            else:
                (g,) = torch.autograd.grad((v * self.probe).sum(), x)
                div = (g * self.probe).sum(1)
        return v.detach(), div.detach()


def integrate_with_divergence(
    field: torch.nn.Module,
    x: torch.Tensor,
    grid: TimeGrid,
    solver: Solver,
    probe: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Push ``x`` from t = 0 to t = 1 and integrate the divergence along each path.

    Returns ``(x(1), int_0^1 div v(x(t), t) dt)``. By the instantaneous change of
    variables, ``log p_0(x) = log p_1(x(1)) + int_0^1 div v dt``.
    Exact divergence (``probe=None``) costs one backward pass per dimension;
    Hutchinson's estimator ``e^T (dv/dx) e`` with a fixed probe ``e`` costs one.
    No gradient flows to the network: this is for prediction only.
    """
    aug = _FieldWithDivergence(field, probe)
    zero = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    fine = grid.fine(x.device, x.dtype)
    kwargs = _solver_options(solver, fine)
    times = torch.stack([fine[0], fine[-1]])
    xs, divs = odeint(aug, (x, zero), times, **kwargs)
    return xs[-1], divs[-1]


def resolved_grid(
    field: torch.nn.Module,
    x: torch.Tensor,
    n_blocks: int,
    solver: Solver,
    tolerance: float,
    round_trip_tolerance: float,
    min_steps: int = 2,
    max_steps: int = 16,
) -> TimeGrid:
    """The coarsest grid that integrates ``field`` accurately on the rows ``x``.

    Steps per block double from ``min_steps`` (up to ``max_steps``) until the
    end states agree with those of twice the steps to a root mean square of
    ``tolerance`` and every row comes back from a round trip to within
    ``round_trip_tolerance`` (both in the units of ``x``). The first difference
    estimates the coarser grid's own error (RK4's error falls 16-fold per
    halving), so the grid follows the field: straight paths in low dimension
    need few steps, the sharper fields learned in high dimension more. The
    round trip catches the few rows on which a field is sharp, which the mean
    misses and which would make the inverse visibly inexact.
    """
    steps = min_steps
    if solver.method not in FIXED_METHODS:
        return TimeGrid(n_blocks, steps)
    coarse = push(field, x, TimeGrid(n_blocks, steps), solver)
    while steps < max_steps:
        fine = push(field, x, TimeGrid(n_blocks, 2 * steps), solver)
        if float((fine - coarse).pow(2).mean().sqrt()) <= tolerance:
            back = push(field, coarse, TimeGrid(n_blocks, steps), solver, reverse=True)
            if float((back - x).norm(dim=1).max()) <= round_trip_tolerance:
                break
        steps, coarse = 2 * steps, fine
    return TimeGrid(n_blocks, steps)
