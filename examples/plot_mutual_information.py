"""
Mutual information as the dimension grows
=========================================

:func:`~flowdre_sklearn.mutual_information` estimates ``I(X; Y)`` as the KL divergence
between the joint distribution of ``(X, Y)`` and the product of its marginals, by a
:class:`~flowdre_sklearn.TelescopicDensityRatio` along an optimal-transport flow. Here
it is checked against the truth on correlated Gaussians, whose mutual information is
known in closed form, as the dimension and the mutual information grow together; a
single classifier between the joint and the product sample (the usual density-ratio
trick) runs beside it.
"""

# %%
# The task
# --------
# :func:`flowdre_sklearn.datasets.make_gaussian_mi` draws ``d / 2`` independent pairs
# of standard normals, each pair correlated, with the correlation set so that the total
# mutual information is the one asked for. Here it is ``d / 2`` nats, half a nat per
# coordinate: from 1 nat at ``d = 2`` to 8 nats at ``d = 16``. The larger the mutual
# information, the further apart the joint and the product of the marginals are, and
# the harder the ratio is for a single classifier (the "density chasm").

import matplotlib.pyplot as plt
import numpy as np
import torch

from flowdre_sklearn import FlowTransport, mutual_information
from flowdre_sklearn.datasets import make_gaussian_mi

# Networks this small train fastest on one thread (two threads wait on each other).
torch.set_num_threads(1)

dims = [2, 4, 8, 16]
n_samples = 2000

# %%
# Two estimators
# --------------
# *Telescopic, along the flow*: the default bridge (``bridge="flow"``), here with
# small networks and short fits, cut into four intervals. *Single classifier*:
# ``bridge="linear", n_intervals=1`` reduces the estimator to one classifier between
# the joint sample and the product sample, given the same network and the same number
# of steps. Both hold out a tenth of the rows (``validation_fraction=0.1``, the
# default), to stop training if the held-out loss turns up before the last step.

budget = dict(hidden_layer_sizes=(64, 64), steps=600, random_state=0)
truth, telescopic, single = [], [], []
for d in dims:
    X, Y, true_mi = make_gaussian_mi(n_samples, d=d, mi=d / 2, random_state=0)
    flow = FlowTransport(hidden_layer_sizes=(64, 64), init_steps=500, random_state=0)
    truth.append(true_mi)
    telescopic.append(mutual_information(X, Y, flow=flow, n_intervals=4, **budget))
    single.append(mutual_information(X, Y, bridge="linear", n_intervals=1, **budget))
    print(f"d = {d:2d}: true MI {true_mi:.2f}, telescopic {telescopic[-1]:.2f}, "
          f"single classifier {single[-1]:.2f} nats")

# %%
# Estimates against the truth
# ---------------------------

truth, telescopic, single = map(np.asarray, (truth, telescopic, single))
fig, (ax, ax_rel) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
ax.plot(dims, truth, "k--", label="true MI")
ax.plot(dims, telescopic, "o-", label="telescopic, along the flow")
ax.plot(dims, single, "s-", label="single classifier")
ax.set(xlabel="dimension d of (X, Y)", ylabel="mutual information [nats]",
       title=f"Gaussian MI task, {n_samples} joint rows")
ax_rel.axhline(0, color="k", lw=0.8)
ax_rel.plot(dims, 100 * (telescopic / truth - 1), "o-", label="telescopic, along the flow")
ax_rel.plot(dims, 100 * (single / truth - 1), "s-", label="single classifier")
ax_rel.set(xlabel="dimension d of (X, Y)", ylabel="relative error [%]",
           title="Error of the estimates")
for a in (ax, ax_rel):
    a.set_xscale("log", base=2)
    a.set_xticks(dims, [str(d) for d in dims])
    a.legend()

# %%
# What this shows, and what it does not
# -------------------------------------
# Up to 4 nats (``d <= 8``) both estimators land near the truth: the telescopic one
# within about 5%, the single classifier within about 16%. At 8 nats the single
# classifier falls far below the truth: once the two samples are easy to tell apart,
# one classifier learns the ratio only where they overlap, and the log-ratio it
# reports saturates. Cutting the way from one sample to the other into short intervals
# along the flow keeps every classification problem easy, and the telescopic estimate
# stays much closer, though with this budget it too falls short at ``d = 16``.
#
# These are single runs with one seed, on 2,000 rows with 600 training steps; another
# seed gives somewhat different points. For a real estimate:
#
# * leave ``steps``, ``hidden_layer_sizes`` and the flow at their defaults (larger,
#   and scaled to the dimension);
# * pass ``cv=5, return_result=True`` to get a cross-fitted estimate with a standard
#   error and a confidence interval, at the cost of one fit per fold;
# * use more rows as the mutual information grows: the README's table (up to
#   ``d = 80``, 20 nats) uses 4,000.

plt.show()
