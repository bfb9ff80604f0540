"""The held-out log-ratio two-sample test: input errors, the split, power and size."""

import itertools

import numpy as np
import pytest
from scipy.stats import binom

from flowdre_sklearn import TelescopicDensityRatio, TwoSampleResult, two_sample_test
from flowdre_sklearn._compat import InvalidParameterError
from flowdre_sklearn.two_sample import mean_difference, permutation_pvalue

#: The smallest fit that still learns a mean shift: one classifier, one hidden layer,
#: no validation split (the held-out part of the test is the honest check).
TINY = dict(bridge="linear", n_intervals=1, hidden_layer_sizes=(8,), steps=30,
            validation_fraction=0)
LEVEL = 0.05


def normal(n, d=2, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(X_q=normal(50, d=3)), ValueError, "same columns"),
        (dict(test_size=1.5), InvalidParameterError, "test_size"),
        (dict(test_size=0.0), InvalidParameterError, "test_size"),
        (dict(n_permutations=0), InvalidParameterError, "n_permutations"),
        (dict(test_size=0.001), ValueError, "at least 1 held-out"),
        (dict(X_p=normal(2)), ValueError, "at least 1 held-out and 2 training"),
        (dict(X_p=np.full((50, 2), np.nan)), ValueError, "NaN"),
    ],
)
def test_bad_input_raises_clearly(kwargs, error, match):
    args = dict(X_p=normal(50), X_q=normal(50, seed=1), **TINY) | kwargs
    with pytest.raises(error, match=match):
        two_sample_test(**args)


def test_model_never_sees_the_held_out_rows(monkeypatch):
    seen = {}
    fit = TelescopicDensityRatio.fit

    def recording_fit(self, X, y=None):
        seen["p"], seen["q"] = np.asarray(X), np.asarray(y)
        return fit(self, X, y)

    monkeypatch.setattr(TelescopicDensityRatio, "fit", recording_fit)
    # Distinct row values, so that a row is recognised by its first column.
    X_p, X_q = normal(40, seed=0), normal(30, seed=1)
    result = two_sample_test(X_p, X_q, test_size=0.25, random_state=0, **TINY)
    assert isinstance(result, TwoSampleResult) and result.estimator is not None
    assert len(seen["p"]) == 30 and len(seen["q"]) == 22  # round(0.25 n) held out
    assert set(seen["p"][:, 0]) < set(X_p[:, 0]) and set(seen["q"][:, 0]) < set(X_q[:, 0])
    # The statistic is read at the rows the model did not see, and only at them.
    held_p = np.array([x for x in X_p if x[0] not in set(seen["p"][:, 0])])
    held_q = np.array([x for x in X_q if x[0] not in set(seen["q"][:, 0])])
    expected = (result.estimator.log_ratio(held_p).mean()
                - result.estimator.log_ratio(held_q).mean())
    assert result.statistic == pytest.approx(expected, rel=1e-6)


def test_same_seed_same_result():
    a = two_sample_test(normal(40), normal(40, seed=1), random_state=3, **TINY)
    b = two_sample_test(normal(40), normal(40, seed=1), random_state=3, **TINY)
    assert (a.statistic, a.pvalue) == (b.statistic, b.pvalue)


def test_permutation_pvalue_matches_full_enumeration():
    # 4 + 4 rows have 70 labellings; with many random ones the Monte Carlo p-value
    # (observed counted once more) is within a few standard errors of the exact one.
    values = np.array([2.0, 1.5, 0.3, 1.1, -0.2, 0.4, -1.0, 0.9])
    is_p = np.arange(8) < 4
    exact = np.mean([mean_difference(values, np.isin(np.arange(8), list(rows)).astype(float))
                     >= mean_difference(values, is_p.astype(float)) - 1e-12
                     for rows in itertools.combinations(range(8), 4)])
    n = 20000
    _, pvalue = permutation_pvalue(values, is_p, n, np.random.default_rng(0))
    assert abs(pvalue - exact) < 4 * np.sqrt(exact * (1 - exact) / n)


def test_permutation_pvalue_is_uniform_for_exchangeable_values():
    # No fitting: the permutation step alone, on 2000 exchangeable draws, which is
    # where an off-by-one in the count or the tie rule would show. The rate must lie
    # in the two-sided 99.9% binomial interval of LEVEL (a failure by chance: 1e-3).
    rng = np.random.default_rng(0)
    reps = 2000
    rejected = sum(
        permutation_pvalue(rng.normal(size=30), np.arange(30) < 12, 199, rng)[1] <= LEVEL
        for _ in range(reps))
    low, high = binom.interval(0.999, reps, LEVEL)
    assert low <= rejected <= high


@pytest.mark.parametrize("given, fitted", [
    ({}, ("linear", 1)),
    ({"bridge": "linear"}, ("linear", 8)),
    ({"n_intervals": 2}, ("flow", 2)),
])
def test_the_model_is_one_classifier_unless_a_bridge_is_given(monkeypatch, given, fitted):
    seen = []

    def recording_fit(self, X, y=None):
        seen.append((self.bridge, self.n_intervals))
        # Stop before training: only the choice of the bridge is under test.
        raise RuntimeError("stop")

    monkeypatch.setattr(TelescopicDensityRatio, "fit", recording_fit)
    with pytest.raises(RuntimeError, match="stop"):
        two_sample_test(normal(40), normal(40, seed=1), random_state=0, **given)
    assert seen == [fitted]


def test_mean_shift_is_detected():
    # A shift of 1 in each of 2 coordinates (Jeffreys divergence 2) on 100 held-out
    # rows a side: the statistic is many standard errors from 0, far past p < 0.01.
    X_p, X_q = normal(200, shift=1.0, seed=0), normal(200, seed=1)
    result = two_sample_test(X_p, X_q, random_state=0, **TINY)
    assert result.statistic > 0
    assert result.pvalue < 0.01
    assert result.n_permutations == 1000


def test_size_under_the_null():
    # P = Q, 400 seeded repetitions of 60 rows a side (30 train, 30 held out each);
    # the issue asks for at least 200, and 400 still take about 12 s. Whatever the
    # model, the permutation p-value with 199 permutations rejects at LEVEL with
    # probability exactly 10 / 200 = LEVEL, so the number of rejections is
    # Binomial(400, LEVEL); it must lie in the two-sided 99.9% interval (7..36): a
    # valid test fails by chance about once in a thousand seeds, while a test of
    # size 0.10 fails with probability 0.7 and one of size 0.15 almost surely.
    reps = 400
    rejected = sum(
        two_sample_test(normal(60, seed=2 * rep), normal(60, seed=2 * rep + 1),
                        n_permutations=199, random_state=rep, **TINY).pvalue <= LEVEL
        for rep in range(reps))
    low, high = binom.interval(0.999, reps, LEVEL)
    assert low <= rejected <= high, f"{rejected} of {reps} rejected at {LEVEL}"
