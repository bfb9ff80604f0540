"""Warnings name the user's line however deep the call, and the version floors that
CI tests are the ones pyproject.toml declares."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio

ROOT = Path(__file__).resolve().parents[1]

FLOW = dict(hidden_layer_sizes=(8,), n_blocks=1, n_steps=2, init_steps=20, batch_size=32,
            device="cpu", random_state=0)
RATIO = dict(hidden_layer_sizes=(8,), n_intervals=2, steps=20, batch_size=32, device="cpu",
             random_state=0)

rng = np.random.default_rng(0)
X_Q = rng.normal(size=(60, 2))
# Column 1 is constant in P only: the samples are mutually singular, which fit warns about.
X_P = np.column_stack([rng.normal(size=60), np.ones(60)])


def _flow():
    return FlowTransport(**FLOW)


def _ratio():
    return TelescopicDensityRatio(flow=_flow(), **RATIO)


def _one_sided_columns(fit):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    found = [w for w in caught if "constant in one sample" in str(w.message)]
    assert found, [str(w.message) for w in caught]
    return found


@pytest.mark.parametrize("make", [_flow, _ratio], ids=["FlowTransport", "TelescopicDensityRatio"])
@pytest.mark.parametrize("how", ["direct", "pipeline-last", "pipeline-first", "labels"])
def test_warning_in_fit_names_the_callers_line(make, how):
    if how == "direct":
        def fit():
            return make().fit(X_P, X_Q)
    elif how == "pipeline-last":
        def fit():
            return make_pipeline(StandardScaler(), make()).fit(X_P, X_Q)
    elif how == "pipeline-first":
        # Pipeline fits a step that is not the last through joblib's Memory.
        if make is _ratio:
            pytest.skip("TelescopicDensityRatio is not a transformer")

        def fit():
            return make_pipeline(make(), StandardScaler()).fit(X_P, X_Q)
    else:
        def fit():
            return make().fit(np.vstack([X_P, X_Q]), np.r_[np.zeros(60), np.ones(60)])
    for warning in _one_sided_columns(fit):
        assert warning.filename == __file__
        assert warning.lineno == fit.__code__.co_firstlineno + 1


def _floors_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    dependencies = re.search(r"^dependencies = \[(.*?)\]", text, re.M | re.S).group(1)
    requirements = re.findall(r'"([^"]+)"', dependencies)
    floors = dict(re.findall(r'"([\w.-]+)>=([\w.]+)"', dependencies))
    assert len(floors) == len(requirements), requirements  # each dependency has a floor
    return floors


def test_tested_floors_are_the_declared_ones():
    pins = {}
    for line in (ROOT / "requirements" / "floors.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name] = version
    declared = _floors_in_pyproject()
    assert pins == declared
