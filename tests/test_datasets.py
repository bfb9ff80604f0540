"""Tests of the ground-truth samplers in ``flowdre_sklearn.datasets``.

Statistical checks use fixed seeds and tolerances of about five Monte-Carlo
standard errors (computed from the sample size, or from the sample itself), so
they are deterministic and far from flaky under a change of seed; exact
identities use floating-point tolerances.
"""

import ast
import dataclasses
import doctest

import numpy as np
import pytest
from scipy import linalg
from scipy.sparse.csgraph import connected_components
from sklearn.neighbors import radius_neighbors_graph

from flowdre_sklearn import datasets
from flowdre_sklearn.datasets import (
    GaussianOT,
    GaussianPair,
    LogSumExpOT,
    gaussian_mi_rho,
    make_gaussian_mi,
    make_gaussian_ot,
    make_gaussian_pair,
    make_logsumexp_ot,
    make_moons_checkerboard,
    make_student_t_mi,
    student_t_mi_excess,
)

# One call of each sampler, as (name, callable of random_state, expected shapes).
SAMPLERS = {
    "gaussian_mi": (
        lambda rs: make_gaussian_mi(50, d=6, mi=2.0, random_state=rs)[:2],
        [(50, 3), (50, 3)],
    ),
    "gaussian_pair": (
        lambda rs: make_gaussian_pair(40, 30, d=3, random_state=rs)[:2],
        [(40, 3), (30, 3)],
    ),
    "gaussian_ot": (
        lambda rs: make_gaussian_ot(35, d=4, random_state=rs)[:2],
        [(35, 4), (35, 4)],
    ),
    "logsumexp_ot": (
        lambda rs: make_logsumexp_ot(25, d=3, random_state=rs)[:2],
        [(25, 3), (25, 3)],
    ),
    "student_t_mi": (
        lambda rs: make_student_t_mi(30, d=4, df=1.0, rho=0.5, random_state=rs)[:2],
        [(30, 2), (30, 2)],
    ),
    "moons_checkerboard": (
        lambda rs: make_moons_checkerboard(45, random_state=rs),
        [(45, 2), (45, 2)],
    ),
}


def _global_state_equal(before, after):
    return before[0] == after[0] and all(
        np.array_equal(a, b) for a, b in zip(before[1:], after[1:])
    )


# ---------------------------------------------------------------------------
# Generic behaviour of all samplers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_shapes_and_dtypes(name):
    sampler, shapes = SAMPLERS[name]
    arrays = sampler(0)
    assert [a.shape for a in arrays] == shapes
    assert all(a.dtype == np.float64 for a in arrays)
    assert all(np.all(np.isfinite(a)) for a in arrays)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_reproducible_for_same_random_state(name):
    sampler, _ = SAMPLERS[name]
    first, second = sampler(3), sampler(3)
    # same seed, same draws: exact equality
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    # an int seed and a RandomState seeded alike draw the same stream
    from_rs = sampler(np.random.RandomState(3))
    assert all(np.array_equal(a, b) for a, b in zip(first, from_rs))
    # two Generators seeded alike agree too
    g1, g2 = sampler(np.random.default_rng(3)), sampler(np.random.default_rng(3))
    assert all(np.array_equal(a, b) for a, b in zip(g1, g2))


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_differs_for_different_random_state(name):
    sampler, _ = SAMPLERS[name]
    first, other = sampler(0), sampler(1)
    # continuous draws from different seeds coincide with probability 0
    assert not np.allclose(first[0], other[0])
    # a Generator is advanced in place, so a second draw from it differs
    rng = np.random.default_rng(0)
    assert not np.allclose(sampler(rng)[0], sampler(rng)[0])
    # None draws fresh entropy, as in the estimators: even after the global state is
    # reset, two calls differ
    np.random.seed(0)  # noqa: NPY002 - the legacy global state must play no part
    first = sampler(None)[0]
    np.random.seed(0)  # noqa: NPY002
    assert not np.allclose(first, sampler(None)[0])


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("random_state", [0, "generator", None])
def test_global_numpy_rng_untouched(name, random_state):
    sampler, _ = SAMPLERS[name]
    if random_state == "generator":
        random_state = np.random.default_rng(0)
    before = np.random.get_state()  # noqa: NPY002 - checking the legacy global state
    sampler(random_state)
    after = np.random.get_state()  # noqa: NPY002
    # exact: nothing may have drawn from the global generator
    assert _global_state_equal(before, after)


