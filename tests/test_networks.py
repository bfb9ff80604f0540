"""The torch core's networks: the folded time gate and the time score's quadratic head."""

import torch

from flowdre_sklearn._core.networks import ConcatSquashLinear, TimeScoreNet


def test_time_gate_folded_into_weights_matches_gating_the_output():
    # At prediction, one time for every row (the ODE solver's calls) takes the folded
    # path; the same time repeated per row, or any call that records gradients, gates
    # the output. They must agree to float32 rounding; a gate applied to the wrong axis
    # or a shift left out of the folded bias does not.
    torch.manual_seed(0)
    layer = ConcatSquashLinear(5, 7, time_features=3)
    h, t = torch.randn(64, 5), torch.randn(1, 3)
    with torch.no_grad():
        folded, per_row = layer(t, h), layer(t.expand(64, 3), h)
    training = layer(t, h)
    assert training.requires_grad
    torch.testing.assert_close(folded, per_row)
    torch.testing.assert_close(folded, training.detach())


def _fit(net, t, x, target, steps=500):
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(steps):
        optimizer.zero_grad()
        (net(t, x) - target).square().mean().backward()
        optimizer.step()
    return net


def _gaussian_like_score(t, x):
    # A quadratic form in x with time-varying coefficients: the shape of d/dt log p_t
    # between Gaussians.
    return (1 + t[:, 0]) * (x[:, 0] ** 2 - 0.5 * x[:, 0] * x[:, 1]) + t[:, 0] * x[:, 1]


def test_quadratic_head_starts_at_zero_and_extrapolates_a_quadratic():
    torch.manual_seed(0)
    x, t = torch.randn(512, 2), torch.rand(512, 1)
    with_head = TimeScoreNet(2, (32, 32), time_frequencies=2, quadratic=True)
    # r = 0 at the start (every interval logit at chance), with the head as without it.
    assert torch.count_nonzero(with_head(t, x)) == 0
    target = _gaussian_like_score(t, x)
    _fit(with_head, t, x, target)
    torch.manual_seed(0)
    without = _fit(TimeScoreNet(2, (32, 32), time_frequencies=2), t, x, target)
    # Far outside the training points (3 standard deviations and beyond), where the
    # telescope evaluates its Q-side intervals at P's points: the MLP alone flattens the
    # quadratic, the head follows it. Measured mean errors: 0.40 with the head, 2.98
    # without; a head that did not learn (or was not added) leaves the two alike.
    far = 3 * torch.randn(2000, 2)
    far_t = torch.rand(2000, 1)
    truth = _gaussian_like_score(far_t, far)
    with torch.no_grad():
        error_head = (with_head(far_t, far) - truth).abs().mean().item()
        error_mlp = (without(far_t, far) - truth).abs().mean().item()
    assert error_head < 0.25 * error_mlp
