"""Cross-fitted divergences: fit on K-1 folds, average the log-ratio on the held-out fold."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral, Real
from statistics import NormalDist

import numpy as np
from sklearn.model_selection import check_cv
from sklearn.utils.validation import check_array

from ._base import seed_from
from ._compat import HasMethods, Interval, validate_params
from .density_ratio import TelescopicDensityRatio

__all__ = ["DivergenceEstimate", "kl_divergence"]

#: The constraints of ``cv`` and ``confidence_level``, shared with ``mutual_information``.
#: An iterable of splits is not taken: it would index P and Q, of different sizes, alike.
CV_CONSTRAINTS = {
    "cv": [Interval(Integral, 2, None, closed="left"), HasMethods(["split", "get_n_splits"]),
           None],
    "confidence_level": [Interval(Real, 0, 1, closed="neither")],
}


@dataclass(frozen=True, eq=False)
class DivergenceEstimate:
    """A divergence estimate with its standard error, interval and the pieces it came from.

    ``float(result)`` is ``result.estimate``.

    Attributes
    ----------
    estimate : float
        Mean of ``pointwise``, in nats.
    stderr : float
        Standard error of ``estimate`` (see :func:`kl_divergence`, Notes).
    interval : tuple of float
        ``estimate -+ z * stderr``, ``z`` the normal quantile of ``confidence_level``.
    confidence_level : float
        Nominal coverage of ``interval``.
    fold_estimates : ndarray of shape (n_folds,)
        Mean held-out log-ratio of each fold (one value without cross-fitting).
    pointwise : ndarray of shape (n_samples,)
        The log-ratio at every row of P, in the order given, each by the model of
        the fold that held it out (in-sample without cross-fitting).
    estimators : list of TelescopicDensityRatio
        The fitted model of each fold.
    """

    estimate: float
    stderr: float
    interval: tuple[float, float]
    confidence_level: float
    fold_estimates: np.ndarray
    pointwise: np.ndarray = field(repr=False)
    estimators: list = field(repr=False)

    def __float__(self) -> float:
        return self.estimate


def summarise(pointwise: np.ndarray, tests: list[np.ndarray], estimators: list,
              confidence_level: float) -> DivergenceEstimate:
    """The estimate, its standard error (random-effects, see :func:`kl_divergence`) and interval."""
    n, k = len(pointwise), len(tests)
    fold_means = np.array([pointwise[test].mean() for test in tests])
    within = sum(((pointwise[test] - m) ** 2).sum() for test, m in zip(tests, fold_means))
    variance = within / max(n - k, 1) / n
    if k > 1:
        variance = max(variance, fold_means.var(ddof=1) / k)
    estimate, stderr = float(pointwise.mean()), float(np.sqrt(variance))
    half = NormalDist().inv_cdf((1 + confidence_level) / 2) * stderr
    return DivergenceEstimate(estimate, stderr, (estimate - half, estimate + half),
                              confidence_level, fold_means, pointwise, estimators)


def folds(cv, n_rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(train, test)`` rows of each fold of ``cv``; one in-sample fold for ``cv=None``.

    Every row must be held out exactly once, so that each has one out-of-sample value.
    """
    rows = np.arange(n_rows)
    if cv is None:
        return [(rows, rows)]
    splitter = check_cv(cv)
    splits = list(splitter.split(rows.reshape(-1, 1)))
    held = np.sort(np.concatenate([test for _, test in splits]))
    if not np.array_equal(held, rows):
        raise ValueError(
            f"cv={splitter!r} does not hold out every row exactly once: a cross-fitted "
            "estimate needs a partition into folds, as cross_val_predict does (KFold, "
            "StratifiedKFold, GroupKFold; not ShuffleSplit)."
        )
    return splits


def cross_fit(fit: Callable[[int, np.ndarray], TelescopicDensityRatio], X_p: np.ndarray,
              splits: list, confidence_level: float) -> DivergenceEstimate:
    """Fit ``fit(fold, train_rows)`` per fold and read its log-ratio at the held-out rows."""
    pointwise, estimators = np.empty(len(X_p)), []
    for fold, (train, test) in enumerate(splits):
        estimators.append(fit(fold, train))
        pointwise[test] = estimators[-1].log_ratio(X_p[test])
    return summarise(pointwise, [test for _, test in splits], estimators, confidence_level)