def test_global_numpy_rng_untouched_by_gaussian_methods():
    _, _, problem = make_gaussian_ot(10, d=2, random_state=0)
    before = np.random.get_state()  # noqa: NPY002
    problem.sample_p(5, random_state=0)
    problem.sample_q(5, random_state=np.random.default_rng(0))
    after = np.random.get_state()  # noqa: NPY002
    assert _global_state_equal(before, after)


def test_bad_random_state():
    with pytest.raises(ValueError, match="random_state"):
        make_gaussian_ot(10, random_state="seed")
    with pytest.raises(ValueError, match="random_state"):
        make_moons_checkerboard(10, random_state=-1)


def test_module_does_not_import_torch():
    with open(datasets.__file__, encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert "torch" not in imported


def test_docstring_examples():
    result = doctest.testmod(datasets, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------
# make_gaussian_mi
# ---------------------------------------------------------------------------


def test_gaussian_mi_correlations():
    n, d, rho = 20_000, 6, 0.6
    X, Y, _ = make_gaussian_mi(n, d=d, rho=rho, random_state=0)
    corr = np.corrcoef(np.hstack([X, Y]), rowvar=False)
    half = d // 2
    paired = np.diag(corr[:half, half:])
    # the sample correlation has standard error about (1 - rho^2) / sqrt(n); allow 5 of them
    assert np.allclose(paired, rho, atol=5 * (1 - rho**2) / np.sqrt(n))
    # all other pairs of coordinates are independent: standard error 1 / sqrt(n)
    others = corr - np.eye(d)
    others[:half, half:] -= np.diag(paired)
    others[half:, :half] -= np.diag(paired)
    assert np.max(np.abs(others)) < 5 / np.sqrt(n)
    # marginals are standard normal: variance has standard error sqrt(2 / n)
    assert np.allclose(np.var(np.hstack([X, Y]), axis=0), 1.0, atol=5 * np.sqrt(2 / n))


def test_gaussian_mi_negative_rho():
    X, Y, true_mi = make_gaussian_mi(20_000, d=2, rho=-0.8, random_state=1)
    # standard error of the correlation (1 - 0.64) / sqrt(n) ~ 0.0025; allow 5
    assert np.corrcoef(X[:, 0], Y[:, 0])[0, 1] == pytest.approx(-0.8, abs=0.013)
    # the mutual information depends on rho^2 only: exact up to rounding
    assert true_mi == pytest.approx(make_gaussian_mi(1, d=2, rho=0.8)[2], rel=1e-12)


@pytest.mark.parametrize("d, mi", [(2, 0.5), (10, 2.0), (40, 20.0), (20, 0.0)])
def test_gaussian_mi_matches_mi_argument(d, mi):
    _, _, true_mi = make_gaussian_mi(5, d=d, mi=mi, random_state=0)
    # rho is solved in closed form from mi, so only rounding separates them
    assert true_mi == pytest.approx(mi, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("d, rho", [(2, 0.3), (8, 0.9), (40, 0.99)])
def test_gaussian_mi_formula_against_log_determinants(d, rho):
    # I(u; v) = (log det S_u + log det S_v - log det S) / 2 for a joint Gaussian,
    # here with S_u = S_v = I and S = [[I, rho I], [rho I, I]]
    half = d // 2
    joint = np.block([[np.eye(half), rho * np.eye(half)], [rho * np.eye(half), np.eye(half)]])
    expected = -0.5 * np.linalg.slogdet(joint)[1]
    _, _, true_mi = make_gaussian_mi(5, d=d, rho=rho, random_state=0)
    # both are closed forms: agreement to rounding error
    assert true_mi == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("d", [2, 10, 40])
@pytest.mark.parametrize("rho", [0.0, 0.3, 0.9, 0.999, -0.5])
def test_rho_mi_round_trip(d, rho):
    _, _, mi = make_gaussian_mi(1, d=d, rho=rho, random_state=0)
    # log1p / expm1 keep the round trip accurate even near rho = 1
    assert gaussian_mi_rho(d, mi) == pytest.approx(abs(rho), rel=1e-9, abs=1e-12)
    # and the other way round, from mi to rho to mi
    rho_back = gaussian_mi_rho(d, mi + 1.0)
    assert make_gaussian_mi(1, d=d, rho=rho_back)[2] == pytest.approx(mi + 1.0, rel=1e-10)


# ---------------------------------------------------------------------------
# make_gaussian_pair / GaussianPair
# ---------------------------------------------------------------------------


def test_gaussian_pair_parameters():
    d, shift, scale_q, eig_range = 5, 1.7, 1.5, (0.5, 2.0)
    _, _, pair = make_gaussian_pair(
        10, d=d, shift=shift, scale_q=scale_q, eig_range=eig_range, random_state=0
    )
    # the shift is exact up to rounding
    assert np.linalg.norm(pair.mean_p - pair.mean_q) == pytest.approx(shift, rel=1e-12)
    for cov, factor in [(pair.cov_p, 1.0), (pair.cov_q, scale_q**2)]:
        eigvals = np.linalg.eigvalsh(cov)
        assert np.array_equal(cov, cov.T)  # symmetrised exactly
        # eigenvalues lie in the (scaled) range, up to rounding
        assert eigvals.min() >= factor * eig_range[0] - 1e-10
        assert eigvals.max() <= factor * eig_range[1] + 1e-10


def test_gaussian_pair_samples_follow_parameters():
    n = 40_000
    X_p, X_q, pair = make_gaussian_pair(n, d=3, shift=2.0, random_state=0)
    for X, mean, cov in [(X_p, pair.mean_p, pair.cov_p), (X_q, pair.mean_q, pair.cov_q)]:
        # eigenvalues <= 2: mean standard error <= sqrt(2 / n), covariance entry <= 2 sqrt(2 / n)
        assert np.allclose(X.mean(axis=0), mean, atol=5 * np.sqrt(2 / n))
        assert np.allclose(np.cov(X, rowvar=False), cov, atol=10 * np.sqrt(2 / n))


def test_log_ratio_mean_is_kl():
    n = 200_000
    X_p, _, pair = make_gaussian_pair(n, d=3, shift=1.0, scale_q=1.2, random_state=0)
    log_ratio = pair.log_ratio(X_p)
    # E_P[log p - log q] = KL(P || Q); allow 5 Monte-Carlo standard errors of the mean
    standard_error = log_ratio.std() / np.sqrt(n)
    assert abs(log_ratio.mean() - pair.kl_pq()) < 5 * standard_error
    assert pair.kl_pq() > 0


def test_log_ratio_against_explicit_formula():
    X_p, X_q, pair = make_gaussian_pair(50, d=4, shift=1.0, random_state=2)
    X = np.vstack([X_p, X_q])

    def log_density(mean, cov):
        diff = X - mean
        quad = np.einsum("ij,ij->i", diff @ np.linalg.inv(cov), diff)
        return -0.5 * (quad + np.linalg.slogdet(cov)[1] + X.shape[1] * np.log(2 * np.pi))

    expected = log_density(pair.mean_p, pair.cov_p) - log_density(pair.mean_q, pair.cov_q)
    # two exact formulas for a well-conditioned problem: agreement to rounding error
    assert np.allclose(pair.log_ratio(X), expected, rtol=1e-9, atol=1e-9)
    assert np.allclose(pair.log_p(X) - pair.log_q(X), pair.log_ratio(X), rtol=0, atol=1e-12)
    # a single row still gives shape (1,)
    assert pair.log_ratio(X[:1]).shape == (1,)


def test_kl_of_identical_gaussians_is_zero():
    pair = GaussianPair(np.ones(3), 2 * np.eye(3), np.ones(3), 2 * np.eye(3))
    assert pair.kl_pq() == pytest.approx(0.0, abs=1e-12)  # exact up to rounding
    assert np.allclose(pair.log_ratio(np.zeros((4, 3))), 0.0, atol=1e-12)


def test_gaussian_pair_is_frozen_and_read_only():
    mean = np.zeros(2)
    pair = GaussianPair(mean, np.eye(2), np.ones(2), np.eye(2))
    mean[0] = 5.0  # the pair holds a private copy
    assert pair.mean_p[0] == 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        pair.mean_p = np.ones(2)
    with pytest.raises(ValueError):
        pair.cov_p[0, 0] = 3.0  # read-only array


def test_gaussian_pair_sampling_methods():
    _, _, pair = make_gaussian_pair(5, d=2, random_state=0)
    assert pair.sample_p(7, random_state=1).shape == (7, 2)
    # reproducible for an int seed: exact
    assert np.array_equal(pair.sample_q(7, random_state=1), pair.sample_q(7, random_state=1))
    with pytest.raises(ValueError, match="'n' parameter"):
        pair.sample_p(0)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"mean_p": np.zeros((2, 1))}, "mean_p"),
        ({"cov_p": np.eye(3)}, "cov_p"),
        ({"mean_q": np.zeros(3)}, "mean_q"),
        ({"cov_q": np.array([[1.0, 0.5], [0.0, 1.0]])}, "cov_q"),  # not symmetric
        ({"cov_q": np.array([[1.0, 2.0], [2.0, 1.0]])}, "cov_q"),  # not positive definite
        ({"cov_p": np.array([[np.nan, 0.0], [0.0, 1.0]])}, "cov_p"),
    ],
)
def test_gaussian_pair_validation(kwargs, name):
    params = {"mean_p": np.zeros(2), "cov_p": np.eye(2), "mean_q": np.ones(2), "cov_q": np.eye(2)}
    params.update(kwargs)
    with pytest.raises(ValueError, match=name):
        GaussianPair(**params)


