"""``TelescopicDensityRatio``: log p(x) - log q(x) by infinitesimal DRE along a bridge."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, _fit_context, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils import ClassifierTags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import TORCH_DTYPES, TorchEstimatorMixin, check_divergence
from ._core.bridge import BRIDGES, FreshLinearBridge, flow_snapshots, linear_snapshots
from ._core.budget import (
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
    Quadrature,
    TelescopicRatio,
    train_time_score,
)
from ._core.training import Progress
from ._core.warp import NormalScoreWarp
from ._input import check_features, check_samples
from .transport import FlowTransport, _check_layer_sizes

#: Size of the standard-normal sample that stands for Q after ``fit(X)``: at least
#: ``MIN_NORMAL_SAMPLE`` rows, ``NORMAL_SAMPLE_FACTOR`` times the P rows where the
#: snapshots of that many rows hold at most ``NORMAL_SAMPLE_MAX_VALUES`` numbers
#: (256 MiB in float32), and never fewer rows than P. Q costs nothing to draw, and
#: the bridge is made of it: with 2700 P rows in 2-D, 27000 Q rows instead of 2700
#: took the error of ``score_samples`` from 0.250 to 0.134 nats (the settings of
#: its test).
MIN_NORMAL_SAMPLE = 2048
NORMAL_SAMPLE_FACTOR = 10
NORMAL_SAMPLE_MAX_VALUES = 2**26


def _normal_sample_size(n_p: int, n_features: int, n_snapshots: int) -> int:
    """Rows of the ``N(0, I)`` sample standing for Q, for ``n_p`` rows of P."""
    affordable = NORMAL_SAMPLE_MAX_VALUES // (n_features * n_snapshots)
    return max(n_p, min(max(NORMAL_SAMPLE_FACTOR * n_p, MIN_NORMAL_SAMPLE), affordable))


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _q_is_standard_normal(estimator) -> bool:
    return getattr(estimator, "q_is_standard_normal_", True)


STANDARDIZATIONS = ("affine", "quantile")


class TelescopicDensityRatio(TorchEstimatorMixin, BaseEstimator):
    """Log density ratio ``log p(x) - log q(x)`` by telescopic (infinitesimal) DRE.

    A bridge of distributions carries P (the first sample) to Q: by default the
    optimal-transport flow of :class:`FlowTransport`, the Q-flow method of Xu,
    Cheng and Xie (AISTATS 2025). A time-conditioned network ``r(x, s)`` models
    ``d/ds log p_s(x)`` along the bridge; it is trained with a logistic loss
    between neighbouring snapshots, each interval's logit being the time
    integral of ``r`` over the interval. The log-ratio is the integral over the
    whole bridge. Each interval is an easy classification problem where a single
    classifier between distant P and Q saturates (the "density chasm").

    Inputs are standardised internally (see ``standardize``), by a bijection
    fitted on the pooled samples; the log-ratio is unchanged by such a map, as
    the Jacobians of numerator and denominator cancel. A column constant in both
    samples is handled (it carries no information on the ratio); one constant in one
    sample only (or in ``X`` for ``fit(X)``) warns, as the log-ratio is then
    infinite; samples that are all one point raise a ``ValueError``.

    Parameters
    ----------
    flow : FlowTransport or None, default=None
        The bridge for ``bridge="flow"``. Unfitted: cloned and fitted on the same
        two samples (after ``standardize``). Already fitted: used as it is,
        without refitting (it must have been fitted on the same samples, or at
        least the same two distributions; not with ``standardize="quantile"``,
        whose warp the flow would not know). None: a ``FlowTransport`` with a
        budget of its own, about 70 passes of flow matching over the P rows (at
        least 2000 and at most 20000 steps) at ``init_lr=2e-3`` and no early
        stopping. A bridge need not be an accurate map, only a path of easy steps,
        and the log-ratio is learned on the rows the flow was fitted to: a flow
        fitted closer to them than that makes the in-sample estimate optimistic,
        while a fixed number of steps leaves it under-fitted as the data grow.
    standardize : {"affine", "quantile"}, default="affine"
        The bijection applied to both samples before anything is learned.
        ``"affine"``: a centre per column and one scale, from the moments of the
        pooled samples (a similarity, so the bridge flow stays the optimal map of
        the data). ``"quantile"``: each column through the quantiles of the
        pooled samples to normal scores (as ``QuantileTransformer(
        output_distribution="normal")``, extended to a bijection of the real
        line by logarithmic tails), then the affine map. Choose ``"quantile"``
        under heavy tails, where moments are ruled by a few extreme rows (or do
        not exist) and squeeze every other row together; it is the default of
        :func:`mutual_information`, which it suits best since the joint and the
        product sample share their marginals. It makes the bridge flow the optimal
        map of the warped data, not of the data.
    bridge : {"flow", "linear"}, default="flow"
        ``"flow"``: snapshots of one sample moved along the flow, closed by
        the other sample (see ``moved_sample``). ``"linear"``: the interpolant
        ``sqrt(1 - a^2) x_p + a x_q`` of TRE and DRE-infinity, each P row
        paired with a random Q row. With ``"linear"`` and ``n_intervals=1`` the
        estimator is a single classifier between P and Q (the baseline).
    n_intervals : int, default=8
        Intervals along the bridge (the flow bridge adds a closing step, see
        ``moved_sample``).
    moved_sample : {"q", "p"}, default="q"
        What the flow bridge is made of. ``"q"``: the Q sample pulled back to
        time 0 by the inverse flow, then carried forward to each snapshot time;
        the bridge starts at ``T^-1#Q``, and its gap to the real P sample (the
        flow's error) is learned by a time-free classifier at the P end. ``"p"``:
        the P sample pushed forward (the paper's bridge), closed at the Q end.
        The log-ratio is mostly wanted at P-like points (``KL(P || Q)``, mutual
        information, ``score_samples``): there the P-end classifier works inside
        its training data, while a Q-end one extrapolates the flow's error from
        near Q, which we measured to be the main bias of the paper's bridge
        (Gaussian MI, d = 20, 4000 rows: 4.94 nats with ``"q"``, 5.72 with
        ``"p"``, truth 5). ``"q"`` also builds the bridge from the larger of the
        two samples when Q is (shuffles, or draws of ``N(0, I)``).
    hidden_layer_sizes : sequence of int or "auto", default="auto"
        Hidden widths of ``r(x, s)``. ``"auto"``: (64, 64) up to 4 features,
        (128, 128) above; in a few dimensions the smaller network fits as well
        at a third of the cost. When ``best_step_`` is the last step (the
        validation loss still falling), raise ``steps`` or the width.
    activation : {"silu", "softplus", "tanh", "elu"}, default="silu"
    time_frequencies : int, default=8
        Time enters every layer of ``r(x, s)`` through the features ``s``,
        ``sin(k pi s)`` and ``cos(k pi s)`` for ``k = 1 .. time_frequencies``.
        Along the OT bridge ``d/ds log p_s`` changes fast in ``s`` (where the flow
        widens a narrow direction it decays like ``1 / sigma_s^3``); with time as
        a plain scalar input (``0``) the network smooths that out, which biased
        a 2.5-nat mutual information by +0.3 nats in our measurements.
    quadratic_head : bool, default=False
        Add to ``r(x, s)`` a quadratic form in ``x`` whose coefficients depend
        on ``s`` (``2 d`` learned directions). Between Gaussians
        ``d/ds log p_s`` is exactly such a form; the MLP alone fits it well
        inside the snapshots but flattens it in their tails, and the log-ratio
        at P-like points needs the Q-side intervals far out in their tails.
        Measured on a 2-D Gaussian with ``fit(X)`` (2700 fitting rows, a
        (64, 64) network, 2500 steps at ``lr=3e-3``, seeds 0 / 1): mean error
        of ``score_samples`` 0.134 / 0.107 nats with the head, 0.149 / 0.151 without.
        In high dimension it can over-fit: Gaussian mutual information at
        d = 80 (truth 20 nats, defaults otherwise) 22.4 with the head, 19.7
        without. Worth trying in low dimension and for log-densities.
    quadrature : {"gauss-legendre", "simpson38"}, default="gauss-legendre"
        Rule for the time integral on each interval, in training and prediction.
    quadrature_nodes : int, default=3
        Nodes per panel of the Gauss-Legendre rule (the 3/8 rule has 4).
    quadrature_panels : int, default=1
        Panels per interval.
    steps : int or "auto", default="auto"
        Adam steps of the time-score network (fewer when training stops early,
        see ``validation_fraction``; with the ``"plateau"`` schedule, a cap).
        ``"auto"``: a cap of 10,000 up to 4 features (1000 without held-out
        rows), 2000 above.
    batch_size : int, default=256
        Rows drawn from every snapshot per step.
    lr : float or "auto", default="auto"
        Initial learning rate. ``"auto"``: 3e-3 up to 4 features, 1e-3 above
        (where the wider network over-fits sooner).
    lr_schedule : {"auto", "cosine", "plateau"}, default="auto"
        ``"cosine"``: the learning rate decays to 2% over ``steps``.
        ``"plateau"``: it is held while the validation loss still gains (falls
        below its last gain by a tenth of a standard error; checked every 50
        steps), and once 8 checks in a row bring no gain it decays
        over a quarter of the steps run so far, and training ends; the run lasts
        as long as the network learns, which in low dimension ranges from a few
        hundred steps (a smooth ratio) to thousands (several modes, a twisted or
        a heavy-tailed dependence). Needs held-out rows to end before
        ``steps``. ``"auto"``: ``"plateau"`` up to 4 features with held-out
        rows, ``"cosine"`` otherwise: above 4 features the network over-fits
        within a few thousand steps and the fixed decay serves better.
    weight_decay : float, default=0.0
        Decoupled weight decay (AdamW).
    validation_fraction : float, default=0.1
        Share of the rows of each sample held out (drawn at random) for early
        stopping: they take no part in fitting the flow or the time score. The
        loss on their snapshots is checked 40 times over ``steps``; training stops
        after ``n_iter_no_change`` checks in a row worse than the best by more
        than half its standard error (counted only once the loss has fallen a
        standard error below its start: a weak dependence can take hundreds of
        steps to be picked up), and keeps the parameters of the last check
        that was not. Without it the network goes on to learn the training rows,
        and in high dimension the in-sample log-ratio grows far past the truth
        (Gaussian MI, d = 80, 4000 rows: 65.9 nats for 20). ``0`` trains for all
        ``steps`` on all rows (so does a sample too small to hold out 2 rows). A
        flow passed already fitted has seen all rows.
    n_iter_no_change : int, default=8
        Validation checks in a row worse than the best before training stops.
    dtype : {"float32", "float64"}, default="float32"
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
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    classes_ : ndarray of shape (2,) or None
        The two labels of the ``fit(X, y)`` form (``classes_[0]`` marks P).
    q_is_standard_normal_ : bool
        True after ``fit(X)``: Q is ``N(0, I)`` and ``score_samples`` is available.
    kl_train_ : float
        Mean log-ratio over all the P rows given to ``fit`` (those held out for
        validation included), an estimate of ``KL(P || Q)``. After early stopping
        its optimism is small next to its sampling error (Gaussian MI, 4000 rows:
        0.04 nats above the mean over 4000 fresh rows at d = 40, 0.36 at d = 80,
        where the truth is 10 and 20), and it averages ten times more rows than
        the held-out mean.
    kl_validation_ : float or None
        Mean log-ratio over the held-out P rows alone (None without validation).
    history_ : list of dict
        Loss records of the time-score training (phase ``"density_ratio"``), and
        of the validation checks (phase ``"density_ratio_validation"``).
    n_iter_ : int
        Adam steps run (fewer than ``steps`` when training stopped early).
    best_step_ : int
        The step whose parameters were kept: the last validation check within
        half a standard error of the lowest validation loss (``n_iter_`` without
        validation).
    validation_loss_ : float or None
        The summed interval loss on the held-out snapshots at ``best_step_``.
    device_ : torch.device

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
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
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
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 8,
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
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _fitted_flow(self, X_p: np.ndarray, X_q: np.ndarray | None, seed: int) -> FlowTransport:
        if self.flow is None:
            flow = FlowTransport(
                init_steps=bridge_flow_steps(len(X_p), FlowTransport().batch_size),
                init_lr=BRIDGE_FLOW_LR, validation_fraction=0.0, random_state=seed,
                device=self.device, dtype=self.dtype, verbose=self.verbose,
            )
        else:
            try:
                check_is_fitted(self.flow)
            except NotFittedError:
                flow = clone(self.flow)
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
            ``None``: Q is the standard normal ``N(0, I)``, drawn at ten times
            the rows of P for the bridge (at least 2048 rows); 2-D: the Q sample
            (denominator); 1-D with two distinct values: labels, rows with
            ``classes_[0]`` form P and the others Q. Labels are passed 1-D: a
            column of two values for a one-feature ``X`` is refused, as it could
            be either.

        Returns
        -------
        self : TelescopicDensityRatio
        """
        return self._fit(X, y)

    @_fit_context(prefer_skip_nested_validation=False)
    def _fit_product(self, joint, product, split: int) -> TelescopicDensityRatio:
        """``fit(joint, product)`` where Q is the product of the marginals of ``joint``'s
        first ``split`` columns and its other columns (``product``: a fixed sample of it).

        With the linear bridge, training draws Q afresh from the fitting rows of
        ``joint`` at every step; ``product`` serves the standardisation, the
        held-out loss and the training score. ``mutual_information`` fits this way.
        """
        return self._fit(joint, product, split)

    def _fit(self, X, y, product_split: int | None = None) -> TelescopicDensityRatio:
        quadrature = Quadrature(self.quadrature, self.quadrature_nodes, self.quadrature_panels)
        with self._fitting() as (seed, generator):
            samples = check_samples(self, X, y, reset=True)
            d = samples.p.shape[1]
            hidden = (time_score_width(d) if _is_auto(self.hidden_layer_sizes) else
                      _check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes"))
            (p_fit, p_held), (q_fit, q_held) = self._split(samples, seed)
            validated = p_held is not None
            steps = time_score_steps(d, validated) if _is_auto(self.steps) else self.steps
            lr = time_score_lr(d) if _is_auto(self.lr) else self.lr
            schedule = (time_score_schedule(d, validated) if _is_auto(self.lr_schedule)
                        else self.lr_schedule)
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
                # (Q = N(0, I) drawn afresh for fit(X) was measured and left out: closer
                # at d = 8, further at d = 32.)
                fresh = FreshLinearBridge(p, ProductOfMarginals(p, product_split).draw,
                                          self.n_intervals, affine.to_flow)
            validation = None
            if p_held_t is not None:
                validation = [affine.to_flow(s)
                              for s in self._snapshots(flow, p_held_t, q_held_t, generator)]
            history: list[dict] = []
            model, training = train_time_score(
                snapshots, quadrature, closing_at=self._closing_at(), hidden=hidden,
                activation=self.activation, time_frequencies=self.time_frequencies,
                quadratic=self.quadratic_head,
                steps=steps, batch_size=self.batch_size,
                lr=lr, weight_decay=self.weight_decay, generator=generator,
                progress=Progress(self.verbose), history=history,
                validation=validation, n_iter_no_change=self.n_iter_no_change,
                schedule=schedule, fresh_batches=fresh,
            )
            ratio = TelescopicRatio(model, affine, warp)
            # p and q are warped already.
            lr_p, lr_q = ratio.log_ratio_standardized(p), ratio.log_ratio_standardized(q)
            # The balanced log-loss of score(): log 2 for a ratio that learned nothing.
            loss = float(torch.nn.functional.softplus(-lr_p).mean()
                         + torch.nn.functional.softplus(lr_q).mean()) / 2
            check_divergence(
                torch.cat([lr_p, lr_q]), loss, limit=2 * np.log(2), fatal=False,
                what="The fitted log-ratio",
                measure="the balanced log-loss", cause="lr (the learning rate)",
            )
            kl_validation = None
            if p_held is not None:
                lr_held = ratio.log_ratio_standardized(p_held_t)
                kl_validation = float(lr_held.mean())
                lr_p = torch.cat([lr_p, lr_held])
            kl_train = float(lr_p.mean())
        self.ratio_ = ratio
        self.flow_ = flow
        self.history_ = history
        self.n_iter_ = training.steps_run
        self.best_step_ = training.kept_step
        self.validation_loss_ = training.kept_validation_loss
        self.kl_train_ = kl_train
        self.kl_validation_ = kl_validation
        self.q_is_standard_normal_ = samples.q is None
        self.classes_ = samples.classes
        return self

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

    def ratio(self, X, max_ratio: float = 1e12) -> np.ndarray:
        """Density ratio ``p(x) / q(x)``, clipped to ``[1 / max_ratio, max_ratio]``.

        Use as importance weights, e.g. for covariate shift (P = test
        distribution, Q = training distribution: weights for the Q rows).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        max_ratio : float, default=1e12

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        if not max_ratio > 1:
            raise ValueError(f"max_ratio must be greater than 1, got {max_ratio!r}")
        bound = np.log(max_ratio)
        return np.exp(np.clip(self.log_ratio(X), -bound, bound))

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

        With equal priors, ``P(x is from P) = sigmoid(log_ratio(x))``; the score is
        ``-(mean_P softplus(-log_ratio) + mean_Q softplus(log_ratio)) / 2``, a proper
        scoring rule: its expectation is highest for the true ratio, so
        ``GridSearchCV`` picks the best estimator of it. ``log(1/2)`` is chance.
        After ``fit(X)`` (Q = N(0, I)) and with ``y=None`` the score is the mean
        log-likelihood ``mean score_samples(X)`` instead.

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
        loss = np.logaddexp(0, -lr_p).mean() + np.logaddexp(0, lr_q).mean()
        return float(-loss / 2)

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
        # As for FlowTransport: y is optional, and as labels it takes two values.
        tags.target_tags.required = False
        tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags
