"""How wide the velocity network must be in high dimension: the flow's error against its width.

P is the Gaussian MI joint (``make_gaussian_mi``, correlation giving MI = d / 4 nats) and
Q the product of its marginals (the rows of Y shuffled), the pair that
``mutual_information`` bridges. The optimal map between them is linear and of full
rank: every one of the d directions is stretched or shrunk. A velocity network whose
narrowest layer has ``w < d`` units has a Jacobian of rank at most ``w`` and cannot
represent it.

For each width the flow is fitted as ``TelescopicDensityRatio`` fits its bridge flow
(``init_steps`` from ``bridge_flow_steps``, ``init_lr = BRIDGE_FLOW_LR``, no held-out
rows), then measured on fresh rows by the Gaussian KL divergences (from the sample
covariances) of the pulled-back product sample from P, ``KL(T^-1 # Q || P)``, and of the
pushed joint from Q, ``KL(T # P || Q)``: zero for an exact map, and a floor for the true
divergences, since the Gaussian of the same covariance is the closest in KL. The
sampling floor of the estimate (the Gaussian KL of a fresh sample of P from P) is
printed beside them.

Run ``python benchmarks/flow_width.py --dims 160 320 --widths 128 256 512``; writes
``benchmarks/results/flow_width.md``.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from flowdre_sklearn import FlowTransport
from flowdre_sklearn._core.budget import BRIDGE_FLOW_LR, bridge_flow_steps
from flowdre_sklearn.datasets import gaussian_mi_rho, make_gaussian_mi

from _report import markdown_table, stopwatch, write_report

EVALUATION_ROWS = 40_000


def gaussian_kl(cov: np.ndarray, reference: np.ndarray) -> float:
    """``KL(N(0, cov) || N(0, reference))``."""
    d = len(cov)
    precision = np.linalg.inv(reference)
    return 0.5 * (np.trace(precision @ cov) - d + np.linalg.slogdet(reference)[1]
                  - np.linalg.slogdet(cov)[1])


def joint_covariance(d: int) -> np.ndarray:
    half, rho = d // 2, gaussian_mi_rho(d, d / 4)
    cov = np.eye(d)
    cov[np.arange(half), half + np.arange(half)] = rho
    cov[half + np.arange(half), np.arange(half)] = rho
    return cov


def product(X: np.ndarray, Y: np.ndarray, seed: int) -> np.ndarray:
    return np.hstack([X, Y[np.random.default_rng(seed).permutation(len(Y))]])


def run(dims, widths, n, seed):
    records = []
    for d in dims:
        X, Y, _ = make_gaussian_mi(n, d=d, mi=d / 4, random_state=seed)
        Xe, Ye, _ = make_gaussian_mi(EVALUATION_ROWS, d=d, mi=d / 4, random_state=seed + 1)
        joint, joint_e = np.hstack([X, Y]), np.hstack([Xe, Ye])
        cov = joint_covariance(d)
        floor = gaussian_kl(np.cov(joint_e.T), cov)
        for width in widths:
            record = dict(d=d, width=width, floor=floor)
            flow = FlowTransport(
                hidden_layer_sizes=(width,) * 3, init_steps=bridge_flow_steps(n, 256),
                init_lr=BRIDGE_FLOW_LR, validation_fraction=0.0, random_state=seed)
            with stopwatch(record):
                flow.fit(joint, product(X, Y, seed))
            pulled = flow.inverse_transform(product(Xe, Ye, seed + 1))
            record["kl_pulled"] = gaussian_kl(np.cov(pulled.T), cov)
            record["kl_pushed"] = gaussian_kl(np.cov(flow.transform(joint_e).T), np.eye(d))
            records.append(record)
            print(f"d={d} width={width}: KL(T^-1#Q || P) {record['kl_pulled']:.2f}, "
                  f"KL(T#P || Q) {record['kl_pushed']:.2f} (floor {floor:.2f}), "
                  f"{record['seconds']:.0f} s", flush=True)
    return records


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[160, 320])
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--n", type=int, default=32_000, help="rows of the joint sample")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", default="flow_width")
    args = parser.parse_args(argv)
    records = run(args.dims, args.widths, args.n, args.seed)
    rows = [[r["d"], f"{r['d'] / 4:g}", r["width"], f"{r['kl_pulled']:.2f}",
             f"{r['kl_pushed']:.2f}", f"{r['floor']:.2f}", f"{r['seconds']:.0f}"]
            for r in records]
    table = markdown_table(["d", "MI", "width", "KL(T⁻¹#Q ‖ P)", "KL(T#P ‖ Q)",
                            "sampling floor", "fit seconds"], rows)
    command = "python benchmarks/flow_width.py " + " ".join(argv or sys.argv[1:])
    write_report(
        args.report, "Velocity-network width in high dimension", command.strip(),
        [f"Gaussian MI joint P against the product of its marginals Q, {args.n} joint rows, "
         f"seed {args.seed}; the flow fitted as the bridge flow of `TelescopicDensityRatio` "
         "with three hidden layers of the given width. Gaussian KL divergences (from "
         f"sample covariances over {EVALUATION_ROWS} fresh rows) of the pulled-back Q from "
         "P and of the pushed P from Q: lower bounds of the true divergences, zero for an "
         "exact map; the sampling floor is the same estimate for a fresh sample of P "
         "itself. The MI to be estimated is d / 4 nats.", table])
    print(table)
    return records


if __name__ == "__main__":
    main()
