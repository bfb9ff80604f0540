"""``TelescopicDensityRatio``: log p(x) - log q(x) by infinitesimal DRE along a bridge."""

from __future__ import annotations

from dataclasses import fields
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import TORCH_DTYPES, TorchEstimatorMixin, check_divergence
from ._compat import HasMethods, Interval, StrOptions, _fit_context, validate_params
from ._core.bridge import BRIDGES, FreshLinearBridge, flow_snapshots, linear_snapshots
from ._core.budget import (
    BRIDGE_FLOW_LAYER_SIZES,
    BRIDGE_FLOW_LR,
    bridge_flow_steps,
    time_score_lr,
    time_score_schedule,
    time_score_steps,
    time_score_width,
)
from ._core.flow import Affine, standard_normal_log_density
from ._core.networks import ACTIVATIONS
from ._core.samples import ProductOfMarginals
from ._core.telescope import (
    QUADRATURES,
    SCHEDULES,
    TelescopicRatio,
    TimeScoreConfig,
    balanced_score,
    train_best_time_score,
)
from ._core.training import History, Progress
from ._core.warp import NormalScoreWarp
from ._input import check_features, check_samples
from .transport import FlowTransport, _check_layer_sizes, _is_auto
from .weights import CLIP_CONSTRAINTS
from .weights import importance_weights as _importance_weights

#: Size of the standard-normal sample that stands for Q after ``fit(X)``: at least
#: ``MIN_NORMAL_SAMPLE`` rows, ``NORMAL_SAMPLE_FACTOR`` times the P rows where the
#: snapshots of that many rows hold at most ``NORMAL_SAMPLE_MAX_VALUES`` numbers
#: (256 MiB in float32), and never fewer rows than P. Q costs nothing to draw, and
#: the bridge is made of it: a larger Q sample makes ``score_samples`` markedly more
#: accurate (as its test shows).
MIN_NORMAL_SAMPLE = 2048
NORMAL_SAMPLE_FACTOR = 10
NORMAL_SAMPLE_MAX_VALUES = 2**26


def _normal_sample_size(n_p: int, n_features: int, n_snapshots: int) -> int:
    """Rows of the ``N(0, I)`` sample standing for Q, for ``n_p`` rows of P."""
    affordable = NORMAL_SAMPLE_MAX_VALUES // (n_features * n_snapshots)
    return max(n_p, min(max(NORMAL_SAMPLE_FACTOR * n_p, MIN_NORMAL_SAMPLE), affordable))


def _q_is_standard_normal(estimator) -> bool:
    return getattr(estimator, "q_is_standard_normal_", True)


STANDARDIZATIONS = ("affine", "quantile")
#: The parameters that choose the bridge. The functions built on the estimator
#: (``mutual_information``, ``two_sample_test``) choose one themselves unless the
#: caller gives any of these.
BRIDGE_PARAMS = frozenset({"bridge", "n_intervals", "flow"})


