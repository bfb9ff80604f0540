"""Cross-fitted KL and MI: the folds, the product sample of a fold, the standard error."""

import numpy as np
import pytest
from sklearn.model_selection import KFold, ShuffleSplit

from flowdre_sklearn import (
    DivergenceEstimate,
    TelescopicDensityRatio,
    kl_divergence,
    mutual_information,
)
from flowdre_sklearn._compat import InvalidParameterError
from flowdre_sklearn._core.budget import MI_END_TO_END_WEIGHT
from flowdre_sklearn.datasets import make_gaussian_mi
from flowdre_sklearn.divergence import folds, summarise
from flowdre_sklearn.mutual_info import derangement

TINY = dict(bridge="linear", n_intervals=2, steps=20, hidden_layer_sizes=(8,), random_state=0)


@pytest.fixture
def record(monkeypatch):
    """What every fitted estimator was fitted on and evaluated at, by ``id``."""
    seen = {}
    fit, log_ratio = TelescopicDensityRatio._fit, TelescopicDensityRatio.log_ratio

    def recording_fit(self, X, y=None, product_split=None):
        seen[id(self)] = {"p": np.asarray(X), "q": np.asarray(y), "evaluated": []}
        return fit(self, X, y, product_split)

    def recording_log_ratio(self, X):
        seen[id(self)]["evaluated"].append(np.asarray(X))
        return log_ratio(self, X)

    monkeypatch.setattr(TelescopicDensityRatio, "_fit", recording_fit)
    monkeypatch.setattr(TelescopicDensityRatio, "log_ratio", recording_log_ratio)
    return seen


def test_folds_hold_out_every_row_once():
    assert [(list(a), list(b)) for a, b in folds(None, 3)] == [([0, 1, 2], [0, 1, 2])]
    splits = folds(KFold(4, shuffle=True, random_state=0), 10)
    held = np.concatenate([test for _, test in splits])
    np.testing.assert_array_equal(np.sort(held), np.arange(10))
    for train, test in splits:
        assert not set(train) & set(test)
    with pytest.raises(ValueError, match="exactly once"):
        folds(ShuffleSplit(3, random_state=0), 10)


def test_kl_rows_are_evaluated_only_by_models_that_did_not_see_them(record):
    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(size=(30, 2)) + 1, rng.normal(size=(45, 2))
    result = kl_divergence(X_p, X_q, cv=KFold(3, shuffle=True, random_state=0), **TINY)
    # Rows are named by their values (distinct with probability one).
    p_index = {row.tobytes(): i for i, row in enumerate(X_p)}
    q_index = {row.tobytes(): i for i, row in enumerate(X_q)}
    evaluated = []
    for estimator in result.estimators:
        seen = record[id(estimator)]
        fitted = {p_index[row.tobytes()] for row in seen["p"]}
        rows = [p_index[row.tobytes()] for part in seen["evaluated"] for row in part]
        assert not fitted & set(rows) and len(fitted) + len(rows) == len(X_p)
        # One Q fold is left out of each fit, a different one each time.
        assert len({q_index[row.tobytes()] for row in seen["q"]}) == 30
        evaluated += rows
    assert sorted(evaluated) == list(range(len(X_p)))


@pytest.mark.parametrize("fresh_product", [True, False])
def test_mi_fold_product_pairs_training_rows_only(record, fresh_product):
    # Row i carries the code i in X and 1000 + i in Y, so every row of a fitted sample
    # names the rows it was made of.
    n = 30
    X, Y = np.arange(n, dtype=float)[:, None], 1000.0 + np.arange(n)[:, None]
    _, estimators = mutual_information(X, Y, cv=3, fresh_product=fresh_product,
                                       return_estimator=True, **TINY)
    evaluated = []
    for estimator in estimators:
        seen = record[id(estimator)]
        train = set(seen["p"][:, 0].astype(int))
        np.testing.assert_array_equal(seen["p"][:, 1] - 1000, seen["p"][:, 0])
        x, y = seen["q"][:, 0].astype(int), seen["q"][:, 1].astype(int) - 1000
        assert set(x) == train and set(y) == train and (x != y).all()
        rows = np.concatenate(seen["evaluated"])[:, 0].astype(int)
        assert not train & set(rows)
        evaluated += list(rows)
    assert sorted(evaluated) == list(range(n))


def test_result_fields_are_consistent():
    X, Y, _ = make_gaussian_mi(120, d=2, mi=0.5, random_state=0)
    result, estimators = mutual_information(X, Y, cv=4, return_result=True,
                                            return_estimator=True, **TINY)
    assert isinstance(result, DivergenceEstimate) and estimators == result.estimators
    assert len(estimators) == 4 and result.pointwise.shape == (120,)
    assert result.estimate == pytest.approx(result.pointwise.mean())
    assert float(result) == result.estimate
    # Equal folds of KFold: the estimate is also the mean of the fold estimates.
    assert result.estimate == pytest.approx(result.fold_estimates.mean())
    low, high = result.interval
    assert result.stderr > 0 and low < result.estimate < high
    assert high - low == pytest.approx(2 * 1.959964 * result.stderr)
    assert result.confidence_level == 0.95


