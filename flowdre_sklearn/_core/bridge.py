"""Bridges of intermediate distributions from P to Q: the snapshots of telescopic DRE.

Both bridges return samples ``[S_0 = P sample, ..., S_M = Q sample]``; the
density-ratio estimator treats them alike, so the comparison of bridges is
about the path alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .flow import Flow
from .training import draw_rows

BRIDGES = ("flow", "linear")


def flow_snapshots(flow: Flow, x_p: torch.Tensor, x_q: torch.Tensor, n_intervals: int,
                   moved_sample: str) -> list[torch.Tensor]:
    """One sample moved along the flow to ``n_intervals + 1`` equally spaced times.

    ``moved_sample="p"``: ``X_p`` pushed forward, then the real ``X_q`` (the paper's
    bridge; it closes at the Q end). ``"q"``: first the real ``X_p``, then
    ``X_q`` pulled back to time 0 and carried forward again (it closes at the P
    end; the last snapshot is ``X_q`` itself). The gap between the moved sample's
    end and the other real sample is learned by the closing classifier of
    ``TimeScoreModel``.
    """
    times = torch.linspace(0.0, 1.0, n_intervals + 1, device=x_p.device, dtype=x_p.dtype)
    start = x_p if moved_sample == "p" else x_q
    chunks = start.split(65536)
    if moved_sample == "q":
        chunks = [flow.inverse_transform(chunk) for chunk in chunks]
    states = list(torch.cat([flow.trajectory(c, times) for c in chunks], dim=1).unbind(0))
    if moved_sample == "p":
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
    return [*interpolants(x_p, partner, n_intervals)[:-1], x_q]


def interpolants(x_p: torch.Tensor, x_q: torch.Tensor, n_intervals: int) -> list[torch.Tensor]:
    """``sqrt(1 - a^2) x_p + a x_q`` for ``a = 0, 1 / n_intervals, ..., 1``, row i with row i."""
    out = [x_p]
    for j in range(1, n_intervals):
        a = j / n_intervals
        out.append((1 - a * a) ** 0.5 * x_p + a * x_q)
    return [*out, x_q]


@dataclass
class FreshLinearBridge:
    """Batches of the linear bridge between P rows and a Q that is drawn afresh at every step.

    Where Q can be sampled without end (a known Gaussian, the product of the
    marginals of a joint sample), a fixed Q sample is a needless limit: the
    network can learn its rows by heart, and the Q end of each interval is only
    as rich as that sample. ``draw_q(size, generator)`` draws new Q rows;
    ``standardize`` maps the interpolants to the coordinates of the network.
    """

    x_p: torch.Tensor
    draw_q: Callable[[int, torch.Generator], torch.Tensor]
    n_intervals: int
    standardize: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, size: int, generator: torch.Generator) -> torch.Tensor:
        """A batch of shape ``(n_intervals + 1, size, d)``: one path per row."""
        p = self.x_p[draw_rows(self.x_p.shape[0], size, generator, self.x_p.device)]
        path = interpolants(p, self.draw_q(size, generator), self.n_intervals)
        return self.standardize(torch.stack(path))
