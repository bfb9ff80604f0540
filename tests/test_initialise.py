"""The flow-matching start: the minibatch OT assignment against brute force, the order of
the paired batches whatever the look-ahead, and the regression loss on known fields."""

import itertools

import numpy as np
import pytest
import torch

from flowdre_sklearn._core.initialise import (
    ValidationPairs,
    flow_matching_loss,
    ot_assignment,
    paired_batches,
)
from flowdre_sklearn._core.samples import TwoSamples


def brute_force_assignment(x_p, x_q):
    """The permutation of ``x_q``'s rows with the least total squared distance, by search."""
    cost = ((x_p[:, None, :] - x_q[None, :, :]) ** 2).sum(-1)
    rows = np.arange(len(x_p))
    return np.array(min(itertools.permutations(rows), key=lambda order: cost[rows, order].sum()))


def total_cost(x_p, x_q):
    return float(((x_p - x_q) ** 2).sum())


@pytest.mark.parametrize("n", [2, 3, 5, 7])
def test_ot_assignment_equals_brute_force(n):
    # Continuous data: the optimal permutation is unique, so the assignment must be that
    # very permutation, not one of equal cost. 7! = 5040 permutations is still quick.
    rng = np.random.default_rng(n)
    for _ in range(5):
        x_p, x_q = rng.normal(size=(n, 3)), rng.normal(size=(n, 3)) + 0.5
        order = ot_assignment(x_p, x_q)
        np.testing.assert_array_equal(order, brute_force_assignment(x_p, x_q))


def test_ot_assignment_undoes_a_shuffle_of_a_shifted_copy():
    # Q is P shifted by a constant and shuffled: the optimal pairing of a translation is
    # the translation itself (cross terms favour matching each row with its own copy),
    # which a 64-row brute force could not check.
    rng = np.random.default_rng(0)
    x_p = rng.normal(size=(64, 4))
    shuffle = rng.permutation(64)
    x_q = (x_p + 3.0)[shuffle]
    order = ot_assignment(x_p, x_q)
    np.testing.assert_array_equal(shuffle[order], np.arange(64))


def test_paired_batches_are_optimal_and_do_not_depend_on_the_look_ahead():
    # Assignments are solved ahead in worker threads; the batches must come in the order
    # drawn and each be paired by its own assignment, however far ahead the workers run.
    rng = np.random.default_rng(0)
    data = TwoSamples(torch.as_tensor(rng.normal(size=(40, 2))),
                      torch.as_tensor(rng.normal(size=(30, 2)) + 1.0))

    def batches(lookahead, steps=6):
        generator = torch.Generator().manual_seed(0)
        return list(paired_batches(data, steps, 8, "ot", generator, lookahead=lookahead))

    reference = batches(1)
    assert len(reference) == 6
    for lookahead in (3, 32):  # within the run, and beyond its end
        for (p_a, q_a), (p_b, q_b) in zip(reference, batches(lookahead), strict=True):
            torch.testing.assert_close(p_a, p_b, rtol=0, atol=0)
            torch.testing.assert_close(q_a, q_b, rtol=0, atol=0)
    # The same draws, unpaired: each batch is a reordering of its independent draw, and
    # that reordering is the optimal one.
    independent = list(paired_batches(data, 6, 8, "independent",
                                      torch.Generator().manual_seed(0)))
    for (x_p, x_q), (p_raw, q_raw) in zip(reference, independent, strict=True):
        torch.testing.assert_close(x_p, p_raw, rtol=0, atol=0)
        p, q = p_raw.numpy(), q_raw.numpy()
        best = q[brute_force_assignment(p, q)]
        assert total_cost(p, x_q.numpy()) == pytest.approx(total_cost(p, best), rel=1e-12)


def test_validation_pairs_are_paired_within_each_batch():
    rng = np.random.default_rng(1)
    p = torch.as_tensor(rng.normal(size=(18, 2)))
    q = torch.as_tensor(rng.normal(size=(18, 2)) - 1.0)
    pairs = ValidationPairs.build(p, q, 6, "ot", torch.Generator().manual_seed(0))
    assert pairs.x_p.shape == pairs.x_q.shape == (3, 6, 2) and pairs.t.shape == (3, 6, 1)
    for k in range(3):
        a, b = p[6 * k: 6 * (k + 1)].numpy(), q[6 * k: 6 * (k + 1)].numpy()
        np.testing.assert_array_equal(pairs.x_q[k].numpy(), b[brute_force_assignment(a, b)])


class Constant(torch.nn.Module):
    def __init__(self, velocity):
        super().__init__()
        self.velocity = velocity

    def forward(self, t, x):
        return self.velocity.expand_as(x)


def test_flow_matching_loss_on_known_fields():
    # The regression target is x_q - x_p: a constant shift is met exactly by the constant
    # field of that shift (loss 0), and the zero field pays the mean squared displacement.
    generator = torch.Generator().manual_seed(0)
    x_p = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    t = torch.rand(32, 1, generator=generator, dtype=torch.float64)
    # (x_p + shift) - x_p is shift to float64 rounding, so the loss is of order 1e-32.
    assert float(flow_matching_loss(Constant(shift), x_p, x_p + shift, t)) < 1e-28
    x_q = torch.randn(32, 3, generator=generator, dtype=torch.float64)
    zero = flow_matching_loss(Constant(torch.zeros(3, dtype=torch.float64)), x_p, x_q, t)
    torch.testing.assert_close(zero, (x_q - x_p).pow(2).sum(1).mean())
