"""The two samples as the core sees them: a fixed Q, or a Gaussian Q drawn afresh."""

import pytest
import torch

from flowdre_sklearn._core.samples import TwoSamples


def test_gaussian_q_is_drawn_afresh_with_its_mean_and_scale():
    p = torch.zeros(10, 2, dtype=torch.float64)
    data = TwoSamples(p, None, torch.tensor([3.0, -1.0], dtype=torch.float64), 0.5)
    generator = torch.Generator().manual_seed(0)
    assert data.n_q == data.n_p == 10  # a Gaussian Q counts as large as P
    draws = data.draw_q(40_000, generator)
    # 40,000 draws: the mean's standard error is 0.5 / 200 = 0.0025 and the standard
    # deviation's 0.5 / sqrt(80000) = 0.0018, so 0.01 is 4 and 5 of them; a mean or a
    # scale left out (or the scale squared) misses by 0.25 or more.
    torch.testing.assert_close(draws.mean(0), data.q_mean, atol=0.01, rtol=0)
    torch.testing.assert_close(draws.std(0), torch.full((2,), 0.5, dtype=torch.float64),
                               atol=0.01, rtol=0)
    assert not torch.equal(data.draw_q(5, generator), data.draw_q(5, generator))
    assert data.q_sample(generator).shape == (10, 2)


def test_a_fixed_q_is_drawn_from_its_rows_without_replacement():
    p = torch.arange(20, dtype=torch.float64).reshape(10, 2)
    q = 100 + torch.arange(12, dtype=torch.float64).reshape(6, 2)
    data = TwoSamples(p, q)
    generator = torch.Generator().manual_seed(0)
    assert (data.n_p, data.n_q, data.dim) == (10, 6, 2)
    assert data.q_sample(generator) is q
    batch = data.draw_q(6, generator)
    # A batch as large as the sample is a permutation of it: every row once.
    assert sorted(batch[:, 0].tolist()) == q[:, 0].tolist()
    batch = data.draw_p(7, generator)
    assert len(set(batch[:, 0].tolist())) == 7
    # Larger than the sample: drawn with replacement, still rows of it.
    batch = data.draw_p(25, generator)
    assert set(batch[:, 0].tolist()) <= set(p[:, 0].tolist())


@pytest.mark.parametrize("size", [1, 5])
def test_draws_follow_the_generator(size):
    data = TwoSamples(torch.randn(8, 2), torch.randn(9, 2))
    first = data.draw_p(size, torch.Generator().manual_seed(3))
    again = data.draw_p(size, torch.Generator().manual_seed(3))
    torch.testing.assert_close(first, again, rtol=0, atol=0)
