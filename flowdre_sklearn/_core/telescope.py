"""Infinitesimal (telescopic) density-ratio estimation along a bridge of distributions.

Given snapshots ``S_0 ~ p_0 = P, S_1, ..., S_M ~ p_M = Q`` at times
``s_j = j / M``, a network ``r(x, s)`` models ``d/ds log p_s(x)``. The logit of
interval ``j`` is minus its time integral ``R_j(x) = -int_{s_{j-1}}^{s_j} r(x, s) ds``
(by quadrature), trained with the logistic loss between ``S_j`` (label 0) and
``S_{j-1}`` (label 1), so that ``R_j -> log p_{j-1} - log p_j``: every logit of
the package reads P-side minus Q-side. Telescoping,
``log p(x) - log q(x) = sum_j R_j(x) = -int_0^1 r(x, s) ds``.

Each interval is an easy classification problem when neighbouring snapshots
are close, where a single classifier between P and Q saturates (the "density
chasm"). All quadrature nodes of all intervals and both sides of a batch go
through the network in one call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .networks import Classifier, TimeScoreNet, logistic_loss
from .training import LossLog, Progress, adam, cosine_adam, cosine_factor, descend, draw_rows

QUADRATURES = ("gauss-legendre", "simpson38")


@dataclass(frozen=True)
class Quadrature:
    """A composite rule on each bridge interval: ``panels`` panels of one basic rule.

    ``"gauss-legendre"`` uses ``n_nodes`` Gauss-Legendre nodes per panel (exact
    for polynomials of degree ``2 n_nodes - 1``); ``"simpson38"`` is the 3/8 rule
    of the reference code (4 nodes per panel, exact for cubics).
    """

    rule: str
    n_nodes: int
    panels: int

    def unit(self) -> tuple[np.ndarray, np.ndarray]:
        """Nodes and weights on [0, 1] (weights sum to 1)."""
        if self.rule == "simpson38":
            nodes, weights = np.array([0, 1 / 3, 2 / 3, 1.0]), np.array([1, 3, 3, 1]) / 8
        else:
            x, w = np.polynomial.legendre.leggauss(self.n_nodes)
            nodes, weights = (x + 1) / 2, w / 2
        offsets = np.arange(self.panels)[:, None]
        return ((offsets + nodes) / self.panels).ravel(), np.tile(
            weights, self.panels
        ) / self.panels

    def on_intervals(self, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Nodes and weights on every interval ``[edges[j], edges[j+1]]``, shape (M, k)."""
        nodes, weights = (
            torch.as_tensor(a, dtype=edges.dtype, device=edges.device) for a in self.unit()
        )
        width = (edges[1:] - edges[:-1]).unsqueeze(1)
        return edges[:-1].unsqueeze(1) + width * nodes, width * weights


