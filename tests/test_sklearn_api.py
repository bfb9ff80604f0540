"""scikit-learn citizenship: sklearn's common checks, parameter validation, and the workflows
users run (pipelines, grid search in worker processes, pandas in and out, cross-validation),
including the number of torch threads in those workers."""

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_classifier_not_supporting_multiclass,
    check_classifiers_one_label,
    check_classifiers_regression_target,
    check_dataframe_column_names_consistency,
    check_get_feature_names_out_error,
    check_global_output_transform_pandas,
    check_inplace_ensure_writeable,
    check_param_validation,
    check_requires_y_none,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_supervised_y_no_nan,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)
from sklearn.utils.validation import check_is_fitted

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio
from flowdre_sklearn._compat import InvalidParameterError


def tiny_flow(**params):
    """A flow small enough for sklearn's checks, which fit a few hundred times.

    float64 because check_methods_subset_invariance compares batch and row-by-row
    outputs at rtol 1e-7, and float32 matmuls round differently for batches of
    different sizes (in float32 that check fails; float32 stays the default for
    speed). device="cpu" so that the checks run the same on a machine with CUDA.
    """
    defaults = dict(hidden_layer_sizes=(8,), n_blocks=1, n_steps=1, init_steps=20,
                    batch_size=32, dtype="float64", device="cpu", random_state=0)
    return FlowTransport(**{**defaults, **params})


def tiny_ratio(**params):
    defaults = dict(flow=tiny_flow(), hidden_layer_sizes=(8,), n_intervals=2, steps=20,
                    dtype="float64", device="cpu", random_state=0)
    return TelescopicDensityRatio(**{**defaults, **params})


ESTIMATORS = [tiny_flow(), tiny_ratio()]

rng = np.random.default_rng(0)
X_P = rng.normal(size=(60, 3))
X_Q = rng.normal(size=(60, 3)) * 0.7 + 1.5
X_STACKED = np.vstack([X_P, X_Q])
LABELS = np.r_[np.full(60, "p"), np.full(60, "q")]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_common_checks(estimator, check):
    check(estimator)


def _extra_checks(estimator):
    """Common checks that check_estimator does not yield for these tags but that apply.

    As imbalanced-learn does for its samplers. Not run, because they do not apply:
    the classifier checks that need predict / predict_proba (these estimators label
    rows as P or Q for fit but predict no labels), check_supervised_y_2d (a 2-D y is
    the Q sample, by design), the sample-weight checks (no sample_weight),
    check_non_transformer_estimators_n_iter (it only tests estimators with a
    max_iter parameter) and the polars checks (polars is not a dependency).
    """
    # sklearn runs these for its own estimators in test_common, outside check_estimator.
    yield check_param_validation
    yield check_dataframe_column_names_consistency
    yield check_inplace_ensure_writeable
    # Skipped for target_tags.required=False; y=None is the fit(X) form, which must work.
    yield check_requires_y_none
    # Skipped because these are not classifiers, though y labels P and Q like a binary target.
    yield check_supervised_y_no_nan
    yield check_classifiers_one_label
    yield check_classifiers_regression_target
    yield check_classifier_not_supporting_multiclass
    if hasattr(estimator, "transform"):
        yield check_set_output_transform
        yield check_set_output_transform_pandas
        yield check_global_output_transform_pandas
        yield check_transformer_get_feature_names_out
        yield check_transformer_get_feature_names_out_pandas
        yield check_get_feature_names_out_error


EXTRA_CHECKS = [(est, check) for est in ESTIMATORS for check in _extra_checks(est)]


# The set_output checks fit on arrays and transform DataFrames (and the reverse) on purpose.
@pytest.mark.filterwarnings("ignore:X (does not have valid|has) feature names:UserWarning")
@pytest.mark.parametrize(
    ("estimator", "check"), EXTRA_CHECKS,
    ids=[f"{type(e).__name__}-{c.__name__}" for e, c in EXTRA_CHECKS],
)
def test_sklearn_checks_beyond_check_estimator(estimator, check):
    check(type(estimator).__name__, clone(estimator))


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "params", "name", "owner"),
    [
        (tiny_flow, {"gamma": -1}, "gamma", "FlowTransport"),
        (tiny_flow, {"init_steps": 0}, "init_steps", "FlowTransport"),
        (tiny_flow, {"dtype": "float16"}, "dtype", "FlowTransport"),
        (tiny_ratio, {"flow__gamma": -1}, "gamma", "FlowTransport"),
        (tiny_ratio, {"n_intervals": 0}, "n_intervals", "TelescopicDensityRatio"),
        (tiny_ratio, {"flow": "a flow"}, "flow", "TelescopicDensityRatio"),
    ],
)
def test_invalid_parameter_raises_naming_it(make, params, name, owner):
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of {owner} must"):
        make().set_params(**params).fit(X_P, X_Q)


