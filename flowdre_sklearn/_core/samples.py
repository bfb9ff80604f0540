"""The two samples P and Q as the core sees them: standardised tensors on a device."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .training import draw_rows


@dataclass
class TwoSamples:
    """The P sample and the Q sample or, when Q is a known Gaussian, its parameters.

    Attributes
    ----------
    p : Tensor of shape (n_p, d)
    q : Tensor of shape (n_q, d) or None
        ``None`` when Q is the Gaussian ``N(q_mean, q_scale**2 I)``, drawn afresh
        whenever a batch is needed (an infinite sample).
    q_mean : Tensor of shape (d,) or None
    q_scale : float
    """

    p: torch.Tensor
    q: torch.Tensor | None = None
    q_mean: torch.Tensor | None = None
    q_scale: float = 1.0

    @property
    def dim(self) -> int:
        return self.p.shape[1]

    @property
    def n_p(self) -> int:
        return self.p.shape[0]

    @property
    def n_q(self) -> int:
        """Rows of Q; a Gaussian Q counts as large as P."""
        return self.n_p if self.q is None else self.q.shape[0]

    def draw_p(self, size: int, generator: torch.Generator) -> torch.Tensor:
        return self.p[draw_rows(self.n_p, size, generator, self.p.device)]

    def draw_q(self, size: int, generator: torch.Generator) -> torch.Tensor:
        if self.q is not None:
            return self.q[draw_rows(self.n_q, size, generator, self.q.device)]
        noise = torch.randn(
            size, self.dim, generator=generator, device=self.p.device, dtype=self.p.dtype
        )
        return self.q_mean + self.q_scale * noise

    def q_sample(self, generator: torch.Generator) -> torch.Tensor:
        """The Q sample, or a fresh Gaussian draw as large as P."""
        return self.q if self.q is not None else self.draw_q(self.n_p, generator)
