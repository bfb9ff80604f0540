"""Size and power of the held-out log-ratio two-sample test, against classifier and MMD tests.

Every task draws ``n`` rows of P and ``n`` of Q in ``d`` dimensions:

Tasks
-----
null         P = Q = N(0, I): the rejection rate is the size of the test
mean-shift   P = N(mu, I), Q = N(0, I), ``|mu| = MEAN_SHIFT`` along the diagonal
covariance   P = N(0, s^2 I), Q = N(0, I), ``s^2 = 1 + COV_CHANGE / sqrt(d)`` (the
             Gaussian KL then stays about constant in ``d``)
tails        P = N(0, I), Q a scale mixture of normals with the same mean and
             covariance: ``N(0, a I)`` with probability ``1 - TAIL_WEIGHT`` and
             ``N(0, TAIL_VARIANCE I)`` otherwise, ``a`` making the variance 1; only the
             tails (and the peak) differ

Methods
-------
default    ``two_sample_test`` with its defaults (one classifier with the estimator's
           ``"auto"`` network and budget) on its own random halves of the same rows
flow       ``two_sample_test``'s computation (a ``TelescopicDensityRatio`` fitted on the
           training halves, permutation p-value of the held-out mean log-ratio
           difference), on the benchmark's split so that every method sees the same rows
logistic   ``LogisticRegression`` trained on the same halves; held-out accuracy with a
           one-sided binomial p-value against 1/2 (the classifier two-sample test)
mlp        the same with ``MLPClassifier(hidden_layer_sizes=(64, 64))``
mmd        Gaussian-kernel MMD (bandwidth: median pairwise distance) on all rows of
           both samples, permutation p-value; it needs no training split

Run ``python benchmarks/two_sample.py [--full]``: the default is d = 2, 16, 200 rows a
side, 40 repetitions a cell; ``--full`` is d = 2, 16, 64, 500 rows, 100 repetitions.
``--tasks`` and ``--methods`` pick some (the default methods leave out ``default``, the
slowest).
Writes ``benchmarks/results/two_sample.md`` (``two_sample_full.md`` with ``--full``;
``--report NAME``: ``NAME.md``).
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from scipy.stats import binom
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from flowdre_sklearn import TelescopicDensityRatio, two_sample_test
from flowdre_sklearn.two_sample import permutation_pvalue

from _report import markdown_table, stopwatch, write_report

TASKS = ["null", "mean-shift", "covariance", "tails"]
METHODS = ["default", "flow", "logistic", "mlp", "mmd"]
DEFAULT_METHODS = METHODS[1:]
FLOW_PARAMS = dict(bridge="linear", n_intervals=1, hidden_layer_sizes=(16, 16), steps=200)
MEAN_SHIFT = 0.5
COV_CHANGE = 1.0
TAIL_WEIGHT = 0.1
TAIL_VARIANCE = 4.0
LEVEL = 0.05
N_PERMUTATIONS = 200


def sample(task: str, n: int, d: int, rng: np.random.Generator):
    X_p, X_q = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    if task == "mean-shift":
        X_p += MEAN_SHIFT / np.sqrt(d)
    elif task == "covariance":
        X_p *= np.sqrt(1 + COV_CHANGE / np.sqrt(d))
    elif task == "tails":
        core = (1 - TAIL_WEIGHT * TAIL_VARIANCE) / (1 - TAIL_WEIGHT)
        X_q *= np.sqrt(np.where(rng.random((n, 1)) < TAIL_WEIGHT, TAIL_VARIANCE, core))
    return X_p, X_q


def flow_pvalue(train, test, seed: int) -> float:
    (p_train, q_train), (p_test, q_test) = train, test
    model = TelescopicDensityRatio(random_state=seed, **FLOW_PARAMS).fit(p_train, q_train)
    values = np.concatenate([model.log_ratio(p_test), model.log_ratio(q_test)])
    is_p = np.arange(len(values)) < len(p_test)
    return permutation_pvalue(values.astype(np.float64), is_p, N_PERMUTATIONS,
                              np.random.default_rng(seed))[1]


def classifier_pvalue(classifier, train, test) -> float:
    """One-sided binomial p-value of the held-out accuracy (equal classes: chance is 1/2)."""
    X, y = np.vstack(train), np.repeat([1, 0], [len(part) for part in train])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(X, y)
    X, y = np.vstack(test), np.repeat([1, 0], [len(part) for part in test])
    correct = int((classifier.predict(X) == y).sum())
    return float(binom.sf(correct - 1, len(y), 0.5))


def mmd_pvalue(X_p: np.ndarray, X_q: np.ndarray, seed: int) -> float:
    """Permutation p-value of the biased MMD^2 with a median-heuristic Gaussian kernel."""
    X = np.vstack([X_p, X_q])
    sq = np.maximum((X**2).sum(1)[:, None] + (X**2).sum(1)[None] - 2 * X @ X.T, 0)
    K = np.exp(-sq / (2 * np.median(sq[np.triu_indices(len(X), 1)])))
    is_p = np.arange(len(X)) < len(X_p)
    labels = np.vstack([is_p, np.random.default_rng(seed).permuted(
        np.tile(is_p, (N_PERMUTATIONS, 1)), axis=1)])
    weights = labels / len(X_p) - ~labels / len(X_q)  # MMD^2 = w' K w
    stats = ((weights @ K) * weights).sum(1)
    return float((1 + (stats[1:] >= stats[0] - 1e-12).sum()) / (1 + N_PERMUTATIONS))


def pvalue(method: str, X_p: np.ndarray, X_q: np.ndarray, seed: int) -> float:
    """The p-value of ``method``; the trained ones split each sample into halves."""
    if method == "mmd":
        return mmd_pvalue(X_p, X_q, seed)
    if method == "default":
        return two_sample_test(X_p, X_q, n_permutations=N_PERMUTATIONS, random_state=seed).pvalue
    half = len(X_p) // 2
    train, test = (X_p[:half], X_q[:half]), (X_p[half:], X_q[half:])
    if method == "flow":
        return flow_pvalue(train, test, seed)
    classifier = (LogisticRegression() if method == "logistic"
                  else MLPClassifier((64, 64), max_iter=300, random_state=seed))
    return classifier_pvalue(classifier, train, test)


def run(dims, n: int, reps: int, tasks=TASKS, methods=DEFAULT_METHODS) -> list[dict]:
    records = []
    for d in dims:
        for task in tasks:
            for rep in range(reps):
                X_p, X_q = sample(task, n, d, np.random.default_rng(1000 * d + rep))
                for method in methods:
                    record = dict(d=d, task=task, method=method)
                    with stopwatch(record):
                        record["rejected"] = pvalue(method, X_p, X_q, rep) <= LEVEL
                    records.append(record)
            rates = {m: np.mean([r["rejected"] for r in records[-len(methods) * reps:]
                                 if r["method"] == m]) for m in methods}
            print(f"d={d:3d} {task:10s} "
                  + "  ".join(f"{m} {rate:.2f}" for m, rate in rates.items()), flush=True)
    return records


def summarise(records, dims, tasks=TASKS, methods=DEFAULT_METHODS) -> str:
    rows = []
    for d in dims:
        for task in tasks:
            cells = []
            for method in methods:
                cell = [r for r in records if (r["d"], r["task"], r["method"]) == (d, task, method)]
                cells.append(f"{np.mean([r['rejected'] for r in cell]):.2f}")
            rows.append([d, task, *cells])
    seconds = [f"{np.mean([r['seconds'] for r in records if r['method'] == m]):.2f}"
               for m in methods]
    rows.append(["", "seconds per test", *seconds])
    return markdown_table(["d", "task", *methods], rows)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true",
                        help="d = 2, 16, 64, 500 rows a side, 100 repetitions")
    parser.add_argument("--dims", type=int, nargs="+")
    parser.add_argument("--n", type=int, help="rows of each sample (half train, half test)")
    parser.add_argument("--reps", type=int, help="repetitions of each cell")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=TASKS)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=DEFAULT_METHODS)
    parser.add_argument("--report", help="name of the report in benchmarks/results/")
    args = parser.parse_args(argv)
    dims = args.dims or ([2, 16, 64] if args.full else [2, 16])
    n = args.n or (500 if args.full else 200)
    reps = args.reps or (100 if args.full else 40)
    report = args.report or ("two_sample_full" if args.full else "two_sample")
    records = run(dims, n, reps, args.tasks, args.methods)
    low, high = binom.interval(0.95, reps, LEVEL)
    table = summarise(records, dims, args.tasks, args.methods)
    command = "python benchmarks/two_sample.py " + " ".join(argv or sys.argv[1:])
    write_report(
        report, "Two-sample tests: size and power", command.strip(),
        [f"{n} rows of each sample, {reps} seeded repetitions a cell; rejection rate at "
         f"level {LEVEL}. On `null` it is the size: a valid test's rate lies in "
         f"[{low / reps:.2f}, {high / reps:.2f}] (95% binomial interval of {reps} draws); "
         "elsewhere it is the power. flow, logistic and mlp train on the first half of "
         "each sample and test on the second; default (`two_sample_test` with its "
         "defaults) on its own random halves; mmd uses all rows. "
         f"flow: `TelescopicDensityRatio(**{FLOW_PARAMS})`; "
         f"permutation tests use {N_PERMUTATIONS} permutations. Task parameters: mean shift "
         f"{MEAN_SHIFT}, covariance change {COV_CHANGE} / sqrt(d), tail weight {TAIL_WEIGHT} "
         f"at variance {TAIL_VARIANCE}. Tasks and methods: see the script's docstring.",
         table],
    )
    print(table)
    return records


if __name__ == "__main__":
    main()
