"""The telescope's pieces against exact references: the quadrature rules, the interval
logits and their sum, the closing step's layouts, and the loss the network is trained on.

A known ``r(x, s)`` stands in for the network, so that every interval logit has a closed
form. The model keeps its quadrature nodes and weights in float32, so its logits match the
closed forms to float32 rounding (``CLOSE``); a wrong node, weight or interval is off by
a sizeable fraction of the logit."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from flowdre_sklearn._core.telescope import Quadrature, TimeScoreModel, split_closing

CLOSE = dict(rtol=1e-6, atol=1e-6)


def monomial_integral_error(quadrature, degree):
    """The rule's error on ``int_0^1 s^degree ds = 1 / (degree + 1)``."""
    nodes, weights = quadrature.unit()
    return float(np.sum(weights * nodes**degree)) - 1 / (degree + 1)


@pytest.mark.parametrize("n_nodes", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("panels", [1, 3])
def test_gauss_legendre_is_exact_to_degree_2n_minus_1_and_not_beyond(n_nodes, panels):
    quadrature = Quadrature("gauss-legendre", n_nodes, panels)
    nodes, weights = quadrature.unit()
    assert nodes.shape == weights.shape == (n_nodes * panels,)
    assert np.all((nodes > 0) & (nodes < 1)) and np.all(weights > 0)
    for degree in range(2 * n_nodes):
        assert abs(monomial_integral_error(quadrature, degree)) < 1e-14, degree
    # Degree 2n is the first one missed, by the textbook error of n-point Gauss-Legendre
    # on [a, b], (b - a)^(2n+1) (n!)^4 / ((2n + 1) ((2n)!)^3) f^(2n), with f^(2n) = (2n)!
    # for s^(2n), on each of the panels of width 1/panels. The smallest such error here
    # (n = 5, 3 panels) is 2e-11, 1e5 times the rounding of the sum, hence rel=1e-4.
    n = n_nodes
    missed = (math.factorial(n) ** 4 / ((2 * n + 1) * math.factorial(2 * n) ** 2)
              / panels ** (2 * n))
    assert monomial_integral_error(quadrature, 2 * n) == pytest.approx(-missed, rel=1e-4)


@pytest.mark.parametrize(("rule", "n_nodes", "order"),
                         [("gauss-legendre", 2, 4), ("gauss-legendre", 3, 6), ("simpson38", 3, 4)])
def test_panels_shrink_the_first_missed_degree_by_the_rules_order(rule, n_nodes, order):
    # For s^order the rule's error on a panel of width h is c h^(order + 1) times the
    # (constant) order-th derivative, so p panels of width 1/p have exactly 1/p^order of
    # one panel's error. Panels laid out wrongly (overlapping, or weights not divided
    # by p) break the ratio, not just the error's size.
    one = monomial_integral_error(Quadrature(rule, n_nodes, 1), order)
    for panels in (2, 5):
        many = monomial_integral_error(Quadrature(rule, n_nodes, panels), order)
        assert many / one == pytest.approx(panels**-order, rel=1e-6)


def test_simpson38_is_exact_for_cubics_and_not_for_quartics():
    quadrature = Quadrature("simpson38", 4, 2)
    nodes, weights = quadrature.unit()
    assert nodes.shape == (8,)  # 4 nodes per panel, the shared panel end counted twice
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)
    for degree in range(4):
        assert abs(monomial_integral_error(quadrature, degree)) < 1e-15, degree
    assert abs(monomial_integral_error(quadrature, 4)) > 1e-5


def test_on_intervals_integrates_over_each_interval():
    edges = torch.tensor([0.0, 0.1, 0.5, 0.55, 1.0], dtype=torch.float64)
    nodes, weights = Quadrature("gauss-legendre", 3, 1).on_intervals(edges)
    assert nodes.shape == weights.shape == (4, 3)
    assert torch.all((nodes > edges[:-1, None]) & (nodes < edges[1:, None]))
    # Degree 5 is within the 3-node rule's reach on every interval, whatever its width.
    exact = (edges[1:] ** 6 - edges[:-1] ** 6) / 6
    torch.testing.assert_close((weights * nodes**5).sum(1), exact, rtol=1e-13, atol=1e-15)


class CubicInTime(torch.nn.Module):
    """``r(x, s) = s^3 * sum(x)``: every interval logit is ``-sum(x) (b^4 - a^4) / 4``."""

    def forward(self, s, x):
        return s[..., 0] ** 3 * x.sum(-1)


class Linear(torch.nn.Module):
    """A closing network ``c(x) = x . w + 0.5`` with a known value (its logit is ``-c``)."""

    def forward(self, x):
        return x @ torch.tensor([1.0, -2.0], dtype=x.dtype) + 0.5


def known_model(n_intervals, closing_at=None):
    model = TimeScoreModel(2, (4,), "silu", n_intervals, Quadrature("gauss-legendre", 2, 1),
                           closing_at, 0, False).double()
    model.score = CubicInTime()
    if closing_at is not None:
        model.closing = Linear()
    return model


def exact_logits(x, n_intervals):
    edges = torch.linspace(0, 1, n_intervals + 1, dtype=torch.float64)
    return -(edges[1:, None] ** 4 - edges[:-1, None] ** 4) / 4 * x.sum(-1)


