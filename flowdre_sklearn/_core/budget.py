"""Network sizes and training budgets that follow the size of the problem.

The estimators' ``"auto"`` settings resolve here, so that each rule is stated
once. The figures behind them are in ``benchmarks/results/mi_gaussian*.md``,
``benchmarks/results/mi_hard*.md`` and ``benchmarks/results/flow_width.md``.
"""

from __future__ import annotations

import math

#: Hidden widths of the velocity network up to ``VELOCITY_WIDTH`` features: three
#: layers of that width. Above it each layer is as wide as the power of two at or
#: above the dimension. A network whose narrowest layer has ``w`` units has a
#: Jacobian of rank at most ``w``, so a narrower one cannot even represent a
#: full-rank linear map (the transport between two Gaussians), and the flow's
#: error grows with the directions it cannot move.
VELOCITY_WIDTH = 128
VELOCITY_DEPTH = 3


def velocity_layer_sizes(n_features: int) -> tuple[int, ...]:
    """Hidden layer sizes of the flow's velocity network for ``n_features`` inputs."""
    width = max(VELOCITY_WIDTH, 1 << max(0, n_features - 1).bit_length())
    return (width,) * VELOCITY_DEPTH


#: Passes over the P rows given to the bridge flow's flow-matching regression.
#: The flow must be accurate enough that the closing classifier (P against the
#: pulled-back Q) has a small gap to learn, but fitted no closer to the training
#: rows than that: the log-ratio is learned on those same rows. A fixed number
#: of steps under-fits as the data grow (the regression sees a smaller share of
#: the rows), so the budget is counted in passes over the data.
BRIDGE_FLOW_EPOCHS = 70
#: The fewest and the most flow-matching steps of the bridge flow.
BRIDGE_FLOW_STEPS = (2000, 20000)
#: The bridge flow's learning rate: below ``FlowTransport``'s own, as its budget is
#: smaller and the flow need only be a path of easy steps, not an accurate map.
BRIDGE_FLOW_LR = 2e-3
#: The bridge flow's velocity network at every dimension: ``FlowTransport``'s widths up
#: to 128 features, and no wider above. A wider flow is a much closer map there
#: (``benchmarks/results/flow_width.md``), yet it made the log-ratio worse: on the
#: Gaussian MI task at d = 160 (32,000 rows) the estimate fell from 40.3 to 30.7 nats
#: (truth 40) with a 256-wide bridge flow. The bridge is a path for the time score to
#: follow, not the transport map the user asked for, and the time score (trained on the
#: moved sample only) under-fits long paths in high dimension.
BRIDGE_FLOW_LAYER_SIZES = (VELOCITY_WIDTH,) * VELOCITY_DEPTH

#: Input dimensions up to which the time score is a (64, 64) network trained at lr 3e-3
#: for as long as its validation loss falls (the ``"plateau"`` schedule, at most 10,000
#: steps); above it, a wider network for 2000 steps (more with many rows,
#: ``LARGE_EPOCHS``) at lr 1e-3 with a cosine decay. In a few dimensions the smaller
#: network fits as well for less, and over-fitting is slow, so the run can follow the
#: data: a smooth ratio is learned in a few hundred steps, one with fine structure (two
#: modes, a spiral, a dependence through a shared scale) takes thousands, and any fixed
#: budget is too long for the one or too short for the other. In high dimension the
#: network over-fits within a few thousand steps, and the decay over a fixed budget is
#: what the Gaussian MI benchmarks were tuned with (``mi_gaussian*.md`` and
#: ``mi_hard*.md`` in ``benchmarks/results`` hold the measurements behind both). The
#: line is at 20 features, not 10: on 10+10 Student-t blocks (dependent only through a
#: shared scale, 5000 rows) the fixed 2000 steps at lr 1e-3 stopped long before the
#: shared scale was learned (-71% to -82% of the truth), and the small budget reaches
#: it; on the Gaussian task at 20 features it is as close (both in ``mi_hard_d20*.md``
#: and ``mi_gaussian_d20*.md``). At 40 and 80 features it was no better than the fixed
#: budget on the Gaussian task and stalled near chance in two seeds of three of a 20+20
#: Student-t (``benchmarks/FINDINGS.md``).
SMALL_DIMENSION = 20
#: Above ``SMALL_DIMENSION``, (128, 128); (256, 256) above ``WIDE_DIMENSION``
#: features when P has at least ``WIDE_ROWS_PER_FEATURE`` fitting rows per feature.
#: A log-ratio between distributions in d dimensions (between a joint and its
#: product of marginals, say) is often a form of rank about d, which a layer
#: narrower than that rank cannot represent: with a fixed width the estimate
#: saturates as d grows, whatever the data. A wider first layer has more weights
#: to pin down, and with too few rows it over-shoots instead.
WIDE_DIMENSION = 128
WIDE_ROWS_PER_FEATURE = 150
SMALL_STEPS_CAP = 10000
#: Without held-out rows the plateau cannot be seen: the small network gets a
#: fixed budget with a cosine decay instead.
SMALL_STEPS_UNVALIDATED = 1000
#: Above ``SMALL_DIMENSION`` the time score's budget is ``LARGE_STEPS`` steps, or
#: ``LARGE_EPOCHS`` passes over the fitting rows of P when that is more. The
#: network over-fits after about ten passes in high dimension, so early stopping
#: (on held-out rows) ends the run, and the budget must leave it room to: 2000 steps
#: were tuned at up to 32,000 rows (about 18 passes over 28,800 fitting rows), and at
#: 64,000 rows they end the decay at 9 passes, before the held-out loss stops falling
#: (``benchmarks/FINDINGS.md``: at d = 320 the Gaussian MI estimate goes from 36.3 to
#: 44 nats with 16 passes). With 16 the rule keeps 2000 steps up to 32,000 fitting rows.
LARGE_STEPS = 2000
LARGE_EPOCHS = 16