def test_log_ratio_rejects_wrong_columns():
    _, _, pair = make_gaussian_pair(5, d=3, random_state=0)
    with pytest.raises(ValueError, match="X must"):
        pair.log_ratio(np.zeros((4, 2)))


# ---------------------------------------------------------------------------
# make_gaussian_ot / GaussianOT
# ---------------------------------------------------------------------------


def test_ot_map_pushes_p_onto_q():
    n, d = 50_000, 4
    X_p, _, problem = make_gaussian_ot(n, d=d, shift=2.0, random_state=0)
    pushed = problem.ot_map(X_p)
    lam_max = np.linalg.eigvalsh(problem.cov_q).max()
    # mean: each coordinate has standard error <= sqrt(lam_max / n); allow 5
    assert np.allclose(pushed.mean(axis=0), problem.mean_q, atol=5 * np.sqrt(lam_max / n))
    # covariance entry (i, j) has standard error sqrt((S_ii S_jj + S_ij^2) / n)
    # <= sqrt(2) lam_max / sqrt(n); allow 5
    tol = 5 * np.sqrt(2) * lam_max / np.sqrt(n)
    assert np.allclose(np.cov(pushed, rowvar=False), problem.cov_q, atol=tol)


def test_ot_matrix_is_symmetric_positive_definite():
    _, _, problem = make_gaussian_ot(5, d=6, random_state=1)
    A = problem.ot_matrix
    # symmetrised explicitly, so exactly symmetric
    assert np.array_equal(A, A.T)
    assert np.linalg.eigvalsh(A).min() > 0
    # the defining property A S_p A = S_q, to rounding error of well-conditioned matrices
    assert np.allclose(A @ problem.cov_p @ A, problem.cov_q, rtol=1e-9, atol=1e-10)
    # ot_map is the affine map with Jacobian A (finite differences are exact for affine maps)
    base = problem.mean_p[None, :]
    jacobian = (problem.ot_map(base + np.eye(6)) - problem.ot_map(base)).T
    assert np.allclose(jacobian, A, atol=1e-10)
    assert np.allclose(problem.ot_map(base)[0], problem.mean_q, atol=1e-12)


