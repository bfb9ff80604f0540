"""Importance weights from a log density ratio, and their effective sample size."""

from __future__ import annotations

from numbers import Real

import numpy as np

from ._compat import Interval, validate_params, warn

__all__ = ["effective_sample_size", "importance_weights"]

#: Share of the rows under which the effective sample size of ``importance_weights``
#: warns: a weighted fit then rests on a few rows, and its variance can outweigh the
#: bias that the weights remove.
MIN_ESS_SHARE = 0.1

CLIP_CONSTRAINTS: dict = {
    "clip_quantile": [Interval(Real, 0, 1, closed="right"), None],
    "max_ratio": [Interval(Real, 0, None, closed="neither"), None],
}


def _as_vector(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array; got shape {values.shape}.")
    return values


@validate_params({"weights": ["array-like"]}, prefer_skip_nested_validation=True)
def effective_sample_size(weights) -> float:
    r"""Kish's effective sample size of importance weights, ``(sum w)^2 / sum w^2``.

    The number of unweighted rows whose mean would have the variance of the
    weighted mean: ``n`` for equal weights, 1 when a single weight is nonzero.
    Its ratio to ``n`` says how much of a sample a weighted fit really uses.

    Parameters
    ----------
    weights : array-like of shape (n_samples,)
        Non-negative, finite, not all zero; their scale does not matter.

    Returns
    -------
    float

    See Also
    --------
    importance_weights : Self-normalised, optionally clipped weights.

    Notes
    -----
    .. math::

        n_{\mathrm{eff}} = \frac{\left(\sum_i w_i\right)^2}{\sum_i w_i^2}
        = \frac{n}{1 + \mathrm{cv}^2(w)},

    with :math:`\mathrm{cv}(w)` the coefficient of variation of the weights [1]_.

    References
    ----------
    .. [1] L. Kish, "Survey Sampling", Wiley, 1965.

    Examples
    --------
    >>> from flowdre_sklearn import effective_sample_size
    >>> effective_sample_size([1.0, 1.0, 1.0, 1.0])
    4.0
    >>> effective_sample_size([2.0, 0.0, 0.0, 0.0])
    1.0
    """
    w = _as_vector(weights, "weights")
    if not np.isfinite(w).all() or (w < 0).any() or not (w > 0).any():
        raise ValueError("weights must be finite and non-negative, and not all zero.")
    # Scaled by the largest first, so that huge or tiny weights neither overflow nor vanish.
    w = w / w.max()
    return float(w.sum() ** 2 / np.sum(w**2))


@validate_params({"log_weights": ["array-like"], **CLIP_CONSTRAINTS},
                 prefer_skip_nested_validation=True)
def importance_weights(log_weights, *, clip_quantile: float | None = None,
                       max_ratio: float | None = None) -> np.ndarray:
    r"""Self-normalised importance weights from log density ratios, optionally clipped.

    ``exp(log_weights)`` capped at ``max_ratio``, then at the ``clip_quantile``
    quantile of the weights, then divided by their mean, so that a weighted mean
    or fit keeps the scale (and a regularised fit the strength of its penalty)
    of the unweighted one. Warns when the effective sample size is below a tenth
    of the rows. :meth:`TelescopicDensityRatio.importance_weights` calls it; use
    it directly for log-ratios from another model.

    Parameters
    ----------
    log_weights : array-like of shape (n_samples,)
        ``log q(x) - log p(x)`` at rows of P, for weights that make them stand for Q.
        ``-inf`` gives a zero weight.
    clip_quantile : float in (0, 1] or None, default=None
        Weights above this quantile of the weights are set to it (truncated
        importance sampling [1]_): a little bias for less variance when a few rows
        carry most of the weight. Try 0.99 when the effective sample size is low.
    max_ratio : float or None, default=None
        Cap on the density ratio ``q(x) / p(x)`` itself, before normalisation:
        for a known bound on how much more likely Q makes a point than P.

    Returns
    -------
    ndarray of shape (n_samples,)
        Non-negative weights of mean 1.

    See Also
    --------
    effective_sample_size : How many rows the weights amount to.

    Notes
    -----
    With :math:`r_i = \min(e^{\ell_i}, c)` (``c``: ``max_ratio``), :math:`t` the
    ``clip_quantile`` quantile of the :math:`r_i` and :math:`\tilde r_i = \min(r_i, t)`,
    the weights are :math:`w_i = \tilde r_i / \bar{\tilde r}`. A weighted mean
    :math:`\sum_i w_i f(x_i) / n` is then the self-normalised importance-sampling
    estimate of :math:`E_Q[f]`, which stays consistent when the ratio is known only
    up to a constant factor.

    References
    ----------
    .. [1] E. L. Ionides, "Truncated importance sampling", Journal of Computational
       and Graphical Statistics 17(2), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn.weights import importance_weights
    >>> w = importance_weights(np.log([1.0, 2.0, 3.0, 10.0]), clip_quantile=0.5)
    >>> w, float(w.mean())  # 1, 2, 3, 10 clipped at their median, 2.5
    (array([0.5 , 1.  , 1.25, 1.25]), 1.0)
    """
    log_w = _as_vector(log_weights, "log_weights")
    if np.isnan(log_w).any() or np.isposinf(log_w).any():
        raise ValueError("log_weights must not be NaN or +inf.")
    if max_ratio is not None:
        log_w = np.minimum(log_w, np.log(max_ratio))
    if np.isneginf(log_w).all():
        raise ValueError("All weights are zero (every log-weight is -inf).")
    # Relative to the largest, so that exp neither overflows nor underflows them all.
    w = np.exp(log_w - log_w.max())
    if clip_quantile is not None:
        w = np.minimum(w, np.quantile(w, clip_quantile))
    w /= w.mean()
    ess = effective_sample_size(w)
    if ess < MIN_ESS_SHARE * len(w):
        warn(f"The importance weights' effective sample size is {ess:.1f} of {len(w)} rows: "
             "a weighted fit rests on a few rows. Clip them (clip_quantile), or check that "
             "the two samples overlap.", UserWarning)
    return w
