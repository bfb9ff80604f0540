"""Persistence: pickle and joblib round trips give bit-identical outputs, a model fitted on
CUDA loads on a CPU-only machine, and a refit keeps nothing of the previous fit."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio

# The default dtype (float32): round trips must be exact in the precision users run.
FLOW = dict(hidden_layer_sizes=(8,), n_blocks=2, n_steps=1, init_steps=20, batch_size=32,
            device="cpu", random_state=0)
RATIO = dict(hidden_layer_sizes=(8,), n_intervals=2, steps=20, device="cpu", random_state=0)

rng = np.random.default_rng(0)
X_P = rng.normal(size=(60, 3))
X_Q = rng.normal(size=(60, 3)) * 0.7 + 1.5


def flow(**params):
    return FlowTransport(**{**FLOW, **params})


def ratio(**params):
    return TelescopicDensityRatio(**{"flow": flow(), **RATIO, **params})


def outputs(model, X_p=X_P, X_q=X_Q):
    """Every prediction the fitted model offers, on fixed rows."""
    out = {}
    if isinstance(model, FlowTransport):
        out["transform"] = model.transform(X_p)
        out["inverse_transform"] = model.inverse_transform(X_q)
        out["trajectory"] = model.trajectory(X_p, n_times=3)
        if model.q_is_standard_normal_:
            out["score_samples"] = model.score_samples(X_p)
            out["sample"] = model.sample(5, random_state=0)
    else:
        out["log_ratio"] = model.log_ratio(X_p)
        if model.q_is_standard_normal_:
            out["score_samples"] = model.score_samples(X_p)
        else:
            out["score"] = np.array(model.score(X_p, X_q))
    return out


# Fitted once per module: the models only need to exist, not to be good.
@pytest.fixture(scope="module", params=["flow-pair", "flow-normal", "ratio-pair", "ratio-normal"])
def fitted(request):
    kind, form = request.param.split("-")
    model = flow() if kind == "flow" else ratio()
    return model.fit(X_P, X_Q) if form == "pair" else model.fit(X_P)


def _pickle_round_trip(model, tmp_path):
    return pickle.loads(pickle.dumps(model))


def _joblib_round_trip(model, tmp_path):
    joblib.dump(model, tmp_path / "model.joblib")
    return joblib.load(tmp_path / "model.joblib")


@pytest.mark.parametrize("round_trip", [_pickle_round_trip, _joblib_round_trip],
                         ids=["pickle", "joblib"])
def test_round_trip_is_bit_identical(fitted, round_trip, tmp_path):
    expected = outputs(fitted)
    loaded = round_trip(fitted, tmp_path)
    assert loaded.device_ == fitted.device_
    got = outputs(loaded)
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def _tensor_devices(obj) -> set[str]:
    """Device types of every tensor that pickling ``obj`` writes."""
    devices = set()

    class Recorder(pickle.Pickler):
        def reducer_override(self, value):
            if isinstance(value, torch.Tensor):
                devices.add(value.device.type)
            return NotImplemented

    Recorder(io.BytesIO()).dump(obj)
    return devices


def test_pickled_state_is_a_cpu_copy(fitted):
    # A pickled CUDA tensor cannot be loaded where CUDA is missing, and __setstate__
    # runs only after the tensors were loaded: the state itself must hold CPU copies,
    # made without moving the live model (BaseEstimator.__getstate__ returns __dict__).
    state = fitted.__getstate__()
    assert state is not fitted.__dict__
    for name in type(fitted)._torch_attributes:
        assert state[name] is not getattr(fitted, name)
    assert _tensor_devices(fitted) == {"cpu"}


@pytest.mark.parametrize("make", [flow, ratio], ids=["FlowTransport", "TelescopicDensityRatio"])
def test_model_fitted_on_cuda_loads_on_cpu(make, monkeypatch):
    model = make().fit(X_P, X_Q)
    expected = outputs(model)
    # Fake a fit on a GPU: the stored device is all that differs on a CPU-only machine,
    # since the state holds CPU copies of the networks whatever the device.
    fitted_on = torch.device("cuda", 0)
    model.device_ = fitted_on
    n_gpu_models = 1
    if isinstance(model, TelescopicDensityRatio):
        model.flow_.device_ = fitted_on
        n_gpu_models = 2
    blob = pickle.dumps(model)
    assert model.device_ == fitted_on  # pickling left the live model alone
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="fitted on cuda:0 but CUDA is not available") as rec:
        loaded = pickle.loads(blob)
    # Only these: torch 2.4 adds a FutureWarning of its own when it unpickles tensors.
    assert len([w for w in rec if w.category is RuntimeWarning]) == n_gpu_models
    assert loaded.device_ == torch.device("cpu")
    if isinstance(loaded, TelescopicDensityRatio):
        assert loaded.flow_.device_ == torch.device("cpu")
    got = outputs(loaded)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


def test_unfitted_estimators_round_trip():
    for model in [flow(), ratio(), ratio(flow=flow().fit(X_P, X_Q))]:
        loaded = pickle.loads(pickle.dumps(model))
        assert repr(loaded) == repr(model)


def test_refit_keeps_nothing_of_the_previous_fit():
    # First fit: a DataFrame (feature names), Q = N(0, I) (score_samples, sample) and
    # three columns; the refit: plain arrays, a Q sample and two columns.
    df = pd.DataFrame(X_P, columns=["a", "b", "c"])
    B_p, B_q = X_P[:, :2] * 2, X_Q[:, :2] - 1
    for make in [flow, ratio]:
        model = make().fit(df)
        assert hasattr(model, "score_samples") and hasattr(model, "feature_names_in_")
        model.fit(B_p, B_q)
        fresh = make().fit(B_p, B_q)
        assert sorted(vars(model)) == sorted(vars(fresh))
        assert model.n_features_in_ == 2 and model.classes_ is None
        assert not hasattr(model, "feature_names_in_") and not hasattr(model, "score_samples")
        got = outputs(model, B_p, B_q)
        for name, values in outputs(fresh, B_p, B_q).items():
            np.testing.assert_array_equal(got[name], values, err_msg=name)
        # The same records, but for their wall times.
        untimed = [[dict(r, time=0) for r in m.history_] for m in (model, fresh)]
        assert untimed[0] == untimed[1]
        # And from the stacked form (classes_) back to the pair form.
        labels = np.r_[np.zeros(60), np.ones(60)]
        model.fit(np.vstack([B_p, B_q]), labels)
        np.testing.assert_array_equal(model.classes_, [0.0, 1.0])
        model.fit(B_p, B_q)
        assert model.classes_ is None