def test_ot_map_is_monotone():
    # the gradient of a convex function is monotone: <T(x) - T(y), x - y> >= 0
    rng = np.random.default_rng(0)
    _, _, problem = make_gaussian_ot(5, d=5, random_state=2)
    X, Y = rng.normal(size=(500, 5)), rng.normal(size=(500, 5))
    inner = np.sum((problem.ot_map(X) - problem.ot_map(Y)) * (X - Y), axis=1)
    assert inner.min() > 0  # strictly, since A is positive definite


def test_w2_is_expected_transport_cost():
    n = 100_000
    X_p, _, problem = make_gaussian_ot(n, d=3, shift=1.5, random_state=0)
    cost = np.sum((problem.ot_map(X_p) - X_p) ** 2, axis=1)
    # E_P ||T(x) - x||^2 = W_2^2 exactly for Gaussians; allow 5 standard errors of the mean
    assert abs(cost.mean() - problem.w2_squared()) < 5 * cost.std() / np.sqrt(n)


def test_w2_against_sqrtm():
    _, _, problem = make_gaussian_ot(5, d=5, random_state=3)
    root_p = linalg.sqrtm(problem.cov_p).real
    cross = linalg.sqrtm(root_p @ problem.cov_q @ root_p).real
    delta = problem.mean_p - problem.mean_q
    expected = delta @ delta + np.trace(problem.cov_p + problem.cov_q - 2 * cross)
    # two routes to the same closed form: agreement to rounding error
    assert problem.w2_squared() == pytest.approx(expected, rel=1e-8)


