"""Shared plumbing of the benchmark scripts: timing, the machine line, markdown tables."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from flowdre_sklearn._core.training import Progress

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def stopwatch(record: dict, key: str = "seconds"):
    """Store the wall time of the ``with`` block in ``record[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record[key] = time.perf_counter() - start


class StepClock(Progress):
    """A silent progress hook that timestamps every record of every training phase.

    Every clock is kept in ``instances`` (newest last), so one that an estimator
    creates inside ``fit`` (with its ``Progress`` patched to this class) can be read after.
    """

    instances: list[StepClock] = []

    def __init__(self, verbose: int = 0) -> None:
        super().__init__(0)
        self.stamps: dict[str, list[tuple[int, float]]] = {}
        StepClock.instances.append(self)

    def __call__(self, phase: str, step: int, n_steps: int, **losses: float) -> None:
        self.stamps.setdefault(phase, []).append((step, time.perf_counter()))

    def seconds_per_step(self, phase: str) -> float:
        """Mean time of the steps after the first record (setting up is left out)."""
        (s0, t0), (s1, t1) = self.stamps[phase][0], self.stamps[phase][-1]
        return (t1 - t0) / (s1 - s0) if s1 > s0 else float("nan")


def machine() -> str:
    """One line naming what the figures were measured on."""
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"python {platform.python_version()}"
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(name: str, title: str, command: str, sections: Sequence[str]) -> Path:
    """Write ``results/NAME.md``: title, how it was made, then the sections."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    head = [f"# {title}", "", f"Made by `{command}` on {machine()}.", ""]
    path.write_text("\n".join(head) + "\n" + "\n\n".join(sections) + "\n")
    return path
