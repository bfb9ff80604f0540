"""Bad input raises a clear ValueError or TypeError before any training, and nothing the
caller passed is modified."""

import numpy as np
import pytest
import scipy.sparse as sp

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio


def _flow():
    return FlowTransport(hidden_layer_sizes=(8,), init_steps=5, random_state=0)


def _ratio():
    return TelescopicDensityRatio(flow=_flow(), hidden_layer_sizes=(8,), n_intervals=2, steps=5,
                                  random_state=0)


ESTIMATORS = [_flow, _ratio]
IDS = ["FlowTransport", "TelescopicDensityRatio"]

rng = np.random.default_rng(0)
GOOD_P = rng.normal(size=(20, 3))
GOOD_Q = rng.normal(size=(15, 3)) + 1


def _with(value, row=0, col=0, dtype=float):
    X = GOOD_P.astype(dtype)
    X[row, col] = value
    return X


BAD_FITS = [
    ("nan in X", lambda: (_with(np.nan), GOOD_Q), ValueError, "NaN"),
    ("inf in X", lambda: (_with(np.inf), GOOD_Q), ValueError, "infinity"),
    ("-inf in X", lambda: (_with(-np.inf), None), ValueError, "infinity"),
    ("nan in Q", lambda: (GOOD_P, np.vstack([GOOD_Q, [np.nan, 0, 0]])), ValueError,
     "X_q contains NaN"),
    ("-inf in Q", lambda: (GOOD_P, np.vstack([GOOD_Q, [-np.inf, 0, 0]])), ValueError, "infinity"),
    ("nan label", lambda: (GOOD_P, np.r_[np.nan, np.arange(19) % 2]), ValueError, "NaN"),
    ("inf label", lambda: (GOOD_P, np.r_[np.inf, np.arange(19) % 2]), ValueError, "infinity"),
    ("None in object X", lambda: (_with(None, dtype=object), None), ValueError, "NaN"),
    ("1-D X", lambda: (GOOD_P[:, 0], None), ValueError, "2D"),
    ("3-D X", lambda: (GOOD_P.reshape(20, 3, 1), None), ValueError, "dim 3"),
    ("3-D Q", lambda: (GOOD_P, GOOD_Q[None]), ValueError, "2-D Q sample"),
    ("no columns", lambda: (np.empty((20, 0)), None), ValueError, "0 feature"),
    ("Q columns", lambda: (GOOD_P, GOOD_Q[:, :2]), ValueError, "columns"),
    ("one row in P", lambda: (GOOD_P[:1], GOOD_Q), ValueError, "minimum of 2"),
    ("one row in Q", lambda: (GOOD_P, GOOD_Q[:1]), ValueError, "minimum of 2"),
    ("empty X", lambda: (np.empty((0, 3)), GOOD_Q), ValueError, "minimum of 2"),
    ("empty Q", lambda: (GOOD_P, np.empty((0, 3))), ValueError, "minimum of 2"),
    ("empty labels", lambda: (GOOD_P, np.empty(0)), ValueError, "0 labels"),
    ("one label", lambda: (GOOD_P, np.zeros(20)), ValueError, "only one class"),
    ("three labels", lambda: (GOOD_P, np.arange(20) % 3), ValueError, "two distinct values"),
    ("continuous labels", lambda: (GOOD_P, GOOD_P[:, 0]), ValueError, "continuous"),
    ("mixed label types", lambda: (GOOD_P, np.array([None, "q"] * 10, dtype=object)),
     ValueError, "mixes labels"),
    ("labels of wrong length", lambda: (GOOD_P, np.arange(19) % 2), ValueError, "19 labels"),
    ("one row of a class", lambda: (GOOD_P, np.r_[1, np.zeros(19)]), ValueError, "at least 2"),
    ("all rows one point", lambda: (np.ones((20, 3)), np.ones((15, 3))), ValueError, "same point"),
    ("sparse X", lambda: (sp.csr_matrix(GOOD_P), None), TypeError, "Sparse"),
    ("sparse Q", lambda: (GOOD_P, sp.csr_matrix(GOOD_Q)), TypeError, "Sparse"),
    # Strings that are not numbers; numeric strings are cast, as sklearn does.
    ("string X", lambda: (GOOD_P.astype(str).astype(object) + "x", None), ValueError, "string"),
    ("string Q", lambda: (GOOD_P, np.char.add(GOOD_Q.astype(str), "x")), ValueError, "string"),
    ("complex X", lambda: (GOOD_P + 1j, None), ValueError, "Complex"),
    ("complex Q", lambda: (GOOD_P, GOOD_Q + 1j), ValueError, "Complex"),
    # Labels passed as a column: with one feature they could be a Q sample of two points
    # (formerly read so, silently); with more, the error says how to pass labels.
    ("label column, one feature", lambda: (GOOD_P[:, :1], (np.arange(20) % 2)[:, None]),
     ValueError, "could be labels"),
    ("label column, three features", lambda: (GOOD_P, (np.arange(20) % 2)[:, None]),
     ValueError, r"y\.ravel\(\)"),
]


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize(("name", "data", "error", "word"), BAD_FITS, ids=[b[0] for b in BAD_FITS])
def test_bad_fit_input(make, name, data, error, word):
    X, y = data()
    model = make()
    with pytest.raises(error, match=word):
        model.fit(X, y)
    # Nothing of a failed fit stays behind.
    assert not [k for k in vars(model) if k.endswith("_")]


