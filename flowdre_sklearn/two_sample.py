"""A two-sample test from held-out log density ratios: fit on one part, permute on the other."""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
from sklearn.utils.validation import check_array

from ._base import seed_from
from ._compat import Interval, validate_params
from .density_ratio import BRIDGE_PARAMS, TelescopicDensityRatio

__all__ = ["TwoSampleResult", "two_sample_test"]

#: Permutations scored per matrix product: bounds the memory of the permutation loop
#: to ``PERMUTATION_BLOCK * n_test`` numbers whatever ``n_permutations`` is.
PERMUTATION_BLOCK = 256


@dataclass(frozen=True, eq=False)
class TwoSampleResult:
    """The outcome of :func:`two_sample_test`.

    Attributes
    ----------
    statistic : float
        Mean held-out log-ratio of the P rows minus that of the Q rows, in nats.
    pvalue : float
        Permutation p-value of ``statistic`` (one-sided: large values reject).
    n_permutations : int
        Random relabellings of the held-out rows the p-value counts.
    estimator : TelescopicDensityRatio
        The log-ratio model, fitted on the training part of both samples.
    """

    statistic: float
    pvalue: float
    n_permutations: int
    estimator: TelescopicDensityRatio = field(repr=False)


def split_rows(n_rows: int, test_size: float, rng: np.random.Generator, name: str):
    """Shuffled ``(train, test)`` rows, each part non-empty."""
    n_test = round(test_size * n_rows)
    if not 1 <= n_test <= n_rows - 2:
        raise ValueError(
            f"test_size={test_size} leaves {n_test} held-out and {n_rows - n_test} training "
            f"rows of the {n_rows} of {name}: the test needs at least 1 held-out and 2 "
            "training rows of each sample."
        )
    rows = rng.permutation(n_rows)
    return rows[n_test:], rows[:n_test]


def mean_difference(values: np.ndarray, is_p: np.ndarray) -> np.ndarray:
    """Mean of ``values`` over the rows marked P minus over the others, per row of ``is_p``."""
    n_p = is_p.sum(axis=-1)
    sum_p = is_p @ values
    return sum_p / n_p - (values.sum() - sum_p) / (len(values) - n_p)


def permutation_pvalue(values: np.ndarray, is_p: np.ndarray, n_permutations: int,
                       rng: np.random.Generator) -> tuple[float, float]:
    """The observed mean difference and its one-sided Monte Carlo permutation p-value.

    ``(1 + #{permuted >= observed}) / (1 + n_permutations)`` counts the observed
    labelling among the permutations, which keeps the test valid at any number of
    them [1]_.
    """
    observed = float(mean_difference(values, is_p.astype(values.dtype)))
    # Ties with the observed value (the identity permutation at least) count as
    # exceeding it, whatever the rounding of the sums in another order.
    threshold = observed - 1e-9 * float(np.abs(values).max())
    exceed = 0
    for start in range(0, n_permutations, PERMUTATION_BLOCK):
        block = min(PERMUTATION_BLOCK, n_permutations - start)
        labels = rng.permuted(np.tile(is_p, (block, 1)), axis=1).astype(values.dtype)
        exceed += int((mean_difference(values, labels) >= threshold).sum())
    return observed, (1 + exceed) / (1 + n_permutations)


