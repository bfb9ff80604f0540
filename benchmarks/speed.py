"""Speed and memory: fit time against n and d, prediction throughput and peak memory against n.

Fit. ``FlowTransport`` is fitted on Gaussian pairs (``make_gaussian_ot``) with a few fixed
steps of both phases (flow matching, then Q-flow refinement) and otherwise default
settings: against the number of rows n (1e3 .. 1e5, d = 8) and against the dimension d
(2 .. 128, n = 10,000). Each record of the fitted ``history_`` carries its wall time, so
each phase's time per step is measured apart from setting up (the first record of a
phase is the origin); it is reported as seconds per 100
steps, comparable across n and d, next to the whole ``fit`` wall time. A per-step time
that grows with n means a per-step cost proportional to the sample size.

Prediction. A ``FlowTransport`` (defaults, d = 8) and a ``TelescopicDensityRatio`` along
it (defaults, d = 8) are fitted briefly (prediction cost does not depend on training),
then ``transform`` and ``log_ratio`` are timed on n = 1e4 .. 1e6 rows (best of up to 3
calls within 6 seconds, rows per second; the machine may be shared) and their peak
memory is measured: the peak resident set size ``VmHWM`` of ``/proc/self/status``, reset
before each call by writing ``5`` to ``/proc/self/clear_refs`` after glibc's
``malloc_trim(0)`` has returned freed heap to the system, minus the resident size just
before the call. The input array exists before the call and is not counted; the float64
output is (the estimator gathers the chunks' outputs and concatenates them, so up to
twice the output's size is expected). Where the reset is not possible the report says so
and falls back on ``resource.getrusage``'s ``ru_maxrss``, a high-water mark that never
goes down. Memory beyond the output that stays flat in n shows that prediction works in
chunks (``predict_chunk_size`` rows at a time).

At n = 1e5 both predictions are also timed with other numbers of rows per chunk
(``predict_chunk_size`` set on the instance: 2,048, the default 8,192 and 65,536), since
the chunk size sets both the working memory and how well the activations fit in cache.

Calibration, in the same process. Every call of ``torch.nn.functional.linear`` (through
which ``nn.Linear`` modules and the velocity field's time-gated layers, whose gate is
folded into their weights, apply them) is recorded, for one chunk of
``predict_chunk_size`` rows and for the last, partial chunk: the shape of every linear
map the prediction applies, the velocity field's layers
at every function evaluation of the ODE solver (their number is counted by a hook on the
field and checked against 4 evaluations per RK4 step: ``4 * n_blocks * n_steps``), and
the time-score network's layers at every quadrature node of every interval. Those calls,
repeated for as many chunks as n rows make, are then replayed with
``torch.nn.functional.linear`` on random tensors of the same shapes: the same widths, the
same batch sizes, the same number of evaluations, with nothing else (no activations, no
time gating, no solver arithmetic, no conversions). Its time is a lower bound for the
prediction on this machine; the report gives the prediction's throughput as a fraction of
that bound (1 = all time in the matmuls; target at least 30% for ``transform`` at n =
1e5) and both in GFLOP/s (2 flops per multiply-add).

Run ``python benchmarks/speed.py [--quick | --full]`` from the repository root (``--quick``:
n up to 1e4 for fits and 1e5 for prediction, d = 2 and 16); writes
``benchmarks/results/speed.md`` and ``speed.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import resource
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio
from flowdre_sklearn.datasets import make_gaussian_ot

from _report import RESULTS, markdown_table, seconds_per_step, stopwatch, write_report

NAME = "speed"
STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")

SIZES = dict(
    quick=dict(fit_n=[1_000, 10_000], fit_d=[2, 16], predict_n=[10_000, 100_000],
               init_steps=200, refine_steps=20),
    default=dict(fit_n=[1_000, 3_000, 10_000, 30_000, 100_000], fit_d=[2, 4, 8, 16, 32, 64, 128],
                 predict_n=[10_000, 100_000, 1_000_000], init_steps=300, refine_steps=30),
    full=dict(fit_n=[1_000, 3_000, 10_000, 30_000, 100_000, 300_000],
              fit_d=[2, 4, 8, 16, 32, 64, 128], predict_n=[10_000, 100_000, 1_000_000],
              init_steps=1000, refine_steps=100),
)
FIT_D = 8          # dimension of the sweep over n
FIT_N = 10_000     # rows of the sweep over d
PREDICT_D = 8      # dimension of the prediction measurements
CLASSIFIER_WARMUP = 100
CHUNK_SWEEP = (2048, 8192, 65536)  # rows per chunk tried at n = CHUNK_SWEEP_N
CHUNK_SWEEP_N = 100_000
BUDGET = 6.0  # seconds: a timing is the best of up to 3 calls, fewer past this budget


# --------------------------------------------------------------------------- fit timing

def timed_fit(X_p, X_q, sizes: dict, seed: int) -> dict:
    """Fit wall time and seconds per 100 steps of each phase."""
    model = FlowTransport(init_steps=sizes["init_steps"], refine_steps=sizes["refine_steps"],
                          classifier_warmup_steps=CLASSIFIER_WARMUP, random_state=seed)
    record: dict = {}
    with stopwatch(record, "fit_s"):
        model.fit(X_p, X_q)
    record["fm_100"] = 100 * seconds_per_step(model.history_, "flow_matching")
    record["refine_100"] = 100 * seconds_per_step(model.history_, "refinement")
    return record


def fit_sweeps(sizes: dict, seed: int) -> tuple[list[dict], list[dict]]:
    X_p, X_q, _ = make_gaussian_ot(500, d=2, random_state=seed)
    timed_fit(X_p, X_q, dict(sizes, init_steps=20, refine_steps=2), seed)  # warm-up, untimed
    by_n, by_d = [], []
    for n in sizes["fit_n"]:
        X_p, X_q, _ = make_gaussian_ot(n, d=FIT_D, random_state=seed)
        record = dict(n=n, d=FIT_D, **timed_fit(X_p, X_q, sizes, seed))
        by_n.append(record)
        print(f"fit  n={n:>7d} d={FIT_D:3d}: {record['fit_s']:6.1f} s; per 100 steps: flow "
              f"matching {record['fm_100']:.2f} s, refinement {record['refine_100']:.2f} s",
              flush=True)
    for d in sizes["fit_d"]:
        X_p, X_q, _ = make_gaussian_ot(FIT_N, d=d, random_state=seed)
        record = dict(n=FIT_N, d=d, **timed_fit(X_p, X_q, sizes, seed))
        by_d.append(record)
        print(f"fit  n={FIT_N:>7d} d={d:3d}: {record['fit_s']:6.1f} s; per 100 steps: flow "
              f"matching {record['fm_100']:.2f} s, refinement {record['refine_100']:.2f} s",
              flush=True)
    return by_n, by_d


# --------------------------------------------------------------------------- memory

class PeakMemory:
    """Peak resident memory of a block above the resident memory at its start, in bytes."""

    def __init__(self) -> None:
        try:
            self._libc = ctypes.CDLL("libc.so.6")
            self._libc.malloc_trim(0)
        except (OSError, AttributeError):
            self._libc = None
        try:
            CLEAR_REFS.write_text("5")
            self._status("VmHWM")
            self.method = ("VmHWM of /proc/self/status, reset through /proc/self/clear_refs "
                           "after malloc_trim(0)" if self._libc else
                           "VmHWM of /proc/self/status, reset through /proc/self/clear_refs")
            self.resettable = True
        except (OSError, KeyError):
            self.method = ("ru_maxrss of resource.getrusage (a high-water mark that is never "
                           "reset: only growth beyond earlier peaks shows)")
            self.resettable = False

    @staticmethod
    def _status(key: str) -> int:
        for line in STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    @contextlib.contextmanager
    def measure(self, record: dict, key: str = "peak_bytes"):
        if self._libc is not None:
            self._libc.malloc_trim(0)
        if self.resettable:
            CLEAR_REFS.write_text("5")
            before = self._status("VmRSS")
        else:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:
            yield
        finally:
            if self.resettable:
                peak = self._status("VmHWM")
            else:
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            record[key] = max(0, peak - before)


# --------------------------------------------------------------------------- calibration

def record_linear_calls(modules, fn, X) -> tuple[list[tuple], int]:
    """Shapes of every linear map applied by ``fn(X)``, and the calls of the first module.

    Every call of ``torch.nn.functional.linear`` is recorded: ``nn.Linear`` modules make
    theirs through it, and so do the velocity field's layers that fold the time gate into
    their weights. Returns ``[(rows, in_features, out_features, has_bias), ...]`` and the
    number of calls of ``modules[0]`` (the velocity field: its function evaluations).
    """
    calls: list[tuple] = []
    counter = [0]
    linear = F.linear

    def recording_linear(x, weight, bias=None):
        calls.append((int(np.prod(x.shape[:-1])), weight.shape[1], weight.shape[0],
                      bias is not None))
        return linear(x, weight, bias)

    def on_root(module, inputs, output):
        counter[0] += 1

    handle = modules[0].register_forward_hook(on_root)
    try:
        with mock.patch("torch.nn.functional.linear", recording_linear):
            fn(X)
    finally:
        handle.remove()
    return calls, counter[0]


def linear_calls_for(n: int, chunk: int, modules, fn, X_source) -> tuple[dict, int, int]:
    """The ``nn.Linear`` calls of ``fn`` on ``n`` rows: full chunks repeat the same calls.

    Returns a count of every distinct call shape, the evaluations of ``modules[0]`` per
    full chunk, and the number of chunks.
    """
    full, rest = divmod(n, chunk)
    counts: dict[tuple, int] = {}
    evaluations = 0
    for rows, times in ((chunk, full), (rest, 1)):
        if rows == 0 or times == 0:
            continue
        calls, calls_root = record_linear_calls(modules, fn, X_source[:rows])
        evaluations = evaluations or calls_root
        for call in calls:
            counts[call] = counts.get(call, 0) + times
    return counts, evaluations, full + int(rest > 0)


def replay_linear_calls(counts: dict, dtype=torch.float32, budget: float = BUDGET,
                        max_calls: int = 3) -> tuple[float, float]:
    """Seconds to replay the calls with ``F.linear`` on random tensors, and their GFLOP.

    The whole replay is repeated like the prediction (best of up to ``max_calls``
    within ``budget`` seconds).
    """
    generator = torch.Generator().manual_seed(0)
    tensors = []
    flops = 0.0
    for (rows, fan_in, fan_out, has_bias), times in counts.items():
        x = torch.randn(rows, fan_in, generator=generator, dtype=dtype)
        weight = torch.randn(fan_out, fan_in, generator=generator, dtype=dtype) / fan_in**0.5
        bias = torch.randn(fan_out, generator=generator, dtype=dtype) if has_bias else None
        F.linear(x, weight, bias)  # warm-up
        tensors.append((x, weight, bias, times))
        flops += 2.0 * rows * fan_in * fan_out * times

    def replay(_):
        for x, weight, bias, times in tensors:
            for _ in range(times):
                F.linear(x, weight, bias)

    start = time.perf_counter()
    replay(None)
    first = time.perf_counter() - start
    return best_time(replay, None, first, budget, max_calls), flops / 1e9


# --------------------------------------------------------------------------- prediction

def best_time(fn, X, first_seconds: float, budget: float = BUDGET,
              max_calls: int = 3) -> float:
    """Best wall time of ``fn(X)`` over up to ``max_calls`` calls within ``budget`` seconds."""
    best, spent, calls = first_seconds, first_seconds, 1
    while calls < max_calls and spent < budget:
        start = time.perf_counter()
        fn(X)
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    return best


def measure(name: str, estimator, fn, modules, X: np.ndarray, memory: PeakMemory) -> dict:
    """Throughput, peak memory and matmul bound of ``fn(X)``."""
    n = X.shape[0]
    fn(X[:1000])  # warm-up
    record = dict(method=name, n=n, chunk=estimator.predict_chunk_size)
    with memory.measure(record), stopwatch(record, "first_s"):
        out = fn(X)
    record["output_bytes"] = out.nbytes
    del out
    record["seconds"] = best_time(fn, X, record["first_s"])
    counts, evaluations, chunks = linear_calls_for(n, estimator.predict_chunk_size, modules,
                                                   fn, X)
    record["matmul_s"], record["gflop"] = replay_linear_calls(counts)
    record.update(evaluations=evaluations, chunks=chunks, rows_per_s=n / record["seconds"],
                  fraction=record["matmul_s"] / record["seconds"])
    print(f"{name:9s} n={n:>8d} chunk={record['chunk']:>6d}: {record['rows_per_s']:10,.0f} "
          f"rows/s, matmul bound {n / record['matmul_s']:10,.0f} rows/s (fraction "
          f"{record['fraction']:.2f}), peak +{record['peak_bytes'] / 2**20:7.1f} MiB "
          f"(output {record['output_bytes'] / 2**20:.1f} MiB)", flush=True)
    return record


def prediction(sizes: dict, seed: int, memory: PeakMemory) -> tuple[list[dict], list[dict],
                                                                     dict]:
    """Records against n at the default chunk size, against the chunk size, and the setup."""
    X_p, X_q, _ = make_gaussian_ot(4000, d=PREDICT_D, random_state=seed)
    flow = FlowTransport(init_steps=200, random_state=seed).fit(X_p, X_q)
    dre = TelescopicDensityRatio(flow=flow, steps=100, random_state=seed).fit(X_p, X_q)
    grid = flow.flow_.grid
    setup = dict(
        flow_hidden=flow.hidden_layer_sizes, n_blocks=grid.n_blocks, n_steps=grid.n_steps,
        solver=flow.solver, solver_evaluations=4 * grid.n_blocks * grid.n_steps,
        dre_hidden=dre.hidden_layer_sizes, n_intervals=dre.ratio_.model.n_intervals,
        nodes=dre.ratio_.model.nodes.shape[1], chunk=flow.predict_chunk_size,
    )
    methods = {
        "transform": (flow, flow.transform, [flow.flow_.field]),
        "log_ratio": (dre, dre.log_ratio,
                      [m for m in (dre.ratio_.model.score, dre.ratio_.model.closing) if m]),
    }
    rng = np.random.default_rng(seed)

    def rows(n):
        return rng.standard_normal((n, PREDICT_D)) * X_p.std(0) + X_p.mean(0)

    by_n = []
    for n in sizes["predict_n"]:
        X = rows(n)
        for name, (estimator, fn, modules) in methods.items():
            by_n.append(measure(name, estimator, fn, modules, X, memory))
        del X
    # The same at other chunk sizes (an instance attribute overrides the class default).
    by_chunk = []
    n = min(max(sizes["predict_n"]), CHUNK_SWEEP_N)
    X = rows(n)
    for name, (estimator, fn, modules) in methods.items():
        for chunk in CHUNK_SWEEP:
            if chunk == estimator.predict_chunk_size:
                by_chunk += [r for r in by_n if r["method"] == name and r["n"] == n]
                continue
            estimator.predict_chunk_size = chunk
            try:
                by_chunk.append(measure(name, estimator, fn, modules, X, memory))
            finally:
                del estimator.predict_chunk_size
    by_chunk.sort(key=lambda r: (r["method"], r["chunk"]))
    return by_n, by_chunk, setup


# --------------------------------------------------------------------------- report

def plot(path, by_n, by_d, predict) -> None:
    fig = Figure(figsize=(15, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots(1, 4)
    for key, label in (("fm_100", "flow matching"), ("refine_100", "refinement")):
        ax[0].plot([r["n"] for r in by_n], [r[key] for r in by_n], marker="o", label=label)
        ax[1].plot([r["d"] for r in by_d], [r[key] for r in by_d], marker="o", label=label)
    ax[0].set(xscale="log", xlabel="rows n", ylabel="seconds per 100 steps",
              title=f"fit steps against n (d = {FIT_D})")
    ax[1].set(xscale="log", yscale="log", xlabel="dimension d", ylabel="seconds per 100 steps",
              title=f"fit steps against d (n = {FIT_N})")
    ax[0].set_ylim(bottom=0)
    dims = [r["d"] for r in by_d]
    ax[1].set_xticks(dims, [str(d) for d in dims])
    ax[1].minorticks_off()
    for method, style in (("transform", "o-"), ("log_ratio", "s-")):
        rows = [r for r in predict if r["method"] == method]
        ns = [r["n"] for r in rows]
        ax[2].plot(ns, [r["rows_per_s"] for r in rows], style, label=method)
        ax[2].plot(ns, [r["n"] / r["matmul_s"] for r in rows], style, alpha=0.4,
                   label=f"{method}: matmul bound")
        ax[3].plot(ns, [r["peak_bytes"] / 2**20 for r in rows], style, label=f"{method}: peak")
        ax[3].plot(ns, [r["output_bytes"] / 2**20 for r in rows], style, alpha=0.4,
                   label=f"{method}: output array")
    ax[2].set(xscale="log", yscale="log", xlabel="rows n", ylabel="rows per second",
              title=f"prediction throughput (d = {PREDICT_D})")
    ax[3].set(xscale="log", yscale="log", xlabel="rows n", ylabel="MiB",
              title="peak memory increase during the call")
    for a in ax:
        a.legend(fontsize=7)
    fig.savefig(path, dpi=110)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="fits at n = 1e3, 1e4 and d = 2, 16; prediction up to 1e5 rows")
    size.add_argument("--full", action="store_true",
                      help="fits up to n = 3e5 with 1000 + 100 steps")
    parser.add_argument("--fit-n", type=int, nargs="+", help="rows of the fit sweep")
    parser.add_argument("--fit-d", type=int, nargs="+", help="dimensions of the fit sweep")
    parser.add_argument("--predict-n", type=int, nargs="+", help="rows of the prediction runs")
    parser.add_argument("--init-steps", type=int, help="flow-matching steps of each fit")
    parser.add_argument("--refine-steps", type=int, help="refinement steps of each fit")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    sizes = dict(SIZES["quick" if args.quick else "full" if args.full else "default"])
    for key in ("fit_n", "fit_d", "predict_n", "init_steps", "refine_steps"):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)

    memory = PeakMemory()
    by_n, by_d = fit_sweeps(sizes, args.seed)
    predict, by_chunk, setup = prediction(sizes, args.seed, memory)
    plot(RESULTS / f"{NAME}.png", by_n, by_d, predict)

    def fit_rows(records):
        return [[r["n"], r["d"], f"{r['fit_s']:.1f}", f"{r['fm_100']:.2f}",
                 f"{r['refine_100']:.2f}"] for r in records]

    fit_header = ["n", "d", "fit s", "flow matching, s per 100 steps",
                  "refinement, s per 100 steps"]

    def predict_table(records):
        header = ["method", "n", "chunk rows", "seconds", "rows/s", "matmul-bound rows/s",
                  "fraction of bound", "GFLOP/s (matmul replay)", "GFLOP/s (prediction)",
                  "network evaluations per chunk", "peak increase MiB", "output MiB"]
        return markdown_table(header, [
            [r["method"], f"{r['n']:,}", f"{r['chunk']:,}", f"{r['seconds']:.2f}",
             f"{r['rows_per_s']:,.0f}", f"{r['n'] / r['matmul_s']:,.0f}",
             f"{r['fraction']:.2f}", f"{r['gflop'] / r['matmul_s']:.1f}",
             f"{r['gflop'] / r['seconds']:.1f}",
             r["evaluations"] if r["method"] == "transform" else "",
             f"{r['peak_bytes'] / 2**20:.1f}", f"{r['output_bytes'] / 2**20:.1f}"]
            for r in records
        ])

    transform_at = {r["n"]: r for r in predict if r["method"] == "transform"}
    verdict = ""
    if 100_000 in transform_at:
        fraction = transform_at[100_000]["fraction"]
        verdict = (f" At n = 100,000, `transform` runs at {fraction:.0%} of the matmul bound "
                   f"(target: at least 30%: {'met' if fraction >= 0.3 else 'NOT met'}).")
    counted = {r["evaluations"] for r in predict + by_chunk if r["method"] == "transform"}
    verdict += (f" Network evaluations per chunk counted by the hook: "
                f"{', '.join(map(str, sorted(counted)))}; by the solver's settings: "
                f"{setup['solver_evaluations']}"
                f" ({'equal' if counted == {setup['solver_evaluations']} else 'DIFFERENT'}).")
    command = "python benchmarks/speed.py " + " ".join(argv or sys.argv[1:])
    defaults = FlowTransport()  # the fit sweeps leave these at their defaults
    write_report(
        NAME, "Speed and memory", command.strip(),
        ["## Fit time\n\n"
         f"`FlowTransport` with {sizes['init_steps']} flow-matching steps, "
         f"{sizes['refine_steps']} refinement steps and {CLASSIFIER_WARMUP} classifier warm-up "
         f"steps, other settings default (network {defaults.hidden_layer_sizes}, batch "
         f"{defaults.batch_size}, {defaults.n_blocks} blocks x {defaults.n_steps} "
         f"{defaults.solver} steps), "
         "on Gaussian pairs. Per-100-step times exclude setting up (measured between the "
         "first and the last progress record of each phase); the fit time includes "
         "everything (validation, standardisation, the refinement's pushes of both full "
         "samples, the final divergence check).\n\n"
         f"Against n (d = {FIT_D}):\n\n" + markdown_table(fit_header, fit_rows(by_n))
         + f"\n\nAgainst d (n = {FIT_N}):\n\n" + markdown_table(fit_header, fit_rows(by_d)),
         "## Prediction throughput, memory and the matmul bound\n\n"
         f"d = {PREDICT_D}. `transform`: velocity network {setup['flow_hidden']}, "
         f"{setup['n_blocks']} blocks x {setup['n_steps']} {setup['solver']} steps, so "
         f"{setup['solver_evaluations']} network evaluations per row by the solver's "
         "settings (the hook's count is in the table). `log_ratio`: time-score network "
         f"{setup['dre_hidden']} with Fourier time features, {setup['n_intervals']} intervals x "
         f"{setup['nodes']} quadrature nodes, plus the closing classifier. Chunks of "
         f"{setup['chunk']:,} rows. Seconds: the best of up to 3 calls within {BUDGET:g} s "
         "(the matmul replay likewise). Matmul bound: every call of "
         "`torch.nn.functional.linear` made by the prediction (recorded by intercepting it) "
         "replayed alone on random tensors of the same shapes; fraction = "
         "bound time / prediction time. Peak memory: " + memory.method + "; the input array "
         "is not counted, the float64 output is (up to twice its size: the chunks' outputs "
         "and their concatenation)." + verdict + "\n\n" + predict_table(predict)
         + "\n\nThe same against the number of rows per chunk (`predict_chunk_size`, set "
         "on the instance), at n = " + f"{by_chunk[0]['n']:,}" + " rows:\n\n"
         + predict_table(by_chunk),
         f"![speed](speed.png)\n\ntorch threads: {torch.get_num_threads()}."],
    )
    print(markdown_table(fit_header, fit_rows(by_n + by_d)))
    print(predict_table(predict + by_chunk))
    return dict(by_n=by_n, by_d=by_d, predict=predict, by_chunk=by_chunk, setup=setup)


if __name__ == "__main__":
    main()