class TelescopicDensityRatio(TorchEstimatorMixin, BaseEstimator):
    r"""Log density ratio ``log p(x) - log q(x)`` by telescopic (infinitesimal) DRE.

    A bridge of distributions carries P (the first sample) to Q, by default the
    optimal-transport flow of :class:`FlowTransport` [1]_. A network ``r(x, s)``
    models ``d/ds log p_s(x)`` along it, trained by logistic losses between
    neighbouring snapshots, and the log-ratio is its integral (see Notes). Each
    interval is an easy problem where one classifier between distant P and Q
    saturates (the "density chasm" [2]_). Inputs are standardised internally by
    a bijection (see ``standardize``), which leaves the log-ratio unchanged. A
    column constant in one sample only warns (the log-ratio is then infinite).

    Parameters
    ----------
    flow : FlowTransport or None, default=None
        The bridge for ``bridge="flow"``: cloned and fitted if unfitted (seeded by
        ``random_state`` when its own is None), used as it is if fitted (on the same
        samples; not with ``standardize="quantile"``).
        None: a ``FlowTransport`` whose budget grows with the P rows, with a
        velocity network of three layers of 128 at any dimension; a bridge need
        only be a path of easy steps. A closer fit (a wider network, a longer run,
        ``FlowTransport()`` with its own defaults) is no better and can be far
        worse: it spreads the ratio over small steps along the bridge that the time
        score learns less well from held-out rows than the closing classifier learns
        the gap a looser flow leaves (in high dimension and on weak dependences alike;
        ``benchmarks/FINDINGS.md``).
    standardize : {"affine", "quantile"}, default="affine"
        Bijection applied to both samples first. ``"affine"``: column centres and
        one scale; ``"quantile"``: each column warped to normal scores by the pooled
        quantiles before that. Choose ``"quantile"`` under heavy tails, where a few
        rows rule the moments (the default of :func:`mutual_information`).
    bridge : {"flow", "linear"}, default="flow"
        ``"flow"``: one sample moved along the flow (see ``moved_sample``).
        ``"linear"``: ``sqrt(1 - s^2) x_p + s x_q`` as in TRE [2]_ and
        DRE-infinity [3]_, cheaper but harder when P and Q are far apart; with
        ``n_intervals=1`` it is a single classifier (the baseline).
    n_intervals : int, default=8
        Intervals along the bridge (the flow bridge adds a closing step). More
        make each interval easier, at a proportional cost.
    moved_sample : {"q", "p"}, default="q"
        The sample moved along the flow bridge: ``"q"``, pulled back by the
        inverse flow and closed at the P end; ``"p"``, pushed forward (the
        paper's bridge) and closed at the Q end. The log-ratio is mostly read at
        P-like points, where a Q-end closing classifier extrapolates (see the README).
    hidden_layer_sizes : sequence of int or "auto", default="auto"
        Hidden widths of ``r(x, s)``. ``"auto"``: (64, 64) up to 20 features,
        (128, 128) above, and (256, 256) above 128 features when P has at least
        150 fitting rows per feature: a log-ratio in d dimensions is often a form
        of rank about d, which a narrower layer cannot represent, while a wider
        one needs the rows to pin it down.
        Raise ``steps`` or the width when ``best_step_`` is the last step.
    activation : {"silu", "softplus", "tanh", "elu"}, default="silu"
        Activation of the networks.
    time_frequencies : int, default=8
        Time enters ``r(x, s)`` through ``s``, ``sin(k pi s)`` and ``cos(k pi s)``,
        ``k = 1 .. time_frequencies``. ``d/ds log p_s`` changes fast along the OT
        bridge, which a plain scalar input (``0``) smooths into a bias.
    quadratic_head : bool, default=False
        Add to ``r(x, s)`` a quadratic form in ``x`` with time-varying coefficients
        (exact between Gaussians, and flattened by the MLP in the tails). Worth
        trying for log-densities in low dimension; in high dimension it can over-fit.
    quadrature : {"gauss-legendre", "simpson38"}, default="gauss-legendre"
        Rule for the time integral on each interval.
    quadrature_nodes : int, default=3
        Nodes per panel of the Gauss-Legendre rule (the 3/8 rule has 4): more
        follow faster changes in ``s``, at a proportional cost.
    quadrature_panels : int, default=1
        Panels per interval, with the same trade-off.
    steps : int or "auto", default="auto"
        Most Adam steps of the time score. ``"auto"``: 10,000 up to 20 features
        (1000 without held-out rows); above, 2000 or 16 passes over the fitting
        rows of P, whichever is more (early stopping on the held-out rows ends
        the run sooner where the network starts to learn the rows by heart).
    batch_size : int, default=256
        Rows drawn from every snapshot per step.
    lr : float or "auto", default="auto"
        Initial learning rate. ``"auto"``: 3e-3 up to 20 features, 1e-3 above,
        where the wider network over-fits sooner. Lower it if the fit diverges.
    lr_schedule : {"auto", "cosine", "plateau"}, default="auto"
        ``"cosine"`` decays the rate over ``steps``; ``"plateau"`` holds it while the
        held-out loss improves, then decays it and stops. ``"auto"``: ``"plateau"`` up
        to 20 features with held-out rows, else ``"cosine"`` (wider nets over-fit early).
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW); raise it against over-fitting.
    end_to_end_weight : float, default=0.0
        Weight of a logistic loss on the whole log-ratio between the P and the Q
        rows of each batch (the sum of every interval's logit and the closing
        step's), added to the intervals' losses in training and in the held-out
        loss that stops it. The true ratios minimise it as they minimise each
        interval's loss, so it moves no optimum; it hands the time score the whole
        ratio's signal where each interval's is weak. A ratio of a nat or less
        spread over eight intervals can leave the held-out loss near chance for
        thousands of steps; raise it (:func:`mutual_information` uses 0.25 up to
        10 features) when ``history_`` shows that. A large weight makes the fit
        mostly a single classifier's, which can lose a weak ratio altogether.
    validation_fraction : float, default=0.1
        Share of each sample held out to stop training once the held-out loss is
        clearly past its best (``0``: no hold-out). Without it the network learns the
        training rows, and in high dimension the in-sample log-ratio overshoots.
    n_iter_no_change : int, default=8
        Validation checks in a row worse than the best before training stops;
        raise it if training stops while the loss still falls.
    n_init : int, default=1
        Times the time score is trained, each from a fresh initialisation and
        batch order on the same bridge; the one with the lowest held-out loss is
        kept (as :class:`sklearn.mixture.GaussianMixture`'s ``n_init`` keeps the
        best of its runs). A weak ratio can leave the loss at a saddle near chance
        until early stopping ends the run, in some initialisations and not others;
        raise it when repeated fits with different ``random_state`` disagree that
        way (``kl_train_`` near 0 in some). Costs one training per
        initialisation; without held-out rows (``validation_fraction=0``) there is
        nothing to choose by and one is trained.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point precision of the networks and of the computation.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds the networks, batches and the default flow.
    verbose : int, default=0
        Progress lines on stderr when positive.

    Attributes
    ----------
    flow_ : FlowTransport or None
        The fitted flow of the bridge (None for the linear bridge).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    classes_ : ndarray of shape (2,) or None
        The two labels of the ``fit(X, y)`` form (``classes_[0]`` marks P).
    q_is_standard_normal_ : bool
        True after ``fit(X)``: Q is ``N(0, I)`` and ``score_samples`` is available.
    kl_train_ : float
        Mean log-ratio over all P rows given to ``fit``, an estimate of ``KL(P || Q)``
        (after early stopping its optimism is small next to its sampling error).
    kl_validation_ : float or None
        Mean log-ratio over the held-out P rows alone (None without validation).
    validation_score_ : float or None
        :meth:`score` on the held-out rows of P and Q (None without validation):
        the balanced negative log-loss of the whole log-ratio, a proper score, so
        two models fitted on the same rows can be compared by it whatever their
        bridge.
    history_ : list of dict
        Loss records of the time-score training (``phase`` ``"density_ratio"``)
        and of the validation checks (``"density_ratio_validation"``), each with
        ``step``, ``loss`` and ``time``: the wall-clock seconds since ``fit``
        began (non-decreasing; the first record's includes fitting the bridge
        flow, whose own records are in ``flow_.history_``).
    n_iter_ : int
        Adam steps run (fewer than ``steps`` when training stopped early).
    best_step_ : int
        The step whose parameters were kept (``n_iter_`` without validation).
    validation_loss_ : float or None
        The summed interval loss on the held-out snapshots at ``best_step_`` (with
        the weighted end-to-end loss, see ``end_to_end_weight``).
    device_ : torch.device
        Device the networks live on.

    See Also
    --------
    FlowTransport : The optimal-transport flow used as the bridge.
    mutual_information : Mutual information as ``KL(joint || product of marginals)``.

    Notes
    -----
    Along the bridge, laws :math:`p_s` with :math:`p_0 = p`, :math:`p_1 = q` are
    seen through snapshots :math:`S_0, \dots, S_M` at :math:`s_j = j / M`. With
    :math:`r(x, s) \approx \partial_s \log p_s(x)`, the interval logits

    .. math::

        R_j(x) = -\int_{s_{j-1}}^{s_j} r(x, s)\, ds

    (by quadrature) are trained as logistic classifiers of :math:`S_{j-1}` (label 1)
    against :math:`S_j` [2]_, [3]_, so that :math:`R_j \to \log p_{s_{j-1}} - \log p_{s_j}`:

    .. math::

        \log p(x) - \log q(x) = \sum_{j=1}^{M} R_j(x) = -\int_0^1 r(x, s)\, ds.

    On the flow bridge [1]_ the moved sample ends off the other sample's law by
    the flow's error; a time-free classifier learns that gap, and its logit
    joins the sum.

    References
    ----------
    .. [1] C. Xu, X. Cheng and Y. Xie, "Computing high-dimensional optimal
       transport by flow neural networks", AISTATS 2025.
    .. [2] B. Rhodes, K. Xu and M. U. Gutmann, "Telescoping density-ratio
       estimation", NeurIPS 2020.
    .. [3] K. Choi, C. Meng, Y. Song and S. Ermon, "Density ratio estimation
       via infinitesimal classification", AISTATS 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn import FlowTransport, TelescopicDensityRatio
    >>> rng = np.random.default_rng(0)
    >>> X_p = rng.normal(size=(500, 2)) + 1.0
    >>> X_q = rng.normal(size=(500, 2))
    >>> dre = TelescopicDensityRatio(
    ...     flow=FlowTransport(init_steps=300), steps=300, random_state=0
    ... ).fit(X_p, X_q)
    >>> dre.log_ratio(np.array([[1.0, 1.0], [0.0, 0.0]])).round(0)  # truth: 1, -1
    array([ 1., -1.])
    """

    _parameter_constraints: dict = {
        "flow": [HasMethods(["fit", "transform", "trajectory"]), None],
        "standardize": [StrOptions(set(STANDARDIZATIONS))],
        "bridge": [StrOptions(set(BRIDGES))],
        "n_intervals": [Interval(Integral, 1, None, closed="left")],
        "moved_sample": [StrOptions({"p", "q"})],
        "hidden_layer_sizes": ["array-like", StrOptions({"auto"})],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "time_frequencies": [Interval(Integral, 0, None, closed="left")],
        "quadratic_head": ["boolean"],
        "quadrature": [StrOptions(set(QUADRATURES))],
        "quadrature_nodes": [Interval(Integral, 1, None, closed="left")],
        "quadrature_panels": [Interval(Integral, 1, None, closed="left")],
        "steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "lr_schedule": [StrOptions({"auto", *SCHEDULES})],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "end_to_end_weight": [Interval(Real, 0, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "dtype": [StrOptions(set(TORCH_DTYPES))],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }
    _torch_attributes = ("ratio_",)

    def __init__(
        self,
        *,
        flow: FlowTransport | None = None,
        standardize: str = "affine",
        bridge: str = "flow",
        n_intervals: int = 8,
        moved_sample: str = "q",
        hidden_layer_sizes="auto",
        activation: str = "silu",
        time_frequencies: int = 8,
        quadratic_head: bool = False,
        quadrature: str = "gauss-legendre",
        quadrature_nodes: int = 3,
        quadrature_panels: int = 1,
        steps: int | str = "auto",
        batch_size: int = 256,
        lr: float | str = "auto",
        lr_schedule: str = "auto",
        weight_decay: float = 0.0,
        end_to_end_weight: float = 0.0,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 8,
        n_init: int = 1,
        dtype: str = "float32",
        device: str | torch.device = "auto",
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.flow = flow
        self.standardize = standardize
        self.bridge = bridge
        self.n_intervals = n_intervals
        self.moved_sample = moved_sample
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.time_frequencies = time_frequencies
        self.quadratic_head = quadratic_head
        self.quadrature = quadrature
        self.quadrature_nodes = quadrature_nodes
        self.quadrature_panels = quadrature_panels
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.weight_decay = weight_decay
        self.end_to_end_weight = end_to_end_weight
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_init = n_init
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _fitted_flow(self, X_p: np.ndarray, X_q: np.ndarray | None, seed: int) -> FlowTransport:
        if self.flow is None:
            flow = FlowTransport(
                hidden_layer_sizes=BRIDGE_FLOW_LAYER_SIZES,
                init_steps=bridge_flow_steps(len(X_p), FlowTransport().batch_size),
                init_lr=BRIDGE_FLOW_LR, validation_fraction=0.0, random_state=seed,
                device=self.device, dtype=self.dtype, verbose=self.verbose,
            )
        else:
            try:
                check_is_fitted(self.flow)
            except NotFittedError:
                flow = clone(self.flow)
                # As scikit-learn's ensembles seed their base estimators: an unseeded
                # flow would make a seeded fit irreproducible.
                if flow.random_state is None:
                    flow.set_params(random_state=seed)
            else:
                if self.standardize == "quantile":
                    raise ValueError(
                        "A fitted flow cannot be used with standardize='quantile': the flow "
                        "must be fitted on the warped samples. Pass it unfitted (or None), "
                        "or use standardize='affine'."
                    )
                if self.flow.n_features_in_ != X_p.shape[1]:
                    raise ValueError(
                        f"The fitted flow has {self.flow.n_features_in_} features but X has "
                        f"{X_p.shape[1]}: fit the flow on the same two samples."
                    )
                return self.flow
        return flow.fit(X_p, X_q)

    def _snapshots(self, flow, p: torch.Tensor, q: torch.Tensor, generator) -> list:
        if flow is None:
            return linear_snapshots(p, q, self.n_intervals, generator)
        dtype = flow.flow_.affine.center.dtype
        pushed = flow_snapshots(flow.flow_, p.to(flow.device_, dtype), q.to(flow.device_, dtype),
                                self.n_intervals, self.moved_sample)
        return [s.to(device=self.device_, dtype=p.dtype) for s in pushed]

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None) -> TelescopicDensityRatio:
        """Fit the bridge (if needed) and the time score along it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The P sample (numerator); or, with 1-D labels ``y``, both samples stacked.
        y : None, array-like of shape (n_q, n_features) or (n_samples,)
            ``None``: Q is ``N(0, I)``, sampled for the bridge; 2-D: the Q sample
            (denominator); 1-D with two values: labels, ``classes_[0]`` marking P.
            A column of two values for a one-feature ``X`` is refused as ambiguous.
            The labelled form is the one for cross-validation; as the estimator
            is no classifier, scikit-learn's default splitter does not stratify,
            so on P rows stacked above Q rows pass
            ``cv=StratifiedKFold(n_splits, shuffle=True)``.

        Returns
        -------
        self : TelescopicDensityRatio
        """
        return self._fit(X, y)

    @_fit_context(prefer_skip_nested_validation=False)
    def _fit_product(self, joint, product, split: int) -> TelescopicDensityRatio:
        """``fit(joint, product)``, Q the product of the marginals of ``joint[:, :split]``
        and ``joint[:, split:]``: with the linear bridge, drawn afresh at every step
        (``product``, a fixed sample, then serves the standardisation and validation).
        """
        return self._fit(joint, product, split)

    def _fit(self, X, y, product_split: int | None = None) -> TelescopicDensityRatio:
        history = History()
        with self._fitting() as (seed, generator):
            samples = check_samples(self, X, y, reset=True)
            d = samples.p.shape[1]
            (p_fit, p_held), (q_fit, q_held) = self._split(samples, seed)
            config = self._time_score_config(d, len(p_fit), validated=p_held is not None)
            p = self._tensor(p_fit)
            if samples.q is None:
                n_snapshots = self.n_intervals + 2
                q = self._standard_normal(
                    _normal_sample_size(p.shape[0], d, n_snapshots), d, generator
                )
                # Held-out rows only watch for over-fitting: no need for a large Q there.
                q_held_t = (None if p_held is None
                            else self._standard_normal(max(len(p_held), 256), d, generator))
            else:
                q = self._tensor(q_fit)
                q_held_t = None if q_held is None else self._tensor(q_held)
            p_held_t = None if p_held is None else self._tensor(p_held)
            warp = None
            if self.standardize == "quantile":
                warp = NormalScoreWarp.fit(torch.cat([p, q]))
                p, q = warp(p), warp(q)
                if p_held_t is not None:
                    p_held_t, q_held_t = warp(p_held_t), warp(q_held_t)
            # Q is N(0, I) only while it is not warped: a warped one is a sample like any.
            q_known = samples.q is None and warp is None
            affine = Affine.fit(p, None if q_known else q)
            flow = None
            if self.bridge == "flow":
                flow = (self._fitted_flow(p_fit, q_fit, seed) if warp is None else
                        self._fitted_flow(p.cpu().numpy(), q.cpu().numpy(), seed))
            snapshots = [affine.to_flow(s) for s in self._snapshots(flow, p, q, generator)]
            fresh = None
            if self.bridge == "linear" and product_split is not None:
                # A per-column warp maps the product of the marginals to the product of
                # the warped marginals: pairing rows of the warped P is the same thing.
                # (Q = N(0, I) drawn afresh for fit(X) was tried and left out: it helped
                # in low dimension and hurt in higher.)
                fresh = FreshLinearBridge(p, ProductOfMarginals(p, product_split).draw,
                                          self.n_intervals, affine.to_flow)
            validation = None
            if p_held_t is not None:
                validation = [affine.to_flow(s)
                              for s in self._snapshots(flow, p_held_t, q_held_t, generator)]
            model, training = train_best_time_score(
                self.n_init, snapshots, config, closing_at=self._closing_at(),
                generator=generator, progress=Progress(self.verbose), history=history,
                validation=validation, fresh_batches=fresh,
            )
            ratio = TelescopicRatio(model, affine, warp)
            # p and q are warped already.
            lr_p, lr_q = ratio.log_ratio_standardized(p), ratio.log_ratio_standardized(q)
            loss = -balanced_score(lr_p, lr_q)
            check_divergence(
                torch.cat([lr_p, lr_q]), loss, limit=2 * np.log(2), fatal=False,
                what="The fitted log-ratio",
                measure="the balanced log-loss", cause="lr (the learning rate)",
            )
            kl_validation = validation_score = None
            if p_held is not None:
                lr_held = ratio.log_ratio_standardized(p_held_t)
                kl_validation = float(lr_held.mean())
                validation_score = balanced_score(lr_held,
                                                  ratio.log_ratio_standardized(q_held_t))
                lr_p = torch.cat([lr_p, lr_held])
            kl_train = float(lr_p.mean())
        self.ratio_ = ratio
        self.flow_ = flow
        self.history_ = list(history)
        self.n_iter_ = training.steps_run
        self.best_step_ = training.kept_step
        self.validation_loss_ = training.kept_validation_loss
        self.kl_train_ = kl_train
        self.kl_validation_ = kl_validation
        self.validation_score_ = validation_score
        self.q_is_standard_normal_ = samples.q is None
        self.classes_ = samples.classes
        return self

    def _time_score_config(self, n_features: int, n_rows: int,
                           validated: bool) -> TimeScoreConfig:
        """The core's settings: the parameters of the same names, each "auto" resolved
        by the rules of ``_core.budget`` for the problem's size (and nowhere else)."""
        d = n_features
        resolved = {"hidden_layer_sizes": time_score_width(d, n_rows), "lr": time_score_lr(d),
                    "steps": time_score_steps(d, n_rows, self.batch_size, validated),
                    "lr_schedule": time_score_schedule(d, validated)}
        config = {field.name: getattr(self, field.name) for field in fields(TimeScoreConfig)}
        config.update({k: v for k, v in resolved.items() if _is_auto(config[k])})
        config["hidden_layer_sizes"] = _check_layer_sizes(config["hidden_layer_sizes"],
                                                          "hidden_layer_sizes")
        return TimeScoreConfig(**config)

    def _closing_at(self) -> str | None:
        if self.bridge != "flow":
            return None
        return "end" if self.moved_sample == "p" else "start"

    def _standard_normal(self, n: int, d: int, generator) -> torch.Tensor:
        return torch.randn(n, d, generator=generator, device=self.device_,
                           dtype=self._torch_dtype)

    def _split(self, samples, seed: int):
        """``(fit, held-out)`` rows of P and of Q; held-out parts are None without validation.

        Validation needs at least 2 held-out rows and 2 fitting rows on each side;
        with Q = N(0, I) its held-out sample is drawn fresh.
        """
        none = ((samples.p, None), (samples.q, None))
        if self.validation_fraction == 0:
            return none
        rng = np.random.default_rng(seed)
        parts = []
        for rows in (samples.p, samples.q):
            if rows is None:
                parts.append((None, None))
                continue
            n_held = int(self.validation_fraction * rows.shape[0])
            if n_held < 2 or rows.shape[0] - n_held < 2:
                return none
            order = rng.permutation(rows.shape[0])
            parts.append((rows[order[n_held:]], rows[order[:n_held]]))
        return tuple(parts)

    def log_ratio(self, X) -> np.ndarray:
        """``log p(x) - log q(x)`` at the rows of ``X`` (P is the numerator).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        X = check_features(self, X)
        return self._map_rows(self.ratio_.log_ratio, X)

    @validate_params({"max_ratio": [Interval(Real, 1, np.inf, closed="right")]},
                     prefer_skip_nested_validation=True)
    def ratio(self, X, max_ratio: float = 1e12) -> np.ndarray:
        """Density ratio ``p(x) / q(x)``, clipped to ``[1 / max_ratio, max_ratio]``.

        For weights that make one sample stand for the other (covariate shift),
        see :meth:`importance_weights`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        max_ratio : float, default=1e12

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        bound = np.log(max_ratio)
        return np.exp(np.clip(self.log_ratio(X), -bound, bound))

    @validate_params(CLIP_CONSTRAINTS, prefer_skip_nested_validation=True)
    def importance_weights(self, X, *, clip_quantile: float | None = None,
                           max_ratio: float | None = None) -> np.ndarray:
        r"""Weights ``q(x) / p(x)`` at rows of P, self-normalised to mean 1: P made to stand for Q.

        The recipe for covariate shift [1]_: fit on the training inputs as P and
        the test (or deployment) inputs as Q, then pass the weights of the
        training rows as ``sample_weight``. A model fitted so minimises an
        estimate of its loss under the test inputs, which matters when it cannot
        fit the truth everywhere (a misspecified model). Training rows as P
        because the log-ratio is most accurate at P-like points (see
        ``moved_sample``), and those are where the weights are read. Warns when
        the effective sample size falls below a tenth of the rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows of P, usually the P sample given to ``fit``.
        clip_quantile : float in (0, 1] or None, default=None
            Weights above this quantile of the weights are set to it: a little
            bias for less variance when a few rows carry most of the weight (see
            :func:`~flowdre_sklearn.effective_sample_size`). Try 0.99 then.
        max_ratio : float or None, default=None
            Cap on ``q(x) / p(x)`` itself, before normalisation.

        Returns
        -------
        ndarray of shape (n_samples,)
            Non-negative weights of mean 1.

        See Also
        --------
        flowdre_sklearn.weights.importance_weights : The same from log-ratios of any model.
        flowdre_sklearn.effective_sample_size : How many rows the weights amount to.

        Notes
        -----
        With :math:`\ell(x) = \log p(x) - \log q(x)` (:meth:`log_ratio`), the
        weights are :math:`w_i = e^{-\ell(x_i)} / \frac{1}{n} \sum_j e^{-\ell(x_j)}`,
        after the clipping. Self-normalised, they keep a weighted fit on the scale
        of an unweighted one (a penalty keeps its strength), and a constant error
        in :math:`\ell` cancels. Shimodaira [1]_ also flattens them to
        :math:`w^\lambda`, :math:`0 < \lambda < 1`, which trades their bias
        for variance like the clipping does.

        References
        ----------
        .. [1] H. Shimodaira, "Improving predictive inference under covariate
           shift by weighting the log-likelihood function", Journal of
           Statistical Planning and Inference 90(2), 2000.

        Examples
        --------
        A cubic fitted by a line, with test inputs narrower than the training
        ones: the line that is best at the test inputs has slope ``-1 + 3 * 0.3**2``.

        >>> import numpy as np
        >>> from sklearn.linear_model import LinearRegression
        >>> from flowdre_sklearn import (
        ...     FlowTransport, TelescopicDensityRatio, effective_sample_size)
        >>> rng = np.random.default_rng(1)
        >>> X_train = rng.normal(0.5, 0.5, size=(500, 1))
        >>> y_train = (-X_train + X_train**3).ravel() + rng.normal(0, 0.3, size=500)
        >>> X_test = rng.normal(0.0, 0.3, size=(500, 1))
        >>> dre = TelescopicDensityRatio(
        ...     flow=FlowTransport(init_steps=200, hidden_layer_sizes=(16, 16), random_state=0),
        ...     hidden_layer_sizes=(16, 16), steps=200, random_state=0,
        ... ).fit(X_train, X_test)
        >>> w = dre.importance_weights(X_train)
        >>> round(effective_sample_size(w) / len(w), 1)  # share of the rows
        0.4
        >>> LinearRegression().fit(X_train, y_train).coef_.round(1)
        array([0.4])
        >>> LinearRegression().fit(X_train, y_train, sample_weight=w).coef_.round(1)
        array([-0.7])
        """
        return _importance_weights(-self.log_ratio(X), clip_quantile=clip_quantile,
                                   max_ratio=max_ratio)

    def kl_divergence(self, X_p=None) -> float:
        """``KL(P || Q)`` estimated as the mean log-ratio over a sample of P.

        Parameters
        ----------
        X_p : array-like of shape (n_samples, n_features), optional
            A sample of P, preferably not used in fitting. Default: the P sample
            given to ``fit`` (``kl_train_``).

        Returns
        -------
        float
        """
        check_is_fitted(self)
        if X_p is None:
            return self.kl_train_
        return float(np.mean(self.log_ratio(X_p)))

    def score(self, X, y=None) -> float:
        """Balanced negative log-loss of the P-vs-Q classifier induced by the log-ratio.

        ``-(mean_P softplus(-log_ratio) + mean_Q softplus(log_ratio)) / 2``, a proper
        scoring rule (highest in expectation for the true ratio; ``log(1/2)`` is
        chance), so ``GridSearchCV`` can select on it. After ``fit(X)`` and with
        ``y=None``, the mean log-likelihood ``mean score_samples(X)`` instead.

        Parameters
        ----------
        X, y : as in :meth:`fit`
            Held-out data in any of the forms ``fit`` accepts.

        Returns
        -------
        float
            Higher is better.
        """
        check_is_fitted(self)
        if y is None:
            if not self.q_is_standard_normal_:
                raise ValueError(
                    "score(X) without a Q sample needs a model fitted with Q = N(0, I) "
                    "(fit(X)); pass score(X_p, X_q) or score(X, y) with two labels."
                )
            return float(np.mean(self.score_samples(X)))
        samples = check_samples(self, X, y, reset=False)
        # Not self.log_ratio: the samples are validated arrays now, and validating them
        # again would warn that a model fitted on a DataFrame got no feature names.
        lr_p = self._map_rows(self.ratio_.log_ratio, samples.p)
        lr_q = self._map_rows(self.ratio_.log_ratio, samples.q)
        return balanced_score(torch.from_numpy(lr_p), torch.from_numpy(lr_q))

    @available_if(_q_is_standard_normal)
    def score_samples(self, X) -> np.ndarray:
        """Log-density ``log N(x; 0, I) + log_ratio(x)`` (after ``fit(X)`` alone).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        log_ratio = self.log_ratio(X)
        X = check_features(self, X)
        return standard_normal_log_density(torch.from_numpy(X)).numpy() + log_ratio

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # As for FlowTransport: y is optional, as labels it takes two values, and
        # estimator_type stays None (see FlowTransport.__sklearn_tags__).
        tags.target_tags.required = False
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
