"""Mutual information that is hard the way users' data are: heavy tails, warps, two modes.

Every task gives paired samples ``X, Y`` with a known MI in nats:

Tasks
-----
student-t-dfDF-dD  blocks of a multivariate Student-t (``make_student_t_mi``, ``rho = 0``),
                   ``DF`` in 1, 2, 5 and total dimension ``D`` in 4 (2 + 2), 10 (5 + 5)
                   and 20 (10 + 10);
                   uncorrelated, dependent only through the shared random scale, with no
                   variance at ``DF <= 2`` and no mean at ``DF = 1``
warp-cube          correlated Gaussians (``make_gaussian_mi``, d = 4, MI = 1 nat) with
                   ``x**3`` applied to every coordinate of both blocks
warp-sinh          the same with ``sinh(2 x)``: exponential tails
warp-ndtr          the same with the normal CDF: bounded, piled up against 0 and 1
warp-spiral        the same with each 2-D block twisted by an angle proportional to its
                   radius (invertible, volume-preserving; the marginals stay Gaussian but
                   the dependence becomes a spiral)
bimodal-1d         1-D X and Y, an equal mixture of two correlated bivariate Gaussians at
                   (-2, -2) and (2, 2); its MI is integrated numerically on a grid
gaussian-1d        1-D X and Y, correlated Gaussians with MI = 0.5 nat: the small problem
                   whose estimate should take seconds, not minutes

Every warp acts on each block separately and is invertible, so it leaves the MI unchanged.

Methods
-------
default    ``mutual_information`` with its defaults: up to 4 features one classifier
           (batches of 1024 rows, weight decay 0.03), replaced by the flow bridge when
           its estimate exceeds 3 nats (never on these tasks); above 4 features (the
           d = 10 and 20 tasks) the flow bridge, with an end-to-end loss of weight 0.25
           up to 10 features
flow       ``mutual_information(bridge="flow")``: TelescopicDensityRatio along the flow
           bridge, the default of ``mutual_information`` before the pilot classifier
single     ``mutual_information(bridge="linear", n_intervals=1)``: one classifier between
           the joint and the product of marginals, on the estimator's batches of 256 rows
oracle     the mean of the true pointwise log-ratio over the same rows: what an estimator
           that knew the densities would return, so its spread over seeds is the sampling
           noise that no estimator from these rows avoids
ksg        Kraskov-Stoegbauer-Grassberger k-NN estimator (algorithm 1, k = 3, max-norm),
           on columns scaled by their median and interquartile range
infonce    InfoNCE lower bound of an MLP critic ``f(x, y)`` (128, 128, SiLU) trained by
           Adam, on rank-to-normal transformed columns; capped at ``log 256``. Every
           step scores all 256**2 pairs: about 0.17 s on one core, up to 6 min an estimate

Run ``python benchmarks/mi_hard.py [--quick | --full]`` (the default is ``--full``: all
tasks, seeds 0 1 2); writes ``benchmarks/results/mi_hard.md`` and ``mi_hard.png``
(``mi_hard_quick`` with ``--quick``; ``--report NAME``: ``NAME.md`` and ``NAME.png``).
Select with ``--tasks`` and ``--methods``; ``--n`` rows (default 5000).
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import sys

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma, ndtr, ndtri
from scipy.stats import multivariate_t, rankdata
from torch import nn

from flowdre_sklearn import mutual_information
from flowdre_sklearn._core.budget import (
    MI_END_TO_END_FEATURES,
    MI_END_TO_END_WEIGHT,
    SINGLE_CLASSIFIER_BATCH,
    SINGLE_CLASSIFIER_FEATURES,
    SINGLE_CLASSIFIER_NATS,
    SINGLE_CLASSIFIER_WEIGHT_DECAY,
)
from flowdre_sklearn.datasets import gaussian_mi_rho, make_gaussian_mi, make_student_t_mi

from _report import RESULTS, markdown_table, stopwatch, write_report

METHODS = ["default", "flow", "single", "oracle", "ksg", "infonce"]
STUDENT_T = [f"student-t-df{df}-d{d}" for d in (4, 10, 20) for df in (1, 2, 5)]
WARPS = {
    "cube": lambda x: x**3,
    "sinh": lambda x: np.sinh(2 * x),
    "ndtr": ndtr,
    "spiral": lambda x: spiral(x),
}
TASKS = [*STUDENT_T, *(f"warp-{name}" for name in WARPS), "bimodal-1d", "gaussian-1d"]
QUICK_TASKS = ["student-t-df1-d4", "student-t-df5-d4", "warp-cube", "warp-spiral", "bimodal-1d",
               "gaussian-1d"]

WARP_MI = 1.0
#: Radians of twist per unit radius of the ``spiral`` warp.
SPIRAL_RATE = 1.5
#: Component means (+-BIMODAL_MEAN on both axes) and within-component correlation.
BIMODAL_MEAN = 2.0
BIMODAL_RHO = 0.5
KSG_K = 3
INFONCE_BATCH = 256
INFONCE_STEPS = 2000
#: Rows of the InfoNCE score matrix per backward pass (the gradient is the same).
INFONCE_ROW_BLOCK = 32


# ---------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------


def spiral(block: np.ndarray, rate: float = SPIRAL_RATE) -> np.ndarray:
    """Rotate each consecutive pair of columns by ``rate`` times the pair's radius.

    In polar coordinates ``(r, t) -> (r, t + rate * r)``: the Jacobian in ``(r, t)`` is
    triangular with unit diagonal and ``r`` is kept, so the map is a bijection of the
    plane that preserves area. A last, unpaired column is left as it is.
    """
    out = block.copy()
    for j in range(0, block.shape[1] - 1, 2):
        a, b = block[:, j], block[:, j + 1]
        angle = rate * np.hypot(a, b)
        cos, sin = np.cos(angle), np.sin(angle)
        out[:, j], out[:, j + 1] = cos * a - sin * b, sin * a + cos * b
    return out


def _log_normal_1d(x: np.ndarray, mean: float) -> np.ndarray:
    return -0.5 * (x - mean) ** 2 - 0.5 * np.log(2 * np.pi)


def _log_normal_2d(x: np.ndarray, y: np.ndarray, mean: float, rho: float) -> np.ndarray:
    u, v = x - mean, y - mean
    det = 1 - rho**2
    return -0.5 * (u**2 - 2 * rho * u * v + v**2) / det - np.log(2 * np.pi) - 0.5 * np.log(det)


def bimodal_log_densities(x: np.ndarray, y: np.ndarray):
    """``log p(x, y)``, ``log p(x)`` and ``log p(y)`` of the ``bimodal-1d`` task.

    The joint is ``(N(-m, S) + N(m, S)) / 2`` with unit variances and correlation
    ``BIMODAL_RHO``; each marginal is then, in closed form, ``(N(-m, 1) + N(m, 1)) / 2``.
    """
    m, rho, half = BIMODAL_MEAN, BIMODAL_RHO, np.log(0.5)
    joint = np.logaddexp(_log_normal_2d(x, y, -m, rho), _log_normal_2d(x, y, m, rho)) + half
    px = np.logaddexp(_log_normal_1d(x, -m), _log_normal_1d(x, m)) + half
    py = np.logaddexp(_log_normal_1d(y, -m), _log_normal_1d(y, m)) + half
    return joint, px, py


@functools.cache
def bimodal_true_mi(step: float = 0.02, half_width: float = 14.0) -> float:
    """``E_p[log p(x, y) / (p(x) p(y))]`` by a Riemann sum on a uniform grid.

    The integrand is smooth and decays like a Gaussian, so the uniform sum (the trapezoid
    rule, its end terms being negligible) converges geometrically in the step: steps 0.05,
    0.02 and 0.01 agree to 1e-13, widening the square to ``[-20, 20]**2`` changes nothing
    (outside ``[-14, 14]**2``, 12 standard deviations past a mode, the mass is below
    1e-30), and a Monte Carlo mean of the log-ratio over 10**6 draws, 0.7454 +- 0.0006,
    agrees. So the value, 0.74471 nats, is good far beyond 1e-4.
    """
    grid = np.arange(-half_width, half_width + step / 2, step)
    x, y = np.meshgrid(grid, grid, indexing="ij")
    log_joint, log_px, log_py = bimodal_log_densities(x, y)
    return float(np.sum(np.exp(log_joint) * (log_joint - log_px - log_py)) * step**2)


def sample_bimodal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centre = BIMODAL_MEAN * rng.choice([-1.0, 1.0], size=n)
    u, v = rng.standard_normal((2, n))
    x = centre + u
    y = centre + BIMODAL_RHO * u + np.sqrt(1 - BIMODAL_RHO**2) * v
    return x[:, None], y[:, None]


def make_task(task: str, n: int, seed: int, warp_dim: int = 4):
    """``X, Y, true_mi`` of one task."""
    if task.startswith("student-t-"):
        df, d = task.removeprefix("student-t-df").split("-d")
        return make_student_t_mi(n, int(d), float(df), rho=0.0, random_state=seed)
    if task.startswith("warp-"):
        warp = WARPS[task.removeprefix("warp-")]
        X, Y, true_mi = make_gaussian_mi(n, d=warp_dim, mi=WARP_MI, random_state=seed)
        return warp(X), warp(Y), true_mi
    if task == "bimodal-1d":
        return (*sample_bimodal(n, seed), bimodal_true_mi())
    if task == "gaussian-1d":
        return make_gaussian_mi(n, d=2, mi=0.5, random_state=seed)
    raise ValueError(f"unknown task {task!r}")


def gaussian_log_ratio(X: np.ndarray, Y: np.ndarray, rho: float) -> np.ndarray:
    """``log p(x, y) - log p(x) p(y)`` of ``make_gaussian_mi``'s pairs, row by row."""
    det = 1 - rho**2
    return (-0.5 * X.shape[1] * np.log(det)
            - ((rho**2) * (X**2 + Y**2) - 2 * rho * X * Y).sum(1) / (2 * det))


