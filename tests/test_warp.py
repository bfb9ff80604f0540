"""The normal-score warp: a strictly increasing map of each column onto R."""

import numpy as np
import torch
from scipy.special import ndtri

from flowdre_sklearn._core.warp import NormalScoreWarp


def test_heavy_tailed_columns_come_out_near_normal():
    # Cauchy columns (no mean, no variance) and a discrete one: after the warp each
    # has mean about 0 and standard deviation about 1 (5000 rows: standard errors
    # about 0.015 and 0.01, so 0.05 is several of them); a moment-based scale would
    # leave a Cauchy column's standard deviation far from 1.
    generator = torch.Generator().manual_seed(0)
    x = torch.distributions.StudentT(1.0).sample((5000, 3)).double()
    x[:, 2] = torch.round(torch.randn(5000, generator=generator, dtype=torch.float64) * 3)
    z = NormalScoreWarp.fit(x)(x)
    assert torch.all(z.mean(0).abs() < 0.05)
    assert torch.all((z[:, :2].std(0) - 1).abs() < 0.05)
    assert torch.isfinite(z).all()


def test_strictly_increasing_and_unbounded_beyond_the_knots():
    x = torch.distributions.StudentT(1.0).sample((2000, 2)).double()
    warp = NormalScoreWarp.fit(x)
    grid = torch.linspace(-1e6, 1e6, 200_001, dtype=torch.float64).reshape(-1, 1).repeat(1, 2)
    z = warp(grid)
    assert torch.all(z.diff(dim=0) > 0)
    # Logarithmic tails: past the last knot, but only by a few normal scores.
    assert torch.all(z[-1] > warp(x).max(0).values) and torch.all(z[-1] < 20)
    assert torch.all(z[0] < warp(x).min(0).values) and torch.all(z[0] > -20)


def test_a_constant_column_maps_to_one_value():
    x = torch.cat([torch.ones(50, 1), torch.randn(50, 1)], 1).double()
    z = NormalScoreWarp.fit(x)(torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]],
                                              dtype=torch.float64))
    assert np.allclose(z[:, 0].numpy(), z[0, 0].item())


def test_knots_map_to_the_normal_scores_of_their_levels():
    # With n rows and n <= QUANTILE_KNOTS knots, the knot of level (i + 0.5) / n is the
    # sample's quantile there and must map to the normal quantile of that level, and a
    # point halfway between two knots halfway between their scores (linear inside).
    x = torch.distributions.Exponential(1.0).sample((200, 1)).double()
    warp = NormalScoreWarp.fit(x)
    levels = (np.arange(200) + 0.5) / 200
    knots = np.quantile(x.numpy(), levels, axis=0)
    z = warp(torch.from_numpy(knots)).numpy()[:, 0]
    np.testing.assert_allclose(z, ndtri(levels), rtol=0, atol=1e-9)
    middle = torch.from_numpy((knots[:-1] + knots[1:]) / 2)
    np.testing.assert_allclose(warp(middle).numpy()[:, 0], (z[:-1] + z[1:]) / 2, atol=1e-9)
