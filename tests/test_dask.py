"""Searches scaled out on a Dask cluster through joblib (docs/user_guide/scaling.rst).

A search run in Dask worker processes (``joblib.parallel_config(backend="dask")``) must give
what the same search gives in this process: every fit is seeded by ``random_state``, and
each worker runs torch on one thread, as the local search here does. The one thread is
Dask's default, not ours: a nanny sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` to 1 before it starts its worker process
(``distributed.nanny.pre-spawn-environ``). The tests check that it holds inside a fit, and
that the setting the user guide gives for more threads per worker takes effect.

Needs the ``distributed`` extra (``pip install -e ".[distributed]"``); skipped without it.
The workers import these test modules by name (the estimator subclass and the scorers
below), which they can because they start with this process's ``sys.path``.
"""

import os
from contextlib import ExitStack, contextmanager

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_val_score
from test_cross_validation import mean_match_score
from test_sklearn_api import (
    LABELS,
    REFINED,
    X_P,
    X_Q,
    X_STACKED,
    ThreadRecorder,
    threads_seen,
    tiny_flow,
    tiny_ratio,
)

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

CV = StratifiedKFold(3, shuffle=True, random_state=0)
# Seconds to wait for a cluster to start or to close.
TIMEOUT = 60


@contextmanager
def local_cluster(n_workers, threads_per_worker):
    """A LocalCluster of worker processes on this machine and a Client of it, closed after.

    The workers start from an environment without thread settings, so that what the tests
    see in them is what Dask sets, not what this process passed on (the suite is often run
    with ``OMP_NUM_THREADS=1``). Starting a worker also writes Dask's pre-spawn variables
    into this process's environment (the thread counts, ``PYTHONHASHSEED``,
    ``MALLOC_TRIM_THRESHOLD_``), where later tests (loky workers) would inherit them: the
    environment is restored once every worker is up, and again after the cluster closes.
    """
    before = dict(os.environ)

    def restore():
        os.environ.clear()
        os.environ.update(before)

    with ExitStack() as stack:
        stack.callback(restore)
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.pop(name, None)
        cluster = distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True,
            host="127.0.0.1", dashboard_address=None,
        )
        stack.callback(cluster.close, timeout=TIMEOUT)
        client = stack.enter_context(distributed.Client(cluster, timeout=TIMEOUT))
        client.wait_for_workers(n_workers, timeout=TIMEOUT)
        restore()
        yield client


@contextmanager
def on_dask(client):
    """joblib's dask backend, and a check that the calls made in it ran on the cluster.

    joblib runs them in this process instead when the cluster has one worker thread in
    all: the dask backend's ``effective_n_jobs`` is the cluster's thread count, whatever
    ``n_jobs`` says, and joblib runs one job sequentially.
    """
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_config(backend="dask"):
            yield
    batches = [task for task in stream.data if "batch_of_" in str(task["key"])]
    assert batches, "no call ran on the cluster"


def environment_variable(name):
    return os.environ.get(name)


def worker_environment(client, name):
    # Not client.run(os.environ.get, name): that pickles this process's os.environ along
    # with its method, and reads the copy.
    return sorted(client.run(environment_variable, name).values())


def torch_threads_in_fits(client, n_fits):
    """Torch's thread count inside each of ``n_fits`` fits run on the cluster, read there
    by the estimator."""
    search = GridSearchCV(
        ThreadRecorder(**tiny_flow().get_params()), {"gamma": list(range(n_fits))},
        cv=KFold(2), scoring=threads_seen, refit=False, n_jobs=-1,
    )
    with on_dask(client):
        search.fit(X_P, X_Q)
    return search.cv_results_["mean_test_score"]


# First in the file, so that its cluster has closed before the module's one starts (two
# at once would both want the scheduler's default HTTP port, and Dask would warn).
def test_more_torch_threads_per_worker_through_the_dask_config():
    # The user guide's way to give each worker k threads (few workers on a large machine):
    # Dask's pre-spawn variables, set before the workers start. Both of them: torch takes
    # its thread count from MKL_NUM_THREADS, when that is set, over OMP_NUM_THREADS, and
    # Dask sets both to 1 (OMP_NUM_THREADS=2 alone leaves torch on one thread).
    prefix = "distributed.nanny.pre-spawn-environ."
    with dask.config.set({prefix + "OMP_NUM_THREADS": 2, prefix + "MKL_NUM_THREADS": 2}):
        # One process with two task threads: two worker threads in all, so that joblib
        # sends the fits to the cluster (see on_dask).
        with local_cluster(n_workers=1, threads_per_worker=2) as client:
            assert worker_environment(client, "OMP_NUM_THREADS") == ["2"]
            np.testing.assert_array_equal(torch_threads_in_fits(client, 2), [2, 2])


@pytest.fixture(scope="module")
def client():
    with local_cluster(n_workers=2, threads_per_worker=1) as client:
        yield client


def test_workers_fit_with_one_torch_thread(client):
    # On a machine of more than one core, torch would otherwise take one thread per core
    # in each worker, and the workers would oversubscribe the cores.
    assert worker_environment(client, "OMP_NUM_THREADS") == ["1", "1"]
    assert worker_environment(client, "MKL_NUM_THREADS") == ["1", "1"]
    # What counts is torch's thread count inside a fit.
    np.testing.assert_array_equal(torch_threads_in_fits(client, 4), [1, 1, 1, 1])


@pytest.mark.parametrize("which", ["TelescopicDensityRatio", "FlowTransport"])
def test_grid_search_on_dask_equals_the_local_search(client, which, one_torch_thread):
    if which == "TelescopicDensityRatio":
        estimator = tiny_ratio(steps=50)
        grid = {"hidden_layer_sizes": [(4,), (8,)], "n_intervals": [2, 3]}
        params = {}
    else:
        # No score: a search needs a scoring; refinement makes gamma matter.
        estimator = tiny_flow(**REFINED)
        grid = {"gamma": [0.0, 1.0], "hidden_layer_sizes": [(4,), (8,)]}
        params = {"scoring": mean_match_score}
    # P rows stacked above Q rows: a shuffled StratifiedKFold (CV).
    remote = GridSearchCV(estimator, grid, cv=CV, n_jobs=-1, **params)
    with on_dask(client):
        remote.fit(X_STACKED, LABELS)
    # The same search in this process, on one torch thread as in the workers.
    local = GridSearchCV(estimator, grid, cv=CV, n_jobs=1, **params).fit(X_STACKED, LABELS)
    scores = local.cv_results_["mean_test_score"]
    # Every candidate is a different fit, so the parameters reached the workers.
    assert np.isfinite(scores).all() and len(np.unique(scores)) == len(scores), scores
    # Fits seeded alike, on the same kind of device and one thread: the same numbers.
    for key in ["mean_test_score", "split0_test_score", "split2_test_score"]:
        np.testing.assert_allclose(remote.cv_results_[key], local.cv_results_[key],
                                   rtol=1e-12, atol=0, err_msg=key)
    assert remote.best_params_ == local.best_params_
    assert remote.best_index_ == local.best_index_


def test_cross_val_score_on_dask_equals_the_local_one(client, one_torch_thread):
    estimator = tiny_ratio(steps=50)
    with on_dask(client):
        remote = cross_val_score(estimator, X_STACKED, LABELS, cv=CV, n_jobs=-1)
    local = cross_val_score(estimator, X_STACKED, LABELS, cv=CV, n_jobs=1)
    assert remote.shape == (3,) and np.isfinite(remote).all()
    np.testing.assert_allclose(remote, local, rtol=1e-12, atol=0)