def oracle_log_ratio(task: str, n: int, seed: int, warp_dim: int = 4) -> np.ndarray:
    """The true log-ratio at the rows of ``make_task(task, n, seed)``.

    A warp is a bijection of each block, so the log-ratio at a warped row is that of
    the Gaussian row it came from.
    """
    if task.startswith("student-t-"):
        X, Y, _ = make_task(task, n, seed, warp_dim)
        df = float(task.removeprefix("student-t-df").split("-d")[0])

        def log_t(A):
            return multivariate_t(np.zeros(A.shape[1]), np.eye(A.shape[1]), df=df).logpdf(A)

        return log_t(np.hstack([X, Y])) - log_t(X) - log_t(Y)
    if task.startswith("warp-") or task == "gaussian-1d":
        d, mi = (warp_dim, WARP_MI) if task.startswith("warp-") else (2, 0.5)
        X, Y, _ = make_gaussian_mi(n, d=d, mi=mi, random_state=seed)
        return gaussian_log_ratio(X, Y, gaussian_mi_rho(d, mi))
    if task == "bimodal-1d":
        joint, px, py = bimodal_log_densities(*(a[:, 0] for a in sample_bimodal(n, seed)))
        return joint - px - py
    raise ValueError(f"unknown task {task!r}")


# ---------------------------------------------------------------------------
# Baselines
# ---------------------------------------------------------------------------


