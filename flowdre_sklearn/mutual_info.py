"""Mutual information between two blocks of columns, by telescopic density-ratio estimation."""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils.validation import check_array, check_consistent_length

from ._base import seed_from
from ._compat import Interval, StrOptions, validate_params
from ._core.budget import (
    SINGLE_CLASSIFIER_BATCH,
    SINGLE_CLASSIFIER_FEATURES,
    SINGLE_CLASSIFIER_NATS,
    SINGLE_CLASSIFIER_WEIGHT_DECAY,
    mi_end_to_end_weight,
    mi_time_score_inits,
)
from .density_ratio import BRIDGE_PARAMS, TelescopicDensityRatio
from .divergence import CV_CONSTRAINTS, DivergenceEstimate, cross_fit, folds


# Not skipping nested validation: the estimator's parameters come through **params.
@validate_params(
    {"X": ["array-like"], "Y": ["array-like"],
     "n_shuffles": [Interval(Integral, 1, None, closed="left")],
     "fresh_product": ["boolean"], **CV_CONSTRAINTS,
     "cv": [*CV_CONSTRAINTS["cv"], StrOptions({"auto"})], "return_result": ["boolean"],
     "return_estimator": ["boolean"], "random_state": ["random_state", np.random.Generator]},
    prefer_skip_nested_validation=False,
)
def mutual_information(
    X,
    Y,
    *,
    n_shuffles: int = 3,
    fresh_product: bool = True,
    cv="auto",
    confidence_level: float = 0.95,
    return_result: bool = False,
    return_estimator: bool = False,
    random_state=None,
    **params,
) -> float | DivergenceEstimate | tuple:
    r"""Mutual information ``I(X; Y)`` in nats, as ``KL(joint || product of marginals)``.

    P is the joint sample ``[X, Y]``; Q, the product of the marginals, is made by
    pairing ``X`` with shuffled copies of ``Y`` (``n_shuffles`` independent
    shuffles, so Q is ``n_shuffles`` times as large as P; no row of ``X`` is
    paired with its own ``Y``, which would be a draw from the joint). A
    :class:`TelescopicDensityRatio` estimates ``log p - log q`` (its training
    stopped early on held-out rows) and the MI is its mean over the joint sample.

    In a few dimensions the bridge follows the size of the MI. Up to 4 features
    (``X`` and ``Y`` together), and unless ``bridge``, ``n_intervals`` or
    ``flow`` is given, a single classifier between P and Q (the linear bridge
    with one interval, seconds to fit; on batches of 1024 rows unless
    ``batch_size`` is given, as a Q drawn afresh (``fresh_product``) makes a
    large batch cost no data, and with a weight decay of 0.03 unless
    ``weight_decay`` is given, against the optimism of a mean taken over the
    rows it was fitted to) comes first; when its estimate on its
    held-out rows is at most 3 nats it is the answer, as one classifier is as
    accurate as the telescope there and several times faster. Above, where one
    classifier over-shoots and then saturates (the density chasm), the flow
    bridge is fitted on the same rows and product sample and replaces it. With
    more features the flow bridge is fitted directly: there one classifier can
    miss even a small MI.

    Unlike :func:`sklearn.feature_selection.mutual_info_regression`, which gives
    one MI per column of ``X`` against a 1-D target with a k-nearest-neighbour
    estimator (accurate in low dimension, biased low when the MI is large or the
    dimension high), this gives the MI between two *blocks* of columns jointly,
    and is built for high dimension and large MI, where k-NN estimators and a
    single classifier saturate. It trains neural networks, so it is much slower
    than the k-NN estimator.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_x)
    Y : array-like of shape (n_samples,) or (n_samples, n_y)
        Paired rows: ``(X[i], Y[i])`` is one draw from the joint distribution.
    n_shuffles : int, default=3
        Independent shuffles of ``Y`` that make the product-of-marginals sample.
    fresh_product : bool, default=True
        With ``bridge="linear"`` (a single classifier included), draw the product
        of the marginals afresh at every training step, pairing the ``X`` of one
        training row with the ``Y`` of another, instead of training on the
        ``n_shuffles`` fixed shuffles (which then serve the standardisation and
        the held-out loss only). The flow bridge is made of a fixed Q sample
        moved along the flow, and ignores it.
    cv : "auto", int, cross-validation splitter or None, default="auto"
        None: one model, and the MI is its mean log-ratio over the joint rows it
        was trained on (slightly optimistic, more so in high dimension). An int
        or a splitter that holds out every row once (as in
        :func:`sklearn.model_selection.cross_val_predict`; an int is an unshuffled
        ``KFold``): cross-fitting. Each fold's model is trained on the other
        folds' joint rows, against a product of the marginals made of those rows
        only, and the MI is the mean log-ratio of every joint row under the model
        that held it out. Costs one fit per fold. ``"auto"``: None for the float
        (one fit, as before cross-fitting existed), 5 folds with
        ``return_result=True``: the standard error of in-sample log-ratios falls
        well short of the spread of the estimate over repeated data sets, and its
        interval covers the truth far less often than it claims
        (``benchmarks/results/crossfit*.md``).
    confidence_level : float, default=0.95
        Nominal coverage of the interval of ``return_result``.
    return_result : bool, default=False
        Return a :class:`~flowdre_sklearn.divergence.DivergenceEstimate`
        (estimate, standard error, interval, per-fold estimates, pointwise
        log-ratios, fitted models) instead of a float. What the interval covers
        is in the Notes of :func:`kl_divergence`.
    return_estimator : bool, default=False
        Also return the fitted estimator (for example to read
        ``log_ratio``, the pointwise MI); with ``cv``, the list of the
        estimators of the folds.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffles and the estimator.
    **params
        Parameters of :class:`TelescopicDensityRatio` (for example ``steps``,
        ``flow=FlowTransport(...)``, ``bridge``); giving ``bridge``,
        ``n_intervals`` or ``flow`` fits that bridge alone, with no single
        classifier first. ``standardize`` defaults to
        ``"quantile"`` here: every column is warped to normal scores by its own
        quantiles, which leaves the MI unchanged (it is invariant under a bijection
        of each variable) and makes heavy-tailed columns tame. ``end_to_end_weight``
        defaults to 0.25 up to 10 features (and 0 above): a small MI spread over
        the bridge's intervals is a weak signal in each, and the whole ratio's
        loss keeps the time score from stalling near chance. ``n_init`` defaults
        to 3 from 5 to 20 features (and 1 elsewhere): there the time score of a
        weak dependence stalls near chance in some initialisations, and the one
        with the lowest held-out loss is kept.

    Returns
    -------
    mi : float or DivergenceEstimate
        The estimate in nats (``estimator.kl_divergence()`` when ``cv`` is None);
        a ``DivergenceEstimate`` when ``return_result`` is True.
    estimator : TelescopicDensityRatio or list of TelescopicDensityRatio
        Only when ``return_estimator`` is True.

    See Also
    --------
    TelescopicDensityRatio : The log density ratio estimator used here.
    FlowTransport : The optimal-transport flow that bridges the two samples.
    sklearn.feature_selection.mutual_info_regression : A k-NN estimate, column by column.
    kl_divergence : The cross-fitted KL between two samples.

    Notes
    -----
    With :math:`p` the joint density of :math:`(x, y)` and :math:`q(x, y) = p(x) p(y)`,

    .. math::

        I(X; Y) = \mathrm{KL}(p \,\|\, q) = \mathbb{E}_{p}\big[\log p(x, y) - \log q(x, y)\big],

    estimated by the mean of :meth:`TelescopicDensityRatio.log_ratio` over the
    joint sample. Pairing rows of different folds into the product sample
    would let a fold's model see its held-out rows, so cross-fitting pairs
    training rows with training rows only.

    Examples
    --------
    >>> from flowdre_sklearn import FlowTransport, mutual_information
    >>> from flowdre_sklearn.datasets import make_gaussian_mi
    >>> X, Y, true_mi = make_gaussian_mi(1000, d=4, mi=0.5, random_state=0)
    >>> flow = FlowTransport(hidden_layer_sizes=(32, 32), init_steps=300)
    >>> mi = mutual_information(X, Y, hidden_layer_sizes=(32, 32), steps=300, flow=flow,
    ...                         random_state=0)
    >>> bool(abs(mi - true_mi) < 0.2)
    True

    Cross-fitted, with a standard error and an interval:

    >>> result = mutual_information(X, Y, cv=3, bridge="linear", steps=100,
    ...                             hidden_layer_sizes=(16, 16), return_result=True,
    ...                             random_state=0)
    >>> low, high = result.interval
    >>> bool(low < result.estimate < high), result.fold_estimates.shape
    (True, (3,))
    """
    X = check_array(X, dtype=(np.float64, np.float32), input_name="X")
    Y = check_array(Y, dtype=(np.float64, np.float32), ensure_2d=False, input_name="Y")
    if Y.ndim == 1:
        Y = Y.reshape(-1, 1)
    check_consistent_length(X, Y)
    seed = seed_from(random_state)
    rng = np.random.default_rng(seed)
    joint = np.hstack([X, Y])
    params.setdefault("random_state", seed)
    params.setdefault("standardize", "quantile")
    params.setdefault("end_to_end_weight", mi_end_to_end_weight(joint.shape[1]))
    params.setdefault("n_init", mi_time_score_inits(joint.shape[1]))
    choose_bridge = (joint.shape[1] <= SINGLE_CLASSIFIER_FEATURES
                     and not params.keys() & BRIDGE_PARAMS)

    def fit(fold: int, rows: np.ndarray) -> TelescopicDensityRatio:
        if len(rows) < 2:
            raise ValueError(
                f"mutual_information needs at least 2 paired rows to fit on, got {len(rows)}"
                f"{'' if cv is None else ' in a training fold'}: the product of the "
                "marginals pairs each X with the Y of another row."
            )
        product = product_sample(X[rows], Y[rows], n_shuffles, rng)

        def fitted(**bridge) -> TelescopicDensityRatio:
            estimator = TelescopicDensityRatio(**{**params, **bridge})
            if fresh_product:
                return estimator._fit_product(joint[rows], product, X.shape[1])
            return estimator.fit(joint[rows], product)

        if not choose_bridge:
            return fitted()
        # With one interval and no closing step the end-to-end loss is the interval's.
        single = fitted(bridge="linear", n_intervals=1, end_to_end_weight=0.0,
                        batch_size=params.get("batch_size", SINGLE_CLASSIFIER_BATCH),
                        weight_decay=params.get("weight_decay",
                                                SINGLE_CLASSIFIER_WEIGHT_DECAY))
        return single if single_classifier_suffices(single) else fitted()

    if isinstance(cv, str):
        cv = AUTO_FOLDS if return_result else None
    if cv is None and not return_result:
        estimator = fit(0, np.arange(len(X)))
        mi = estimator.kl_divergence()
        return (mi, estimator) if return_estimator else mi
    result = cross_fit(fit, joint, folds(cv, len(X)), confidence_level)
    estimators = result.estimators[0] if cv is None else result.estimators
    mi = result if return_result else result.estimate
    return (mi, estimators) if return_estimator else mi