def test_invalid_layer_sizes_are_named():
    # "array-like" is all _parameter_constraints can say; the content is checked at fit.
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a non-empty sequence"):
        tiny_flow(hidden_layer_sizes=(8, 0)).fit(X_P, X_Q)


def test_get_set_params_and_clone_reach_the_nested_flow():
    ratio = tiny_ratio()
    params = ratio.get_params()
    assert params["flow__gamma"] == ratio.flow.gamma and params["flow"] is ratio.flow
    assert ratio.set_params(flow__gamma=0.3, steps=5) is ratio
    assert ratio.flow.gamma == 0.3 and ratio.steps == 5
    copy = clone(ratio)
    # clone must copy the nested flow, not share it: a grid search over flow__gamma
    # would otherwise set every candidate's gamma on one shared object.
    assert copy.flow is not ratio.flow
    assert copy.get_params()["flow__gamma"] == 0.3
    copy.set_params(flow__gamma=0.7)
    assert ratio.flow.gamma == 0.3
    fitted = tiny_ratio().fit(X_P, X_Q)
    fresh = clone(fitted)
    with pytest.raises(NotFittedError):
        check_is_fitted(fresh)
    assert fresh.get_params(deep=False).keys() == fitted.get_params(deep=False).keys()


# --- workflows --------------------------------------------------------------------------


def test_pipeline_with_scaler_and_stacked_labels():
    pipe = make_pipeline(StandardScaler(), tiny_flow()).fit(X_STACKED, LABELS)
    scaler = StandardScaler().fit(X_STACKED)
    flow = tiny_flow().fit(scaler.transform(X_STACKED), LABELS)
    np.testing.assert_array_equal(pipe[-1].classes_, ["p", "q"])
    np.testing.assert_array_equal(pipe.transform(X_P), flow.transform(scaler.transform(X_P)))
    Y = pipe.transform(X_P)
    np.testing.assert_array_equal(
        pipe.inverse_transform(Y), scaler.inverse_transform(flow.inverse_transform(Y))
    )
    assert pipe.fit_transform(X_STACKED, LABELS).shape == X_STACKED.shape


def mean_match_score(estimator, X, y):
    """Minus the squared distance between the means of T(P) and of Q, on held-out rows.

    FlowTransport has no score method: a flow is good when it carries P onto Q.
    """
    if np.ndim(y) == 2:
        p, q = X, np.asarray(y)
    else:
        is_p = np.asarray(y) == estimator.classes_[0]
        p, q = X[is_p], X[~is_p]
    return -float(np.sum((estimator.transform(p).mean(0) - q.mean(0)) ** 2))


# Refinement steps make gamma matter (it weighs the kinetic energy of refinement).
REFINED = dict(refine_steps=2, classifier_warmup_steps=2, classifier_hidden_layer_sizes=(4,))


@pytest.mark.parametrize("form", ["pair-kfold", "stacked-stratified"])
@pytest.mark.parametrize("which", ["FlowTransport", "TelescopicDensityRatio"])
def test_grid_search_in_worker_processes(which, form):
    if which == "FlowTransport":
        estimator = tiny_flow(**REFINED)
        grid = {"gamma": [0.0, 1.0], "hidden_layer_sizes": [(4,), (8,)]}
        scoring = mean_match_score
    else:
        estimator = tiny_ratio(flow=tiny_flow(**REFINED))
        grid = {"flow__gamma": [0.0, 1.0], "hidden_layer_sizes": [(4,), (8,)]}
        scoring = None
    if form == "pair-kfold":
        # fit(X_p, X_q): KFold splits the rows of both samples alike (equal sizes).
        X, y, cv = X_P, X_Q, KFold(2, shuffle=True, random_state=0)
    else:
        X, y, cv = X_STACKED, LABELS, StratifiedKFold(2, shuffle=True, random_state=0)
    # loky worker processes: every candidate is pickled there and back.
    search = GridSearchCV(estimator, grid, cv=cv, scoring=scoring, n_jobs=2).fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (4,) and np.isfinite(scores).all()
    # Every candidate is a different fit (seeded alike), so the parameters reached the
    # workers: with gamma or the network size lost on the way, scores would repeat.
    assert len(np.unique(scores)) == 4, scores
    assert search.best_estimator_.get_params()[next(iter(grid))] == (
        search.best_params_[next(iter(grid))]
    )
    check_is_fitted(search.best_estimator_)


