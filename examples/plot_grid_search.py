"""
Tuning a density-ratio pipeline with GridSearchCV
=================================================

:class:`~flowdre_sklearn.TelescopicDensityRatio` is a scikit-learn estimator: it goes
into a :class:`~sklearn.pipeline.Pipeline` and is tuned by
:class:`~sklearn.model_selection.GridSearchCV` like any other. Its
:meth:`~flowdre_sklearn.TelescopicDensityRatio.score` is the balanced negative
log-loss of the P-against-Q classifier that the log-ratio implies, a proper scoring
rule: in expectation it is highest for the true ratio, so held-out scores rank
settings fairly. Here a search over the number of training steps, with and without
early stopping, shows under- and over-fitting in ``cv_results_``.
"""

# %%
# Stacked rows with labels
# ------------------------
# For cross-validation, give ``fit`` one array with both samples stacked and a label
# column (0 marks P, the first class). The estimator is not a classifier, so
# scikit-learn's default splitter would be an unshuffled ``KFold``: on P rows stacked
# above Q rows its test folds would hold one class only. Pass a shuffled
# ``StratifiedKFold`` instead, as the ``fit`` docstring says.
#
# P and Q are two Gaussians in 8 dimensions (their exact log-ratio is known), with the
# columns measured in very different units. The estimator standardises its input with
# one common scale for all columns, so a ``StandardScaler`` in front puts the columns
# on an equal footing. Rescaling each column changes neither the log-ratio nor the
# score.

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from flowdre_sklearn import TelescopicDensityRatio
from flowdre_sklearn.datasets import make_gaussian_pair

# Networks this small train fastest on one thread (two threads wait on each other).
torch.set_num_threads(1)

X_p, X_q, pair = make_gaussian_pair(500, d=8, shift=1.5, random_state=0)
units = np.array([1.0, 1e3, 1e-3, 10.0, 0.1, 100.0, 1.0, 1e-2])  # each column's unit
X = np.vstack([X_p, X_q]) * units
y = np.r_[np.zeros(len(X_p), dtype=int), np.ones(len(X_q), dtype=int)]
print(f"{len(X_p)} rows of P, {len(X_q)} of Q; true KL(P || Q) = {pair.kl_pq():.2f} nats")

# %%
# The pipeline and the search
# ---------------------------
# The ratio is the linear (TRE) bridge on two intervals with a small network, which
# fits in a second or two. Parameters of a pipeline step are addressed as
# ``<step>__<parameter>``. The grid crosses the number of Adam steps with
# ``validation_fraction``: 0 trains for all the steps, 0.1 (the default) holds out a
# tenth of each training fold and stops once the held-out loss is past its best.

pipe = Pipeline([
    ("scale", StandardScaler()),
    ("ratio", TelescopicDensityRatio(bridge="linear", n_intervals=2,
                                     hidden_layer_sizes=(64, 64), random_state=0)),
])
grid = {"ratio__steps": [30, 100, 300, 1000], "ratio__validation_fraction": [0.0, 0.1]}
search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3, shuffle=True, random_state=0),
                      return_train_score=True).fit(X, y)
print("best:", search.best_params_, f"score {search.best_score_:.3f}")

# %%
# The scores in ``cv_results_``
# -----------------------------
# The mean held-out score per setting, with the standard deviation over the three
# folds as error bars; the dotted line is the score of the true log-ratio (computed on
# a large fresh sample), the best any estimate can do in expectation.

results = search.cv_results_
steps = np.asarray(grid["ratio__steps"])
X_p_new, X_q_new = pair.sample_p(20_000, 1), pair.sample_q(20_000, 2)
true_score = -(np.logaddexp(0, -pair.log_ratio(X_p_new)).mean()
               + np.logaddexp(0, pair.log_ratio(X_q_new)).mean()) / 2

fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
for fraction, label in [(0.0, "no early stopping"), (0.1, "early stopping (default)")]:
    rows = np.asarray(results["param_ratio__validation_fraction"]) == fraction
    ax.errorbar(steps, results["mean_test_score"][rows], yerr=results["std_test_score"][rows],
                fmt="o-", capsize=4, label=f"held-out, {label}")
    if fraction == 0.0:
        ax.plot(steps, results["mean_train_score"][rows], "x--", color="0.5",
                label="training folds, no early stopping")
ax.axhline(true_score, color="k", ls=":", label="true log-ratio")
ax.axhline(np.log(0.5), color="tab:red", lw=0.8, label="chance, log(1/2)")
ax.set(xscale="log", xlabel="ratio__steps (Adam steps, at most)",
       ylabel="score: balanced negative log-loss", title="GridSearchCV, 3 stratified folds")
ax.legend(fontsize=8)

# %%
# Without early stopping the curve is the textbook one: 30 steps underfit, a few
# hundred are best, and beyond that the network learns the training rows: their score
# keeps rising while the held-out score falls, at 1,000 steps below chance. With early
# stopping the long budgets stop near their best step and keep a held-out score close
# to the best one, which is why it is the default. (It also does better at 30 steps:
# with held-out rows the learning rate is held while the held-out loss improves, rather
# than decayed over the steps.)
#
# The refitted best pipeline estimates the log-ratio in the original units, with the
# scaler inside it:

best = search.best_estimator_
scaler, ratio = best.named_steps["scale"], best.named_steps["ratio"]
kl = ratio.kl_divergence(scaler.transform(X_p_new * units))
print(f"KL(P || Q) estimated on fresh P rows: {kl:.2f} nats (truth {pair.kl_pq():.2f})")

# %%
# On real data:
#
# * stack the two samples with 0/1 labels and pass ``cv=StratifiedKFold(k,
#   shuffle=True)``; the two-sample form ``fit(X_p, X_q)`` also works with the
#   default ``KFold``, which splits the rows of both samples alike;
# * search over what matters for the data at hand, such as ``hidden_layer_sizes``,
#   ``n_intervals``, ``weight_decay`` or ``bridge``; the differences between good
#   settings are often smaller than the fold-to-fold spread, so prefer the cheaper of
#   two settings that score alike;
# * :class:`~flowdre_sklearn.FlowTransport` has no ``score`` (a flow is good when it
#   carries P onto Q, which needs both samples): give the search a ``scoring``
#   callable ``scoring(estimator, X, y)`` that judges the transported held-out P rows
#   against the held-out Q rows.

plt.show()