# Not skipping nested validation: the estimator's parameters come through **params.
@validate_params(
    {"X_p": ["array-like"], "X_q": ["array-like"],
     "test_size": [Interval(Real, 0, 1, closed="neither")],
     "n_permutations": [Interval(Integral, 1, None, closed="left")],
     "random_state": ["random_state", np.random.Generator]},
    prefer_skip_nested_validation=False,
)
def two_sample_test(
    X_p, X_q, *, test_size: float = 0.5, n_permutations: int = 1000, random_state=None,
    **params,
) -> TwoSampleResult:
    r"""Test whether two samples come from the same distribution, by a held-out log-ratio.

    Each sample is split at random into a training and a held-out part. A
    :class:`TelescopicDensityRatio` is fitted on the training parts and its
    log-ratio :math:`\hat\ell = \log \hat p - \log \hat q` is read at the
    held-out rows of both samples. The statistic is the mean of
    :math:`\hat\ell` over the held-out P rows minus its mean over the held-out
    Q rows, and its p-value comes from randomly permuting the P and Q labels of
    the held-out rows (the model is fitted once, not per permutation).

    Parameters
    ----------
    X_p : array-like of shape (n_p, n_features)
        Sample of P.
    X_q : array-like of shape (n_q, n_features)
        Sample of Q.
    test_size : float, default=0.5
        Share of each sample held out. More held-out rows make the statistic
        less noisy, more training rows make the model find smaller differences.
    n_permutations : int, default=1000
        Random relabellings of the held-out rows. The smallest p-value is
        ``1 / (1 + n_permutations)``: raise it for smaller levels.
    random_state : int, RandomState instance, Generator or None, default=None
        Seeds the split, the permutations and (unless ``random_state`` is in
        ``params``) the model.
    **params
        Parameters of :class:`TelescopicDensityRatio` (for example ``steps``,
        ``bridge``, ``hidden_layer_sizes``). Unless ``bridge``, ``n_intervals``
        or ``flow`` is given, the model is a single classifier
        (``bridge="linear", n_intervals=1``, its network sized by the
        estimator's ``"auto"`` rules): a test looks for differences at the
        null, where there is no density chasm for a bridge to cross, and one
        classifier fits in seconds where the flow bridge takes a minute.

    Returns
    -------
    TwoSampleResult
        ``statistic``, ``pvalue``, ``n_permutations`` and the fitted ``estimator``.

    See Also
    --------
    TelescopicDensityRatio : The log density ratio model fitted on the training part.
    kl_divergence : The cross-fitted ``KL(P || Q)``, with a standard error.

    Notes
    -----
    With a true log-ratio :math:`\ell`, the statistic estimates
    :math:`\mathbb{E}_P[\ell] - \mathbb{E}_Q[\ell] = \mathrm{KL}(P\|Q) +
    \mathrm{KL}(Q\|P)`, the symmetrised (Jeffreys) divergence, which is zero
    only for :math:`P = Q`; so the test is one-sided.

    Validity under :math:`P = Q` does not depend on how good the model is. The
    model is a function of the training rows alone, which are independent of
    the held-out rows. Given the model, the held-out rows of P and of Q are then
    independent draws from one distribution, and so are their values
    :math:`\hat\ell`: every assignment of the P and Q labels to them is equally
    likely, the conditional (and so unconditional) permutation distribution of
    the statistic is exact, and the p-value with the observed labelling counted
    among the permutations satisfies :math:`\Pr(p \le \alpha) \le \alpha` for
    every level [1]_. This is the sample-splitting argument of classifier
    two-sample tests [2]_, with the classifier's accuracy replaced by the mean
    log-ratio, which uses the model's confidence rather than only its sign.
    The power does depend on the model: a ratio trained too briefly, or on too
    few rows, sees only the largest differences.

    References
    ----------
    .. [1] B. Phipson and G. K. Smyth, "Permutation p-values should never be
       zero", Statistical Applications in Genetics and Molecular Biology, 2010.
    .. [2] D. Lopez-Paz and M. Oquab, "Revisiting classifier two-sample
       tests", ICLR 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn import two_sample_test
    >>> rng = np.random.default_rng(0)
    >>> X_p = rng.normal(size=(300, 2)) + [0.5, 0.0]
    >>> X_q = rng.normal(size=(300, 2))
    >>> result = two_sample_test(X_p, X_q, hidden_layer_sizes=(16, 16), steps=100,
    ...                          random_state=0)
    >>> bool(result.statistic > 0), bool(result.pvalue < 0.01)
    (True, True)
    """
    X_p = check_array(X_p, dtype=(np.float64, np.float32), input_name="X_p")
    X_q = check_array(X_q, dtype=(np.float64, np.float32), input_name="X_q")
    if X_p.shape[1] != X_q.shape[1]:
        raise ValueError(
            f"X_p has {X_p.shape[1]} features and X_q has {X_q.shape[1]}: both samples "
            "must have the same columns."
        )
    rng = np.random.default_rng(seed_from(random_state))
    p_train, p_test = split_rows(len(X_p), test_size, rng, "X_p")
    q_train, q_test = split_rows(len(X_q), test_size, rng, "X_q")
    params.setdefault("random_state", int(rng.integers(2**31)))
    if not params.keys() & BRIDGE_PARAMS:
        params.update(bridge="linear", n_intervals=1)
    estimator = TelescopicDensityRatio(**params).fit(X_p[p_train], X_q[q_train])
    values = np.concatenate([estimator.log_ratio(X_p[p_test]),
                             estimator.log_ratio(X_q[q_test])]).astype(np.float64)
    is_p = np.arange(len(values)) < len(p_test)
    statistic, pvalue = permutation_pvalue(values, is_p, n_permutations, rng)
    return TwoSampleResult(statistic, pvalue, n_permutations, estimator)
