"""TelescopicDensityRatio and mutual_information: accuracy against closed forms, the density
chasm, scoring and model selection, density estimation, input forms."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from flowdre_sklearn import FlowTransport, TelescopicDensityRatio, mutual_information
from flowdre_sklearn._core.budget import BRIDGE_FLOW_LR
from flowdre_sklearn.datasets import GaussianPair, make_gaussian_mi, make_gaussian_pair

# Test-sized settings: the default bridge flow's learning rate with fewer steps, a small
# time-score network.
FLOW = FlowTransport(init_steps=1500, init_lr=BRIDGE_FLOW_LR, random_state=0)
FAST = dict(flow=FLOW, hidden_layer_sizes=(64, 64), steps=1500, batch_size=256, random_state=0)


@pytest.fixture(scope="module", params=[2, 10], ids=["d2", "d10"])
def gaussian_pair_fit(request):
    d = request.param
    n = {2: 3000, 10: 10000}[d]
    X_p, X_q, pair = make_gaussian_pair(n, n, d=d, shift=1.0, random_state=0)
    model = TelescopicDensityRatio(**FAST).fit(X_p, X_q)
    X_test = np.vstack([pair.sample_p(2000, random_state=1), pair.sample_q(2000, random_state=2)])
    return d, model, pair, X_test


def test_log_ratio_matches_closed_form(gaussian_pair_fit):
    d, model, pair, X_test = gaussian_pair_fit
    estimate, truth = model.log_ratio(X_test), pair.log_ratio(X_test)
    mae = np.abs(estimate - truth).mean()
    corr = np.corrcoef(estimate, truth)[0, 1]
    # Required accuracy, on held-out points from both P and Q: MAE below 0.15 nats
    # at d = 2 and 0.5 at d = 10, correlation above 0.98. A sign error, a missing
    # interval or a mis-scaled quadrature each break the correlation or the MAE.
    assert mae < {2: 0.15, 10: 0.5}[d], mae
    assert corr > 0.98, corr
    # float32 matmuls round differently for 10 rows than for 4000: 1e-5 relative.
    np.testing.assert_allclose(model.ratio(X_test[:10]), np.exp(estimate[:10]), rtol=1e-5)


def test_kl_divergence(gaussian_pair_fit):
    d, model, pair, X_test = gaussian_pair_fit
    held_out = pair.sample_p(4000, random_state=3)
    # KL(P||Q) is the mean log-ratio under P; its sampling error over 4000 points is
    # about 0.02 nats, the estimator's bias here about 10% of the KL.
    assert abs(model.kl_divergence(held_out) - pair.kl_pq()) < 0.2 * pair.kl_pq() + 0.05
    assert model.kl_divergence() == model.kl_train_


@pytest.mark.parametrize("d", [10, 20])
def test_mutual_information_gaussian(d):
    X, Y, true_mi = make_gaussian_mi(4000, d=d, mi=d / 4, random_state=0)
    mi = mutual_information(X, Y, random_state=0, **{k: v for k, v in FAST.items()
                                                        if k != "random_state"})
    # Required accuracy: within 7% of the truth (2.5 and 5 nats).
    assert abs(mi - true_mi) < 0.07 * true_mi, (mi, true_mi)


def test_density_chasm_is_crossed():
    # The Gaussian MI task at d = 80, 20 nats (DRE-infinity's chasm setting): the joint
    # and the product of marginals are far apart in 80 dimensions, and a single
    # logistic classifier saturates. Measured with these defaults: single 12.15, flow
    # bridge 21.72 (seed 0; 21.03 and 19.33 with seeds 1 and 2 of the data, 19.4 - 20.2
    # before the quantile warp and the budget rules, the spread coming from the step at
    # which early stopping keeps the network), so 10% is a margin a working estimator
    # keeps and a single classifier's -39% cannot reach.
    X, Y, true_mi = make_gaussian_mi(4000, d=80, mi=20, random_state=0)
    single = mutual_information(X, Y, bridge="linear", n_intervals=1, random_state=0)
    telescopic = mutual_information(X, Y, random_state=0)
    print(f"MI true {true_mi:.2f}, single {single:.2f}, telescopic {telescopic:.2f}")
    # Required: the single classifier underestimates by more than 30%, the
    # telescopic estimate is within 10%.
    assert single < 0.7 * true_mi
    assert abs(telescopic - true_mi) < 0.1 * true_mi


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="the intervals near Q are evaluated at P's points, "
                   "7 sd outside their snapshots, where the network flattens the log-ratio")
def test_density_chasm_in_two_dimensions():
    # P = N(m, I), Q = N(0, I) in 2-D with |m| = 8: KL = 32 nats, the samples perfectly
    # separable. Each interval is easy, but the log-ratio is wanted at P's points, and
    # the intervals near Q must be evaluated there, 7 standard deviations outside
    # their snapshots: the network flattens the linear truth (per-interval means -0.55
    # .. -5.49 against -0.5 .. -7.5), and the estimate is 25.5 (the quadratic head
    # does not help: 25.7). The single classifier gives 12.0.
    d, shift = 2, 8.0
    pair = GaussianPair(np.r_[shift, np.zeros(d - 1)], np.eye(d), np.zeros(d), np.eye(d))
    X_p, X_q = pair.sample_p(3000, random_state=0), pair.sample_q(3000, random_state=1)
    held_out = pair.sample_p(3000, random_state=2)
    single = TelescopicDensityRatio(**dict(FAST, bridge="linear", n_intervals=1)).fit(X_p, X_q)
    telescopic = TelescopicDensityRatio(**FAST).fit(X_p, X_q)
    kl_true = pair.kl_pq()
    assert single.kl_divergence(held_out) < 0.7 * kl_true
    assert abs(telescopic.kl_divergence(held_out) - kl_true) < 0.1 * kl_true


def test_score_ranks_and_grid_search_picks_the_better_setting():
    X_p, X_q, pair = make_gaussian_pair(1500, 1500, d=2, shift=1.5, random_state=0)
    X = np.vstack([X_p, X_q])
    y = np.r_[np.zeros(len(X_p)), np.ones(len(X_q))]
    test_p, test_q = pair.sample_p(2000, random_state=1), pair.sample_q(2000, random_state=2)
    small_flow = FlowTransport(init_steps=400, random_state=0)
    good = TelescopicDensityRatio(flow=small_flow, hidden_layer_sizes=(32, 32), steps=400,
                                  random_state=0).fit(X, y)
    poor = TelescopicDensityRatio(flow=small_flow, hidden_layer_sizes=(32, 32), steps=1,
                                  random_state=0).fit(X, y)
    # The score is the negative balanced log-loss of the induced classifier: a proper
    # scoring rule, so on held-out data the trained model must beat the untrained one
    # (log 2 = 0.69 is chance; the true ratio scores about -0.45 here).
    assert good.score(test_p, test_q) > poor.score(test_p, test_q) + 0.05
    assert poor.score(test_p, test_q) == pytest.approx(-np.log(2), abs=0.02)
    search = GridSearchCV(
        TelescopicDensityRatio(flow=small_flow, hidden_layer_sizes=(32, 32), random_state=0),
        {"steps": [1, 400]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    assert search.best_params_ == {"steps": 400}


def test_score_samples_is_a_log_density():
    rng = np.random.default_rng(0)
    mean, cov = np.array([1.0, -2.0]), np.array([[2.0, 0.6], [0.6, 0.5]])
    X = rng.multivariate_normal(mean, cov, size=3000)
    X_test = rng.multivariate_normal(mean, cov, size=2000)
    # The log-density is wanted at P's points, in the tails of the Q-side snapshots:
    # the quadratic head extrapolates there as the Gaussian truth does, and the
    # pointwise error needs more steps than the ratio tests (see quadratic_head).
    model = TelescopicDensityRatio(**dict(FAST, quadratic_head=True, lr=3e-3, steps=2500)).fit(X)
    error = np.abs(model.score_samples(X_test) - multivariate_normal(mean, cov).logpdf(X_test))
    # Required accuracy 0.15 nats; measured 0.134 here (0.107 with seed 1). Leaving out
    # log N(x; 0, I) is off by several nats.
    assert error.mean() < 0.15, error.mean()
    assert model.score(X_test) == pytest.approx(model.score_samples(X_test).mean())


def test_linear_bridge_shares_the_estimator():
    X_p, X_q, pair = make_gaussian_pair(2000, 2000, d=2, shift=1.0, random_state=0)
    model = TelescopicDensityRatio(**dict(FAST, bridge="linear")).fit(X_p, X_q)
    X_test = pair.sample_p(2000, random_state=1)
    assert model.flow_ is None
    # The linear bridge is a valid (if different) path: the same accuracy bound holds.
    assert np.abs(model.log_ratio(X_test) - pair.log_ratio(X_test)).mean() < 0.15


def test_fitted_flow_is_used_as_is():
    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1
    flow = FlowTransport(init_steps=50, random_state=0).fit(X_p, X_q)
    before = flow.transform(X_p)
    model = TelescopicDensityRatio(flow=flow, steps=20, random_state=0).fit(X_p, X_q)
    assert model.flow_ is flow
    np.testing.assert_array_equal(flow.transform(X_p), before)
    unfitted = FlowTransport(init_steps=50, random_state=0)
    model = TelescopicDensityRatio(flow=unfitted, steps=20, random_state=0).fit(X_p, X_q)
    assert model.flow_ is not unfitted and not hasattr(unfitted, "flow_")


def test_pushed_p_bridge_shares_the_estimator():
    X_p, X_q, pair = make_gaussian_pair(2000, 2000, d=2, shift=1.0, random_state=0)
    model = TelescopicDensityRatio(**dict(FAST, moved_sample="p")).fit(X_p, X_q)
    X_test = np.vstack([pair.sample_p(1000, random_state=1), pair.sample_q(1000, random_state=2)])
    # The paper's bridge (P pushed, closed at the Q end): the same accuracy bound as the
    # default bridge at d = 2, where the flow's error is small.
    assert model.ratio_.model.closing_at == "end"
    assert np.abs(model.log_ratio(X_test) - pair.log_ratio(X_test)).mean() < 0.15


def test_early_stopping_on_held_out_rows():
    # 400 rows a side in 10-D and a (128, 128) network: trained for all its steps, the
    # network learns the training rows and its in-sample KL overshoots. Measured: early
    # stopping ends at step 500 of 1000 (keeping step 300) with a fresh-sample KL 0.18 from
    # the truth (1.27); without it, 0.38 from the truth and an in-sample KL 0.16 above the
    # fresh one.
    X_p, X_q, pair = make_gaussian_pair(400, 400, d=10, shift=1.0, random_state=0)
    fresh, true_kl = pair.sample_p(4000, random_state=5), pair.kl_pq()
    settings = dict(bridge="linear", n_intervals=2, hidden_layer_sizes=(128, 128), steps=1000,
                    random_state=0)
    stopped = TelescopicDensityRatio(validation_fraction=0.2, **settings).fit(X_p, X_q)
    full = TelescopicDensityRatio(validation_fraction=0.0, **settings).fit(X_p, X_q)
    assert stopped.best_step_ <= stopped.n_iter_ < 1000
    assert any(r["phase"] == "density_ratio_validation" for r in stopped.history_)
    assert stopped.kl_validation_ is not None and stopped.validation_loss_ > 0
    assert full.n_iter_ == full.best_step_ == 1000
    assert full.kl_validation_ is None and full.validation_loss_ is None
    assert full.validation_score_ is None
    # The held-out score stands for the score on new data, which the in-sample one
    # overstates. Measured: -0.580 held out, -0.567 on 4000 fresh rows a side, -0.494 on
    # the training rows; 80 held-out rows a side give the held-out score a standard
    # error of about 0.03, hence 0.05.
    fresh_score = stopped.score(fresh, pair.sample_q(4000, random_state=6))
    in_sample_gap = abs(stopped.score(X_p, X_q) - fresh_score)
    assert abs(stopped.validation_score_ - fresh_score) < min(0.05, in_sample_gap)
    assert full.kl_train_ > full.kl_divergence(fresh) + 0.1
    assert (abs(stopped.kl_divergence(fresh) - true_kl)
            < abs(full.kl_divergence(fresh) - true_kl) - 0.1)


def test_n_init_keeps_the_lowest_held_out_loss():
    # The first of n_init runs is the one n_init=1 trains (the same generator state), so
    # the best of three can only match or beat it on the held-out loss; each run adds
    # its own validation records to history_. Without held-out rows one run is trained.
    X_p, X_q, _ = make_gaussian_pair(300, 300, d=2, shift=1.0, random_state=0)
    settings = dict(bridge="linear", n_intervals=2, hidden_layer_sizes=(8,), steps=100,
                    random_state=0)
    one = TelescopicDensityRatio(**settings).fit(X_p, X_q)
    best = TelescopicDensityRatio(n_init=3, **settings).fit(X_p, X_q)

    def checks(model):
        return sum(r["phase"] == "density_ratio_validation" for r in model.history_)

    assert best.validation_loss_ <= one.validation_loss_
    assert checks(best) > 2 * checks(one) > 0
    unvalidated = dict(settings, validation_fraction=0.0)
    three, one = (TelescopicDensityRatio(n_init=n, **unvalidated).fit(X_p, X_q).history_
                  for n in (3, 1))
    assert [(r["step"], r["loss"]) for r in three] == [(r["step"], r["loss"]) for r in one]


def test_an_unseeded_flow_is_seeded_by_the_estimator():
    # A seeded fit must be reproducible even when the flow passed has no seed of its own,
    # and leave the user's flow unseeded (it is cloned); a seeded flow keeps its seed.
    rng = np.random.default_rng(0)
    X_p, X_q = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1
    tiny = dict(hidden_layer_sizes=(8,), steps=20, validation_fraction=0)
    flow = FlowTransport(init_steps=20, hidden_layer_sizes=(8,))
    fits = [TelescopicDensityRatio(flow=flow, random_state=3, **tiny).fit(X_p, X_q)
            for _ in range(2)]
    np.testing.assert_array_equal(fits[0].log_ratio(X_p), fits[1].log_ratio(X_p))
    assert flow.random_state is None and fits[0].flow_.random_state == 3
    seeded = FlowTransport(init_steps=20, hidden_layer_sizes=(8,), random_state=7)
    assert TelescopicDensityRatio(flow=seeded, random_state=3, **tiny).fit(
        X_p, X_q).flow_.random_state == 7
