"""Initial flow by flow matching on the linear bridge, with minibatch OT pairing.

Regress ``v(x_t, t)`` on ``x_q - x_p`` at ``x_t = (1 - t) x_p + t x_q``. The flow of
the regression's minimiser carries P to Q (the marginals of the bridge are
preserved). Pairing each batch of P with a batch of Q by an exact assignment
(minimal total squared distance) makes the bridge's paths nearly straight and
nearly those of optimal transport, so the refinement that follows starts close
to its goal; with independent pairs the map is valid but not optimal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .samples import TwoSamples
from .training import LossLog, Progress, cosine_adam, descend

PAIRINGS = ("ot", "independent")


def ot_assignment(x_p: np.ndarray, x_q: np.ndarray) -> np.ndarray:
    """Column order of ``x_q`` matching row i of ``x_p`` by the exact OT assignment."""
    cost = (x_p * x_p).sum(1)[:, None] - 2 * x_p @ x_q.T + (x_q * x_q).sum(1)[None, :]
    return linear_sum_assignment(cost)[1]


def paired_batches(
    data: TwoSamples,
    n_steps: int,
    size: int,
    pairing: str,
    generator: torch.Generator,
    lookahead: int = 32,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``n_steps`` batches ``(x_p, x_q)``, ``x_q`` reordered by the pairing.

    The assignment does not depend on the network, and scipy releases the GIL
    while solving it, so assignments for the next ``lookahead`` batches are
    solved in worker threads while the current ones train. Batches are drawn in
    the caller's thread in a fixed order, so results do not depend on timing.
    """

    def draw():
        return data.draw_p(size, generator), data.draw_q(size, generator)

    if pairing != "ot":
        for _ in range(n_steps):
            yield draw()
        return
    with ThreadPoolExecutor(max_workers=2) as executor:
        pending: deque = deque()
        for step in range(n_steps + lookahead):
            if step < n_steps:
                x_p, x_q = draw()
                future = executor.submit(
                    ot_assignment, x_p.double().cpu().numpy(), x_q.double().cpu().numpy()
                )
                pending.append((x_p, x_q, future))
            if step >= lookahead or step >= n_steps:
                if not pending:
                    break
                x_p, x_q, future = pending.popleft()
                yield x_p, x_q[torch.as_tensor(future.result(), device=x_q.device)]


def flow_matching(
    field: torch.nn.Module,
    data: TwoSamples,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    pairing: str,
    generator: torch.Generator,
    progress: Progress,
    history: list[dict],
) -> None:
    """Train ``field`` in place by (minibatch-OT) flow matching for ``steps`` Adam steps."""
    optimizer, scheduler = cosine_adam(field.parameters(), lr, steps)
    size = min(batch_size, data.n_p, data.n_q)
    log = LossLog("flow_matching", "flow-matching", steps, history, progress, data.p.device)
    for step, (x_p, x_q) in enumerate(paired_batches(data, steps, size, pairing, generator), 1):
        t = torch.rand(size, 1, generator=generator, device=x_p.device, dtype=x_p.dtype)
        x_t = (1 - t) * x_p + t * x_q
        loss = (field(t, x_t) - (x_q - x_p)).pow(2).sum(1).mean()
        descend(optimizer, scheduler, loss)
        log.add(step, loss)