def ksg_mi(X: np.ndarray, Y: np.ndarray, k: int = KSG_K, seed: int = 0) -> float:
    """Kraskov-Stoegbauer-Grassberger estimator, algorithm 1 (Phys. Rev. E 69, 066138, 2004).

    For each point i, ``eps_i`` is the max-norm distance to its k-th nearest neighbour in
    the joint space ``(x, y)``; ``n_x(i)`` and ``n_y(i)`` count the other points strictly
    closer than ``eps_i`` in the x and y spaces alone. Then
    ``I = psi(k) + psi(N) - mean_i[psi(n_x(i) + 1) + psi(n_y(i) + 1)]``.
    """
    rng = np.random.default_rng(seed)

    def prepare(A):
        # The max-norm mixes columns, so put them on one scale: median and interquartile
        # range, an affine map that outliers do not drive (a standard deviation would be
        # infinite for df <= 2). Then the noise Kraskov recommends, 1e-10 of that scale,
        # so that no two distances tie.
        A = np.asarray(A, dtype=float).reshape(len(A), -1)
        q25, q50, q75 = np.percentile(A, [25, 50, 75], axis=0)
        A = (A - q50) / np.where(q75 > q25, q75 - q25, 1.0)
        return A + 1e-10 * rng.standard_normal(A.shape)

    X, Y = prepare(X), prepare(Y)
    n = len(X)
    joint = np.hstack([X, Y])
    # k + 1 neighbours: the nearest is the point itself, at distance 0.
    eps = cKDTree(joint).query(joint, k=k + 1, p=np.inf)[0][:, -1]
    # Strictly closer: shrink the radius by one ulp, since query_ball_point counts <= r.
    radius = np.nextafter(eps, 0)
    # The counts include the point itself, so they are already n_x + 1 and n_y + 1.
    nx1 = cKDTree(X).query_ball_point(X, radius, p=np.inf, return_length=True)
    ny1 = cKDTree(Y).query_ball_point(Y, radius, p=np.inf, return_length=True)
    return float(digamma(k) + digamma(n) - np.mean(digamma(nx1) + digamma(ny1)))


