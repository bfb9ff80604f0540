"""Bridges of intermediate distributions from P to Q: the snapshots of telescopic DRE.

Both bridges return samples ``[S_0 = P sample, ..., S_M = Q sample]``; the
density-ratio estimator treats them alike, so the comparison of bridges is
about the path alone.
"""

from __future__ import annotations

import torch

from .flow import Flow
from .training import draw_rows

BRIDGES = ("flow", "linear")


def flow_snapshots(flow: Flow, x_p: torch.Tensor, x_q: torch.Tensor,
                   n_intervals: int) -> list[torch.Tensor]:
    """``X_p`` pushed along the flow to ``n_intervals + 1`` equally spaced times, then ``X_q``.

    The real Q sample closes the bridge (as in the paper), so the gap left
    between ``T#P`` and ``Q`` is learned too (by the closing classifier of
    ``TimeScoreModel``).
    """
    times = torch.linspace(0.0, 1.0, n_intervals + 1, device=x_p.device, dtype=x_p.dtype)
    states = [flow.trajectory(x_p[i : i + 65536], times) for i in range(0, x_p.shape[0], 65536)]
    return [*torch.cat(states, dim=1).unbind(0), x_q]


def linear_snapshots(x_p: torch.Tensor, x_q: torch.Tensor, n_intervals: int,
                     generator: torch.Generator) -> list[torch.Tensor]:
    """The interpolant ``sqrt(1 - a^2) x_p + a x_q`` at ``a = j / n_intervals`` (TRE, DRE-inf).

    Each P row is paired with a random Q row once, so a row moves along one
    path through the snapshots; the ends are the full samples.
    """
    partner = x_q[draw_rows(x_q.shape[0], x_p.shape[0], generator, x_q.device)]
    inner = []
    for j in range(1, n_intervals):
        a = j / n_intervals
        inner.append((1 - a * a) ** 0.5 * x_p + a * partner)
    return [x_p, *inner, x_q]