def test_stderr_is_the_random_effects_one():
    rng = np.random.default_rng(0)
    tests = np.array_split(np.arange(4000), 4)
    noise = rng.normal(size=4000)
    # Fold means that agree: the row noise alone, the pooled within-fold sd over sqrt(n).
    centred = noise - np.repeat([noise[test].mean() for test in tests], 1000)
    quiet = summarise(centred, tests, [], 0.9)
    assert quiet.stderr == pytest.approx(np.sqrt(centred @ centred / (4000 - 4) / 4000))
    # Fold offsets far above the row noise: the spread of the fold means over sqrt(K).
    offset = np.repeat([0.0, 1.0, 2.0, 3.0], 1000) + 0.01 * noise
    loud = summarise(offset, tests, [], 0.9)
    assert loud.stderr == pytest.approx(np.std(loud.fold_estimates, ddof=1) / 2)
    assert loud.interval[1] - loud.interval[0] == pytest.approx(2 * 1.644854 * loud.stderr)


def test_kl_between_gaussians_is_close_to_the_truth():
    # KL(N(m, I) || N(0, I)) = |m|^2 / 2 = 1 nat. The log-ratio m.x - 1 has variance
    # |m|^2 = 2 under P, so the mean over 400 rows has a sampling error of 0.07 nats;
    # measured over seeds 0-4 (100 and 300 steps), the fitted ratios add at most 0.16 to
    # the error of that exact mean. 0.3 leaves room for both and fails a ratio that
    # learned half the divergence or an in-sample overshoot of the same size.
    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(size=(400, 2)) + 1.0, rng.normal(size=(400, 2))
    result = kl_divergence(X_p, X_q, cv=5, bridge="linear", steps=200,
                           hidden_layer_sizes=(16, 16), random_state=0)
    assert abs(result.estimate - 1.0) < 0.3, result
    assert len(result.estimators) == 5


def test_default_mutual_information_is_the_in_sample_float():
    X, Y, _ = make_gaussian_mi(80, d=2, mi=0.5, random_state=0)
    mi = mutual_information(X, Y, n_shuffles=2, **TINY)
    # The recipe of the releases before cross-fitting, by hand (with the end-to-end
    # loss that mutual_information adds in a few dimensions).
    rng = np.random.default_rng(0)
    product = np.vstack([np.hstack([X, Y[derangement(80, rng)]]) for _ in range(2)])
    estimator = TelescopicDensityRatio(standardize="quantile",
                                       end_to_end_weight=MI_END_TO_END_WEIGHT, **TINY)
    assert type(mi) is float
    assert mi == estimator._fit_product(np.hstack([X, Y]), product, 1).kl_train_
    mi_too, model = mutual_information(X, Y, n_shuffles=2, return_estimator=True, **TINY)
    assert mi_too == mi and isinstance(model, TelescopicDensityRatio)
    in_sample = mutual_information(X, Y, n_shuffles=2, cv=None, return_result=True, **TINY)
    assert in_sample.estimate == pytest.approx(mi, abs=1e-5)
    assert len(in_sample.estimators) == 1


def test_an_interval_is_cross_fitted_by_default():
    # cv="auto": asking for an interval gets 5 folds (the in-sample interval is too
    # narrow), and matches cv=5 given explicitly, seed for seed.
    X, Y, _ = make_gaussian_mi(60, d=2, mi=0.5, random_state=0)
    result = mutual_information(X, Y, n_shuffles=1, return_result=True, **TINY)
    explicit = mutual_information(X, Y, n_shuffles=1, cv=5, return_result=True, **TINY)
    assert len(result.estimators) == 5 and result.fold_estimates.shape == (5,)
    assert result.estimate == explicit.estimate and result.stderr == explicit.stderr


@pytest.mark.parametrize("cv", [1, "5", 2.5, [(np.arange(5), np.arange(5, 10))]])
def test_bad_cv_is_refused(cv):
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(InvalidParameterError, match="'cv' parameter"):
        kl_divergence(X, X + 1, cv=cv)
    with pytest.raises(InvalidParameterError, match="'cv' parameter"):
        mutual_information(X[:, :1], X[:, 1:], cv=cv)


def test_cv_that_cannot_cross_fit_is_refused():
    X = np.random.default_rng(0).normal(size=(10, 2))
    with pytest.raises(ValueError, match="exactly once"):
        kl_divergence(X, X + 1, cv=ShuffleSplit(2, random_state=0))
    with pytest.raises(ValueError, match="number of splits"):
        mutual_information(X[:, :1], X[:, 1:], cv=11)
    with pytest.raises(ValueError, match="at least 2 paired rows to fit on, got 1 in a"):
        mutual_information(X[:2, :1], X[:2, 1:], cv=2)
    with pytest.raises(InvalidParameterError, match="confidence_level"):
        kl_divergence(X, X + 1, confidence_level=1.0)
