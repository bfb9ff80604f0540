"""The timed ``history_``: the public record of where a fit spends its time.

Every record carries ``time``, the wall-clock seconds since training began, so a
user (or a benchmark) reads the time per step of each phase from the fitted model
instead of hooking into training."""

import numpy as np

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio


def samples(seed=0, n=200):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) * 0.5 + 1.0


def check_timed(history, phases):
    """Each of ``phases`` recorded, at non-decreasing times."""
    assert type(history) is list  # a plain list: pickles and compares like any attribute
    times = [record["time"] for record in history]
    assert all(isinstance(t, float) for t in times) and times[0] >= 0
    assert np.all(np.diff(times) >= 0)
    assert {record["phase"] for record in history} >= set(phases)
    for phase in phases:  # the steps of a phase grow with its time
        steps = [record["step"] for record in history if record["phase"] == phase]
        assert steps == sorted(steps) and steps[-1] > steps[0]


def test_flow_transport_history_times_both_phases():
    X_p, X_q = samples()
    model = FlowTransport(init_steps=30, refine_steps=4, classifier_warmup_steps=2,
                          random_state=0).fit(X_p, X_q)
    check_timed(model.history_, ["flow_matching", "refinement"])
    # Flow matching ends before refinement starts.
    last_fm = max(r["time"] for r in model.history_ if r["phase"] == "flow_matching")
    first_refinement = min(r["time"] for r in model.history_ if r["phase"] == "refinement")
    assert last_fm <= first_refinement


def test_density_ratio_history_times_training_and_validation():
    X_p, X_q = samples(1)
    model = TelescopicDensityRatio(bridge="linear", steps=40, lr_schedule="cosine",
                                   random_state=0).fit(X_p, X_q)
    check_timed(model.history_, ["density_ratio", "density_ratio_validation"])
