"""Bridges of distributions from P to Q: the variance-preserving interpolants, one path per
row through the linear snapshots, the fresh linear bridge's batches, and the layouts of the
flow bridge that the closing step expects."""

import pytest
import torch

from flowdre_sklearn._core.bridge import (
    FreshLinearBridge,
    flow_snapshots,
    interpolants,
    linear_snapshots,
)
from flowdre_sklearn._core.telescope import split_closing


def farthest_from_rows(x, rows):
    """The largest distance from a row of ``x`` to its nearest row of ``rows``.

    Exact differences: ``torch.cdist`` rounds to about 1e-8 through its matmul form.
    """
    return float((x[:, None, :] - rows[None, :, :]).norm(dim=-1).min(1).values.max())


def test_interpolants_follow_the_formula_and_preserve_unit_variance():
    generator = torch.Generator().manual_seed(0)
    x_p = torch.randn(20_000, 2, generator=generator, dtype=torch.float64)
    x_q = torch.randn(20_000, 2, generator=generator, dtype=torch.float64)
    path = interpolants(x_p, x_q, 4)
    assert len(path) == 5 and path[0] is x_p and path[-1] is x_q
    for j, snapshot in enumerate(path):
        a = j / 4
        torch.testing.assert_close(snapshot, (1 - a * a) ** 0.5 * x_p + a * x_q)
        # Independent unit-variance ends: (1 - a^2) + a^2 = 1 at every a, where the plain
        # (1 - a) x_p + a x_q has (1 - a)^2 + a^2, 0.5 at a = 1/2. 40,000 values: the
        # variance's standard error is sqrt(2 / 40000) = 0.007, so 0.03 is 4 of them.
        assert float(snapshot.var()) == pytest.approx(1.0, abs=0.03)


def test_linear_snapshots_move_each_p_row_along_one_path():
    # The ends are the full samples (of different sizes here); in between, row i of
    # every snapshot is the interpolant between P row i and one and the same Q row.
    generator = torch.Generator().manual_seed(0)
    x_p = torch.randn(12, 2, generator=generator, dtype=torch.float64)
    x_q = torch.randn(7, 2, generator=generator, dtype=torch.float64) + 3
    snapshots = linear_snapshots(x_p, x_q, 4, generator)
    assert len(snapshots) == 5 and snapshots[0] is x_p and snapshots[-1] is x_q
    partners = []
    for j in (1, 2, 3):
        a = j / 4
        partners.append((snapshots[j] - (1 - a * a) ** 0.5 * x_p) / a)
    for partner in partners[1:]:
        torch.testing.assert_close(partner, partners[0])
    # Each partner is a row of Q.
    assert farthest_from_rows(partners[0], x_q) < 1e-12


def test_fresh_linear_bridge_draws_new_q_rows_for_every_batch():
    generator = torch.Generator().manual_seed(0)
    x_p = torch.randn(50, 2, dtype=torch.float64)
    draws = []

    def draw_q(size, generator):
        rows = torch.randn(size, 2, generator=generator, dtype=torch.float64) + 10
        draws.append(rows)
        return rows

    bridge = FreshLinearBridge(x_p, draw_q, 3, standardize=lambda z: 2 * z + 1)
    first, second = bridge(8, generator), bridge(8, generator)
    assert first.shape == (4, 8, 2) and len(draws) == 2
    path = (first - 1) / 2  # back from the network's coordinates
    # The first snapshot is rows of P, the last the fresh Q draw, and in between their
    # interpolants, row by row.
    assert farthest_from_rows(path[0], x_p) < 1e-12
    torch.testing.assert_close(path[-1], draws[0])
    torch.testing.assert_close(list(path), interpolants(path[0], draws[0], 3))
    assert not torch.equal(draws[0], draws[1]) and not torch.equal(first, second)


class ShiftFlow:
    """A stand-in for ``Flow``: ``T(x) = x + shift``, straight at constant speed."""

    def __init__(self, shift):
        self.shift = shift

    def trajectory(self, x, times):
        return x + times[:, None, None] * self.shift

    def inverse_transform(self, y):
        return y - self.shift


@pytest.mark.parametrize(("moved", "closing_at"), [("p", "end"), ("q", "start")])
def test_flow_snapshots_are_laid_out_for_the_closing_step(moved, closing_at):
    # Moving P closes at the Q end (pushed P against the real Q); moving Q closes at the
    # P end (the real P against pulled-back Q), and the last snapshot is the real Q.
    shift = torch.tensor([3.0, -1.0], dtype=torch.float64)
    generator = torch.Generator().manual_seed(0)
    x_p = torch.randn(9, 2, generator=generator, dtype=torch.float64)
    x_q = torch.randn(6, 2, generator=generator, dtype=torch.float64) + shift
    snapshots = flow_snapshots(ShiftFlow(shift), x_p, x_q, 4, moved)
    assert len(snapshots) == 4 + 2
    bridge, gap = split_closing(snapshots, closing_at)
    assert len(bridge) == 5
    start = x_p if moved == "p" else x_q - shift
    for j, snapshot in enumerate(bridge[:-1]):
        torch.testing.assert_close(snapshot, start + j / 4 * shift)
    if moved == "p":
        torch.testing.assert_close(bridge[-1], x_p + shift)  # T(X_p) ...
        assert gap[1] is x_q  # ... closed against the real Q
    else:
        assert bridge[-1] is x_q  # the real Q itself, not T(T^-1(X_q))
        assert gap[0] is x_p
        torch.testing.assert_close(gap[1], x_q - shift)
