"""Diagnose telescopic DRE on exact Gaussian bridges: per-interval logits against the truth.

P is the Gaussian MI joint (correlation chosen so that the MI is d / 4 nats), Q = N(0, I).
The snapshots are exact, so the flow's own error is out of the picture:

coherent  P pushed by the exact OT map's displacement interpolation (the same points moved,
          as the flow bridge does), closed by a fresh Q sample and the closing classifier
fresh     an independent sample of each displacement-interpolation marginal (an oracle)
vp        independent samples of the marginals of sqrt(1 - a^2) x_p + a x_q

For each interval it prints the mean logit ``log p_{j-1} - log p_j`` at held-out P points
and at points of the interval's own start snapshot, estimated and true, and the KL sum.

Run ``python benchmarks/time_score_bridge.py --bridge coherent --dim 20 --time-frequencies 8``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from flowdre_sklearn import TelescopicDensityRatio
from flowdre_sklearn._core.telescope import train_time_score
from flowdre_sklearn._core.training import Progress


def gaussian_logpdf(x: np.ndarray, cov: np.ndarray) -> np.ndarray:
    precision = np.linalg.inv(cov)
    _, logdet = np.linalg.slogdet(cov)
    quad = np.einsum("ni,ij,nj->n", x, precision, x)
    return -0.5 * (quad + logdet + x.shape[1] * np.log(2 * np.pi))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bridge", choices=["coherent", "fresh", "vp"], default="coherent")
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--intervals", type=int, default=8)
    parser.add_argument("--time-frequencies", type=int, default=8)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    d, n, M = args.dim, args.n, args.intervals
    rho = np.sqrt(1 - np.exp(-1.0))  # per-pair MI 1/2 nat: MI = d / 4
    cov_p = np.eye(d)
    for i in range(d // 2):
        cov_p[i, i + d // 2] = cov_p[i + d // 2, i] = rho
    eigenvalues, vectors = np.linalg.eigh(cov_p)
    ot_matrix = vectors @ np.diag(eigenvalues**-0.5) @ vectors.T  # optimal map P -> N(0, I)
    t = np.linspace(0, 1, M + 1)
    if args.bridge == "vp":
        covs = [(1 - a * a) * cov_p + a * a * np.eye(d) for a in t]
    else:
        steps = [(1 - s) * np.eye(d) + s * ot_matrix for s in t]
        covs = [a @ cov_p @ a.T for a in steps]
    rng = np.random.default_rng(args.seed)

    def sample(cov, size, generator):
        return generator.standard_normal((size, d)) @ np.linalg.cholesky(cov).T

    x_p = sample(cov_p, n, rng)
    if args.bridge == "coherent":
        snapshots = [x_p @ a.T for a in steps] + [sample(covs[-1], n, rng)]
    else:
        snapshots = [x_p] + [sample(c, n, rng) for c in covs[1:]]
    closing_at = "end" if args.bridge == "coherent" else None
    generator = torch.Generator().manual_seed(args.seed)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    # The estimator's defaults for everything not set here.
    config = TelescopicDensityRatio(
        hidden_layer_sizes=(64, 64), time_frequencies=args.time_frequencies, steps=args.steps,
        lr=1e-3, lr_schedule="cosine",
    )._time_score_config(d, n, validated=False)
    model, _ = train_time_score(
        [torch.tensor(s, dtype=torch.float32) for s in snapshots], config,
        closing_at=closing_at, generator=generator, progress=Progress(0), history=[],
    )
    seconds = time.perf_counter() - start

    def logits(points):
        x = torch.tensor(points, dtype=torch.float32)
        with torch.no_grad():
            inner = model.interval_logits(x.expand(M, *x.shape)).numpy()
            gap = model.closing_logit(x).numpy() if closing_at else np.zeros(len(points))
        return inner, gap

    held_out = sample(cov_p, 4000, np.random.default_rng(args.seed + 1))
    inner, gap = logits(held_out)
    truth = np.stack([gaussian_logpdf(held_out, covs[j]) - gaussian_logpdf(held_out, covs[j + 1])
                      for j in range(M)])
    own_est, own_true = [], []
    for j in range(M):
        points = sample(covs[j], 4000, np.random.default_rng(args.seed + 10 + j))
        own_est.append(logits(points)[0][j].mean())
        own_true.append((gaussian_logpdf(points, covs[j])
                         - gaussian_logpdf(points, covs[j + 1])).mean())
    print(f"{args.bridge} d={d} time_frequencies={args.time_frequencies} steps={args.steps}: "
          f"fit {seconds:.0f} s, KL estimate {(inner.sum(0) + gap).mean():.3f}, "
          f"true {truth.sum(0).mean():.3f}")
    print("  per interval, at P points:  est", np.round(inner.mean(1), 3))
    print("                              true", np.round(truth.mean(1), 3))
    print("  per interval, own snapshot: est", np.round(own_est, 3))
    print("                              true", np.round(own_true, 3))


if __name__ == "__main__":
    main()
