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


def flow_snapshots(flow: Flow, x_p: torch.Tensor, x_q: torch.Tensor, n_intervals: int,
                   moved: str = "p") -> list[torch.Tensor]:
    """One sample moved along the flow to ``n_intervals + 1`` equally spaced times.

    ``moved="p"``: ``X_p`` pushed forward, then the real ``X_q`` (the paper's
    bridge; it closes at the Q end). ``moved="q"``: first the real ``X_p``, then
    ``X_q`` pulled back to time 0 and carried forward again (it closes at the P
    end; the last snapshot is ``X_q`` itself). The gap between the moved sample's
    end and the other real sample is learned by the closing classifier of
    ``TimeScoreModel``.
    """
    times = torch.linspace(0.0, 1.0, n_intervals + 1, device=x_p.device, dtype=x_p.dtype)
    start = x_p if moved == "p" else x_q
    chunks = start.split(65536)
    if moved == "q":
        chunks = [flow.inverse_transform(chunk) for chunk in chunks]
    states = list(torch.cat([flow.trajectory(c, times) for c in chunks], dim=1).unbind(0))
    if moved == "p":
        return [*states, x_q]
    # Not the solver's round trip T(T^-1(X_q)), which is off by its inversion error.
    return [x_p, *states[:-1], x_q]


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
