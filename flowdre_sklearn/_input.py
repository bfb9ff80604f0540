"""Turning what the user passed to ``fit`` into the two samples, with clear errors.

Three forms are accepted (see the estimators' docstrings):

* ``fit(X_p, X_q)``: ``y`` is 2-D, the Q sample, with the columns of ``X``
  (a one-column ``y`` of two values, one per row of a one-feature ``X``, could
  be labels as well and is refused: labels are passed 1-D);
* ``fit(X, y)``: ``y`` is 1-D with exactly two distinct labels; rows labelled
  ``classes_[0]`` (the smaller label) are P, the others Q;
* ``fit(X)``: Q is the standard normal ``N(0, I)``.

Degenerate data: a column constant in both samples is accepted (the flow learns
to leave it in place, the log-ratio to ignore it); a column constant in one
sample only (in ``X`` alone for ``fit(X)``) makes P and Q mutually singular,
which no invertible flow or finite log-ratio represents, and warns; samples
whose rows are all one point leave nothing to standardise and raise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, validate_data

from ._compat import _get_feature_names, warn

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
    names_p = _get_feature_names(X)
    X = validate_data(
        estimator, X, reset=reset, dtype=FLOAT_DTYPES, ensure_min_samples=2,
        ensure_all_finite=True,
    )
    if y is None:
        samples = SplitSamples(X, None)
    else:
        _check_no_sparse(y, "the Q sample")
        samples = _q_sample(X, y, names_p) if _is_sample(y) else _split_by_labels(X, y)
    if reset:
        _check_spread(samples)
    return samples


def _q_sample(X: np.ndarray, y, names_p) -> SplitSamples:
    names_q = _get_feature_names(y)
    Q = check_array(
        y, dtype=FLOAT_DTYPES, ensure_min_samples=2, ensure_all_finite=True, input_name="X_q",
    )
    labels_column = Q.shape[1] == 1 and Q.shape[0] == X.shape[0]
    if Q.shape[1] != X.shape[1]:
        hint = (" If y labels the rows of X as P or Q, pass it 1-D (y.ravel())."
                if labels_column else "")
        raise ValueError(
            f"The Q sample has {Q.shape[1]} columns but the P sample X has "
            f"{X.shape[1]}: both samples must have the same features.{hint}"
        )
    # A one-feature X with a column of two values, one per row: labels passed as a
    # column (as pandas or a ColumnTransformer give them) or a Q sample of two points.
    # Either reading is plausible, so neither is guessed.
    if labels_column and np.unique(Q).size == 2:
        raise ValueError(
            f"y has shape {Q.shape} and two distinct values: it could be labels of the "
            "rows of X (P or Q) or a one-feature Q sample of two points. Pass labels 1-D "
            "(y.ravel()); a 2-D y is read as the Q sample."
        )
    # Columns are matched by position: differently named or ordered DataFrame
    # columns would silently pair unrelated features.
    if names_p is not None and names_q is not None and not np.array_equal(names_p, names_q):
        raise ValueError(
            f"The Q sample's columns {list(names_q)} differ from those of the P sample X "
            f"{list(names_p)}: pass both samples with the same columns in the same order."
        )
    return SplitSamples(X, Q)


def _check_spread(samples: SplitSamples) -> None:
    """Refuse samples that are a single point; warn about columns constant on one side.

    The inputs are standardised by the spread of the pooled samples, so a single
    point would be divided by zero deep inside training.
    """
    p, q = samples.p, samples.q
    constant_p = np.ptp(p, axis=0) == 0
    if q is None:
        one_sided = constant_p
    else:
        constant_q = np.ptp(q, axis=0) == 0
        if constant_p.all() and constant_q.all() and np.array_equal(p[0], q[0]):
            raise ValueError(
                "All rows of both samples are the same point: there is no spread to learn "
                "a flow or a density ratio from."
            )
        one_sided = constant_p != constant_q
    if one_sided.any():
        where = "in X (the P sample) while Q = N(0, I) is not" if q is None else (
            "in one sample but not in the other"
        )
        warn(
            f"Column(s) {np.flatnonzero(one_sided).tolist()} are constant {where}: P and Q "
            "are then mutually singular, which an invertible flow can only approximate and a "
            "log-ratio or log-density cannot express (it is infinite). Drop such columns or "
            "add a little noise to them.",
            UserWarning,
        )


def _split_by_labels(X: np.ndarray, y) -> SplitSamples:
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D labels or a 2-D Q sample; got shape {y.shape}.")
    if y.shape[0] != X.shape[0]:
        raise ValueError(
            f"y has {y.shape[0]} labels but X has {X.shape[0]} rows: in the fit(X, y) form, "
            "y labels each row of X as P or Q."
        )
    if y.dtype.kind in "fc" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinity; labels must be two distinct values.")
    try:
        classes, codes = np.unique(y, return_inverse=True)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in y})
        raise ValueError(
            f"y mixes labels of types {kinds}: label the P rows with one value and the Q "
            "rows with another of the same type."
        ) from exc
    if classes.shape[0] == 1:
        raise ValueError(
            f"y has only one class ({classes[0]!r}): the fit(X, y) form needs two distinct "
            "values, one labelling the P rows and one the Q rows. In cross-validation this "
            "is a fold of one class, as an unshuffled KFold gives on P rows stacked above "
            "Q rows: pass cv=StratifiedKFold(n_splits, shuffle=True)."
        )
    if classes.shape[0] != 2:
        # The last sentence is sklearn's wording for binary-only estimators, which
        # its common checks (ClassifierTags(multi_class=False)) look for.
        kind = type_of_target(y)
        raise ValueError(
            f"y must have exactly two distinct values (P and Q) but has {classes.shape[0]} "
            f"({kind} target): label the P rows with one value and the Q rows with another. "
            "Only binary classification is supported."
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