def test_gaussian_ot_one_dimensional_closed_form():
    # in one dimension T(x) = m_q + (s_q / s_p)(x - m_p) and W_2^2 = (m_p - m_q)^2 + (s_p - s_q)^2
    problem = GaussianOT(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[0.25]]))
    assert problem.ot_matrix[0, 0] == pytest.approx(0.5 / 2.0, rel=1e-12)
    assert problem.w2_squared() == pytest.approx(9.0 + 1.5**2, rel=1e-12)
    assert problem.ot_map(np.array([[3.0]]))[0, 0] == pytest.approx(-1.5, rel=1e-12)


def test_identical_gaussians_have_identity_map():
    cov = np.array([[2.0, 0.3], [0.3, 0.5]])
    problem = GaussianOT(np.ones(2), cov, np.ones(2), cov)
    assert problem.w2_squared() == pytest.approx(0.0, abs=1e-12)  # exact up to rounding
    assert np.allclose(problem.ot_matrix, np.eye(2), atol=1e-12)


def test_l2_uvp():
    n = 50_000
    X_p, _, problem = make_gaussian_ot(n, d=4, random_state=0)
    # the optimal map itself: the residual is exactly zero
    assert problem.l2_uvp(problem.ot_map(X_p), X_p) == 0.0
    # the constant map x -> m_q explains none of the variance: 100 up to Monte-Carlo
    # error, whose standard error here is well below 1 percentage point
    constant = np.broadcast_to(problem.mean_q, X_p.shape)
    assert problem.l2_uvp(constant, X_p) == pytest.approx(100.0, abs=3.0)
    with pytest.raises(ValueError, match="T_X"):
        problem.l2_uvp(X_p[:10], X_p)
    with pytest.raises(ValueError, match="T_X"):
        problem.l2_uvp(X_p[:, :2], X_p)