# Not skipping nested validation: the estimator's parameters come through **params.
@validate_params(
    {"X_p": ["array-like"], "X_q": ["array-like"], **CV_CONSTRAINTS,
     "random_state": ["random_state", np.random.Generator]},
    prefer_skip_nested_validation=False,
)
def kl_divergence(
    X_p, X_q, *, cv=5, confidence_level: float = 0.95, random_state=None, **params
) -> DivergenceEstimate:
    r"""Cross-fitted ``KL(P || Q)`` in nats, with a standard error and a confidence interval.

    P and Q are each split into the same number of folds by ``cv``. For every
    fold a :class:`TelescopicDensityRatio` is fitted on the other folds of P and
    of Q, and its log-ratio is read at the held-out rows of P; the estimate is
    the mean over all rows of P, each thus evaluated by a model that never saw
    it (held-out rows of Q are not used). This removes the optimism of
    :meth:`TelescopicDensityRatio.kl_divergence` on the training rows, which
    grows with the dimension, at the cost of fitting ``n_folds`` models on
    ``(n_folds - 1) / n_folds`` of the rows.

    Parameters
    ----------
    X_p : array-like of shape (n_p, n_features)
        Sample of P (numerator).
    X_q : array-like of shape (n_q, n_features)
        Sample of Q (denominator).
    cv : int, cross-validation splitter or None, default=5
        An int: that many folds of ``KFold`` (not shuffled, as in
        :func:`sklearn.model_selection.cross_val_score`: pass
        ``KFold(k, shuffle=True, random_state=...)`` when the rows are ordered).
        A splitter must hold out every row once. None: one model fitted on all
        rows and evaluated on them (in-sample, optimistic).
    confidence_level : float, default=0.95
        Nominal coverage of ``interval``.
    random_state : int, RandomState instance or None, default=None
        Seeds the models (every fold gets the same seed).
    **params
        Parameters of :class:`TelescopicDensityRatio` (for example ``steps``,
        ``bridge``, ``flow=FlowTransport(...)``).

    Returns
    -------
    DivergenceEstimate
        ``estimate``, ``stderr``, ``interval`` and the per-fold pieces.

    See Also
    --------
    TelescopicDensityRatio : The log density ratio estimator fitted on each fold.
    mutual_information : The same cross-fitting for ``KL(joint || product of marginals)``.
    sklearn.model_selection.cross_val_predict : The same out-of-fold convention.

    Notes
    -----
    With :math:`\ell_i` the held-out log-ratio of row :math:`i` of P, :math:`n`
    rows and :math:`K` folds of means :math:`\bar\ell_k`, the estimate is
    :math:`\bar\ell = \frac1n \sum_i \ell_i` and its variance is taken as

    .. math::

        \widehat{\mathrm{Var}}(\bar\ell) = \max\Big(\frac{s_w^2}{n},\;
        \frac{1}{K(K-1)} \sum_k (\bar\ell_k - \bar\ell)^2\Big),

    with :math:`s_w^2` the pooled within-fold variance of the :math:`\ell_i`:
    the one-way random-effects estimate, in which each fold's model adds its own
    offset to its rows (the between-fold term is kept only when the fold means
    spread more than the row noise explains, which makes the interval slightly
    conservative when the models agree). The interval
    :math:`\bar\ell \pm z\,\mathrm{stderr}` thus covers the sampling noise of the
    evaluation rows and the spread between the models of different folds. It
    does not cover the bias of the model class or of the optimisation (a ratio
    that is too smooth or trained too briefly underestimates the divergence in
    every fold alike), nor the noise of the training rows shared by all folds;
    its coverage is nominal only where that bias is small next to ``stderr``.
    With ``cv=None`` it ignores the optimism of in-sample evaluation as well.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn import kl_divergence
    >>> rng = np.random.default_rng(0)
    >>> X_p = rng.normal(size=(400, 2)) + [1.0, 1.0]  # KL(P || Q) = 1
    >>> X_q = rng.normal(size=(400, 2))
    >>> result = kl_divergence(X_p, X_q, cv=3, bridge="linear", steps=200,
    ...                        hidden_layer_sizes=(16, 16), random_state=0)
    >>> bool(abs(result.estimate - 1.0) < 0.3), result.stderr > 0
    (True, True)
    >>> result.fold_estimates.shape
    (3,)
    """
    X_p = check_array(X_p, dtype=(np.float64, np.float32), input_name="X_p")
    X_q = check_array(X_q, dtype=(np.float64, np.float32), input_name="X_q")
    params.setdefault("random_state", seed_from(random_state))
    p_splits, q_splits = folds(cv, len(X_p)), folds(cv, len(X_q))

    def fit(fold: int, train: np.ndarray) -> TelescopicDensityRatio:
        return TelescopicDensityRatio(**params).fit(X_p[train], X_q[q_splits[fold][0]])

    return cross_fit(fit, X_p, p_splits, confidence_level)
