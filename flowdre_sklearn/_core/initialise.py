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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .samples import TwoSamples
from .training import LossLog, Progress, adam, cosine_factor, descend

PAIRINGS = ("ot", "independent")


def flow_matching_steps(dim: int) -> int:
    """Adam steps of flow matching when none are given: ``2500 * sqrt(d)``.

    The regression target ``x_q - x_p`` has a variance that grows with ``d``
    while its minibatch-OT pairing grows noisier, so a fixed step count leaves
    the field under-fitted (its map shrinks towards the mean: a transport cost
    below the optimal one) from a few dozen dimensions on. The square root is
    the growth that held the map error level across d = 2 .. 128 on the
    benchmark of ``benchmarks/ot_hard.py``.
    """
    return int(round(2500 * dim**0.5))


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
    The workers are no more than the threads torch may use (``torch.get_num_threads()``,
    which joblib lowers in each of its ``n_jobs`` worker processes), and at most two;
    with one thread, the caller's thread solves the assignments itself.
    """

    def draw():
        return data.draw_p(size, generator), data.draw_q(size, generator)

    if pairing != "ot":
        for _ in range(n_steps):
            yield draw()
        return
    workers = min(2, torch.get_num_threads())
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext(_InCallerThread()) as executor:
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


class _InCallerThread:
    """An executor that runs each task as it is submitted, in the caller's thread.

    It keeps the lookahead, so the batches are drawn in the same order as with
    worker threads, and a seed gives the same pairs whatever the thread count.
    """

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future


@dataclass
class ValidationPairs:
    """Held-out rows of P and Q, paired per batch as in training, with fixed times.

    The flow-matching loss on them is a deterministic function of the field, so
    successive checks differ only by what training changed.
    """

    x_p: torch.Tensor  # (n_batches, size, d)
    x_q: torch.Tensor
    t: torch.Tensor  # (n_batches, size, 1)

    @classmethod
    def build(cls, p: torch.Tensor, q: torch.Tensor, size: int, pairing: str,
              generator: torch.Generator) -> ValidationPairs:
        n_batches = min(p.shape[0], q.shape[0]) // size
        x_p = p[: n_batches * size].reshape(n_batches, size, -1)
        x_q = q[: n_batches * size].reshape(n_batches, size, -1)
        if pairing == "ot":
            x_q = torch.stack([
                b[torch.as_tensor(ot_assignment(a.double().cpu().numpy(),
                                                b.double().cpu().numpy()), device=b.device)]
                for a, b in zip(x_p, x_q)
            ])
        t = torch.rand(n_batches, size, 1, generator=generator, device=p.device, dtype=p.dtype)
        return cls(x_p, x_q, t)

    @torch.no_grad()
    def loss(self, field: torch.nn.Module) -> float:
        total = sum(float(flow_matching_loss(field, a, b, t))
                    for a, b, t in zip(self.x_p, self.x_q, self.t))
        return total / len(self.t)


def flow_matching_loss(field: torch.nn.Module, x_p: torch.Tensor, x_q: torch.Tensor,
                       t: torch.Tensor) -> torch.Tensor:
    """``mean ||v(x_t, t) - (x_q - x_p)||^2`` at ``x_t = (1 - t) x_p + t x_q``."""
    x_t = (1 - t) * x_p + t * x_q
    return (field(t, x_t) - (x_q - x_p)).pow(2).sum(1).mean()


#: Validation checks over the whole budget of ``steps``, at least ``MIN_CHECK_STEPS``
#: apart: on a short budget the loss still falls fast, and checks a few steps apart
#: see only the noise of the last steps and stop short budgets halfway.
VALIDATION_CHECKS, MIN_CHECK_STEPS = 50, 40
#: Factor of the learning rate at each plateau of the validation loss, and the
#: number of such decays after which the next plateau ends training.
PLATEAU_DECAY, MAX_DECAYS = 0.2, 2


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
    validation: ValidationPairs | None,
    n_iter_no_change: int,
) -> int:
    """Train ``field`` in place by (minibatch-OT) flow matching; return the steps run.

    The learning rate follows a cosine over ``steps``. With ``validation``, the
    loss on the held-out pairs is checked ``VALIDATION_CHECKS`` times over the
    budget; after ``n_iter_no_change`` checks without a new best, the field is
    set back to its best and the learning rate cut by ``PLATEAU_DECAY``, and
    the plateau after ``MAX_DECAYS`` cuts ends training, with the best field.
    The pairing of a minibatch is only near optimal, and a field fitted to it
    too closely learns its noise and the rows it was drawn from; on maps far
    from affine the held-out loss falls much longer than on near-affine ones.
    The budget is a ceiling; the held-out loss says where the fit stops paying.
    It cannot see everything: a field may match the minibatch pairing ever
    better on fresh rows while that pairing itself departs from the optimal one.
    """
    optimizer = adam(field.parameters(), lr)
    plateau = {"scale": 1.0}  # the plateau cuts, applied on top of the cosine
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: cosine_factor(step, steps) * plateau["scale"]
    )
    size = min(batch_size, data.n_p, data.n_q)
    log = LossLog("flow_matching", "flow-matching", steps, history, progress, data.p.device)
    check_every = max(MIN_CHECK_STEPS, steps // VALIDATION_CHECKS)
    best, best_state, stale, decays = float("inf"), None, 0, 0
    step = 0
    batches = paired_batches(data, steps, size, pairing, generator)
    for step, (x_p, x_q) in enumerate(batches, 1):
        t = torch.rand(size, 1, generator=generator, device=x_p.device, dtype=x_p.dtype)
        loss = flow_matching_loss(field, x_p, x_q, t)
        descend(optimizer, scheduler, loss)
        log.add(step, loss)
        if validation is None or step % check_every:
            continue
        loss = validation.loss(field)
        history.append({"phase": "flow_matching_validation", "step": step, "loss": loss})
        if loss < best:
            best, stale = loss, 0
            best_state = {k: v.detach().clone() for k, v in field.state_dict().items()}
            continue
        stale += 1
        if stale < n_iter_no_change:
            continue
        field.load_state_dict(best_state)
        if decays == MAX_DECAYS:
            break
        decays, stale = decays + 1, 0
        plateau["scale"] *= PLATEAU_DECAY
    batches.close()  # ends the assignment workers when training stopped early
    if best_state is not None:
        field.load_state_dict(best_state)
    return step
