"""A per-column monotone warp to normal scores: standardisation without moments.

The log-ratio of two densities is unchanged by any bijection ``f`` applied to
both samples, ``log p(x) - log q(x) = log p_f(f(x)) - log q_f(f(x))``, with no
Jacobian, as the Jacobians of numerator and denominator cancel. So the ratio can
be learned where the data are tame: ``f`` maps each column through its pooled
empirical quantiles to standard-normal scores. A mean and a standard deviation
need a finite variance; under heavy tails (a Student-t with one degree of
freedom) they are set by the few most extreme rows, which then crush every other
row into a sliver near the centre, while the warped columns are near-normal
whatever the tails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtri

#: Quantile knots per column: piecewise-linear between them, so finer knots only
#: make the warped columns closer to normal, which the ratio does not need.
QUANTILE_KNOTS = 1000


@dataclass
class NormalScoreWarp:
    """``z_j = f_j(x_j)``, each ``f_j`` increasing from R onto R.

    Between the first and last knots of a column, ``f_j`` interpolates linearly
    from the pooled sample's quantiles to the normal quantiles of the same levels.
    Beyond them it grows like a logarithm, continuing the slope of the outermost
    ``TAIL_SPAN`` knots: strictly increasing (so a bijection, as the
    invariance needs) while a point a million scales out lands only a few normal
    scores past the last knot.

    ``knots`` has shape ``(d, K)``, strictly increasing along each row (tied
    quantiles merged); ``scores`` the matching normal scores, and ``lengths`` the
    number of valid knots of each row (the rest repeat the last one).
    """

    knots: torch.Tensor
    scores: torch.Tensor
    lengths: torch.Tensor

    TAIL_SPAN = 10

    @classmethod
    def fit(cls, x: torch.Tensor, n_knots: int = QUANTILE_KNOTS) -> NormalScoreWarp:
        """The warp of the pooled sample ``x`` (shape ``(n, d)``)."""
        n, d = x.shape
        k = max(2, min(n, n_knots))
        levels = (np.arange(k) + 0.5) / k
        # numpy, not torch.quantile, which refuses inputs of more than 2**24 values.
        quantiles = torch.from_numpy(np.quantile(x.double().cpu().numpy(), levels, axis=0).T)
        normal = torch.from_numpy(ndtri(levels))
        knots = torch.empty(d, k, dtype=torch.float64)
        scores = torch.empty(d, k, dtype=torch.float64)
        lengths = torch.empty(d, dtype=torch.long)
        for j in range(d):
            # A tie (a discrete column, or an atom) merges its levels into one knot at
            # their mean score; a column that is one value maps it to 0.
            values, inverse = torch.unique_consecutive(quantiles[j], return_inverse=True)
            counts = torch.zeros(len(values), dtype=torch.float64).index_add_(
                0, inverse, torch.ones(k, dtype=torch.float64))
            merged = torch.zeros(len(values), dtype=torch.float64).index_add_(
                0, inverse, normal) / counts
            m = len(values)
            lengths[j] = m
            knots[j, :m], scores[j, :m] = values, merged
            knots[j, m:], scores[j, m:] = values[-1], merged[-1]
        return cls(knots.to(x.dtype).to(x.device), scores.to(x.dtype).to(x.device),
                   lengths.to(x.device))

    def to(self, device: torch.device) -> NormalScoreWarp:
        return NormalScoreWarp(self.knots.to(device), self.scores.to(device),
                               self.lengths.to(device))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        knots, scores = self.knots.to(x.dtype), self.scores.to(x.dtype)
        d, k = knots.shape
        last = (self.lengths - 1).unsqueeze(1)  # (d, 1)
        xt = x.T.contiguous()  # (d, n)
        right = torch.searchsorted(knots, xt).clamp(1, k - 1)
        right = torch.minimum(right, last.clamp(min=1))
        left = right - 1
        x0, x1 = knots.gather(1, left), knots.gather(1, right)
        z0, z1 = scores.gather(1, left), scores.gather(1, right)
        width = x1 - x0
        inside = z0 + (z1 - z0) * ((xt - x0) / torch.where(width > 0, width, 1)).clamp(0, 1)
        # Logarithmic tails: z = z_end + dz log(1 + dx / span), which continues the
        # mean slope dz / span of the outermost TAIL_SPAN knots at the end knot.
        span_index = (last - self.TAIL_SPAN).clamp(min=0)
        lo_x, lo_z = knots[:, :1], scores[:, :1]
        hi_x, hi_z = knots.gather(1, last), scores.gather(1, last)
        lo_span = knots.gather(1, last.clamp(max=self.TAIL_SPAN)) - lo_x
        lo_dz = scores.gather(1, last.clamp(max=self.TAIL_SPAN)) - lo_z
        hi_span = hi_x - knots.gather(1, span_index)
        hi_dz = hi_z - scores.gather(1, span_index)
        below = lo_z - lo_dz * torch.log1p((lo_x - xt).clamp(min=0) / lo_span.clamp(min=1e-30))
        above = hi_z + hi_dz * torch.log1p((xt - hi_x).clamp(min=0) / hi_span.clamp(min=1e-30))
        z = torch.where(xt < lo_x, below, torch.where(xt > hi_x, above, inside))
        return z.T.contiguous()
