"""Pieces shared by the training loops: the cosine decay (as a factor and as the optimiser's
schedule, which must agree), the plateau schedule's end, and the row draws."""

import math

import pytest
import torch

from flowdre_sklearn._core.telescope import (
    PLATEAU_DECAY_SHARE,
    PLATEAU_MIN_DECAY,
    ConstantThenCosine,
)
from flowdre_sklearn._core.training import cosine_adam, cosine_factor, draw_rows


def test_cosine_factor_values():
    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(50, 100) == pytest.approx((1 + 0.02) / 2, rel=1e-12)
    assert cosine_factor(100, 100) == pytest.approx(0.02, rel=1e-12)
    assert cosine_factor(250, 100) == pytest.approx(0.02, rel=1e-12)  # held at the floor
    values = [cosine_factor(k, 37, floor=0.1) for k in range(38)]
    assert values == sorted(values, reverse=True) and values[-1] == pytest.approx(0.1)
    # 1/4 of the way: floor + (1 - floor) (1 + cos(pi / 4)) / 2.
    assert cosine_factor(25, 100) == pytest.approx(0.02 + 0.98 * (1 + math.sqrt(0.5)) / 2)


def test_cosine_adam_follows_cosine_factor():
    # The time score trains with cosine_adam, flow matching with a LambdaLR of
    # cosine_factor: both are documented as the same decay to 2%, and must be. Torch's
    # recursive update of CosineAnnealingLR drifts from the closed form by rounding only.
    lr, steps = 1e-2, 40
    optimizer, scheduler = cosine_adam([torch.zeros(1, requires_grad=True)], lr, steps)
    for step in range(steps + 1):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(
            lr * cosine_factor(step, steps), rel=1e-9), step
        optimizer.step()
        scheduler.step()


def test_plateau_schedule_never_triggered_ends_at_the_cap_on_a_cosine():
    # Never told to decay, the schedule starts its decay at the latest step that still
    # ends it at `steps`: a run may not overshoot its cap, nor stop well short of it.
    steps, lr = 2000, 0.5
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    schedule = ConstantThenCosine(optimizer, lr, steps)
    rates, done = [], 0
    while not schedule.finished():
        schedule.step()
        done += 1
        rates.append(optimizer.param_groups[0]["lr"])
    assert done == steps
    start = int(steps / (1 + PLATEAU_DECAY_SHARE))
    length = max(PLATEAU_MIN_DECAY, int(PLATEAU_DECAY_SHARE * start))
    assert start + length == steps
    assert all(rate == lr for rate in rates[:start])
    for k in (1, length // 2, length):
        assert rates[start + k - 1] == pytest.approx(lr * cosine_factor(k, length), rel=1e-12)


def test_draw_rows_without_replacement_when_it_can():
    generator = torch.Generator().manual_seed(0)
    rows = draw_rows(10, 10, generator, torch.device("cpu"))
    assert sorted(rows.tolist()) == list(range(10))
    rows = draw_rows(3, 50, generator, torch.device("cpu"))
    assert rows.shape == (50,) and set(rows.tolist()) == {0, 1, 2}