def test_gaussian_ot_eigenvalue_range():
    eig_range = (0.25, 2.0)
    _, _, problem = make_gaussian_ot(5, d=8, eig_range=eig_range, random_state=4)
    for cov in (problem.cov_p, problem.cov_q):
        eigvals = np.linalg.eigvalsh(cov)
        # inside the documented range up to rounding
        assert eigvals.min() >= eig_range[0] - 1e-10
        assert eigvals.max() <= eig_range[1] + 1e-10
    assert np.linalg.norm(problem.mean_p - problem.mean_q) == pytest.approx(1.0, rel=1e-12)


# ---------------------------------------------------------------------------
# make_moons_checkerboard
# ---------------------------------------------------------------------------


def test_checkerboard_only_on_black_squares():
    n = 8_000
    _, X_q = make_moons_checkerboard(n, random_state=0)
    assert np.all((X_q >= -2) & (X_q < 2))
    cells = np.floor(X_q).astype(int)
    # black squares have i + j even; exact, no tolerance needed
    assert np.all((cells.sum(axis=1) % 2) == 0)
    # each of the 8 black squares gets 1/8 of the mass: count n / 8 = 1000 with
    # binomial standard deviation sqrt(n (1/8)(7/8)) ~ 30; allow 5
    _, counts = np.unique(cells, axis=0, return_counts=True)
    assert counts.size == 8
    assert np.all(np.abs(counts - n / 8) < 5 * np.sqrt(n * (1 / 8) * (7 / 8)))


def test_moons_have_two_clusters():
    X_p, _ = make_moons_checkerboard(2_000, noise=0.05, random_state=0)
    # the noiseless moons are 0.5 * 1.5 = 0.75 apart and each is a connected curve;
    # a 0.25-radius graph links neighbours along a moon (spacing ~ 0.005) while
    # bridging the gap would need two 5-sigma noise draws
    graph = radius_neighbors_graph(X_p, radius=0.25)
    n_components, labels = connected_components(graph, directed=False)
    assert n_components == 2
    assert sorted(np.bincount(labels)) == [1_000, 1_000]
    # roughly inside [-2.5, 2.5]^2 (noise of 0.05 can add at most ~0.25 at 5 sigma)
    assert np.all(np.abs(X_p) < 2.5)


def test_moons_without_noise_lie_on_the_arcs():
    X_p, _ = make_moons_checkerboard(101, noise=0.0, random_state=0)
    moons = X_p / 1.5 + np.array([0.5, 0.25])  # undo the documented affine map
    upper = moons[:, 1] >= 0.0  # the outer moon has y >= 0, the inner y <= 0
    on_outer = np.abs(np.linalg.norm(moons, axis=1) - 1.0) < 1e-12
    on_inner = np.abs(np.linalg.norm(moons - np.array([1.0, 0.5]), axis=1) - 1.0) < 1e-12
    # every point lies on one of the two unit half circles, up to rounding
    assert np.all(on_outer | on_inner)
    assert np.all(on_outer[upper & ~on_inner])
    # 101 // 2 = 50 points on the outer moon, 51 on the inner one
    assert on_outer.sum() >= 50 and on_inner.sum() >= 51


