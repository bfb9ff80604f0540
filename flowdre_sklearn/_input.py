"""Turning what the user passed to ``fit`` into the two samples, with clear errors.

Three forms are accepted (see the estimators' docstrings):

* ``fit(X_p, X_q)``: ``y`` is 2-D, the Q sample, with the columns of ``X``;
* ``fit(X, y)``: ``y`` is 1-D with exactly two distinct labels; rows labelled
  ``classes_[0]`` (the smaller label) are P, the others Q;
* ``fit(X)``: Q is the standard normal ``N(0, I)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, column_or_1d, validate_data

FLOAT_DTYPES = (np.float64, np.float32, np.float16)


@dataclass
class SplitSamples:
    """The P sample, the Q sample (None for Q = N(0, I)), and the labels if any."""

    p: np.ndarray
    q: np.ndarray | None
    classes: np.ndarray | None = None


def _check_no_sparse(value, name: str) -> None:
    if hasattr(value, "toarray") or hasattr(value, "tocsr"):
        raise TypeError(
            f"Sparse input is not supported for {name}: the flow needs dense rows. "
            f"Convert with {name}.toarray() if it fits in memory."
        )


def _is_sample(y) -> bool:
    """A 2-D ``y`` is a second sample; anything else is taken as labels."""
    return getattr(y, "ndim", None) == 2 or (
        isinstance(y, list | tuple) and len(y) > 0 and np.ndim(y[0]) == 1
    )


def check_samples(estimator, X, y=None, *, reset: bool = True) -> SplitSamples:
    """Validate ``X`` (and ``y``) and split them into the P and Q samples.

    Sets ``n_features_in_`` (and ``feature_names_in_``) on ``estimator`` when
    ``reset``. Arrays are copied when converted, never modified.
    """
    _check_no_sparse(X, "X")
    X = validate_data(
        estimator, X, reset=reset, dtype=FLOAT_DTYPES, ensure_min_samples=2,
        ensure_all_finite=True,
    )
    if y is None:
        return SplitSamples(X, None)
    _check_no_sparse(y, "the Q sample")
    if _is_sample(y):
        Q = check_array(
            y, dtype=FLOAT_DTYPES, ensure_min_samples=2, ensure_all_finite=True,
            input_name="X_q",
        )
        if Q.shape[1] != X.shape[1]:
            raise ValueError(
                f"The Q sample has {Q.shape[1]} columns but the P sample X has "
                f"{X.shape[1]}: both samples must have the same features."
            )
        return SplitSamples(X, Q)
    return _split_by_labels(X, y)


def _split_by_labels(X: np.ndarray, y) -> SplitSamples:
    y = np.asarray(y)
    if y.ndim != 1 and not (y.ndim == 2 and y.shape[1] == 1):
        raise ValueError(f"y must be 1-D labels or a 2-D Q sample; got shape {y.shape}.")
    y = column_or_1d(y)
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} labels but X has {X.shape[0]} rows: in the fit(X, y) form, "
            "y labels each row of X as P or Q."
        )
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; labels must be two distinct values.")
    classes, codes = np.unique(y, return_inverse=True)
    if classes.shape[0] != 2:
        kind = type_of_target(y)
        raise ValueError(
            f"y must have exactly two distinct values (P and Q) but has {classes.shape[0]} "
            f"({kind} target): label the P rows with one value and the Q rows with another."
        )
    p, q = X[codes == 0], X[codes == 1]
    for name, part in (("P", p), ("Q", q)):
        if part.shape[0] < 2:
            raise ValueError(
                f"The {name} sample (label {classes[0 if name == 'P' else 1]!r}) has "
                f"{part.shape[0]} row(s); at least 2 are required."
            )
    return SplitSamples(p, q, classes)


def check_features(estimator, X) -> np.ndarray:
    """Validate ``X`` at predict time against the fitted columns."""
    _check_no_sparse(X, "X")
    return validate_data(
        estimator, X, reset=False, dtype=FLOAT_DTYPES, ensure_all_finite=True
    )
