"""Q-flow refinement: match the end marginals by classifier KL terms, at low kinetic cost.

Direction P -> Q: a classifier ``c_f`` separates pushed samples ``T(x_p)``
(label 0) from real ``x_q`` (label 1); at its optimum ``c_f = log q - log p_T``,
so ``-mean c_f(T(x_p))`` estimates ``KL(T#P || Q)``. Direction Q -> P is the
mirror image with ``c_b`` on ``T^-1(x_q)`` against ``x_p``. Holding the
classifiers fixed, the flow minimises

    KL terms + gamma * kinetic energy over every solver step of both paths.

The classifiers are trained first on the pushed samples of the initial flow,
then kept fresh (like a GAN discriminator) by a few steps on every new batch of
pushed samples, which the flow step computes anyway, so they cost no extra push.

The flow returned is an exponential moving average of its iterates, with a
horizon of ``AVERAGING_HORIZON`` of the steps (Polyak averaging): from a
flow-matching start what is left to gain is of the order of the classifiers'
noise, which the last iterate carries and the average smooths out. On the
problems of ``benchmarks/ot_gaussian.py`` the average improved on flow matching
alone more often than the last iterate did, and lost to it only where the flow
still moves at the end and the average lags (figures in the README).
"""

from __future__ import annotations

import torch

from .networks import Classifier, logistic_loss
from .ode import Solver, TimeGrid, integrate, integrate_both_ways, kinetic_energy, push
from .samples import TwoSamples
from .training import Progress, adam, check_finite, draw_rows, log_interval

DIRECTIONS = ("both", "alternate", "forward")
AVERAGING_HORIZON = 0.2  # of the steps: the time constant of the returned average


class WeightAverage:
    """Moving average of a module's parameters over the iterates passed to ``add``.

    The ``k``-th iterate enters with weight ``max(1 / k, 1 / horizon)``: a plain
    mean while fewer than ``horizon`` iterates have been seen, an exponential
    moving average with time constant ``horizon`` after that, so no weight is
    left on the parameters held before the first ``add``. Not
    ``torch.optim.swa_utils.AveragedModel``: that one copies the whole module and
    reads its iterate count from a device tensor on every update (a host sync
    per training step on CUDA).
    """

    def __init__(self, module: torch.nn.Module, horizon: float) -> None:
        self.params = list(module.parameters())
        self.average = [p.detach().clone() for p in self.params]
        self.horizon = max(1.0, horizon)
        self.count = 0

    @torch.no_grad()
    def add(self) -> None:
        self.count += 1
        weight = max(1.0 / self.count, 1.0 / self.horizon)  # a Python float: no device sync
        for average, param in zip(self.average, self.params):
            average.lerp_(param, weight)

    @torch.no_grad()
    def copy_to_module(self) -> None:
        """Set the module's parameters to the average (no-op before any ``add``)."""
        if self.count:
            for average, param in zip(self.average, self.params):
                param.copy_(average)


class _Direction:
    """One direction of the refinement: its classifier and whether it runs the flow backwards."""

    def __init__(self, reverse: bool, dim: int, hidden, activation, lr, device, dtype) -> None:
        self.reverse = reverse
        self.classifier = Classifier(dim, hidden, activation).to(device=device, dtype=dtype)
        self.optimizer = adam(self.classifier.parameters(), lr)

    def classifier_step(self, pushed: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        loss = logistic_loss(self.classifier(pushed), self.classifier(real))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def warm_up(self, pushed: torch.Tensor, real: torch.Tensor, steps: int, size: int,
                generator: torch.Generator) -> None:
        for _ in range(steps):
            self.classifier_step(
                pushed[draw_rows(pushed.shape[0], size, generator, pushed.device)],
                real[draw_rows(real.shape[0], size, generator, real.device)],
            )


def kinetic_weight(gamma: float, step: int, steps: int, decay_fraction: float = 0.7) -> float:
    """``gamma`` decayed linearly to zero over the first ``decay_fraction`` of the steps.

    A constant weight leaves the end marginals mismatched by a fraction of order
    ``gamma`` at convergence (the penalty buys shorter paths with a mismatch);
    decaying it lets the path-shortening act first and the match be restored last.
    """
    return gamma * max(0.0, 1.0 - (step - 1) / (decay_fraction * steps))


def refine(
    field: torch.nn.Module,
    data: TwoSamples,
    grid: TimeGrid,
    solver: Solver,
    *,
    steps: int,
    batch_size: int,
    lr: float,
    gamma: float,
    directions: str,
    classifier_hidden,
    classifier_activation: str,
    classifier_lr: float,
    classifier_warmup_steps: int,
    classifier_steps: int,
    generator: torch.Generator,
    progress: Progress,
    history: list[dict],
) -> None:
    """Refine ``field`` in place by the Q-flow objective for ``steps`` flow steps."""
    if steps <= 0:
        return
    device, dtype = data.p.device, data.p.dtype
    size = min(batch_size, data.n_p, data.n_q)
    fwd = _Direction(False, data.dim, classifier_hidden, classifier_activation, classifier_lr,
                     device, dtype)
    bwd = _Direction(True, data.dim, classifier_hidden, classifier_activation, classifier_lr,
                     device, dtype)
    x_q_all = data.q_sample(generator)
    fwd.warm_up(push(field, data.p, grid, solver), x_q_all, classifier_warmup_steps, size,
                generator)
    if directions != "forward":
        bwd.warm_up(push(field, x_q_all, grid, solver, reverse=True), data.p,
                    classifier_warmup_steps, size, generator)

    optimizer = adam(field.parameters(), lr)
    average = WeightAverage(field, AVERAGING_HORIZON * steps)
    fine = grid.fine(device, dtype)
    every = log_interval(steps)
    sums = torch.zeros(2, device=device)
    terms = 0
    for step in range(1, steps + 1):
        if directions == "both":
            active = (fwd, bwd)
        elif directions == "alternate":
            active = (fwd,) if step % 2 else (bwd,)
        else:
            active = (fwd,)
        weight = kinetic_weight(gamma, step, steps)
        x_p = data.draw_p(size, generator)
        x_q = data.draw_q(size, generator)
        loss = torch.zeros((), device=device, dtype=dtype)
        if len(active) == 2:
            paths = dict(zip((False, True), integrate_both_ways(field, x_p, x_q, grid, solver)))
        else:
            paths = {active[0].reverse: integrate(field, x_q if active[0].reverse else x_p,
                                                  grid, solver, fine, active[0].reverse)}
        for direction in active:
            target = x_p if direction.reverse else x_q
            states = paths[direction.reverse]
            pushed = states[-1]
            for _ in range(classifier_steps):
                direction.classifier_step(pushed.detach(), target)
            kl = -direction.classifier(pushed).mean()
            kinetic = kinetic_energy(states, fine).mean()
            loss = loss + kl + weight * kinetic
            sums += torch.stack([kl.detach(), kinetic.detach()]).to(sums.dtype)
            terms += 1
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(field.parameters(), 10.0)
        optimizer.step()
        average.add()
        if step % every == 0 or step == steps:
            kl, kinetic = (sums / terms).tolist()
            sums.zero_()
            terms = 0
            check_finite(torch.tensor(kl + kinetic), "the refinement loss")
            history.append({"phase": "refinement", "step": step, "kl": kl, "kinetic": kinetic,
                            "gamma": weight})
            progress("refinement", step, steps, kl=kl, kinetic=kinetic, gamma=weight)
    average.copy_to_module()
