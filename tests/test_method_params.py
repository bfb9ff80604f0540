"""Arguments of methods and functions are checked as the estimators' parameters are, by
scikit-learn's ``validate_params``: the error names the parameter and what it takes."""

import numpy as np
import pytest

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio, mutual_information


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(100, 2)), rng.normal(size=(100, 2)) + 1.0


def test_flow_transport_method_arguments(data):
    X_p, _ = data
    model = FlowTransport(init_steps=10, random_state=0).fit(X_p)
    with pytest.raises(ValueError, match="'n_times' parameter of FlowTransport.trajectory"):
        model.trajectory(X_p, n_times=1)
    assert model.trajectory(X_p[:3], n_times=2).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="'n_samples' parameter of FlowTransport.sample"):
        model.sample(0)
    with pytest.raises(ValueError, match="'random_state' parameter"):
        model.sample(2, random_state="seed")
    assert model.sample(2, random_state=np.random.default_rng(0)).shape == (2, 2)


def test_ratio_bound(data):
    X_p, X_q = data
    model = TelescopicDensityRatio(bridge="linear", steps=10, random_state=0).fit(X_p, X_q)
    with pytest.raises(ValueError, match="'max_ratio' parameter"):
        model.ratio(X_p, max_ratio=1.0)
    # No bound at all is allowed: the ratio unclipped.
    np.testing.assert_allclose(model.ratio(X_p, max_ratio=np.inf), np.exp(model.log_ratio(X_p)))


@pytest.mark.parametrize(("kwargs", "name"), [
    (dict(n_shuffles=0), "n_shuffles"), (dict(n_shuffles=1.5), "n_shuffles"),
    (dict(fresh_product="yes"), "fresh_product"), (dict(random_state=-1), "random_state"),
])
def test_mutual_information_arguments(data, kwargs, name):
    X, Y = data
    with pytest.raises(ValueError, match=f"'{name}' parameter of mutual_information"):
        mutual_information(X, Y, **kwargs)
