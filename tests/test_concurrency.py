"""Fits in threads of one process (joblib's threading backend, a web server): each is
reproducible and independent of the others, leaves the caller's random state alone, and
uses no more threads than torch is allowed."""

import threading

import numpy as np
import pytest
import torch

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio
from flowdre_sklearn._core.initialise import paired_batches
from flowdre_sklearn._core.networks import VelocityField, linear
from flowdre_sklearn._core.samples import TwoSamples

FLOW = dict(hidden_layer_sizes=(8,), n_blocks=1, n_steps=2, init_steps=30, batch_size=32,
            refine_steps=2, classifier_hidden_layer_sizes=(8,), classifier_warmup_steps=2,
            device="cpu")
RATIO = dict(hidden_layer_sizes=(8,), n_intervals=2, steps=30, batch_size=32, device="cpu")

rng = np.random.default_rng(0)
X_P = rng.normal(size=(80, 2))
X_Q = rng.normal(size=(80, 2)) * 0.5 + 1.0


def fit_flow(seed, X=X_P):
    return FlowTransport(**FLOW, random_state=seed).fit(X, X_Q).transform(X_P)


def fit_ratio_on_flow(seed, X=X_P):
    flow = FlowTransport(**dict(FLOW, refine_steps=0), random_state=seed)
    return TelescopicDensityRatio(flow=flow, **RATIO, random_state=seed).fit(
        X, X_Q).log_ratio(X_P)


def fit_ratio_on_line(seed, X=X_P):
    return TelescopicDensityRatio(bridge="linear", **RATIO, random_state=seed).fit(
        X, X_Q).log_ratio(X_P)


def in_threads(jobs):
    """Run the calls in ``jobs`` at once, one thread each, and return their results."""
    results, errors = [None] * len(jobs), []
    start = threading.Barrier(len(jobs))

    def run(i, job):
        try:
            start.wait(timeout=30)
            results[i] = job()
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


class Rendezvous:
    """Rows whose conversion to an array inside ``fit`` (once the fit is seeded, before
    any network exists) waits for the other thread's fit to get there too: a
    deterministic worst case of two fits interleaving."""

    def __init__(self, X, barrier):
        self.X, self.barrier, self.met = X, barrier, False

    def __array__(self, dtype=None, copy=None):
        if not self.met:
            self.met = True
            self.barrier.wait(timeout=30)
        return np.asarray(self.X, dtype=dtype)

    def __len__(self):
        return len(self.X)

    @property
    def shape(self):
        return self.X.shape


@pytest.mark.parametrize("fit", [fit_flow, fit_ratio_on_flow, fit_ratio_on_line],
                         ids=["FlowTransport", "TelescopicDensityRatio-flow",
                              "TelescopicDensityRatio-linear"])
def test_two_fits_in_threads_give_the_sequential_results(fit, one_torch_thread):
    torch.manual_seed(5)
    state = torch.get_rng_state()
    sequential = [fit(0), fit(1)]
    threaded = in_threads([lambda: fit(0), lambda: fit(1)])
    for alone, together in zip(sequential, threaded):
        np.testing.assert_array_equal(alone, together)
    assert not np.array_equal(*sequential)  # the seeds matter
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("fit", [fit_flow, fit_ratio_on_line],
                         ids=["FlowTransport", "TelescopicDensityRatio"])
def test_interleaved_fits_keep_their_own_seeds(fit, one_torch_thread):
    # Both fits are seeded before either builds its networks: with one generator for
    # the process, the seed set last would initialise both.
    torch.manual_seed(5)
    state = torch.get_rng_state()
    sequential = [fit(0), fit(1)]
    meet = threading.Barrier(2)
    threaded = in_threads([lambda: fit(0, Rendezvous(X_P, meet)),
                           lambda: fit(1, Rendezvous(X_P, meet))])
    for alone, together in zip(sequential, threaded):
        np.testing.assert_array_equal(alone, together)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_fit_starts_no_more_threads_than_torch_may_use(threads, monkeypatch):
    # With one torch thread the assignments of minibatch OT are solved in the fit's
    # own thread; otherwise in at most as many helpers as torch threads, and two.
    started = []
    start = threading.Thread.start

    def spy(thread):
        started.append(thread.name)
        start(thread)

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    monkeypatch.setattr(threading.Thread, "start", spy)
    try:
        FlowTransport(**dict(FLOW, init_steps=40, refine_steps=0), random_state=0).fit(
            X_P, X_Q)
    finally:
        torch.set_num_threads(before)
    assert len(started) == (0 if threads == 1 else 2), started


def test_ot_pairs_do_not_depend_on_the_thread_count():
    # Solved in the fit's thread or in helpers, the assignments come with the batches
    # drawn in the same order: a seed gives the same pairs on any machine.
    data = TwoSamples(torch.as_tensor(X_P), torch.as_tensor(X_Q))
    before, runs = torch.get_num_threads(), []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            generator = torch.Generator().manual_seed(0)
            runs.append([torch.cat(pair) for pair in
                         paired_batches(data, 40, 16, "ot", generator, lookahead=8)])
    finally:
        torch.set_num_threads(before)
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], run))


def test_networks_draw_torchs_initial_law_from_the_fits_generator():
    # The law of torch's nn.Linear, drawn from the generator given, and the global
    # generator left alone.
    torch.manual_seed(0)
    reference = torch.nn.Linear(5, 7)
    torch.manual_seed(0)
    same = linear(5, 7)
    torch.testing.assert_close(same.weight, reference.weight)
    torch.testing.assert_close(same.bias, reference.bias)
    state = torch.get_rng_state()
    nets = [VelocityField(3, (16, 16), generator=torch.Generator().manual_seed(1))
            for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), state)
    for a, b in zip(*(net.parameters() for net in nets)):
        assert torch.equal(a, b)
