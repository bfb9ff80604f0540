"""The torch core's ODE layer: both directions of the flow integrated as one batch."""

import pytest
import torch

from flowdre_sklearn._core.networks import VelocityField
from flowdre_sklearn._core.ode import Solver, TimeGrid, integrate, integrate_both_ways


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