class TimeScoreModel(nn.Module):
    """``r(x, s)`` on a bridge of ``n_intervals`` intervals, and an optional closing classifier.

    A flow bridge made of one sample moved along the flow misses the other
    sample's law by the flow's error: pushed P ends at ``T#P``, close to but not
    exactly Q; pulled-back Q starts at ``T^-1#Q``, close to but not exactly P.
    That gap is learned by a separate time-free classifier ``c(x)`` (the
    "closing" step) at the ``closing_at`` end. Like ``r``, ``c`` follows the bridge
    from P to Q (the log-density gained across the gap), and like the interval
    logits the closing logit is its opposite, ``-c``, so that
    ``log p - log q = -int_0^1 r ds - c``. Giving the gap a time interval of its
    own instead puts a jump in ``d/ds log p_s`` (large along the flow, about zero
    across the gap), which a network smooth in ``s`` cannot follow: it biases the
    log-ratio (figures in the README).
    """

    def __init__(
        self,
        dim: int,
        hidden,
        activation: str,
        n_intervals: int,
        quadrature: Quadrature,
        closing_at: str | None,
        time_frequencies: int,
        quadratic: bool,
    ) -> None:
        super().__init__()
        self.score = TimeScoreNet(dim, hidden, activation, time_frequencies, quadratic)
        self.closing_at = closing_at
        self.closing = None if closing_at is None else Classifier(dim, hidden, activation)
        self.n_intervals = n_intervals
        nodes, weights = quadrature.on_intervals(
            torch.linspace(0.0, 1.0, n_intervals + 1, dtype=torch.float64)
        )
        self.register_buffer("nodes", nodes.float())
        self.register_buffer("weights", weights.float())

    def interval_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``R_j(x_{j, ...})``, all intervals and quadrature nodes in one network call.

        ``x`` has shape ``(n_intervals, ..., d)``, its leading axis indexing the
        interval each point is evaluated on; returns shape ``(n_intervals, ...)``.
        """
        n_intervals, k = self.nodes.shape
        inner = [1] * (x.dim() - 2)
        return self._quadrature(x, self.nodes.reshape(n_intervals, *inner, k),
                                self.weights.reshape(n_intervals, *inner, k))

    def _quadrature(self, x: torch.Tensor, nodes: torch.Tensor,
                    weights: torch.Tensor) -> torch.Tensor:
        """``-sum_i weights_i r(x, nodes_i)`` at every row of ``x`` (shape ``(..., d)``).

        ``nodes`` and ``weights`` broadcast against ``(..., k)``; one network call.
        """
        nodes, weights = nodes.to(x.dtype), weights.to(x.dtype)
        # Neither axis is expanded: times (..., k, 1) against points (..., n, 1, d). The
        # time gates of every layer are computed once per node, and the first layer's
        # product with the points (most of the work in high dimension) once per point.
        r = self.score(nodes.unsqueeze(-1), x.unsqueeze(-2))
        return -(r * weights).sum(-1)

    def closing_logit(self, x: torch.Tensor) -> torch.Tensor:
        """``-c(x)``, the closing step's logit, P side minus Q side."""
        return -self.closing(x)

    def loss(self, earlier: torch.Tensor, later: torch.Tensor,
             gap: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Summed logistic losses of the intervals (and of the closing classifier).

        ``earlier[j]`` and ``later[j]`` hold rows of the snapshots at the start
        and at the end of interval ``j``; ``gap`` the rows on either side of the
        closing step, earlier first. The earlier rows carry label 1.
        """
        logits = self.interval_logits(torch.stack([earlier, later], 1))
        loss = (F.softplus(-logits[:, 0]).mean(-1) + F.softplus(logits[:, 1]).mean(-1)).sum()
        if self.closing is not None:
            loss = loss + logistic_loss(self.closing_logit(gap[1]), self.closing_logit(gap[0]))
        return loss

    def end_to_end_loss(self, p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """The logistic loss of the whole log-ratio between rows of P and rows of Q.

        The logit is the telescoped sum, every interval's (and the closing step's),
        so the true ratios minimise this loss as they minimise each interval's.
        """
        logits = self.whole_logit(torch.stack([p, q]))
        return F.softplus(-logits[0]).mean() + F.softplus(logits[1]).mean()

    def whole_logit(self, x: torch.Tensor) -> torch.Tensor:
        """``log p - log q`` at rows ``x`` (of any leading shape): every interval's
        logit summed, plus the closing step's; all at once, with gradients."""
        logits = self.interval_logits(x.expand(self.n_intervals, *x.shape)).sum(0)
        if self.closing is not None:
            logits = logits + self.closing_logit(x)
        return logits

    @torch.no_grad()
    def interval_logit(self, j: int, x: torch.Tensor, max_points: int = 2**16) -> torch.Tensor:
        """``R_j(x_i)`` for one interval ``j`` at every row, in chunks of rows, shape (n,)."""
        chunk = max(1, max_points // self.nodes.shape[1])
        parts = [self._quadrature(rows, self.nodes[j], self.weights[j])
                 for rows in x.split(chunk)]
        return torch.cat(parts) if parts else x.new_zeros(0)

    @torch.no_grad()
    def logits_everywhere(self, x: torch.Tensor, max_points: int = 2**16) -> torch.Tensor:
        """Every interval's logit at every row, ``R_j(x_i)``, in chunks of rows, shape (M, n)."""
        chunk = max(1, max_points // self.nodes.numel())
        parts = [
            self.interval_logits(rows.expand(self.n_intervals, *rows.shape))
            for rows in x.split(chunk)
        ]
        return torch.cat(parts, 1) if parts else x.new_zeros(self.n_intervals, 0)

    @torch.no_grad()
    def log_p_minus_log_q(self, x: torch.Tensor, max_points: int = 2**16) -> torch.Tensor:
        """``-int_0^1 r(x, s) ds`` (plus the closing logit), in chunks of rows, shape (n,)."""
        chunk = max(1, max_points // self.nodes.numel())
        parts = [self.whole_logit(rows) for rows in x.split(chunk)]
        return torch.cat(parts) if parts else x.new_zeros(0)

    @torch.no_grad()
    def full_loss(self, snapshots: list[torch.Tensor],
                  end_to_end_weight: float = 0.0) -> tuple[float, float]:
        """The training loss over whole snapshots (of any sizes), and about its standard error.

        The snapshots are laid out as in training (see ``split_closing``), the
        end-to-end loss (``end_to_end_loss``, between the first and the last
        snapshot) weighted by ``end_to_end_weight``. The loss is a sum of means
        over rows; the standard error treats the rows of each mean as independent
        draws and the means as independent of each other.
        """
        bridge, gap = split_closing(snapshots, self.closing_at)
        per_row = []
        # Interval j lies between bridge[j] and bridge[j + 1].
        for j in range(self.n_intervals):
            per_row += [F.softplus(-self.interval_logit(j, bridge[j])),
                        F.softplus(self.interval_logit(j, bridge[j + 1]))]
        if gap is not None:
            per_row += [F.softplus(-self.closing_logit(gap[0])),
                        F.softplus(self.closing_logit(gap[1]))]
        if end_to_end_weight:
            per_row += [end_to_end_weight * F.softplus(-self.log_p_minus_log_q(snapshots[0])),
                        end_to_end_weight * F.softplus(self.log_p_minus_log_q(snapshots[-1]))]
        loss = sum(float(v.mean()) for v in per_row)
        variance = sum(float(v.var()) / v.numel() for v in per_row)
        return loss, variance**0.5


def split_closing(snapshots, closing_at: str | None):
    """``(bridge snapshots, closing pair)`` of a snapshot sequence.

    With ``closing_at="end"`` the sequence is ``S_0 .. S_M, Q`` (the last pair
    is the closing step); with ``"start"`` it is ``P, S_0 .. S_M`` (the first
    pair is); with None, ``S_0 .. S_M`` and no closing pair.
    """
    if closing_at == "end":
        return snapshots[:-1], (snapshots[-2], snapshots[-1])
    if closing_at == "start":
        return snapshots[1:], (snapshots[0], snapshots[1])
    return snapshots, None


#: Validation checks over a full run of ``steps`` (when a validation set is given).
VALIDATION_CHECKS = 40
SCHEDULES = ("cosine", "plateau")
#: With the ``"plateau"`` schedule: steps between validation checks, checks without
#: a gain (a loss lower than the last gain's by ``PLATEAU_MIN_GAIN`` standard
#: errors) before the decay starts, at least ``PLATEAU_PATIENCE`` and at least
#: ``PLATEAU_PATIENCE_SHARE`` of the steps run until then, and the decay's length as
#: a share of the steps run until then (at least ``PLATEAU_MIN_DECAY`` steps).
#: A weak signal can sit near chance for well over a thousand steps before the
#: network picks it up, and near chance the loss's standard error is tiny, so a
#: drift of noise arms the stop early: with a fixed patience of 8 checks, 20,000
#: rows of a 5+5 Student-t with one degree of freedom (0.80 nats) stopped at step
#: 1600 with 0.08 nats in two of three seeds, where 5000 rows, whose loss took off
#: sooner, gave 0.72. A patience of half the run so far gave 0.74 and 0.73 there.
PLATEAU_CHECK_EVERY = 50
PLATEAU_PATIENCE = 8
PLATEAU_PATIENCE_SHARE = 0.5
PLATEAU_MIN_GAIN = 0.1
PLATEAU_DECAY_SHARE = 0.25
PLATEAU_MIN_DECAY = 200


def plateau_patience(step: int) -> int:
    """Checks without a gain after which the ``"plateau"`` schedule decays, at ``step``."""
    return max(PLATEAU_PATIENCE, int(PLATEAU_PATIENCE_SHARE * step / PLATEAU_CHECK_EVERY))


class ConstantThenCosine:
    """The learning rate of the ``"plateau"`` schedule: constant until ``start_decay``,
    then a cosine decay to ``0.02 * lr`` over a quarter of the steps run until then.

    The run takes as long as the network goes on learning, and still ends on
    small steps; the decay starts at the latest where it ends at ``steps``.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, lr: float, steps: int) -> None:
        self.optimizer, self.lr = optimizer, lr
        self.decay_start: int | None = None
        self.decay_steps = 0
        self.latest_start = int(steps / (1 + PLATEAU_DECAY_SHARE))
        self.steps_done = 0
        self._set(lr)

    def _set(self, lr: float) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = lr

    def start_decay(self) -> None:
        if self.decay_start is None:
            self.decay_start = self.steps_done
            self.decay_steps = max(PLATEAU_MIN_DECAY, int(PLATEAU_DECAY_SHARE * self.steps_done))

    def finished(self) -> bool:
        if self.decay_start is None and self.steps_done >= self.latest_start:
            self.start_decay()
        return self.decay_start is not None and (
            self.steps_done >= self.decay_start + self.decay_steps)

    def step(self) -> None:
        self.steps_done += 1
        if self.decay_start is not None:
            self._set(self.lr * cosine_factor(self.steps_done - self.decay_start,
                                              self.decay_steps))


@dataclass(frozen=True)
class TimeScoreConfig:
    """Settings of the time score and its training, named as ``TelescopicDensityRatio``'s.

    No defaults here: ``TelescopicDensityRatio.__init__`` is where they are stated,
    and it resolves every ``"auto"`` before building this.
    """

    hidden_layer_sizes: tuple[int, ...]
    activation: str
    time_frequencies: int
    quadratic_head: bool
    quadrature: str
    quadrature_nodes: int
    quadrature_panels: int
    steps: int
    batch_size: int
    lr: float
    lr_schedule: str
    weight_decay: float
    end_to_end_weight: float
    n_iter_no_change: int

    @property
    def quadrature_rule(self) -> Quadrature:
        return Quadrature(self.quadrature, self.quadrature_nodes, self.quadrature_panels)


@dataclass
class Training:
    """What ``train_time_score`` did: the step it stopped at, the step it kept and its loss."""

    steps_run: int
    kept_step: int
    kept_validation_loss: float | None


def train_time_score(
    snapshots: list[torch.Tensor],
    config: TimeScoreConfig,
    *,
    closing_at: str | None,
    generator: torch.Generator,
    progress: Progress,
    history: list[dict],
    validation: list[torch.Tensor] | None = None,
    fresh_batches: Callable[[int, torch.Generator], torch.Tensor] | None = None,
) -> tuple[TimeScoreModel, Training]:
    """Fit ``r(x, s)`` (and the closing classifier) on the snapshots ``S_0 .. S_M``.

    With ``closing_at``, the first or the last step (see ``split_closing``) is
    learned by the closing classifier instead of ``r``.

    With ``validation`` (snapshots of held-out rows, laid out alike), the full
    loss on them is computed ``VALIDATION_CHECKS`` times over the run. The
    snapshots of one row are that row moved along the bridge, so with many steps
    the network learns the training rows' paths (the in-sample log-ratio grows
    without bound in high dimension); held-out rows tell when that starts.
    Training stops after ``config.n_iter_no_change`` checks in a row that are worse than
    the best by more than half the best's standard error, and keeps the
    parameters of the last check that was not (stale checks count only once the
    loss has fallen a standard error below its start: a weak signal, such as a
    dependence through a shared scale, can take hundreds of steps to be picked up,
    and the loss wanders around chance until then). On a plateau (no over-fitting)
    that is the end of the run, where the decayed learning rate has settled
    details that the validation loss is too noisy to see. The tolerance scales
    with the standard error because a fixed relative one stops too early on a
    plateau that merely wanders, and a whole standard error lets high-dimensional
    fits over-fit (figures in the README).

    ``lr_schedule="cosine"`` decays the learning rate over all ``steps``.
    ``"plateau"`` holds it until ``plateau_patience(step)`` checks (one every
    ``PLATEAU_CHECK_EVERY`` steps; at least ``PLATEAU_PATIENCE``, and more as the
    run grows, as a slow start does not mean a plateau) in a row bring no gain
    in the validation loss, then decays it (``ConstantThenCosine``) and stops:
    ``steps`` is only a cap, and the run lasts as long as the network goes on
    learning, which for low-dimensional ratios ranges from a few hundred steps
    (a correlated Gaussian) to several thousand (a spiral, a dependence through a
    shared scale).

    ``config.end_to_end_weight`` adds that weight times ``end_to_end_loss``
    (the whole log-ratio between the batch's P and Q rows) to each step's loss
    and to the held-out loss.

    ``fresh_batches(size, generator)``, when given, draws each training batch
    (shape ``(len(snapshots), size, d)``, as the snapshots are laid out) in place
    of rows of ``snapshots`` (see ``FreshLinearBridge``); the snapshots then give
    only the layout and the batch size.
    """
    device, dtype = snapshots[0].device, snapshots[0].dtype
    n_intervals = len(snapshots) - 1 - int(closing_at is not None)
    steps = config.steps
    model = TimeScoreModel(
        snapshots[0].shape[1], config.hidden_layer_sizes, config.activation, n_intervals,
        config.quadrature_rule, closing_at, config.time_frequencies, config.quadratic_head,
    ).to(device=device, dtype=dtype)
    plateau = config.lr_schedule == "plateau"
    if plateau:
        optimizer = adam(model.parameters(), config.lr, config.weight_decay)
        scheduler = ConstantThenCosine(optimizer, config.lr, steps)
    else:
        optimizer, scheduler = cosine_adam(model.parameters(), config.lr, steps,
                                           config.weight_decay)
    size = min(config.batch_size, *(s.shape[0] for s in snapshots))
    log = LossLog("density_ratio", "density-ratio", steps, history, progress, device)
    check_every = PLATEAU_CHECK_EVERY if plateau else max(1, steps // VALIDATION_CHECKS)
    since_gain, reference = 0, None
    best, kept_loss, kept_step, kept_state, stale = None, None, steps, None, 0
    # Stopping is armed once the validation loss has fallen below its value at the
    # start by a standard error: before that the network has learned nothing that it
    # could over-fit, and the loss only wanders on a plateau.
    armed, start = validation is None, None
    if validation is not None:
        start_loss, start_error = model.full_loss(validation, config.end_to_end_weight)
        start = start_loss - start_error
    step = 0
    for step in range(1, steps + 1):
        if plateau and scheduler.finished():
            step -= 1
            break
        if fresh_batches is None:
            batch = torch.stack([s[draw_rows(s.shape[0], size, generator, device)]
                                 for s in snapshots])
        else:
            batch = fresh_batches(size, generator)
        bridge, gap = split_closing(batch, closing_at)
        loss = model.loss(bridge[:-1], bridge[1:], gap)
        if config.end_to_end_weight:
            # P is the first snapshot and Q the last in every layout.
            loss = loss + config.end_to_end_weight * model.end_to_end_loss(batch[0], batch[-1])
        descend(optimizer, scheduler, loss)
        log.add(step, loss)
        if validation is None or (step % check_every and step != steps):
            continue
        validation_loss, standard_error = model.full_loss(validation,
                                                          config.end_to_end_weight)
        history.append({"phase": "density_ratio_validation", "step": step,
                        "loss": validation_loss})
        if best is None or validation_loss < best[0]:
            best = (validation_loss, standard_error)
        # A plateau: no check in a while has beaten the last real gain by a tenth of
        # a standard error; a loss that drifts down by less is noise, or a gain not worth the steps.
        if reference is None or validation_loss < reference - PLATEAU_MIN_GAIN * standard_error:
            reference, since_gain = validation_loss, 0
        else:
            since_gain += 1
        armed = armed or validation_loss < start
        if plateau and armed and since_gain >= plateau_patience(step):
            scheduler.start_decay()
        if validation_loss <= best[0] + 0.5 * best[1]:
            kept_loss, kept_step, stale = validation_loss, step, 0
            kept_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif armed:
            stale += 1
            if stale >= config.n_iter_no_change:
                progress("density-ratio", step, steps, validation_loss=validation_loss,
                         kept_step=kept_step)
                break
    if kept_state is not None:
        model.load_state_dict(kept_state)
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model, Training(step, kept_step, kept_loss)


def train_best_time_score(
    n_init: int,
    *args,
    validation: list[torch.Tensor] | None = None,
    **kwargs,
) -> tuple[TimeScoreModel, Training]:
    """The best of ``n_init`` runs of ``train_time_score`` (each from the generator's
    next state) by held-out loss; a single run without held-out rows."""
    best = None
    for _ in range(n_init if validation is not None else 1):
        model, training = train_time_score(*args, validation=validation, **kwargs)
        # With held-out rows every run has a kept loss (one is taken at the last step).
        if best is None or training.kept_validation_loss < best[1].kept_validation_loss:
            best = model, training
    return best


def balanced_score(lr_p: torch.Tensor, lr_q: torch.Tensor) -> float:
    """The balanced negative log-loss of the P-against-Q classifier that log-ratios
    ``lr_p`` (at rows of P) and ``lr_q`` (at rows of Q) define: a proper score,
    ``-log 2`` for a ratio that learned nothing, higher is better."""
    return -float(F.softplus(-lr_p).mean() + F.softplus(lr_q).mean()) / 2


class TelescopicRatio:
    """A trained time-score model with its standardisation: ``log p - log q`` in data units.

    The standardisation is ``affine`` after an optional per-column ``warp``. The
    log-ratio of two densities is unchanged by a bijection applied to both, so it
    needs no Jacobian here.
    """

    def __init__(self, model: TimeScoreModel, affine, warp=None) -> None:
        self.model = model
        self.affine = affine
        self.warp = warp

    def to(self, device: torch.device) -> TelescopicRatio:
        self.model.to(device)
        self.affine = self.affine.to(device)
        if getattr(self, "warp", None) is not None:
            self.warp = self.warp.to(device)
        return self

    def log_ratio(self, x: torch.Tensor) -> torch.Tensor:
        if getattr(self, "warp", None) is not None:
            x = self.warp(x)
        return self.log_ratio_standardized(x)

    def log_ratio_standardized(self, x: torch.Tensor) -> torch.Tensor:
        """The log-ratio at rows already warped (the affine map still to apply)."""
        return self.model.log_p_minus_log_q(self.affine.to_flow(x))
