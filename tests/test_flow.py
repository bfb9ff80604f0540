"""The flow's standardisation ``Affine``: a round trip, a similarity (one scale for every
column, so optimal transport commutes with it), and the moments of the pooled mixture."""

import numpy as np
import pytest
import torch

from flowdre_sklearn import FlowTransport
from flowdre_sklearn._core.budget import velocity_layer_sizes
from flowdre_sklearn._core.flow import Affine
from flowdre_sklearn._core.initialise import ot_assignment


def samples(n_p=30, n_q=60, seed=0):
    # Columns on very different scales, and Q shifted: a per-column scale or a centre
    # of one sample only would be visibly wrong.
    generator = torch.Generator().manual_seed(seed)
    scales = torch.tensor([1.0, 100.0, 0.01], dtype=torch.float64)
    p = torch.randn(n_p, 3, generator=generator, dtype=torch.float64) * scales
    q = torch.randn(n_q, 3, generator=generator, dtype=torch.float64) * scales * 2 + 5
    return p, q


def test_round_trip():
    p, q = samples()
    affine = Affine.fit(p, q)
    torch.testing.assert_close(affine.from_flow(affine.to_flow(q)), q, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(affine.to_flow(affine.from_flow(p)), p, rtol=1e-12, atol=1e-12)


def test_center_and_scale_are_the_moments_of_the_equal_weight_mixture():
    # The mixture weighs P and Q alike whatever their sizes: with n_q = 2 n_p, it is the
    # pooled sample [P, P, Q], whose mean and (population) variance are the reference.
    p, q = samples(n_p=30, n_q=60)
    affine = Affine.fit(p, q)
    pooled = torch.cat([p, p, q])
    torch.testing.assert_close(affine.center, pooled.mean(0), rtol=1e-12, atol=1e-12)
    # One scale: the root of the mean over columns of the mixture's variances.
    assert isinstance(affine.scale, float)
    expected = float(pooled.var(0, unbiased=False).mean().sqrt())
    assert affine.scale == pytest.approx(expected, rel=1e-12)
    z = affine.to_flow(pooled)
    torch.testing.assert_close(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-12,
                               rtol=0)
    assert float(z.var(0, unbiased=False).mean()) == pytest.approx(1.0, rel=1e-12)


def test_without_q_the_mixture_is_with_the_standard_normal():
    p, _ = samples()
    affine = Affine.fit(p, None)
    mean, var = p.mean(0), p.var(0, unbiased=False)
    torch.testing.assert_close(affine.center, mean / 2, rtol=1e-12, atol=1e-12)
    mixture_var = (var + 1) / 2 + (mean / 2) ** 2
    assert affine.scale == pytest.approx(float(mixture_var.mean().sqrt()), rel=1e-12)


def test_a_similarity_keeps_the_optimal_assignment():
    # All distances shrink by the one scale, so the optimal pairing of standardised rows
    # is that of the raw rows. A per-column scale would change the squared Euclidean
    # cost, and here it does change the pairing (checked, so the test has teeth).
    p, q = samples(n_p=40, n_q=40, seed=1)
    affine = Affine.fit(p, q)
    zp, zq = affine.to_flow(p), affine.to_flow(q)
    exact = "donot_use_mm_for_euclid_dist"  # the matmul form rounds to about 1e-8
    distances = torch.cdist(p, q, compute_mode=exact)
    torch.testing.assert_close(torch.cdist(zp, zq, compute_mode=exact) * affine.scale,
                               distances, rtol=1e-12, atol=0)
    raw = ot_assignment(p.numpy(), q.numpy())
    np.testing.assert_array_equal(ot_assignment(zp.numpy(), zq.numpy()), raw)
    pooled = torch.cat([p, q])
    per_column = (pooled - pooled.mean(0)) / pooled.std(0)
    assert not np.array_equal(ot_assignment(per_column[:40].numpy(), per_column[40:].numpy()),
                              raw)


@pytest.mark.parametrize("n_features, width", [(1, 128), (128, 128), (129, 256), (320, 512)])
def test_velocity_width_is_at_least_the_dimension(n_features, width):
    # Above 128 features a layer narrower than the dimension would cap the rank of the
    # velocity's Jacobian below it: no full-rank linear map could be represented.
    sizes = velocity_layer_sizes(n_features)
    assert sizes == (width,) * 3 and min(sizes) >= min(n_features, 128)


def test_auto_velocity_width_is_resolved_and_reported():
    rng = np.random.default_rng(0)
    flow = FlowTransport(init_steps=2, n_steps=1, n_blocks=1, batch_size=8,
                         random_state=0).fit(rng.normal(size=(20, 3)), rng.normal(size=(20, 3)))
    assert flow.hidden_layer_sizes_ == velocity_layer_sizes(3)
    assert flow.get_params()["hidden_layer_sizes"] == "auto"
    fixed = FlowTransport(hidden_layer_sizes=(8,), init_steps=2, n_steps=1, n_blocks=1,
                          batch_size=8, random_state=0).fit(rng.normal(size=(20, 3)))
    assert fixed.hidden_layer_sizes_ == (8,)
