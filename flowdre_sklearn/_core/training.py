"""Pieces shared by every training loop: devices, seeding, batches, progress."""

from __future__ import annotations

import contextlib
import math
import sys
import threading
import time
from collections.abc import Iterator

import torch


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` means CUDA when available, else CPU; anything else is passed to torch."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was requested but CUDA is not available")
    return device


#: The generator that draws the initial parameters of the networks built by the fit
#: running in this thread (see ``networks.linear``).
_initial = threading.local()


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Run a fit on generators of its own; yield the one for its draws (batches, noise).

    Never torch's global generator: threads share it, so two fits in threads of
    one process would take each other's draws, and seeding it would change the
    caller's state. The networks built in the block draw their initial parameters
    from a CPU generator seeded with ``seed`` (see :func:`initial_generator`), the
    stream that seeding the global generator gave them before, so a seed gives the
    same networks as then. Blocks nest (a density ratio fits its flow inside its
    own fit), each thread with its own.
    """
    outer = initial_generator()
    _initial.generator = torch.Generator().manual_seed(seed)
    try:
        yield torch.Generator(device=device).manual_seed(seed)
    finally:
        _initial.generator = outer


def initial_generator() -> torch.Generator | None:
    """The generator of initial parameters of this thread's fit (None outside a fit)."""
    return getattr(_initial, "generator", None)


def draw_rows(
    n: int, size: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Indices of ``size`` rows drawn without replacement when possible."""
    if size <= n:
        return torch.randperm(n, generator=generator, device=device)[:size]
    return torch.randint(n, (size,), generator=generator, device=device)


def log_interval(steps: int, records: int = 20) -> int:
    """Steps between two history records: about ``records`` of them per phase."""
    return max(1, math.ceil(steps / records))


def check_finite(value: torch.Tensor, what: str) -> None:
    """Stop training with a clear message when a loss is no longer finite."""
    if not bool(torch.isfinite(value)):
        raise FloatingPointError(
            f"{what} became {float(value)}: training diverged. Lower the learning rate, "
            "or check the data for extreme values."
        )


class Progress:
    """One concise line per history record, on stderr, when ``verbose`` is positive.

    With ``verbose=1`` only every fifth record (and the last) is printed.
    """

    def __init__(self, verbose: int) -> None:
        self.verbose = verbose
        self.start = time.perf_counter()
        self.calls = 0

    def __call__(self, phase: str, step: int, n_steps: int, **losses: float) -> None:
        self.calls += 1
        if self.verbose <= 0:
            return
        if self.verbose == 1 and step != n_steps and self.calls % 5:
            return
        parts = " ".join(f"{k}={v:.4g}" for k, v in losses.items())
        elapsed = time.perf_counter() - self.start
        print(f"[{phase}] step {step}/{n_steps} {parts} ({elapsed:.1f}s)", file=sys.stderr)


def adam(params, lr: float, weight_decay: float = 0.0) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where torch has one for the parameters' device.

    Our networks are small, so the optimiser's per-tensor loop is a large share of
    a training step, which the fused kernel cuts to a small one.
    """
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.is_floating_point() for p in params)
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def cosine_factor(step: int, steps: int, floor: float = 0.02) -> float:
    """Cosine decay from 1 to ``floor`` over ``steps``: large steps find the
    function, small ones settle its details, which is where accuracy is won."""
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(step, steps) / max(1, steps)))


def cosine_adam(
    params, lr: float, steps: int, weight_decay: float = 0.0
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with cosine decay to ``0.02 * lr`` over ``steps``: large steps find the
    function, small ones settle its details, which is where accuracy is won."""
    optimizer = adam(params, lr, weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, steps), eta_min=lr * 0.02
    )
    return optimizer, scheduler


def descend(optimizer, scheduler, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss``, then one scheduler step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()


class History(list):
    """A fit's training records (dicts with ``phase`` and ``step``), each stamped on
    ``append`` with ``time``: the wall-clock seconds since the history was made.

    The timings are what users need to see where a fit spends its time, read
    from the fitted ``history_`` rather than by hooking into training.
    """

    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()

    def append(self, record: dict) -> None:
        super().append({**record, "time": time.perf_counter() - self.start})


class LossLog:
    """Means of a loss over groups of steps, recorded in ``history`` and shown by ``progress``.

    Losses accumulate on the device, so the training loop syncs with the host
    only once per record, not once per step.
    """

    def __init__(self, phase: str, label: str, steps: int, history: list[dict],
                 progress: Progress, device: torch.device) -> None:
        self.phase, self.label, self.steps = phase, label, steps
        self.history, self.progress = history, progress
        self.every = log_interval(steps)
        self.total = torch.zeros((), device=device)
        self.count = 0

    def add(self, step: int, loss: torch.Tensor) -> None:
        self.total += loss.detach()
        self.count += 1
        if step % self.every == 0 or step == self.steps:
            mean_loss = float(self.total) / self.count
            self.total.zero_()
            self.count = 0
            check_finite(torch.tensor(mean_loss), f"the {self.label} loss")
            self.history.append({"phase": self.phase, "step": step, "loss": mean_loss})
            self.progress(self.label, step, self.steps, loss=mean_loss)