def rank_to_normal(A: np.ndarray) -> np.ndarray:
    """Each column replaced by the normal quantiles of its ranks, ``ndtri(r / (n + 1))``."""
    A = np.asarray(A, dtype=float).reshape(len(A), -1)
    return ndtri(rankdata(A, axis=0) / (len(A) + 1))


class PairCritic(nn.Module):
    """An MLP ``f(x, y)`` on the concatenated pair, scored on every pair of a batch.

    The first layer of ``[x, y]`` is ``W_x x + W_y y + b``, so the ``B x B`` score matrix
    ``f(x_i, y_j)`` needs the two halves once each; it equals running the MLP on the
    ``B**2`` concatenated pairs.
    """

    def __init__(self, dx: int, dy: int, hidden=(128, 128)) -> None:
        super().__init__()
        self.dx = dx
        self.first = nn.Linear(dx + dy, hidden[0])
        layers: list[nn.Module] = [nn.SiLU()]
        for a, b in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(a, b), nn.SiLU()]
        self.rest = nn.Sequential(*layers, nn.Linear(hidden[-1], 1))

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        w = self.first.weight
        hx = x @ w[:, : self.dx].T + self.first.bias
        hy = y @ w[:, self.dx :].T
        return self.rest(hx[:, None, :] + hy[None, :, :]).squeeze(-1)


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    """``mean_i f(x_i, y_i) - mean_i logsumexp_j f(x_i, y_j) + log B``, at most ``log B``."""
    return (scores.diagonal().mean() - torch.logsumexp(scores, dim=1).mean()
            + math.log(len(scores)))


