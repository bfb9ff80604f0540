"""Bad input raises a clear ValueError or TypeError before any training, and nothing the
caller passed is modified."""

import numpy as np
import pytest
import scipy.sparse as sp

from flowdre_sklearn import FlowTransport

ESTIMATORS = [FlowTransport]
TINY = dict(hidden_layer_sizes=(8,), init_steps=5, random_state=0)

rng = np.random.default_rng(0)
GOOD_P = rng.normal(size=(20, 3))
GOOD_Q = rng.normal(size=(15, 3)) + 1


def _with(value, row=0, col=0):
    X = GOOD_P.copy()
    X[row, col] = value
    return X


BAD_FITS = [
    ("nan in X", lambda: (_with(np.nan), GOOD_Q), ValueError, "NaN"),
    ("inf in X", lambda: (_with(np.inf), GOOD_Q), ValueError, "infinity"),
    ("-inf in Q", lambda: (GOOD_P, np.vstack([GOOD_Q, [-np.inf, 0, 0]])), ValueError, "infinity"),
    ("1-D X", lambda: (GOOD_P[:, 0], None), ValueError, "2D"),
    ("3-D X", lambda: (GOOD_P.reshape(20, 3, 1), None), ValueError, "dim 3"),
    ("Q columns", lambda: (GOOD_P, GOOD_Q[:, :2]), ValueError, "columns"),
    ("one row in P", lambda: (GOOD_P[:1], GOOD_Q), ValueError, "minimum of 2"),
    ("one row in Q", lambda: (GOOD_P, GOOD_Q[:1]), ValueError, "minimum of 2"),
    ("empty X", lambda: (np.empty((0, 3)), GOOD_Q), ValueError, "minimum of 2"),
    ("one label", lambda: (GOOD_P, np.zeros(20)), ValueError, "two distinct values"),
    ("three labels", lambda: (GOOD_P, np.arange(20) % 3), ValueError, "two distinct values"),
    ("labels of wrong length", lambda: (GOOD_P, np.arange(19) % 2), ValueError, "19 labels"),
    ("one row of a class", lambda: (GOOD_P, np.r_[1, np.zeros(19)]), ValueError, "at least 2"),
    ("sparse X", lambda: (sp.csr_matrix(GOOD_P), None), TypeError, "Sparse"),
    ("sparse Q", lambda: (GOOD_P, sp.csr_matrix(GOOD_Q)), TypeError, "Sparse"),
    ("string X", lambda: (GOOD_P.astype(str).astype(object) + "x", None), ValueError, "string"),
    ("complex X", lambda: (GOOD_P + 1j, None), ValueError, "Complex"),
]


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(("name", "make", "error", "word"), BAD_FITS, ids=[b[0] for b in BAD_FITS])
def test_bad_fit_input(Estimator, name, make, error, word):
    X, y = make()
    with pytest.raises(error, match=word):
        Estimator(**TINY).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_with_wrong_columns(Estimator):
    model = Estimator(**TINY).fit(GOOD_P, GOOD_Q)
    with pytest.raises(ValueError, match="features"):
        model.transform(GOOD_P[:, :2])
    with pytest.raises(ValueError, match="NaN"):
        model.transform(_with(np.nan))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_inputs_are_not_modified(Estimator):
    X_p = np.asfortranarray(GOOD_P.copy())[:, ::-1]  # non-contiguous view
    X_q = GOOD_Q.copy()
    X_q.setflags(write=False)  # read-only input must be accepted
    before_p, before_q = X_p.copy(), X_q.copy()
    model = Estimator(**TINY).fit(X_p, X_q)
    model.transform(X_p)
    np.testing.assert_array_equal(X_p, before_p)
    np.testing.assert_array_equal(X_q, before_q)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("dtype", [np.float16, np.int64, bool, np.float32])
def test_numeric_dtypes_are_cast(Estimator, dtype):
    X = (GOOD_P * 3).astype(dtype)
    Y = (GOOD_Q * 3).astype(dtype)
    if dtype is bool:
        # Boolean samples must differ in more than a constant to be learnable.
        X, Y = GOOD_P > 0, GOOD_Q > 0.5
    model = Estimator(**TINY).fit(X, Y)
    out = model.transform(X)
    assert out.dtype == np.float64 and np.isfinite(out).all()