# Fitted once per module: the predict-time checks need a model, not a good one.
@pytest.fixture(scope="module", params=ESTIMATORS, ids=IDS)
def fitted(request):
    return request.param().fit(GOOD_P, GOOD_Q)


def _predict_methods(model):
    if isinstance(model, FlowTransport):
        return [model.transform, model.inverse_transform, model.trajectory, model.transport_cost]
    return [model.log_ratio, model.ratio, model.kl_divergence, lambda X: model.score(X, GOOD_Q)]


BAD_PREDICTS = [
    ("wrong columns", lambda: GOOD_P[:, :2], ValueError, "features"),
    ("nan", lambda: _with(np.nan), ValueError, "NaN"),
    ("inf", lambda: _with(np.inf), ValueError, "infinity"),
    ("1-D", lambda: GOOD_P[0], ValueError, "2D"),
    ("3-D", lambda: GOOD_P[None], ValueError, "dim 3"),
    ("empty", lambda: np.empty((0, 3)), ValueError, "0 sample"),
    ("sparse", lambda: sp.csr_matrix(GOOD_P), TypeError, "Sparse"),
    ("complex", lambda: GOOD_P + 1j, ValueError, "Complex"),
    ("string", lambda: np.char.add(GOOD_P.astype(str), "x"), ValueError, "string"),
]


@pytest.mark.parametrize(("name", "data", "error", "word"), BAD_PREDICTS,
                         ids=[b[0] for b in BAD_PREDICTS])
def test_bad_predict_input(fitted, name, data, error, word):
    for method in _predict_methods(fitted):
        with pytest.raises(error, match=word):
            method(data())


def test_one_row_predicts(fitted):
    for method in _predict_methods(fitted)[:1]:
        one, batch = method(GOOD_P[:1]), method(GOOD_P)
        assert one.shape[0] == 1
        # float32: a one-row matmul rounds differently from a batched one (about 1e-7).
        np.testing.assert_allclose(one, batch[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_inputs_are_not_modified(make):
    X_p = np.asfortranarray(GOOD_P.copy())[:, ::-1]  # non-contiguous view
    X_q = GOOD_Q.copy()
    X_q.setflags(write=False)  # read-only input must be accepted
    labels = np.r_[np.zeros(20), np.ones(15)]
    labels.setflags(write=False)
    before_p, before_q = X_p.copy(), X_q.copy()
    model = make().fit(X_p, X_q)
    for method in _predict_methods(model):
        method(X_p)
    model.fit(np.vstack([X_p, X_q]), labels)
    np.testing.assert_array_equal(X_p, before_p)
    np.testing.assert_array_equal(X_q, before_q)
    np.testing.assert_array_equal(labels, np.r_[np.zeros(20), np.ones(15)])
    assert not X_q.flags.writeable and not labels.flags.writeable


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float16, np.int64, np.int32, np.uint8, bool, np.float32,
                                   object, str])
def test_numeric_dtypes_are_cast(make, dtype):
    # Object arrays of numbers and numeric strings are accepted, as sklearn accepts them.
    X = (GOOD_P * 3 + 10).astype(dtype)
    Y = (GOOD_Q * 3 + 10).astype(dtype)
    if dtype is bool:
        # Boolean samples must differ in more than a constant to be learnable.
        X, Y = GOOD_P > 0, GOOD_Q > 0.5
    model = make().fit(X, Y)
    out = _predict_methods(model)[0](X)
    assert out.dtype == np.float64 and np.isfinite(out).all()
    # Cast as values, not reinterpreted: the same as passing the values as floats.
    np.testing.assert_array_equal(out, _predict_methods(model)[0](X.astype(np.float64)))


@pytest.mark.parametrize("make", ESTIMATORS, ids=IDS)
def test_one_feature_reads_a_two_dimensional_y_as_the_q_sample(make):
    # The rule the refusal above guards: labels are 1-D, a 2-D y is the Q sample. A
    # one-column y of continuous values on a one-feature X (as many rows or not) fits
    # as Q, and the same labels passed 1-D fit as labels.
    X = GOOD_P[:, :1]
    for q in (GOOD_Q[:, :1], GOOD_Q[:, :1].repeat(2, 0)[:20]):
        assert make().fit(X, q).n_features_in_ == 1
    model = make().fit(np.vstack([X, GOOD_Q[:, :1]]), np.r_[np.zeros(20), np.ones(15)])
    np.testing.assert_array_equal(model.classes_, [0.0, 1.0])