#: Folds of ``cv="auto"`` when an interval is asked for (``return_result=True``).
AUTO_FOLDS = 5


def single_classifier_suffices(single: TelescopicDensityRatio) -> bool:
    """Whether the pilot's MI (held out where it can be) is small enough to stand alone."""
    kl = single.kl_validation_ if single.kl_validation_ is not None else single.kl_train_
    return kl <= SINGLE_CLASSIFIER_NATS


def product_sample(X: np.ndarray, Y: np.ndarray, n_shuffles: int,
                   rng: np.random.Generator) -> np.ndarray:
    """``n_shuffles`` copies of ``X``, each beside ``Y`` deranged: pairs of distinct rows."""
    return np.vstack([np.hstack([X, Y[derangement(len(Y), rng)]]) for _ in range(n_shuffles)])


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (``n >= 2``).

    A uniform permutation, then its fixed points moved: two or more are cycled
    among themselves, a single one swapped with a random other position. The
    result is not exactly uniform over derangements, which pairing rows for the
    product of the marginals does not need; what it needs is that no row is
    paired with itself.
    """
    order = rng.permutation(n)
    fixed = np.flatnonzero(order == np.arange(n))
    if len(fixed) > 1:
        order[fixed] = np.roll(fixed, 1)
    elif len(fixed) == 1:
        f = fixed[0]
        other = (f + 1 + rng.integers(n - 1)) % n
        order[f], order[other] = order[other], order[f]
    return order