#: Up to ``SINGLE_CLASSIFIER_FEATURES`` features (X and Y together), mutual information
#: up to ``SINGLE_CLASSIFIER_NATS`` is estimated by one classifier between the joint
#: sample and the product of the marginals, with no bridge. A few nats in a few
#: dimensions is no density chasm, and there the telescope only adds the errors of its
#: closing classifier and of a flow fitted between two nearly equal samples: on the six
#: tasks of ``mi_hard_3seeds.md`` (2 to 4 features, 0.05 to 1 nat) one classifier was as
#: close to the truth as the flow bridge or closer on every task, 5 to 15 times faster.
#: At 10 features it was not: on a Student-t with 5 degrees of freedom it gave half the
#: truth where the flow bridge was within 10% (``mi_hard_d10_3seeds.md``), so the rule
#: stops below that. Above 3 nats one classifier starts to over-shoot (+9% at 5 nats on
#: the Gaussian task, ``mi_gaussian_3seeds.md``), and it saturates near 12.
SINGLE_CLASSIFIER_FEATURES = 4
SINGLE_CLASSIFIER_NATS = 3.0
#: Batch of that classifier. Its Q is drawn afresh from the product of the marginals,
#: so a larger batch costs no data, only time; and a small MI, or one with fine
#: structure, is a weak signal in the logistic loss that a 256-row batch drowns in
#: gradient noise. Over three seeds of the ``mi_hard.py`` tasks, 1024 rows took the
#: spiral from -12% to -7% and the 5-degree-of-freedom Student-t from a mean of
#: -34% (one seed stopping at 0, never having learned) to within the sampling noise
#: of its 5000 rows, with the other four tasks as close as before, for about twice
#: the time (seconds; ``mi_hard_pilot_batch_3seeds.md``); 512 did less on the
#: spiral and 2048 no better than 1024.
SINGLE_CLASSIFIER_BATCH = 1024
#: Decoupled weight decay of that classifier. Its estimate is the mean log-ratio over
#: the rows it was fitted to, optimistic by what it learned of their noise; a little
#: decay trades some of that for a slight shrink of every ratio. Over ten seeds of the
#: 2+2 Student-t tasks it took 2 degrees of freedom from +12% to +6% and halved the
#: spread there, with 1 degree of freedom from +2% to -2% and 5 from +4% to -9.6%
#: (where the oracle of the same rows is -6%); over three seeds it took the spiral from
#: +4% +- 10% to -8% +- 1%, and the other warps, the bimodal pair and the 1-D Gaussian
#: moved by 1.5% of their truth or less (``mi_hard_pilot_decay_d4_10seeds.md``,
#: ``mi_hard_pilot_decay_3seeds.md``). A decay of 0.1 shrank more: the spiral -17%.
SINGLE_CLASSIFIER_WEIGHT_DECAY = 0.03

