"""The torch core's ODE layer: both directions of the flow integrated as one batch, and the
kinetic energy of the paths."""

import math

import pytest
import torch

from flowdre_sklearn._core.networks import VelocityField
from flowdre_sklearn._core.ode import (
    Solver,
    TimeGrid,
    integrate,
    integrate_both_ways,
    kinetic_energy,
)


@pytest.mark.parametrize("adjoint", [False, True])
def test_both_ways_in_one_batch_equals_two_separate_solves(adjoint):
    # The refinement integrates P forward and Q backward in one solve. Its states and
    # the gradient of a loss on them must be those of the two separate solves up to
    # float32 rounding (the backward rows see the times 1 - s, one rounding away from
    # the grid's). A wrong sign of the backward velocity, a time not mirrored, or rows
    # split at the wrong place would move the states by the velocity's size, O(1).
    torch.manual_seed(0)
    field = VelocityField(3, (16, 16))
    for param in field.parameters():  # away from the zero start, so the field moves rows
        torch.nn.init.normal_(param, std=0.5)
    x_p, x_q = torch.randn(20, 3), torch.randn(30, 3)
    grid, solver = TimeGrid(2, 3), Solver("rk4", adjoint=adjoint)
    fine = grid.fine()

    def loss_and_grads(states_p, states_q):
        loss = states_p[-1].square().sum() + (states_q[-1] * 2.0).sin().sum()
        return loss, torch.autograd.grad(loss, list(field.parameters()))

    fwd = integrate(field, x_p, grid, solver, fine)
    bwd = integrate(field, x_q, grid, solver, fine, reverse=True)
    both_p, both_q = integrate_both_ways(field, x_p, x_q, grid, solver)
    assert both_p.shape == fwd.shape and both_q.shape == bwd.shape
    assert (fwd[-1] - x_p).abs().max() > 0.1  # the field moves rows, so the check has teeth
    torch.testing.assert_close(both_p, fwd, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(both_q, bwd, rtol=1e-5, atol=1e-5)
    separate_loss, separate_grads = loss_and_grads(fwd, bwd)
    both_loss, both_grads = loss_and_grads(both_p, both_q)
    torch.testing.assert_close(both_loss, separate_loss, rtol=1e-5, atol=1e-5)
    for a, b in zip(both_grads, separate_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_kinetic_energy_is_at_least_the_transport_cost_and_equal_on_straight_paths():
    # By Cauchy-Schwarz, sum ||dx||^2 / dt >= ||x(1) - x(0)||^2 on any grid (equality
    # when the steps are proportional to dt, a straight path at constant speed). The
    # grid is uneven, so a sum that forgot to divide each step by its own dt fails.
    generator = torch.Generator().manual_seed(0)
    times = torch.tensor([0.0, 0.05, 0.3, 0.35, 0.8, 1.0], dtype=torch.float64)
    x0 = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    x1 = torch.randn(10, 3, generator=generator, dtype=torch.float64)
    cost = (x1 - x0).pow(2).sum(1)
    straight = x0 + times[:, None, None] * (x1 - x0)
    torch.testing.assert_close(kinetic_energy(straight, times), cost)
    # The same path run backwards (as the inverse map's states come) has the same energy.
    torch.testing.assert_close(kinetic_energy(straight.flip(0), times.flip(0)), cost)
    wiggly = straight + 0.3 * torch.randn(6, 10, 3, generator=generator, dtype=torch.float64)
    wiggly[0], wiggly[-1] = x0, x1
    assert torch.all(kinetic_energy(wiggly, times) > cost)
    # A straight path at uneven speed: same displacement, more energy.
    uneven = x0 + (times**2)[:, None, None] * (x1 - x0)
    assert torch.all(kinetic_energy(uneven, times) > cost * 1.01)


def test_kinetic_energy_of_solver_paths_is_at_least_their_transport_cost():
    # On the states of a real field, integrated both ways (the refinement's use).
    torch.manual_seed(0)
    field = VelocityField(2, (16,))
    for param in field.parameters():  # away from the zero start, so paths bend
        torch.nn.init.normal_(param, std=0.5)
    grid, solver = TimeGrid(2, 4), Solver("rk4")
    x = torch.randn(50, 2)
    for reverse in (False, True):
        states = integrate(field, x, grid, solver, grid.fine(), reverse=reverse)
        cost = (states[-1] - states[0]).pow(2).sum(1)
        energy = kinetic_energy(states, grid.fine())
        assert cost.max() > 0.1  # the rows move
        # float32 rounding of the sums, relative 1e-5; a bent path exceeds it by more.
        assert torch.all(energy >= cost * (1 - 1e-5)), (energy - cost).min()
        assert (energy > cost * 1.001).any()


def test_kinetic_energy_of_a_quarter_circle():
    # x(t) = (cos(pi t / 2), sin(pi t / 2)): int ||v||^2 dt = (pi / 2)^2. On m even steps
    # each chord is 2 sin(pi / (4 m)), so the discrete energy is 4 m^2 sin^2(pi / (4 m)),
    # below the integral and tending to it, above the squared chord of the whole arc, 2.
    for m in (1, 4, 64):
        times = torch.linspace(0, 1, m + 1, dtype=torch.float64)
        angle = torch.pi / 2 * times
        states = torch.stack([angle.cos(), angle.sin()], -1).unsqueeze(1)  # (m + 1, 1, 2)
        energy = float(kinetic_energy(states, times)[0])
        assert energy == pytest.approx(4 * m**2 * math.sin(math.pi / (4 * m)) ** 2, rel=1e-12)
        assert 2.0 - 1e-12 <= energy < (math.pi / 2) ** 2
    assert energy == pytest.approx((math.pi / 2) ** 2, rel=1e-3)