def infonce_mi(X, Y, seed: int = 0, steps: int = INFONCE_STEPS, batch_size: int = INFONCE_BATCH,
               lr: float = 1e-3, eval_every: int = 100, patience: int = 5,
               n_eval_batches: int = 32) -> float:
    """InfoNCE lower bound of a critic trained by Adam, on held-out batches (10% of rows).

    Columns are first mapped to normal scores by rank (robust to heavy tails, as a careful
    user would do). Training stops when the held-out bound has not improved for
    ``patience`` evaluations; the best critic is kept and the estimate is its mean bound
    over fresh random batches of the held-out rows, so it cannot exceed ``log B``.
    """
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    X = torch.as_tensor(rank_to_normal(X), dtype=torch.float32)
    Y = torch.as_tensor(rank_to_normal(Y), dtype=torch.float32)
    order = rng.permutation(len(X))
    n_val = max(2, round(0.1 * len(X)))
    val, train = order[:n_val], order[n_val:]
    batch, val_batch = min(batch_size, len(train)), min(batch_size, n_val)

    def val_batches(count):
        return [rng.choice(val, val_batch, replace=False) for _ in range(count)]

    critic = PairCritic(X.shape[1], Y.shape[1])
    optimiser = torch.optim.Adam(critic.parameters(), lr=lr)

    @torch.no_grad()
    def held_out(batches) -> float:
        return float(np.mean([infonce_bound(critic.scores(X[b], Y[b])).item() for b in batches]))

    stopping = val_batches(8)
    best, best_state, stale = -np.inf, copy.deepcopy(critic.state_dict()), 0
    for step in range(1, steps + 1):
        b = rng.choice(train, batch, replace=False)
        x, y = X[b], Y[b]
        optimiser.zero_grad()
        # The bound is a sum over rows i, so its gradient is accumulated over blocks of
        # rows: the same step, about twice as fast on CPU (smaller activations than the
        # B x B x 128 ones, reused by the allocator instead of mapped afresh each step).
        for rows in torch.arange(batch).split(INFONCE_ROW_BLOCK):
            scores = critic.scores(x[rows], y)
            positive = scores[torch.arange(len(rows)), rows]
            ((torch.logsumexp(scores, dim=1) - positive).sum() / batch).backward()
        optimiser.step()
        if step % eval_every == 0 or step == steps:
            value = held_out(stopping)
            if value > best:
                best, best_state, stale = value, copy.deepcopy(critic.state_dict()), 0
            else:
                stale += 1
                if stale >= patience:
                    break
    critic.load_state_dict(best_state)
    return held_out(val_batches(n_eval_batches))


def estimate(method: str, X: np.ndarray, Y: np.ndarray, seed: int,
             infonce_steps: int = INFONCE_STEPS) -> float:
    if method == "default":
        return mutual_information(X, Y, random_state=seed)
    if method == "flow":
        return mutual_information(X, Y, bridge="flow", random_state=seed)
    if method == "single":
        return mutual_information(X, Y, bridge="linear", n_intervals=1, random_state=seed)
    if method == "ksg":
        return ksg_mi(X, Y, seed=seed)
    if method == "infonce":
        return infonce_mi(X, Y, seed=seed, steps=infonce_steps)
    raise ValueError(f"unknown method {method!r}")


# ---------------------------------------------------------------------------
# Running and reporting
# ---------------------------------------------------------------------------


def run(tasks, seeds, methods, n, warp_dim=4, infonce_steps=INFONCE_STEPS):
    records = []
    for task in tasks:
        for seed in seeds:
            X, Y, true_mi = make_task(task, n, seed, warp_dim)
            for method in methods:
                record = dict(task=task, seed=seed, method=method, true=true_mi)
                with stopwatch(record):
                    record["estimate"] = (
                        float(oracle_log_ratio(task, n, seed, warp_dim).mean())
                        if method == "oracle" else estimate(method, X, Y, seed, infonce_steps))
                records.append(record)
                print(f"{task:18s} seed={seed} {method:8s} MI {record['estimate']:8.3f} "
                      f"(true {true_mi:.3f})  {record['seconds']:7.1f} s", flush=True)
    return records


def summarise(records, tasks, methods):
    rows = []
    for task in tasks:
        true_mi = next(r["true"] for r in records if r["task"] == task)
        row = [task, f"{true_mi:.3f}"]
        for method in methods:
            cell = [r for r in records if r["task"] == task and r["method"] == method]
            values = np.array([r["estimate"] for r in cell])
            rel = 100 * (values.mean() - true_mi) / true_mi
            spread = f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else ""
            seconds = np.mean([r["seconds"] for r in cell])
            time = f"{seconds:.2f}" if seconds < 10 else f"{seconds:.0f}"
            row.append(f"{values.mean():.3f}{spread} ({rel:+.0f}%) {time} s")
        rows.append(row)
    return markdown_table(["task", "true MI", *methods], rows)


