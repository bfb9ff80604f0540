"""The two samples P and Q as the core sees them: standardised tensors on a device.

Q is either a sample, a known Gaussian, or the product of the marginals of two
blocks of P's columns (``ProductOfMarginals``); the last two are drawn afresh
whenever a batch is needed.
"""

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


@dataclass
class ProductOfMarginals:
    """Draws from the product of the empirical marginals of two blocks of a joint sample.

    A draw pairs the first ``split`` columns of one row of ``joint`` with the
    other columns of another row, both rows uniform and never the same row (a
    row paired with itself is a draw from the joint). Every draw is fresh, so Q
    is as large as the ``n (n - 1)`` such pairs instead of a few fixed shuffles.

    Attributes
    ----------
    joint : Tensor of shape (n, d)
    split : int
        Columns of the first block, ``0 < split < d``.
    """

    joint: torch.Tensor
    split: int

    def draw(self, size: int, generator: torch.Generator) -> torch.Tensor:
        n, device = self.joint.shape[0], self.joint.device
        first = torch.randint(n, (size,), generator=generator, device=device)
        # Uniform over the other n - 1 rows.
        second = (first + torch.randint(1, n, (size,), generator=generator, device=device)) % n
        return torch.cat([self.joint[first, : self.split], self.joint[second, self.split :]], 1)