def test_interval_logits_are_the_time_integrals_and_telescope_to_the_whole():
    n_intervals = 4
    x = torch.randn(7, 2, dtype=torch.float64)
    model = known_model(n_intervals)
    exact = exact_logits(x, n_intervals)  # (M, n)
    # Every route to the logits: all intervals at once, one at a time, and the total.
    torch.testing.assert_close(model.logits_everywhere(x), exact, **CLOSE)
    chunked = model.logits_everywhere(x, max_points=8)  # a few rows per network call
    torch.testing.assert_close(chunked, exact, **CLOSE)
    for j in range(n_intervals):
        torch.testing.assert_close(model.interval_logit(j, x, max_points=4), exact[j], **CLOSE)
    # interval_logits takes each interval's own rows: row j of the input on interval j.
    own_rows = x[:n_intervals].unsqueeze(1)  # (M, 1, d)
    torch.testing.assert_close(model.interval_logits(own_rows)[:, 0],
                               exact.diagonal()[:n_intervals], **CLOSE)
    # int_0^1 s^3 ds = 1/4: the sum over intervals is (minus) the whole integral.
    torch.testing.assert_close(model.log_p_minus_log_q(x), -x.sum(-1) / 4, **CLOSE)


def test_closing_logit_is_added_to_the_integral():
    x = torch.randn(5, 2, dtype=torch.float64)
    model = known_model(3, closing_at="end")
    torch.testing.assert_close(model.log_p_minus_log_q(x), -x.sum(-1) / 4 - Linear()(x),
                               **CLOSE)


def test_split_closing_layouts():
    # Labels stand in for the snapshots: "P" and "Q" are the real samples, S0..S2 the
    # sample moved along the flow.
    moved_p = ["S0", "S1", "S2", "Q"]  # pushed P, then the real Q
    assert split_closing(moved_p, "end") == (["S0", "S1", "S2"], ("S2", "Q"))
    moved_q = ["P", "S0", "S1", "S2"]  # the real P, then pulled-back Q carried forward
    assert split_closing(moved_q, "start") == (["S0", "S1", "S2"], ("P", "S0"))
    assert split_closing(["S0", "S1"], None) == (["S0", "S1"], None)


@pytest.mark.parametrize("closing_at", [None, "end", "start"])
def test_loss_and_full_loss_are_the_summed_logistic_losses(closing_at):
    # Interval j labels its start snapshot 1 and its end snapshot 0: the loss is
    # sum_j mean softplus(-R_j(start)) + mean softplus(R_j(end)), plus the closing
    # classifier's on its pair. Snapshots swapped, a sign flipped or the gap pair
    # misplaced each change the value.
    n_intervals, n = 3, 6
    model = known_model(n_intervals, closing_at)
    generator = torch.Generator().manual_seed(0)
    n_snapshots = n_intervals + 1 + (closing_at is not None)
    snapshots = [torch.randn(n, 2, generator=generator, dtype=torch.float64) + k
                 for k in range(n_snapshots)]
    # The layouts written out, not taken from split_closing, which the model also uses.
    bridge, gap = {None: (snapshots, None),
                   "end": (snapshots[:-1], (snapshots[-2], snapshots[-1])),
                   "start": (snapshots[1:], (snapshots[0], snapshots[1]))}[closing_at]
    expected = 0.0
    for j in range(n_intervals):
        start = exact_logits(bridge[j], n_intervals)[j]
        end = exact_logits(bridge[j + 1], n_intervals)[j]
        expected += F.softplus(-start).mean() + F.softplus(end).mean()
    if closing_at is not None:
        logit = [-Linear()(rows) for rows in gap]  # P side first, as the intervals
        expected += F.softplus(-logit[0]).mean() + F.softplus(logit[1]).mean()
    batch = torch.stack(snapshots)
    stacked, stacked_gap = split_closing(batch, closing_at)
    loss = model.loss(stacked[:-1], stacked[1:], stacked_gap)
    torch.testing.assert_close(loss, torch.as_tensor(expected), **CLOSE)
    # The validation loss on whole snapshots is the same sum (there of all rows).
    full, standard_error = model.full_loss(snapshots)
    assert full == pytest.approx(float(expected), rel=1e-6)
    assert standard_error > 0


@pytest.mark.parametrize("closing_at", [None, "end", "start"])
def test_end_to_end_loss_is_the_logistic_loss_of_the_whole_log_ratio(closing_at):
    # The whole logit is -sum(x) / 4 (int_0^1 s^3 ds) minus the closing network's
    # value: P rows carry label 1, Q rows label 0. A logit summed over the wrong
    # intervals, a missing closing step or swapped labels each change the value.
    model = known_model(4, closing_at)
    generator = torch.Generator().manual_seed(1)
    p, q = (torch.randn(9, 2, generator=generator, dtype=torch.float64) + k for k in (0, 1))

    def whole(x):
        return -x.sum(-1) / 4 - (0 if closing_at is None else Linear()(x))

    expected = F.softplus(-whole(p)).mean() + F.softplus(whole(q)).mean()
    torch.testing.assert_close(model.end_to_end_loss(p, q), expected, **CLOSE)
    # Weighted into the validation loss between the first and the last snapshot.
    n_snapshots = 4 + 1 + (closing_at is not None)
    snapshots = [p, *(torch.randn(9, 2, generator=generator, dtype=torch.float64)
                      for _ in range(n_snapshots - 2)), q]
    plain, plain_error = model.full_loss(snapshots)
    weighted, weighted_error = model.full_loss(snapshots, end_to_end_weight=0.5)
    assert weighted - plain == pytest.approx(0.5 * float(expected), rel=1e-6)
    assert weighted_error > plain_error