# ---------------------------------------------------------------------------
# Argument validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "func, kwargs, name",
    [
        (make_gaussian_mi, {"n_samples": 0, "d": 4, "mi": 1.0}, "n_samples"),
        (make_gaussian_mi, {"n_samples": 2.5, "d": 4, "mi": 1.0}, "n_samples"),
        (make_gaussian_mi, {"n_samples": 10, "d": 3, "mi": 1.0}, "d must be a positive even"),
        (make_gaussian_mi, {"n_samples": 10, "d": 0, "mi": 1.0}, "'d' parameter"),
        (make_gaussian_mi, {"n_samples": 10, "d": 4}, "exactly one of mi and rho"),
        (make_gaussian_mi, {"n_samples": 10, "d": 4, "mi": 1.0, "rho": 0.5}, "exactly one"),
        (make_gaussian_mi, {"n_samples": 10, "d": 4, "mi": -1.0}, "mi"),
        (make_gaussian_mi, {"n_samples": 10, "d": 4, "mi": np.inf}, "mi"),
        (make_gaussian_mi, {"n_samples": 10, "d": 2, "mi": 100.0}, "mi"),  # rho rounds to 1
        (make_gaussian_mi, {"n_samples": 10, "d": 4, "rho": 1.0}, "rho"),
        (make_gaussian_mi, {"n_samples": 10, "d": 4, "rho": "0.5"}, "rho"),
        (gaussian_mi_rho, {"d": 5, "mi": 1.0}, "d must be"),
        (gaussian_mi_rho, {"d": 4, "mi": -0.1}, "mi"),
        (make_gaussian_pair, {"n_p": 0}, "n_p"),
        (make_gaussian_pair, {"n_p": 10, "n_q": -1}, "n_q"),
        (make_gaussian_pair, {"n_p": 10, "d": 0}, "'d' parameter"),
        (make_gaussian_pair, {"n_p": 10, "shift": -1.0}, "shift"),
        (make_gaussian_pair, {"n_p": 10, "scale_q": 0.0}, "scale_q"),
        (make_gaussian_pair, {"n_p": 10, "eig_range": (2.0, 1.0)}, "eig_range"),
        (make_gaussian_pair, {"n_p": 10, "eig_range": (0.0, 1.0)}, "eig_range"),
        (make_gaussian_pair, {"n_p": 10, "eig_range": 1.0}, "eig_range"),
        (make_gaussian_ot, {"n_samples": "10"}, "n_samples"),
        (make_gaussian_ot, {"n_samples": 10, "d": 1.5}, "'d' parameter"),
        (make_gaussian_ot, {"n_samples": 10, "shift": np.nan}, "shift"),
        (make_gaussian_ot, {"n_samples": 10, "eig_range": (1.0, 2.0, 3.0)}, "eig_range"),
        (make_moons_checkerboard, {"n_samples": 0}, "n_samples"),
        (make_moons_checkerboard, {"n_samples": 10, "noise": -0.1}, "noise"),
    ],
)
def test_bad_arguments_raise(func, kwargs, name):
    with pytest.raises(ValueError, match=name):
        func(**kwargs)


# ---------------------------------------------------------------------------
# The log-sum-exp Brenier problem
# ---------------------------------------------------------------------------


def test_logsumexp_map_is_the_gradient_of_its_potential():
    _, _, problem = make_logsumexp_ot(10, d=5, random_state=0)
    X = problem.sample_p(20, random_state=1)
    step = 1e-5
    numeric = np.stack([
        (problem.potential(X + step * e) - problem.potential(X - step * e)) / (2 * step)
        for e in np.eye(5)
    ], axis=1)
    # Central differences of a smooth potential: error O(step^2) times the third
    # derivatives, far below 1e-5 relative; a wrong sign or factor in the softmax
    # blend of A_k x + b_k is off by order one.
    np.testing.assert_allclose(problem.ot_map(X), numeric, rtol=1e-5, atol=1e-5)


def test_logsumexp_map_is_strongly_monotone():
    # psi is convex with Hessian >= min eigenvalue of the A_k (0.5 by default), so
    # <T(x) - T(y), x - y> >= 0.5 ||x - y||^2: what makes grad psi the optimal map.
    _, _, problem = make_logsumexp_ot(10, d=8, random_state=2)
    X, Y = problem.sample_p(500, random_state=3), problem.sample_p(500, random_state=4)
    inner = np.sum((problem.ot_map(X) - problem.ot_map(Y)) * (X - Y), axis=1)
    assert np.all(inner >= 0.5 * np.sum((X - Y) ** 2, axis=1) - 1e-9)


