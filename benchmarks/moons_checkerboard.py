"""Two moons -> checkerboard, the 2-D example of the Q-flow paper, against the reference code.

P is the two-moons sample, Q the checkerboard (``datasets.make_moons_checkerboard``).
``FlowTransport`` is fitted on a training pair with the settings of
``examples/demo_moons_checkerboard.py``; every figure is measured on an independent
held-out pair:

* two-sample classifier accuracy between ``T(X_p)`` and ``X_q`` (HistGradientBoosting,
  5-fold ``cross_val_score``, up to 10,000 rows per side; 0.5 = indistinguishable), the
  figure ``/work/shared/REFERENCE.md`` measured for the reference code's initial flow
  (0.584), next to the same classifier on ``X_p`` vs ``X_q`` and on two Q samples;
* transport cost ``mean ||T(x) - x||^2`` (reference's initial flow: 0.667);
* inversion error ``max |T^-1(T(x)) - x|`` and fit seconds.

Speed against the reference code, measured side by side in this run. The reference code
(hamrel-cxu/FlowOT) is not run here; instead a flow of ours shaped like it is timed:
velocity network d-256-256-d (concat-squash layers, Softplus(beta=20)), 24 fixed RK4 steps
per push (the reference concatenates two networks of 4 blocks x 3 RK4 steps each; ours is
one network over [0, 1] cut into 8 blocks of 3 RK4 steps: the same 96 network
evaluations), adjoint gradients (``adjoint=True``, torchdiffeq's ``odeint_adjoint``),
classifier d-312-312-312-1, one direction per batch, flow batch 2,000. A fixed small
number of refinement steps is timed through the core's ``train_flow`` with a progress hook
that timestamps every step (the first step, which includes setting up, is left out), and
the same is done for the same shape with backpropagation through the solver, and for the
network and grid that this benchmark fits. Classifier updates are switched off in these
timed steps (``classifier_steps=0``), so a step is what REFERENCE.md's "one flow-
refinement batch" is: forward, backward, Adam step. The push of rows without gradient is
timed as well (best of two) and quoted per 50,000 rows. REFERENCE.md's own figures
(1.6-2.0 s per batch, 20.9 s per push of 50,000, both with 2 torch threads) are quoted
next to them; the ratios between rows of the same run are the fair comparison.

Density ratio: a ``TelescopicDensityRatio`` is fitted on the training pair along the
already fitted flow; its held-out ``score`` (balanced negative log-loss, log(1/2) =
-0.693 is chance) is reported, and a figure maps its per-interval logits
``R_j(x) = log p_{t_{j-1}}(x) - log p_{t_j}(x)`` (``TimeScoreModel.interval_logits``),
the closing logit (P side minus Q side) and their sum, the total ``log p - log q``, on a grid.

Run from the repository root::

    python benchmarks/moons_checkerboard.py --quick   # small run, about 2-3 minutes on 2 cores
    python benchmarks/moons_checkerboard.py           # the demo's settings, 4,000 rows per side
    python benchmarks/moons_checkerboard.py --full    # 50,000 rows per side, as the reference

Writes ``benchmarks/results/moons_checkerboard.md``, ``moons_checkerboard.png`` (samples,
flow paths, pushed and pulled-back samples) and ``moons_checkerboard_intervals.png``.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import cross_val_score

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio
from flowdre_sklearn._core.flow import FlowConfig, train_flow
from flowdre_sklearn._core.training import Progress, seeded
from flowdre_sklearn.datasets import make_moons_checkerboard

from _report import RESULTS, markdown_table, seconds_per_step, stopwatch, write_report

NAME = "moons_checkerboard"
MAX_CLASSIFIER_ROWS = 10_000
TIMING_BATCH = 2000

# The demo's full settings (examples/demo_moons_checkerboard.py explains their choice).
DEFAULT = dict(
    n_samples=4000, n_test=10_000, hidden_layer_sizes=(128, 128, 128, 128), n_steps=4,
    init_steps=20000, init_lr=5e-3, validation_fraction=0.0, refine_steps=0, dre_steps=2000,
    timing_steps=5, push_rows=20_000, n_paths=300,
)
QUICK = dict(
    n_samples=2000, n_test=2000, hidden_layer_sizes=(128, 128, 128), n_steps=4,
    init_steps=3000, init_lr=5e-3, validation_fraction=0.0, refine_steps=0, dre_steps=300,
    timing_steps=3, push_rows=5000, n_paths=150,
)
FULL = dict(DEFAULT, n_samples=50_000, timing_steps=10, push_rows=50_000)

# Reference values of /work/shared/REFERENCE.md (2 CPU cores, 2 torch threads).
REFERENCE = dict(accuracy=0.584, cost=0.667, batch_s=(1.6, 2.0), push_50k_s=20.9,
                 schedule_h=8.0)


def timing_configs(settings: dict) -> dict[str, FlowConfig]:
    """The flows whose refinement batch and push are timed, keyed by a label."""
    common = dict(
        init_steps=1, init_pairing="independent", batch_size=TIMING_BATCH, refine_lr=5e-5,
        gamma=0.5, directions="forward", classifier_warmup_steps=0,
        refine_steps=settings["timing_steps"] + 1,
    )
    reference = dict(hidden_layer_sizes=(256, 256), activation="softplus", n_blocks=8,
                     n_steps=3, classifier_hidden_layer_sizes=(312, 312, 312), **common)
    ours = dict(hidden_layer_sizes=tuple(settings["hidden_layer_sizes"]), activation="silu",
                n_blocks=4, n_steps=settings["n_steps"], classifier_hidden_layer_sizes=(64, 64),
                **common)

    def config(**params) -> FlowConfig:
        # FlowTransport's defaults for the rest. classifier_steps=0, below what the
        # estimator accepts, leaves the classifiers alone: only the flow's step is timed.
        return replace(FlowTransport(**params)._config(), classifier_steps=0)

    return {
        "reference-shaped, adjoint": config(adjoint=True, **reference),
        "reference-shaped, backprop": config(adjoint=False, **reference),
        "ours (fitted shape), backprop": config(adjoint=False, **ours),
    }


def train_timed(p, q, config: FlowConfig, seed: int):
    """``train_flow``, and the seconds per refinement step read from its history."""
    with seeded(seed, torch.device("cpu")) as generator:
        flow, history = train_flow(p, q, config, generator, Progress(0))
    return flow, seconds_per_step(history, "refinement")


def time_configs(settings: dict, seed: int) -> list[dict]:
    """Seconds per refinement batch of 2,000 and per push of 50,000 rows, for each config."""
    X_p, X_q = make_moons_checkerboard(max(TIMING_BATCH, settings["push_rows"]),
                                       random_state=seed + 3)
    p = torch.tensor(X_p[:TIMING_BATCH], dtype=torch.float32)
    q = torch.tensor(X_q[:TIMING_BATCH], dtype=torch.float32)
    push = torch.tensor(X_p, dtype=torch.float32)
    records = []
    for label, config in timing_configs(settings).items():
        flow, batch_s = train_timed(p, q, config, seed)
        record = dict(config=label, batch_s=batch_s, nfe=4 * config.n_blocks * config.n_steps,
                      hidden=config.hidden, adjoint=config.adjoint)
        pushes = [{}, {}]  # best of two: the machine is shared
        for timing in pushes:
            with stopwatch(timing):
                flow.transform(push)
        record["push_s"] = min(timing["seconds"] for timing in pushes)
        record["push_50k_s"] = record["push_s"] * 50_000 / len(push)
        records.append(record)
        print(f"  {label:32s} {record['batch_s']:6.2f} s per refinement batch of "
              f"{TIMING_BATCH}, {record['push_50k_s']:6.1f} s per push of 50,000", flush=True)
    return records


def two_sample_accuracy(A: np.ndarray, B: np.ndarray, seed: int) -> float:
    """5-fold accuracy of gradient boosting telling A from B (0.5 = same law)."""
    m = min(len(A), len(B), MAX_CLASSIFIER_ROWS)
    X = np.vstack([A[:m], B[:m]])
    y = np.r_[np.zeros(m), np.ones(m)]
    return float(cross_val_score(HistGradientBoostingClassifier(random_state=seed), X, y,
                                 cv=5).mean())


def interval_maps(dre: TelescopicDensityRatio, grid: np.ndarray) -> dict[str, np.ndarray]:
    """Per-interval logits, closing logit and total log-ratio of ``dre`` at ``grid`` rows."""
    model, affine = dre.ratio_.model, dre.ratio_.affine
    with torch.no_grad():
        z = affine.to_flow(torch.tensor(grid, dtype=affine.center.dtype))
        intervals = model.interval_logits(z.expand(model.n_intervals, *z.shape)).numpy()
        closing = None if model.closing is None else model.closing_logit(z).numpy()
    return dict(intervals=intervals, closing=closing, total=dre.log_ratio(grid))


def plot_flow(path, X_p, X_q, paths, Y_p, X_q_back) -> None:
    """Samples, flow paths, pushed sample and pulled-back sample."""
    fig = Figure(figsize=(11, 10), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(2, 2, sharex=True, sharey=True).ravel()
    dot = dict(s=2, alpha=0.5, linewidths=0)
    ax[0].scatter(*X_q.T, color="tab:orange", label="X_q (checkerboard)", **dot)
    ax[0].scatter(*X_p.T, color="tab:blue", label="X_p (two moons)", **dot)
    ax[0].set_title("held-out samples")
    ax[1].plot(paths[:, :, 0], paths[:, :, 1], color="0.5", lw=0.4, alpha=0.6)
    ax[1].scatter(*paths[0].T, s=8, color="tab:blue", label="x (t = 0)", zorder=3)
    ax[1].scatter(*paths[-1].T, s=8, color="tab:orange", marker="x", linewidths=0.8,
                  label="T(x) (t = 1)", zorder=3)
    ax[1].set_title(f"flow paths of {paths.shape[1]} points")
    ax[2].scatter(*X_q.T, color="0.7", label="X_q", **dot)
    ax[2].scatter(*Y_p.T, color="tab:orange", label="T(X_p)", **dot)
    ax[2].set_title("forward: T(X_p) against X_q")
    ax[3].scatter(*X_p.T, color="0.7", label="X_p", **dot)
    ax[3].scatter(*X_q_back.T, color="tab:blue", label="T^-1(X_q)", **dot)
    ax[3].set_title("inverse: T^-1(X_q) against X_p")
    for a in ax:
        a.set_aspect("equal")
        a.label_outer()
        a.legend(loc="upper center", ncol=2, fontsize=8, markerscale=3, framealpha=0.8)
    ax[0].set_xlim(-3, 3)
    ax[0].set_ylim(-2.6, 3.0)
    fig.suptitle("FlowTransport, two moons -> checkerboard")
    fig.savefig(path, dpi=110)


def plot_intervals(path, maps, extent, shape, snapshots) -> None:
    """One panel per interval logit, then the closing logit and the total log-ratio."""
    intervals, closing, total = maps["intervals"], maps["closing"], maps["total"]
    panels = [(f"R_{j + 1}: log p(t={j}/{len(intervals)}) - log p(t={j + 1}/{len(intervals)})",
               values, snapshots[j + 1]) for j, values in enumerate(intervals)]
    if closing is not None:
        panels.append(("closing: P side - Q side", closing, None))
    panels.append(("total: log p - log q", total, None))
    cols = 4
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(3.2 * cols, 3.0 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    # Colour limits from the grid cells that the snapshots visit: far from the data
    # the networks extrapolate, and those values would wash out the rest. One scale
    # for all intervals (comparable), one per other panel.
    x_edges = np.linspace(extent[0], extent[1], shape[1] + 1)
    y_edges = np.linspace(extent[2], extent[3], shape[0] + 1)
    visited = np.histogram2d(snapshots[..., 1].ravel(), snapshots[..., 0].ravel(),
                             bins=[y_edges, x_edges])[0].ravel() > 0

    def limit_of(values):
        return float(np.quantile(np.abs(values[..., visited]), 0.98)) or 1.0

    inner_limit = limit_of(intervals)
    for ax, (title, values, points) in zip(axes, panels):
        limit = inner_limit if title.startswith("R_") else limit_of(values)
        image = ax.imshow(values.reshape(shape), origin="lower", extent=extent, cmap="RdBu_r",
                          vmin=-limit, vmax=limit, interpolation="nearest")
        if points is not None:
            ax.scatter(*points.T, s=0.5, color="k", alpha=0.3, linewidths=0)
        ax.set_title(title, fontsize=8)
        ax.set_aspect("equal")
        fig.colorbar(image, ax=ax, shrink=0.8)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle("TelescopicDensityRatio along the flow: per-interval logits (red: mass "
                 "leaves, blue: it arrives); dots: the snapshot at the interval's end\n"
                 "colours clipped at the 98th percentile over the cells the snapshots visit")
    fig.savefig(path, dpi=100)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="2,000 rows, 3,000 flow-matching steps, a short DRE fit")
    size.add_argument("--full", action="store_true", help="50,000 rows per side")
    parser.add_argument("--n-samples", type=int, help="training rows per side")
    parser.add_argument("--n-test", type=int, help="held-out rows per side")
    parser.add_argument("--init-steps", type=int, help="flow-matching steps")
    parser.add_argument("--refine-steps", type=int, help="Q-flow refinement steps")
    parser.add_argument("--dre-steps", type=int, help="steps of the density-ratio fit")
    parser.add_argument("--timing-steps", type=int, help="refinement batches timed per config")
    parser.add_argument("--push-rows", type=int, help="rows of the timed push")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = dict(QUICK if args.quick else FULL if args.full else DEFAULT)
    for key in ("n_samples", "n_test", "init_steps", "refine_steps", "dre_steps",
                "timing_steps", "push_rows"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    seed, n, n_test = args.seed, settings["n_samples"], settings["n_test"]

    X_p, X_q = make_moons_checkerboard(n, random_state=seed)
    X_p_test, X_q_test = make_moons_checkerboard(n_test, random_state=seed + 1)
    _, X_q_ref = make_moons_checkerboard(n_test, random_state=seed + 2)

    model = FlowTransport(
        hidden_layer_sizes=settings["hidden_layer_sizes"], n_steps=settings["n_steps"],
        init_steps=settings["init_steps"], init_lr=settings["init_lr"],
        validation_fraction=settings["validation_fraction"],
        refine_steps=settings["refine_steps"], random_state=seed,
    )
    metrics: dict = {}
    print(f"Fitting FlowTransport on {n} + {n} rows ...", flush=True)
    with stopwatch(metrics, "fit_s"):
        model.fit(X_p, X_q)
    Y_p = model.transform(X_p_test)
    X_q_back = model.inverse_transform(X_q_test)
    metrics.update(
        accuracy=two_sample_accuracy(Y_p, X_q_test, seed),
        accuracy_before=two_sample_accuracy(X_p_test, X_q_test, seed),
        accuracy_floor=two_sample_accuracy(X_q_ref, X_q_test, seed),
        cost=model.transport_cost(X_p_test),
        inversion=float(np.abs(model.inverse_transform(Y_p) - X_p_test).max()),
    )
    print(f"  fit {metrics['fit_s']:.1f} s, accuracy T(X_p) vs X_q {metrics['accuracy']:.3f} "
          f"(reference 0.584; X_q vs X_q' {metrics['accuracy_floor']:.3f}), transport cost "
          f"{metrics['cost']:.3f} (reference 0.667), inversion {metrics['inversion']:.1e}",
          flush=True)

    print(f"Fitting TelescopicDensityRatio along the flow ({settings['dre_steps']} steps) ...",
          flush=True)
    dre = TelescopicDensityRatio(flow=model, steps=settings["dre_steps"], random_state=seed)
    with stopwatch(metrics, "dre_fit_s"):
        dre.fit(X_p, X_q)
    metrics["dre_score"] = dre.score(X_p_test, X_q_test)
    print(f"  fit {metrics['dre_fit_s']:.1f} s, held-out score {metrics['dre_score']:.4f} "
          "(chance -0.693, perfect 0)", flush=True)

    print("Timing refinement batches and pushes, reference-shaped against ours ...", flush=True)
    timings = time_configs(settings, seed)

    rng = np.random.default_rng(seed)
    chosen = rng.choice(n_test, size=min(settings["n_paths"], n_test), replace=False)
    plot_flow(RESULTS / f"{NAME}.png", X_p_test[:4000], X_q_test[:4000],
              model.trajectory(X_p_test[chosen], n_times=41), Y_p[:4000], X_q_back[:4000])
    side = np.linspace(-2.75, 2.75, 151)
    grid = np.stack(np.meshgrid(side, side), -1).reshape(-1, 2)
    snapshots = model.trajectory(X_p_test[:1500], n_times=dre.ratio_.model.n_intervals + 1)
    plot_intervals(RESULTS / f"{NAME}_intervals.png", interval_maps(dre, grid),
                   (side[0], side[-1], side[0], side[-1]), (len(side), len(side)), snapshots)

    m = min(n_test, MAX_CLASSIFIER_ROWS)
    quality = markdown_table(
        ["metric", "ours", "reference code (REFERENCE.md)", "meaning"],
        [
            ["two-sample accuracy, T(X_p) vs X_q", f"{metrics['accuracy']:.3f}",
             f"{REFERENCE['accuracy']:.3f} (shipped initial flow)",
             f"HistGradientBoosting, 5-fold, {m} per side; 0.5 = indistinguishable"],
            ["  same, X_p vs X_q (no transport)", f"{metrics['accuracy_before']:.3f}", "",
             "how far apart P and Q are"],
            ["  same, X_q vs an independent X_q", f"{metrics['accuracy_floor']:.3f}", "",
             "the floor: sampling noise alone"],
            ["transport cost E‖T(x) - x‖²", f"{metrics['cost']:.3f}",
             f"{REFERENCE['cost']:.3f} (shipped initial flow)", "held-out P rows"],
            ["inversion error", f"{metrics['inversion']:.1e}", "",
             "largest abs(T⁻¹(T(x)) - x) over held-out rows and coordinates"],
            ["FlowTransport fit [s]", f"{metrics['fit_s']:.1f}",
             f"about {REFERENCE['schedule_h']:.0f} h (its default schedule, without the "
             "pre-training of its initial flows)", "wall time on this machine"],
            ["TelescopicDensityRatio fit [s]", f"{metrics['dre_fit_s']:.1f}", "",
             "along the fitted flow, not refitting it"],
            ["DRE held-out score", f"{metrics['dre_score']:.4f}", "",
             "balanced negative log-loss; chance -0.693, perfect 0"],
        ],
    )
    base = timings[0]
    speed = markdown_table(
        ["configuration", "velocity net", "evaluations per push", "gradients",
         f"s per refinement batch of {TIMING_BATCH}", "speed-up", "s per push of 50,000",
         "speed-up"],
        [[t["config"], "-".join(["d", *map(str, t["hidden"]), "d"]), t["nfe"],
          "adjoint" if t["adjoint"] else "backprop", f"{t['batch_s']:.3f}",
          f"{base['batch_s'] / t['batch_s']:.2f}x", f"{t['push_50k_s']:.2f}",
          f"{base['push_50k_s'] / t['push_50k_s']:.2f}x"] for t in timings]
        + [["reference code (REFERENCE.md, 2 torch threads)", "d-256-256-d x 2", 96,
            "adjoint", f"{REFERENCE['batch_s'][0]}-{REFERENCE['batch_s'][1]}", "",
            f"{REFERENCE['push_50k_s']}", ""]],
    )
    command = "python benchmarks/moons_checkerboard.py " + " ".join(argv or sys.argv[1:])
    settings_line = ", ".join(f"{k}={v}" for k, v in settings.items())
    write_report(
        NAME, "Two moons -> checkerboard: quality and speed against the reference code",
        command.strip(),
        [f"Settings: {settings_line}, seed {seed}. FlowTransport is fitted on {n} rows per "
         f"side and measured on an independent held-out pair of {n_test} rows per side.",
         "## Quality\n\n" + quality,
         "## Speed, measured side by side in this run\n\n"
         f"Seconds per refinement batch: the mean of {settings['timing_steps']} timed "
         "steps (forward through the ODE, backward, Adam step; classifier updates off), one "
         "direction per batch as in the reference code. Push: without gradient, best of two, "
         "timed on "
         f"{settings['push_rows']} rows and scaled to 50,000. Ratios are against the first "
         "row (the reference-shaped flow with adjoint gradients): how many times faster. "
         f"Our own fit above is {settings['init_steps']} flow-matching steps of batch 128 "
         f"({1000 * metrics['fit_s'] / settings['init_steps']:.1f} ms per step, setting up "
         f"included) and {settings['refine_steps']} refinement steps. The reference code's "
         "two concatenated networks are matched by one network over the same 24 RK4 steps; "
         "its figures, quoted from REFERENCE.md, were taken with 2 torch threads, and this "
         f"run had {torch.get_num_threads()}.\n\n" + speed,
         "## Figures\n\n![flow](moons_checkerboard.png)\n\n"
         "Per-interval logits of the telescopic density ratio along the flow:\n\n"
         "![interval logits](moons_checkerboard_intervals.png)"],
    )
    print(quality)
    print(speed)
    return dict(metrics=metrics, timings=timings, settings=settings)


if __name__ == "__main__":
    main()