def plot(records, tasks, methods, path, limits=(-0.5, 2.5)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.5, 1.5 + 0.8 * len(tasks)), 4.5))
    width = 0.8 / len(methods)
    for m, method in enumerate(methods):
        ratios = [np.array([r["estimate"] / r["true"] for r in records
                            if r["task"] == task and r["method"] == method]) for task in tasks]
        x = np.arange(len(tasks)) + (m - (len(methods) - 1) / 2) * width
        mean = np.array([v.mean() for v in ratios])
        shown = np.clip(mean, *limits)
        colour = f"C{m}"
        inside = mean == shown
        ax.errorbar(x[inside], mean[inside], yerr=np.array([v.std() for v in ratios])[inside],
                    fmt="o", color=colour, capsize=2, label=method)
        # Means outside the axes are drawn on its edge as triangles, with their value.
        for xi, value, clipped in zip(x, mean, shown):
            if value != clipped:
                ax.plot(xi, clipped, "^" if value > clipped else "v", color=colour)
                ax.annotate(f"{value:.1f}", (xi, clipped), fontsize=7, ha="center",
                            xytext=(0, -10 if value > clipped else 4),
                            textcoords="offset points")
    ax.axhline(1.0, color="k", ls="--", lw=1)
    ax.set_xticks(np.arange(len(tasks)), tasks, rotation=35, ha="right")
    ax.set(ylim=limits, ylabel="estimate / true MI", title="Mutual information on hard tasks")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def describe(tasks, warp_dim, infonce_steps, n) -> str:
    lines = []
    if any(t.startswith("student-t") for t in tasks):
        lines.append(
            "* `student-t-dfDF-dD`: X and Y are the two D/2-dimensional blocks of a "
            "multivariate Student-t with DF degrees of freedom and identity scale "
            "(`make_student_t_mi`, rho = 0). They are uncorrelated and dependent only through "
            "the shared random scale; DF = 1 is Cauchy-tailed (no mean), DF = 2 has no "
            "variance. The true MI is the closed form of Arellano-Valle et al. (2013); it is "
            "small at DF = 5, so relative errors there are large for small absolute ones.")
    if any(t.startswith("warp-") for t in tasks):
        lines.append(
            f"* `warp-NAME`: correlated Gaussian blocks (`make_gaussian_mi`, d = {warp_dim}, "
            f"MI = {WARP_MI:g} nat), then the same invertible map applied to X and to Y, "
            "which leaves the MI unchanged: `cube` x^3 and `sinh` sinh(2x) per coordinate "
            "(heavy tails), `ndtr` the normal CDF per coordinate (bounded, piled up at 0 "
            f"and 1), `spiral` each pair of columns rotated by {SPIRAL_RATE:g} rad per unit "
            "of its radius (area-preserving; the marginals stay Gaussian, the dependence "
            "becomes a spiral).")
    if "bimodal-1d" in tasks:
        lines.append(
            "* `bimodal-1d`: 1-D X and Y from an equal mixture of two bivariate Gaussians at "
            f"(-{BIMODAL_MEAN:g}, -{BIMODAL_MEAN:g}) and ({BIMODAL_MEAN:g}, {BIMODAL_MEAN:g}), "
            f"unit variances, correlation {BIMODAL_RHO:g} within a component. The true MI is "
            "the integral of p log p / (p_x p_y) by a Riemann sum on a 0.02-step grid over "
            "[-14, 14]^2, with closed-form two-component marginals (converged far below "
            "1e-4).")
    if "gaussian-1d" in tasks:
        lines.append(
            "* `gaussian-1d`: 1-D X and Y, correlated Gaussians with MI = 0.5 nat "
            "(`make_gaussian_mi(n, d=2, mi=0.5)`), a small problem whose "
            "estimate should take seconds.")
    methods = (
        "Methods: `default` is `mutual_information` with its defaults (up to "
        f"{SINGLE_CLASSIFIER_FEATURES} features a single classifier first, on batches of "
        f"{SINGLE_CLASSIFIER_BATCH} rows with a weight decay of "
        f"{SINGLE_CLASSIFIER_WEIGHT_DECAY:g}, replaced by the flow bridge above "
        f"{SINGLE_CLASSIFIER_NATS:g} nats; above, the flow bridge with an end-to-end loss "
        f"of weight {MI_END_TO_END_WEIGHT:g} up to {MI_END_TO_END_FEATURES} features), "
        "`flow` the same with "
        "`bridge=\"flow\"` (the default before the pilot classifier) and `single` with one "
        "linear-bridge interval (a single classifier between the joint and the product of "
        "marginals), all given the raw columns (which `mutual_information` warps to normal "
        "scores itself). `oracle` is the mean of the true log-ratio over the same rows, "
        "what an estimator that knew the densities would return: its spread over seeds is "
        "the sampling noise of the rows, which no estimator avoids. `ksg` is the Kraskov estimator "
        f"(algorithm 1, k = {KSG_K}, max-norm) on columns centred by their median and divided "
        "by their interquartile range, with 1e-10 noise against ties. `infonce` is the "
        "InfoNCE bound of an MLP critic f(x, y) on the concatenated pair (hidden (128, 128), "
        f"SiLU), Adam at lr 1e-3, batch {INFONCE_BATCH}, at most {infonce_steps} steps, "
        "stopped early on a held-out 10% of the rows and evaluated there; its columns are "
        "first mapped to normal scores by rank. That transform undoes any per-coordinate "
        "monotone warp (`cube`, `sinh`, `ndtr` look to it like the plain Gaussian task; "
        f"`spiral` does not), and the bound can never exceed log B = "
        f"{math.log(min(INFONCE_BATCH, round(0.1 * n))):.2f} nats.")
    return "\n".join(lines) + "\n\n" + methods


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="seed 0; Student-t df 1 and 5 at d = 4, two warps, bimodal")
    size.add_argument("--full", action="store_true", help="all tasks, seeds 0 1 2 (the default)")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, metavar="TASK",
                        help=f"of {', '.join(TASKS)}")
    parser.add_argument("--methods", nargs="+", choices=METHODS)
    parser.add_argument("--n", type=int, default=5000, help="rows of the joint sample")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="default: 0 with --quick, 0 1 2 otherwise")
    parser.add_argument("--warp-dim", type=int, default=4,
                        help="total dimension of the warped Gaussians")
    parser.add_argument("--infonce-steps", type=int, default=INFONCE_STEPS,
                        help="most Adam steps of the InfoNCE critic")
    parser.add_argument("--report", help="name of the report and plot in benchmarks/results/ "
                        "(default: mi_hard, or mi_hard_quick with --quick)")
    args = parser.parse_args(argv)
    tasks = args.tasks or (QUICK_TASKS if args.quick else TASKS)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    methods = args.methods or METHODS
    report = args.report or ("mi_hard_quick" if args.quick else "mi_hard")
    records = run(tasks, seeds, methods, args.n, args.warp_dim, args.infonce_steps)
    command = "python benchmarks/mi_hard.py " + " ".join(argv or sys.argv[1:])
    table = summarise(records, tasks, methods)
    RESULTS.mkdir(exist_ok=True)
    plot(records, tasks, methods, RESULTS / f"{report}.png")
    write_report(
        report, "Mutual information on hard tasks", command.strip(),
        [f"{args.n} joint rows, seeds {seeds}. Cells: mean estimate ± standard deviation "
         "over seeds (relative error of the mean) and mean seconds per estimate. `default`, "
         "`flow` and `single` give the mean log-ratio over the training joint sample, as "
         "`mutual_information` returns it.", describe(tasks, args.warp_dim,
                                                       args.infonce_steps, args.n),
         table, f"![estimate / true MI]({report}.png)"],
    )
    print(table)
    return records


if __name__ == "__main__":
    main()
