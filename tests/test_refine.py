"""Q-flow refinement internals: the averaged flow it returns."""

from unittest import mock

import numpy as np
import pytest
import torch

import flowdre_sklearn._core.refine as refine_module
from flowdre_sklearn import FlowTransport
from flowdre_sklearn._core.refine import WeightAverage


def test_weight_average_is_a_mean_then_an_exponential_average():
    module = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.fill_(-100.0)  # held before the first add: must carry no weight
    average = WeightAverage(module, horizon=3)
    iterates = [1.0, 2.0, 6.0, 4.0, 10.0]
    for value in iterates:
        with torch.no_grad():
            module.weight.fill_(value)
        average.add()
    # Written out: the plain mean of the first three, 3.0, then two exponential
    # steps of weight 1/3: 3 + (4 - 3) / 3, then that + (10 - it) / 3.
    expected = 3.0 + (4.0 - 3.0) / 3
    expected += (10.0 - expected) / 3
    average.copy_to_module()
    # float32 round-off of five lerps; the plain mean (4.6), an exponential average
    # from the start (weight 1/3 throughout) or one seeded with -100 miss by far more.
    assert module.weight.item() == pytest.approx(expected, rel=1e-6)


def test_weight_average_before_any_iterate_leaves_the_module_alone():
    module = torch.nn.Linear(2, 2)
    before = [p.detach().clone() for p in module.parameters()]
    average = WeightAverage(module, horizon=10)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(1.0)
    average.copy_to_module()
    for p, old in zip(module.parameters(), before):
        torch.testing.assert_close(p, old + 1.0)


def test_refined_flow_is_the_average_of_its_iterates():
    """The fitted field holds the average, not the last iterate (which differs from it)."""
    seen = {}

    class Recording(WeightAverage):
        def copy_to_module(self):
            seen["last"] = [p.detach().clone() for p in self.params]
            seen["average"] = [a.clone() for a in self.average]
            super().copy_to_module()

    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1.0
    model = FlowTransport(hidden_layer_sizes=(16,), init_steps=30, refine_steps=10,
                          classifier_warmup_steps=5, random_state=0)
    with mock.patch.object(refine_module, "WeightAverage", Recording):
        model.fit(X_p, X_q)
    fitted = list(model.flow_.field.parameters())
    for param, average in zip(fitted, seen["average"]):
        torch.testing.assert_close(param, average, rtol=0, atol=0)
    # Each Adam step moves a weight by up to refine_lr (5e-5), so the average (horizon
    # 0.2 * 10 = 2 iterates) differs from the last iterate: else the test shows nothing.
    assert any(not torch.equal(last, average)
               for last, average in zip(seen["last"], seen["average"]))