def test_pandas_output_and_feature_names():
    columns = ["a", "b", "c"]
    df_p = pd.DataFrame(X_P, columns=columns, index=np.arange(100, 160))
    df_q = pd.DataFrame(X_Q, columns=columns)
    flow = tiny_flow().set_output(transform="pandas").fit(df_p, df_q)
    np.testing.assert_array_equal(flow.feature_names_in_, columns)
    np.testing.assert_array_equal(flow.get_feature_names_out(), columns)
    out = flow.transform(df_p)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == columns and out.index.equals(df_p.index)
    # The DataFrame path is the ndarray path, not an approximation of it.
    np.testing.assert_array_equal(out.to_numpy(), tiny_flow().fit(X_P, X_Q).transform(X_P))
    with pytest.raises(ValueError, match="feature names should match"):
        flow.transform(df_p[["b", "a", "c"]])
    # Columns pair by position, so a Q sample whose columns are ordered differently
    # would pair unrelated features: refused.
    with pytest.raises(ValueError, match="columns"):
        tiny_flow().fit(df_p, df_q[["b", "a", "c"]])
    # Stacked form, labels as a Series; the output config survives the refit.
    stacked = pd.concat([df_p, df_q], ignore_index=True)
    flow.fit(stacked, pd.Series(LABELS))
    assert isinstance(flow.transform(stacked), pd.DataFrame)
    ratio = tiny_ratio().fit(df_p, df_q)
    np.testing.assert_array_equal(ratio.feature_names_in_, columns)
    np.testing.assert_array_equal(ratio.log_ratio(df_p), tiny_ratio().fit(X_P, X_Q).log_ratio(X_P))


@pytest.mark.parametrize("form", ["pair-kfold", "stacked-stratified"])
def test_cross_val_score_of_density_ratio(form):
    if form == "pair-kfold":
        X, y, cv = X_P, X_Q, KFold(3, shuffle=True, random_state=0)
    else:
        X, y, cv = X_STACKED, LABELS, StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(tiny_ratio(steps=100), X, y, cv=cv)
    # score is minus the balanced log-loss of the classifier the ratio induces:
    # -log 2 is chance. The means differ by 1.5 per column here, so even a briefly
    # trained ratio beats chance on held-out rows; a sign error would score below it.
    assert scores.shape == (3,)
    assert (scores > -np.log(2)).all() and (scores < 0).all(), scores


def test_default_cv_on_stacked_rows_names_the_splitter():
    # P rows stacked above Q rows: the default splitter of a non-classifier (an unshuffled
    # KFold) makes test folds of one class, which cannot be scored; the failure must say
    # what to pass instead. (The splitter is not made stratified by default: that needs
    # the classifier tag, which brings checks these estimators do not meet.)
    order = np.argsort(LABELS, kind="stable")
    with pytest.warns(UserWarning, match=r"StratifiedKFold\(n_splits, shuffle=True\)"):
        cross_val_score(tiny_ratio(steps=5), X_STACKED[order], LABELS[order], cv=3)


# --- threads ----------------------------------------------------------------------------


class ThreadRecorder(FlowTransport):
    """Records torch's intra-op thread count while it fits (inputs become tensors there)."""

    def _tensor(self, X):
        self.fit_threads_ = max(getattr(self, "fit_threads_", 0), torch.get_num_threads())
        return super()._tensor(X)


def threads_seen(estimator, X, y):
    return estimator.fit_threads_


def test_grid_search_workers_use_their_share_of_the_cores(monkeypatch):
    # joblib gives each loky worker cpu_count // n_jobs threads through the
    # environment (OMP_NUM_THREADS, MKL_NUM_THREADS, ...) unless the caller set those
    # variables; torch reads them when it starts in the worker. Unset them here so
    # that the test measures that default rather than this process's settings.
    for name in ["OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]:
        monkeypatch.delenv(name, raising=False)
    n_jobs = 2
    search = GridSearchCV(
        ThreadRecorder(**tiny_flow().get_params()), {"gamma": [0.0, 1.0]}, cv=KFold(2),
        scoring=threads_seen, n_jobs=n_jobs, refit=False,
    ).fit(X_P, X_Q)
    share = max(1, joblib.cpu_count() // n_jobs)
    seen = search.cv_results_["mean_test_score"]
    assert (seen >= 1).all() and (seen <= share).all(), (seen, share)