def test_logsumexp_map_is_far_from_affine_in_high_dimension():
    # The problem exists to be hard: the affine OT map between moment-matched
    # Gaussians must leave at least a quarter of Q's variance unexplained at d = 16
    # (measured 36%; 8% at d = 4, where nothing is required of it).
    X_p, X_q, problem = make_logsumexp_ot(8000, d=16, random_state=0)
    affine = GaussianOT(X_p.mean(0), np.cov(X_p.T), X_q.mean(0), np.cov(X_q.T))
    test = problem.sample_p(2000, random_state=1)
    assert problem.l2_uvp(affine.ot_map(test), test) > 25.0
    assert problem.l2_uvp(problem.ot_map(test), test) == 0.0


def test_logsumexp_single_piece_is_affine():
    A = np.array([[[2.0, 0.5], [0.5, 1.0]]])
    problem = LogSumExpOT(np.zeros((1, 2)), A, np.array([[1.0, -1.0]]), tau=0.3)
    X = np.random.default_rng(0).normal(size=(10, 2))
    np.testing.assert_allclose(problem.ot_map(X), X @ A[0] + [1.0, -1.0])
    # With P = N(0, I): E ||(A - I) x + b||^2 = ||A - I||_F^2 + ||b||^2. The Monte-Carlo
    # mean over 50,000 draws has a relative standard error of about 0.5% here.
    exact = np.sum((A[0] - np.eye(2)) ** 2) + 2.0
    assert problem.w2_squared() == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("kwargs, name", [
    (dict(d=0), "d"), (dict(n_pieces=0), "n_pieces"), (dict(shift=-1.0), "shift"),
    (dict(temperature=0.0), "temperature"), (dict(eig_range=(0.0, 1.0)), "eig_range"),
])
def test_logsumexp_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_logsumexp_ot(10, **kwargs)


def test_logsumexp_problem_validation():
    with pytest.raises(ValueError, match="positive definite"):
        LogSumExpOT(np.zeros((1, 2)), -np.eye(2)[None], np.zeros((1, 2)), 1.0)
    with pytest.raises(ValueError, match="shape"):
        LogSumExpOT(np.zeros((1, 2)), np.eye(3)[None], np.zeros((1, 3)), 1.0)


# ---------------------------------------------------------------------------
# Student-t mutual information
# ---------------------------------------------------------------------------


def test_student_t_mi_matches_monte_carlo():
    """The closed form against the mean of the exact pointwise MI over 200,000 draws.

    The Monte Carlo mean has a standard error of about 0.002 nats here, so 0.01 is
    five of them; a wrong excess term (0.19 nats at df = 2) or a wrong Gaussian part
    misses by far more.
    """
    from scipy.stats import multivariate_t

    d, df, rho = 4, 2.0, 0.6
    X, Y, true_mi = make_student_t_mi(200_000, d, df, rho, random_state=1)
    half = d // 2
    scale = np.eye(d)
    scale[np.arange(half), half + np.arange(half)] = rho
    scale[half + np.arange(half), np.arange(half)] = rho
    pointwise = (
        multivariate_t(np.zeros(d), scale, df=df).logpdf(np.hstack([X, Y]))
        - multivariate_t(np.zeros(half), np.eye(half), df=df).logpdf(X)
        - multivariate_t(np.zeros(half), np.eye(half), df=df).logpdf(Y)
    )
    assert abs(pointwise.mean() - true_mi) < 0.01


def test_student_t_mi_excess_limits():
    # The heavy-tailed case of the tests and benchmarks (d = 4, df = 1: 0.43 nats), and
    # the Gaussian limit.
    assert student_t_mi_excess(4, df=1.0) == pytest.approx(0.4319, abs=1e-4)
    assert student_t_mi_excess(4, df=1e6) == pytest.approx(0.0, abs=1e-6)
    assert student_t_mi_excess(10, df=5.0) > student_t_mi_excess(10, df=50.0) > 0


@pytest.mark.parametrize("kwargs", [dict(df=0.0), dict(df=-1.0), dict(rho=1.0), dict(d=3)])
def test_student_t_mi_bad_arguments(kwargs):
    params = dict(n_samples=10, d=4, df=1.0) | kwargs
    with pytest.raises(ValueError):
        make_student_t_mi(**params)
