"""Covariate shift: a misspecified linear model fitted with importance weights.

Tasks
-----
1d   Shimodaira (2000): training inputs N(0.5, 0.5^2), test inputs N(0, 0.3^2),
     y = -x + x^3 + N(0, 0.3^2)
5d   the same cubic in each of 5 coordinates, summed: training inputs N(0.3, 0.5^2),
     test inputs N(0, 0.4^2), independent coordinates (a milder shift per coordinate,
     so that the true weights keep about a fifth of the rows)

A ``LinearRegression`` is fitted to the training rows, unweighted or weighted by
``q(x) / p(x)`` (test over training density) from:

Methods
-------
oracle        the true Gaussian densities
ours          ``TelescopicDensityRatio(random_state=seed).fit(X_train, X_test)
              .importance_weights(X_train)``, its defaults
logistic      ``LogisticRegression`` of test against training rows, on the raw inputs,
              with the prior correction ``- log(n_test / n_train)`` of its logit
logistic-quad the same on the inputs and their degree-2 products: the exact model class
              for two Gaussians, the best a logistic ratio can do here

All weights are self-normalised by ``flowdre_sklearn.weights.importance_weights``.
The score is the excess test risk ``E_test[(line(x) - f(x))^2]`` (the test MSE less
the noise variance) on 100,000 fresh test inputs.

Run ``python benchmarks/covariate_shift.py [--quick | --full]`` (default ``--full``:
seeds 0-9); writes ``benchmarks/results/covariate_shift.md``
(``covariate_shift_quick.md`` with ``--quick``; ``--report NAME``: ``NAME.md``).
"""

from __future__ import annotations

import argparse
import sys
import warnings

import numpy as np
from scipy.stats import norm
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from flowdre_sklearn import TelescopicDensityRatio, effective_sample_size
from flowdre_sklearn.weights import importance_weights

from _report import markdown_table, stopwatch, write_report

#: Training mean and sd, test mean and sd (per coordinate), dimension.
TASKS = {"1d": (0.5, 0.5, 0.0, 0.3, 1), "5d": (0.3, 0.5, 0.0, 0.4, 5)}
METHODS = ["unweighted", "oracle", "ours", "logistic", "logistic-quad"]
NOISE = 0.3
N_EVAL = 100_000
DESCRIPTION = (
    "* `1d`: Shimodaira (2000): training inputs N(0.5, 0.5^2), test inputs N(0, 0.3^2), "
    "y = -x + x^3 + N(0, 0.3^2).\n"
    "* `5d`: the same cubic in each of 5 independent coordinates, summed; training inputs "
    "N(0.3, 0.5^2), test inputs N(0, 0.4^2) per coordinate.\n\n"
    "Weights: `oracle` from the true densities; `ours` from `TelescopicDensityRatio` with "
    "its defaults (`fit(X_train, X_test).importance_weights(X_train)`); `logistic` from a "
    "`LogisticRegression` of test against training rows on the raw inputs, its logit less "
    "log(n_test / n_train); `logistic-quad` the same on the inputs and their degree-2 "
    "products, the exact model class for two Gaussians."
)


def cubic(X: np.ndarray) -> np.ndarray:
    return np.sum(-X + X**3, axis=1)


def make_task(task: str, n: int, seed: int):
    mean_p, sd_p, mean_q, sd_q, d = TASKS[task]
    rng = np.random.default_rng(seed)
    X_train = rng.normal(mean_p, sd_p, size=(n, d))
    y_train = cubic(X_train) + rng.normal(0, NOISE, size=n)
    X_test = rng.normal(mean_q, sd_q, size=(n, d))
    X_eval = rng.normal(mean_q, sd_q, size=(N_EVAL, d))
    oracle = np.sum(norm.logpdf(X_train, mean_q, sd_q) - norm.logpdf(X_train, mean_p, sd_p),
                    axis=1)
    return X_train, y_train, X_test, X_eval, oracle


