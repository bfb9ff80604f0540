"""Optimal transport maps against closed forms: Gaussian pairs and a non-Gaussian Brenier map.

Gaussian -> Gaussian with random SPD covariances (``make_gaussian_ot``), whose
optimal map is affine and known; and a non-Gaussian pair where Q is the
push-forward of P = N(0, I) by the gradient of a convex function we build,
``grad phi(x) = A x + sum_k c_k sigmoid(w_k . x) w_k`` (c_k > 0), which is then
the optimal map (Brenier). There POT's ``LinearTransport`` is no longer exact.

Metrics on held-out P points, against the true map T: L2-UVP (%), mean cosine of
the fitted and the true displacements, transport cost / the true map's cost on
the same points (an unbiased stand-in for cost / W2^2), and for the flow
the round-trip error max ||T^-1(T(x)) - x||.

Methods: ``flow`` (FlowTransport defaults: flow-matching initialisation),
``flow-refined`` (plus Q-flow refinement), POT's ``LinearTransport``,
``EMDTransport`` and ``SinkhornTransport`` (fitted on a subsample, applied out
of sample by their barycentric mapping).

Run ``python benchmarks/ot_gaussian.py [--quick | --full]``; writes
``benchmarks/results/ot_gaussian.md`` and ``ot_gaussian.png``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from flowdre_sklearn import FlowTransport
from flowdre_sklearn.datasets import make_gaussian_ot

from _report import RESULTS, markdown_table, stopwatch, write_report

POT_SUBSAMPLE = 2048


class BrenierPair:
    """P = N(0, I); Q = (grad phi)#P with phi convex: the optimal map is grad phi."""

    def __init__(self, d: int, seed: int, n_ridges: int = 8) -> None:
        rng = np.random.default_rng(seed)
        basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
        self.A = basis @ np.diag(rng.uniform(0.5, 1.5, d)) @ basis.T
        self.W = rng.normal(size=(n_ridges, d)) / np.sqrt(d) * 2.0
        self.c = rng.uniform(0.5, 1.5, n_ridges)
        self.d = d

    def ot_map(self, X: np.ndarray) -> np.ndarray:
        gates = 1.0 / (1.0 + np.exp(-X @ self.W.T))
        return X @ self.A + (gates * self.c) @ self.W

    def sample(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        return rng.normal(size=(n, self.d)), self.ot_map(rng.normal(size=(n, self.d)))

    def w2_squared(self, n: int = 200_000) -> float:
        X = np.random.default_rng(12345).normal(size=(n, self.d))
        return float(np.mean(np.sum((self.ot_map(X) - X) ** 2, axis=1)))

    def target_variance(self, n: int = 200_000) -> float:
        Y = self.ot_map(np.random.default_rng(54321).normal(size=(n, self.d)))
        return float(np.trace(np.cov(Y.T)))


def fit_map(method: str, X_p: np.ndarray, X_q: np.ndarray, seed: int):
    """A fitted map ``x -> T(x)`` and, for flows, its inverse."""
    if method.startswith("flow"):
        refine = 1000 if method == "flow-refined" else 0
        flow = FlowTransport(refine_steps=refine, random_state=seed).fit(X_p, X_q)
        return flow.transform, flow.inverse_transform
    import ot

    rng = np.random.default_rng(seed)
    if method == "pot-linear":
        model = ot.da.LinearTransport()
        model.fit(Xs=X_p, Xt=X_q)
    else:
        sub_p = X_p[rng.choice(len(X_p), min(POT_SUBSAMPLE, len(X_p)), replace=False)]
        sub_q = X_q[rng.choice(len(X_q), min(POT_SUBSAMPLE, len(X_q)), replace=False)]
        if method == "pot-emd":
            model = ot.da.EMDTransport()
        else:
            # Entropic regularisation relative to the mean squared distance (POT's
            # norm="median" would rescale the cost; this keeps it in data units).
            model = ot.da.SinkhornTransport(reg_e=0.05, max_iter=2000, norm="max")
        model.fit(Xs=sub_p, Xt=sub_q)
    return (lambda X: model.transform(Xs=X)), None


def metrics(T_hat, T_inv, X_test, true_map, target_variance):
    moved, truth = T_hat(X_test), true_map(X_test)
    step_hat, step = moved - X_test, truth - X_test
    cosine = np.sum(step_hat * step, 1) / (
        np.linalg.norm(step_hat, axis=1) * np.linalg.norm(step, axis=1) + 1e-12
    )
    out = dict(
        l2_uvp=100 * np.mean(np.sum((moved - truth) ** 2, 1)) / target_variance,
        cosine=float(np.mean(cosine)),
        # Against the true map's cost on the same points: the sampling noise of the
        # test points cancels (their mean cost is 10% off W2^2 at 2000 points, d = 2).
        cost_ratio=float(np.mean(np.sum(step_hat**2, 1)) / np.mean(np.sum(step**2, 1))),
    )
    out["inversion"] = (
        float(np.max(np.linalg.norm(T_inv(moved) - X_test, axis=1))) if T_inv else np.nan
    )
    return out


def problems(dims, seed, n):
    for d in dims:
        X_p, X_q, gauss = make_gaussian_ot(n, d=d, random_state=seed)
        test = np.random.default_rng(seed + 100).multivariate_normal(
            gauss.mean_p, gauss.cov_p, size=2000
        )
        yield ("gaussian", d, X_p, X_q, test, gauss.ot_map, gauss.w2_squared(),
               float(np.trace(gauss.cov_q)))
    for d in dims:
        pair = BrenierPair(d, seed)
        X_p, X_q = pair.sample(n, seed)
        test = np.random.default_rng(seed + 100).normal(size=(2000, d))
        yield ("brenier", d, X_p, X_q, test, pair.ot_map, pair.w2_squared(),
               pair.target_variance())


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="d = 2 .. 32, no refinement")
    size.add_argument("--full", action="store_true", help="d = 2 .. 128")
    parser.add_argument("--dims", type=int, nargs="+")
    parser.add_argument("--methods", nargs="+")
    parser.add_argument("--n", type=int, default=4096, help="rows of each sample")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dims = args.dims or ([2, 8, 16, 32, 64, 128] if args.full else [2, 8, 16, 32])
    methods = args.methods or (
        (["flow"] if args.quick else ["flow", "flow-refined"])
        + ["pot-linear", "pot-emd", "pot-sinkhorn"]
    )
    records = []
    for kind, d, X_p, X_q, test, true_map, w2, variance in problems(dims, args.seed, args.n):
        for method in methods:
            record = dict(problem=kind, d=d, method=method)
            with stopwatch(record):
                T_hat, T_inv = fit_map(method, X_p, X_q, args.seed)
            record.update(metrics(T_hat, T_inv, test, true_map, variance))
            record["w2_squared"] = w2
            records.append(record)
            print(f"{kind:8s} d={d:3d} {method:13s} L2-UVP {record['l2_uvp']:7.2f}%  "
                  f"cos {record['cosine']:.3f}  cost/W2^2 {record['cost_ratio']:.3f}  "
                  f"inv {record['inversion']:.1e}  {record['seconds']:6.1f} s", flush=True)
    header = ["problem", "d", "method", "L2-UVP %", "cosine", "cost / true cost", "inversion",
              "fit s"]
    rows = [[r["problem"], r["d"], r["method"], f"{r['l2_uvp']:.2f}", f"{r['cosine']:.3f}",
             f"{r['cost_ratio']:.3f}", "" if np.isnan(r["inversion"]) else f"{r['inversion']:.1e}",
             f"{r['seconds']:.1f}"] for r in records]
    table = markdown_table(header, rows)
    plot(records, methods, RESULTS / "ot_gaussian.png")
    command = "python benchmarks/ot_gaussian.py " + " ".join(argv or sys.argv[1:])
    write_report(
        "ot_gaussian", "Optimal transport maps against closed forms", command.strip(),
        [f"{args.n} rows per sample (POT's EMD and Sinkhorn: a {POT_SUBSAMPLE}-row "
         f"subsample), 2000 held-out P points, seed {args.seed}.", table,
         "![L2-UVP against dimension](ot_gaussian.png)"],
    )
    print(table)
    return records


def plot(records, methods, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = sorted({r["problem"] for r in records})
    fig, axes = plt.subplots(1, len(kinds), figsize=(5 * len(kinds), 4), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for method in methods:
            rows = [r for r in records if r["problem"] == kind and r["method"] == method]
            ax.plot([r["d"] for r in rows], [r["l2_uvp"] for r in rows], marker="o",
                    label=method)
        ax.set(xscale="log", yscale="log", xlabel="dimension", ylabel="L2-UVP (%)", title=kind)
    axes[0][0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
