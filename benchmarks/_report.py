"""Shared plumbing of the benchmark scripts: timing, the machine line, markdown tables."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "results"


@contextmanager
def stopwatch(record: dict, key: str = "seconds"):
    """Store the wall time of the ``with`` block in ``record[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record[key] = time.perf_counter() - start


def seconds_per_step(history: list[dict], phase: str) -> float:
    """Mean wall time of a training phase's steps, from the timed records of a fitted
    estimator's ``history_``: first record to last, so setting up is left out."""
    records = [record for record in history if record["phase"] == phase]
    (s0, t0), (s1, t1) = ((r["step"], r["time"]) for r in (records[0], records[-1]))
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