def logistic_log_weights(X_train, X_test, degree: int) -> np.ndarray:
    X = np.vstack([X_train, X_test])
    labels = np.r_[np.zeros(len(X_train)), np.ones(len(X_test))]
    model = make_pipeline(PolynomialFeatures(degree, include_bias=False), StandardScaler(),
                          LogisticRegression(max_iter=1000)).fit(X, labels)
    return model.decision_function(X_train) - np.log(len(X_test) / len(X_train))


def log_weights(method: str, X_train, X_test, oracle, seed: int) -> np.ndarray | None:
    if method == "unweighted":
        return None
    if method == "oracle":
        return oracle
    if method == "ours":
        dre = TelescopicDensityRatio(random_state=seed).fit(X_train, X_test)
        return -dre.log_ratio(X_train)
    if method == "logistic":
        return logistic_log_weights(X_train, X_test, 1)
    if method == "logistic-quad":
        return logistic_log_weights(X_train, X_test, 2)
    raise ValueError(f"unknown method {method!r}")


def run(tasks, seeds, methods, n):
    records = []
    for task in tasks:
        for seed in seeds:
            X_train, y_train, X_test, X_eval, oracle = make_task(task, n, seed)
            for method in methods:
                record = dict(task=task, seed=seed, method=method)
                with stopwatch(record):
                    log_w = log_weights(method, X_train, X_test, oracle, seed)
                with warnings.catch_warnings():
                    # A low effective sample size is recorded in the table instead.
                    warnings.simplefilter("ignore", UserWarning)
                    w = None if log_w is None else importance_weights(log_w)
                line = LinearRegression().fit(X_train, y_train, sample_weight=w)
                record["risk"] = float(np.mean((line.predict(X_eval) - cubic(X_eval)) ** 2))
                record["ess"] = 1.0 if w is None else effective_sample_size(w) / n
                records.append(record)
                print(f"{task} seed={seed} {method:13s} excess risk {record['risk']:.4f} "
                      f"ESS {100 * record['ess']:3.0f}%  {record['seconds']:6.1f} s", flush=True)
    return records


def summarise(records, tasks, methods) -> str:
    rows = []
    for task in tasks:
        for method in methods:
            cell = [r for r in records if r["task"] == task and r["method"] == method]
            risk = np.array([r["risk"] for r in cell])
            spread = f" ± {risk.std(ddof=1):.4f}" if len(risk) > 1 else ""
            ess = np.mean([r["ess"] for r in cell])
            seconds = np.mean([r["seconds"] for r in cell])
            rows.append([task, method, f"{risk.mean():.4f}{spread}",
                         f"{np.median(risk):.4f}", f"{100 * ess:.0f}%", f"{seconds:.1f}"])
    return markdown_table(["task", "weights", "excess test risk (mean ± sd)", "median",
                           "ESS / n", "seconds"], rows)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="seed 0 only")
    size.add_argument("--full", action="store_true", help="seeds 0-9 (the default)")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--n", type=int, default=1000, help="training rows, and test rows")
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--report", help="name of the report in benchmarks/results/ "
                        "(default: covariate_shift, or covariate_shift_quick with --quick)")
    args = parser.parse_args(argv)
    tasks = args.tasks or list(TASKS)
    methods = args.methods or METHODS
    seeds = args.seeds or ([0] if args.quick else list(range(10)))
    report = args.report or ("covariate_shift_quick" if args.quick else "covariate_shift")
    records = run(tasks, seeds, methods, args.n)
    table = summarise(records, tasks, methods)
    command = "python benchmarks/covariate_shift.py " + " ".join(argv or sys.argv[1:])
    write_report(
        report, "Covariate shift: importance-weighted least squares", command.strip(),
        [f"{args.n} training and {args.n} test rows, seeds {seeds}. A `LinearRegression` "
         "(misspecified: the truth is cubic) is fitted to the training rows with the "
         "self-normalised weights q/p of each method (`importance_weights`). Excess test "
         "risk: the test MSE less the noise variance, on 100,000 fresh test inputs. ESS / "
         "n: Kish's effective sample size of the weights as a share of the rows. Seconds: "
         "estimating the weights.",
         DESCRIPTION,
         table],
    )
    print(table)
    return records


if __name__ == "__main__":
    main()