#: Weight of the end-to-end loss (the logistic loss of the whole log-ratio, see
#: ``TelescopicDensityRatio``'s ``end_to_end_weight``) in mutual information up to
#: ``MI_END_TO_END_FEATURES`` features. A dependence of a nat or less spread over eight
#: intervals is a weak signal in each: on 10,000 rows of a 5+5 Student-t with one
#: degree of freedom (0.80 nats) the time score of one seed in three sat near chance
#: until it stopped, at 0.08 nats, where this weight gives 0.66 (over three seeds
#: -44% becomes -10%, and at 20,000 rows -7% becomes -6%); at 5000 rows it takes the
#: 5+5 Student-t tasks from -16%, -9% and -3% (1, 2 and 5 degrees of freedom) to
#: -11%, +5% and +3%, and the Gaussian task at 10 features from 2.45 to 2.47 nats
#: (2.5). A weight of 1 or 4 helped the first task more (-4%, -5%) and sank two seeds
#: of three of the last to 0.01-0.07 nats: the loss is then mostly one classifier's.
#: Drawing that term's Q afresh from the product of the marginals did not save it
#: (0.06-0.10 nats at weight 1, ``benchmarks/FINDINGS.md``).
MI_END_TO_END_WEIGHT = 0.25
#: Not above 10 features: on 10+10 Student-t blocks, where the intervals carry more
#: signal each, the weight took the 5-degree-of-freedom task from +4% to -41% (two
#: seeds of three stopped at 0.09 and 0.14 nats for 0.33) and the 1-degree one from
#: +1% to +7%, for 5.00 nats instead of 4.84 (truth 5) on the 20-feature Gaussian task
#: (``benchmarks/FINDINGS.md``).
MI_END_TO_END_FEATURES = 10


#: Initialisations of the time score (``TelescopicDensityRatio``'s ``n_init``, the one
#: with the lowest held-out loss kept) in mutual information above
#: ``SINGLE_CLASSIFIER_FEATURES`` and up to ``SMALL_DIMENSION`` features. There the time
#: score of a weak dependence can sit at a saddle near chance until early stopping ends
#: the run, in some initialisations and not in others: on 10+10 Student-t blocks with 5
#: degrees of freedom (0.33 nats, 5000 rows, no end-to-end loss) four seeds of ten
#: stopped at 0.04-0.08 nats with one initialisation and one of ten with three; on 5+5
#: blocks (0.17 nats), where the end-to-end loss is on, two of ten stopped at 0.03 and
#: 0.08 with one and none with three (-11% becomes +8%), while the 5+5 blocks with 1 and
#: 2 degrees of freedom moved from -12% and +3% to -12% and -3%
#: (``benchmarks/FINDINGS.md``). Up to 4 features the pilot classifier comes first and
#: keeps one, as its speed is its point; at 40, with the small budget, three did not
#: stop the 20+20 blocks from stalling.
MI_TIME_SCORE_INITS = 3


def mi_time_score_inits(n_features: int) -> int:
    """``n_init`` of :func:`mutual_information` for ``n_features`` (X and Y)."""
    return MI_TIME_SCORE_INITS if SINGLE_CLASSIFIER_FEATURES < n_features <= SMALL_DIMENSION else 1


def mi_end_to_end_weight(n_features: int) -> float:
    """``end_to_end_weight`` of :func:`mutual_information` for ``n_features`` (X and Y)."""
    return MI_END_TO_END_WEIGHT if n_features <= MI_END_TO_END_FEATURES else 0.0


def bridge_flow_steps(n_rows: int, batch_size: int) -> int:
    """Flow-matching steps of the bridge flow for ``n_rows`` rows of P."""
    low, high = BRIDGE_FLOW_STEPS
    return int(min(high, max(low, math.ceil(BRIDGE_FLOW_EPOCHS * n_rows / batch_size))))


def time_score_width(n_features: int, n_rows: int) -> tuple[int, int]:
    """Hidden layer sizes of the time score ``r(x, s)`` for ``n_features`` inputs and
    ``n_rows`` fitting rows of P."""
    if n_features <= SMALL_DIMENSION:
        return (64, 64)
    if n_features > WIDE_DIMENSION and n_rows >= WIDE_ROWS_PER_FEATURE * n_features:
        return (256, 256)
    return (128, 128)


def time_score_steps(n_features: int, n_rows: int, batch_size: int,
                     validated: bool = True) -> int:
    """Adam steps of the time score (a cap with the plateau schedule) for ``n_features``
    inputs and ``n_rows`` fitting rows of P drawn ``batch_size`` at a step, with or
    without held-out rows."""
    if n_features > SMALL_DIMENSION:
        return max(LARGE_STEPS, math.ceil(LARGE_EPOCHS * n_rows / batch_size))
    return SMALL_STEPS_CAP if validated else SMALL_STEPS_UNVALIDATED


def time_score_lr(n_features: int) -> float:
    """Initial learning rate of the time score for ``n_features`` inputs."""
    return 3e-3 if n_features <= SMALL_DIMENSION else 1e-3


def time_score_schedule(n_features: int, validated: bool = True) -> str:
    """Learning-rate schedule of the time score (see ``train_time_score``)."""
    return "plateau" if n_features <= SMALL_DIMENSION and validated else "cosine"
