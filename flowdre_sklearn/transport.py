"""``FlowTransport``: the optimal-transport flow between two samples, with an sklearn face."""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin, _fit_context
from sklearn.utils import ClassifierTags
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import (
    DIVERGENCE_CHECK_ROWS,
    TORCH_DTYPES,
    TorchEstimatorMixin,
    check_divergence,
    seed_from,
)
from ._core.flow import (
    ROUND_TRIP_TOLERANCE,
    Flow,
    FlowConfig,
    standard_normal_log_density,
    train_flow,
)
from ._core.initialise import PAIRINGS
from ._core.networks import ACTIVATIONS
from ._core.ode import ADAPTIVE_METHODS, FIXED_METHODS
from ._core.refine import DIRECTIONS
from ._core.training import Progress
from ._input import check_features, check_samples

#: Above this dimension ``divergence="auto"`` switches from the exact trace
#: (one backward pass per dimension) to Hutchinson's one-pass estimate.
EXACT_DIVERGENCE_MAX_DIM = 64

_PARAMETER_CONSTRAINTS: dict = {
    "hidden_layer_sizes": ["array-like"],
    "activation": [StrOptions(set(ACTIVATIONS))],
    "n_blocks": [Interval(Integral, 1, None, closed="left")],
    "n_steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "solver": [StrOptions(set(FIXED_METHODS + ADAPTIVE_METHODS))],
    "adjoint": ["boolean"],
    "tol": [Interval(Real, 0, None, closed="neither")],
    "init_steps": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
    "init_pairing": [StrOptions(set(PAIRINGS))],
    "init_lr": [Interval(Real, 0, None, closed="neither")],
    "validation_fraction": [Interval(Real, 0, 1, closed="left")],
    "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
    "refine_steps": [Interval(Integral, 0, None, closed="left")],
    "refine_lr": [Interval(Real, 0, None, closed="neither")],
    "batch_size": [Interval(Integral, 2, None, closed="left")],
    "gamma": [Interval(Real, 0, None, closed="left")],
    "directions": [StrOptions(set(DIRECTIONS))],
    "classifier_hidden_layer_sizes": ["array-like"],
    "classifier_lr": [Interval(Real, 0, None, closed="neither")],
    "classifier_warmup_steps": [Interval(Integral, 0, None, closed="left")],
    "classifier_steps": [Interval(Integral, 1, None, closed="left")],
    "divergence": [StrOptions({"auto", "exact", "hutchinson"})],
    "dtype": [StrOptions(set(TORCH_DTYPES))],
    "device": [str, torch.device],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _check_layer_sizes(sizes, name: str) -> tuple[int, ...]:
    sizes = tuple(np.atleast_1d(np.asarray(sizes)).tolist())
    if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {sizes}")
    return sizes


def _round_trip_error(flow: Flow, x: torch.Tensor, pushed: torch.Tensor) -> float:
    """``max ||T^-1(T(x)) - x||`` over ``x``; warns when the grid is too coarse.

    The exact ODE flow is invertible, so a large round trip means the fixed grid
    integrates a field sharper than it can resolve, and ``transform`` and
    ``inverse_transform`` are then both off: worth saying while the user can
    still refit, not at prediction time.
    """
    with torch.no_grad():
        error = float((flow.inverse_transform(pushed) - x).norm(dim=1).max())
    if error > ROUND_TRIP_TOLERANCE * flow.affine.scale:
        warnings.warn(
            f"The fitted flow maps its training rows forward and back with an error of up "
            f"to {error:.3g} ({error / flow.affine.scale:.1%} of the samples' standard "
            "deviation): the solver grid is too coarse for the learned velocity field, so "
            "transform and inverse_transform are inaccurate. Raise n_steps (or n_blocks) "
            "or use solver='dopri5'; with fit(X), whose Q is N(0, I), also standardise X.",
            UserWarning,
            stacklevel=4,
        )
    return error


def _q_is_standard_normal(estimator) -> bool:
    """``score_samples`` and ``sample`` exist before fit and after ``fit(X)`` alone."""
    return getattr(estimator, "q_is_standard_normal_", True)


class FlowTransport(OneToOneFeatureMixin, TransformerMixin, TorchEstimatorMixin, BaseEstimator):
    """Optimal-transport flow between two samples (Q-flow).

    Learns a neural ODE ``dx/dt = v(x, t)``, ``t`` in [0, 1], whose flow map
    ``T`` carries the sample ``X_p ~ P`` to ``X_q ~ Q`` at low transport cost
    ``E||T(x) - x||^2``. ``T`` is invertible by construction: ``inverse_transform``
    integrates the same ODE backwards. Method of Xu, Cheng and Xie, *Computing
    high-dimensional optimal transport by flow neural networks* (AISTATS 2025):

    1. **initialisation** by flow matching on the linear bridge between P and Q,
       with the two samples paired in every batch by an exact optimal assignment
       (nearly straight, nearly optimal paths), for a number of steps that grows
       with the dimension and is cut short by a held-out loss; the solver grid
       is then chosen to resolve the learned field;
    2. **refinement** by the Q-flow objective: logistic classifiers estimate
       ``KL(T#P || Q)`` and ``KL(T^-1#Q || P)``, which the flow minimises plus
       ``gamma`` times the kinetic energy of its paths. ``gamma`` decays
       linearly to zero over the first 70% of the refinement steps: a constant
       weight leaves the end marginals mismatched by a fraction of order
       ``gamma`` (the penalty trades the match for shorter paths), the decay
       lets the path-shortening act early and the match be restored at the end.
       The refined flow is a moving average of the flow's weights over the
       refinement steps (time constant a fifth of ``refine_steps``), which
       smooths out the noise that the classifiers' estimates leave in the last
       step's weights.

    Inputs are standardised internally: an affine map ``z = (x - c) / s``
    (column centres ``c`` and one scale ``s`` for all columns) fitted on the pooled
    P and Q samples is applied before the flow and undone after it, so data need
    not be scaled for training to work; log-densities include its Jacobian. One
    scale for all columns keeps the optimal map for the squared Euclidean cost
    unchanged; to transport in per-feature standardised units instead, put a
    ``StandardScaler`` before this estimator in a ``Pipeline`` and fit it with the
    stacked ``fit(X, y)`` form (a ``Pipeline`` transforms ``X`` only, so the Q sample
    of ``fit(X_p, X_q)`` would skip the scaler). A column constant in both samples
    is handled (the flow leaves it nearly in place); one constant in one sample only
    (or in ``X`` for ``fit(X)``) warns, as P and Q are then mutually singular; samples
    that are all one point raise a ``ValueError``.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int, default=(128, 128, 128)
        Hidden widths of the velocity network (concat-squash layers in ``t``).
        Depth matters more than width for maps that are far from affine; in
        high dimension the default is as accurate as a twice wider one
        (``benchmarks/results/ot_hard_tradeoff.md``), the step budget and the
        solver grid matter more. For maps
        known to be smooth, ``(64, 64)`` is as accurate and several times
        faster in ``transform``.
    activation : {"silu", "softplus", "tanh", "elu"}, default="silu"
        Activation of all networks.
    n_blocks : int, default=4
        Time blocks of [0, 1]; their end states are the flow's snapshots.
    n_steps : int or "auto", default="auto"
        Fixed solver steps per block. ``"auto"`` chooses them after flow
        matching: steps double from 2 (up to 16) until the map of 1024
        training rows agrees with that of twice the steps to 1% of the
        samples' standard deviation (root mean square), so the grid follows
        the learned field (straight paths in low dimension need few steps,
        the sharper fields of high dimension more). The value used is
        ``n_steps_``. Set an integer to fix the cost of ``transform``.
    solver : {"rk4", "midpoint", "euler", "dopri5"}, default="rk4"
        ODE solver. Fixed-step solvers make ``T(x)`` a function of ``x`` alone;
        the adaptive ``dopri5`` picks steps from the whole batch, so a row's image
        then depends slightly on the other rows passed with it.
    adjoint : bool, default=False
        Backpropagate through the ODE by the adjoint method (less memory,
        about twice the field evaluations) instead of through the solver steps.
    tol : float, default=1e-5
        Relative and absolute tolerance of ``dopri5``.
    init_steps : int or "auto", default="auto"
        Most Adam steps of flow-matching initialisation (early stopping, see
        ``validation_fraction``, may end it sooner). ``"auto"`` takes
        ``round(2500 * sqrt(d))`` for ``d`` features: the regression target
        grows noisier with the dimension, and a fixed count leaves the flow
        under-fitted (its map shrinks towards the mean, with a transport cost
        below the optimal one) from a few dozen dimensions on. Counted in
        steps rather than epochs so that small samples still get a trained
        flow and large ones are not passed over more often than needed. Lower
        it for a quick, rougher fit.
    init_pairing : {"ot", "independent"}, default="ot"
        Pairing of P and Q rows in flow-matching batches: exact minibatch
        optimal transport, or independent (a valid but not optimal start).
    init_lr : float, default=5e-3
        Adam learning rate of the initialisation, decayed along a cosine to 2%
        of itself. Lower it if the flow-matching loss diverges.
    validation_fraction : float, default=0.1
        Share of the rows of each sample held out from flow matching to stop
        it early: the flow-matching loss on held-out pairs is checked 50 times
        over ``init_steps`` (at least 40 steps apart); after
        ``n_iter_no_change`` checks without a new best the flow goes back to
        its best and the learning rate is cut five-fold, and the plateau after
        two cuts ends flow matching. The minibatch pairing is only near
        optimal, and a field fitted to it too closely learns its noise, while
        maps far from affine keep improving much longer: the held-out loss
        tells the two apart where the noise shows on fresh rows (it cannot
        see a pairing that departs from the optimal one in the same way on
        every row, as on near-affine maps in a few dozen dimensions; there a
        smaller ``init_steps`` is better). ``0`` (or fewer than 16 held-out
        rows) trains for all ``init_steps`` on all rows. Refinement uses all
        rows.
    n_iter_no_change : int, default=5
        Validation checks without a new best before the learning rate is cut.
    refine_steps : int, default=0
        Flow steps of Q-flow refinement; 0 keeps the flow-matching flow.
        Off by default: it costs several times the initialisation's time,
        and from the minibatch-OT start, which is already near the optimal
        map, what is left to gain is of the order of the noise of the
        classifiers' KL estimates. It pays from a poor start (for example
        ``init_pairing="independent"``) and lowers the transport cost towards
        the optimal one in low dimension; in high dimension it needs wider,
        fresher classifiers and a small ``gamma`` to help at all
        (``benchmarks/results/ot_hard.md``).
    refine_lr : float, default=5e-5
        Adam learning rate of the flow during refinement.
    batch_size : int, default=128
        Rows of each sample per batch, in both phases. The exact assignment
        of each flow-matching batch costs about ``batch_size**2.7``
        operations, which soon dominates a step; larger batches pair the
        samples more nearly optimally, at a price that more steps pay better.
    gamma : float, default=0.1
        Initial weight of the kinetic energy in the refinement loss.
    directions : {"both", "alternate", "forward"}, default="both"
        Refinement KL terms: summed over both directions, one direction per
        step in turn, or P -> Q only.
    classifier_hidden_layer_sizes : sequence of int, default=(64, 64)
        Hidden widths of the refinement classifiers.
    classifier_lr : float, default=1e-3
        Adam learning rate of the classifiers.
    classifier_warmup_steps : int, default=300
        Classifier steps on the initial flow's pushed samples before refinement.
    classifier_steps : int, default=2
        Classifier steps per flow step during refinement (keeps them fresh).
    divergence : {"auto", "exact", "hutchinson"}, default="auto"
        Trace of the velocity Jacobian for ``score_samples``: exact (one
        backward pass per dimension) or Hutchinson's estimate with a fixed
        Rademacher probe (one pass, noisy per row); "auto" is exact up to 64
        dimensions.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point precision of the networks and of the computation.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds network initialisation and batches. The same seed gives the same
        fitted flow on the same device; global numpy and torch RNG states are
        left as they were.
    verbose : int, default=0
        Print progress lines (phase, step, losses, elapsed time) to stderr:
        about 4 per training phase with 1, about 20 with 2 or more.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    classes_ : ndarray of shape (2,) or None
        The two labels of the ``fit(X, y)`` form (``classes_[0]`` marks P).
    q_is_standard_normal_ : bool
        True when fitted as ``fit(X)``: Q is ``N(0, I)``, and ``score_samples``
        and ``sample`` are available.
    history_ : list of dict
        About 20 records per phase: phase (``"flow_matching"`` or
        ``"refinement"``), step, and the mean losses since the last record.
    n_iter_ : int
        Training steps of the flow run in both phases (flow matching may stop
        before ``init_steps``).
    n_steps_ : int
        Solver steps per block of the fitted flow (the one chosen when
        ``n_steps="auto"``).
    round_trip_error_ : float
        ``max ||T^-1(T(x)) - x||`` over up to 1024 training rows of P, in data
        units: how well the solver grid resolves the learned field. ``fit``
        warns when it exceeds 1% of the samples' pooled standard deviation.
    device_ : torch.device
        Device the flow lives on.

    See Also
    --------
    TelescopicDensityRatio : log-density ratio along this flow.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn import FlowTransport
    >>> rng = np.random.default_rng(0)
    >>> X_p = rng.normal(size=(300, 2))
    >>> X_q = rng.normal(size=(300, 2)) * 0.5 + 3.0
    >>> ot = FlowTransport(init_steps=300, refine_steps=0, random_state=0).fit(X_p, X_q)
    >>> Y = ot.transform(X_p)
    >>> Y.shape
    (300, 2)
    >>> bool(np.abs(ot.inverse_transform(Y) - X_p).max() < 1e-3)
    True
    """

    _parameter_constraints: dict = _PARAMETER_CONSTRAINTS
    _torch_attributes = ("flow_",)

    def __init__(
        self,
        *,
        hidden_layer_sizes=(128, 128, 128),
        activation: str = "silu",
        n_blocks: int = 4,
        n_steps: int | str = "auto",
        solver: str = "rk4",
        adjoint: bool = False,
        tol: float = 1e-5,
        init_steps: int | str = "auto",
        init_pairing: str = "ot",
        init_lr: float = 5e-3,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 5,
        refine_steps: int = 0,
        refine_lr: float = 5e-5,
        batch_size: int = 128,
        gamma: float = 0.1,
        directions: str = "both",
        classifier_hidden_layer_sizes=(64, 64),
        classifier_lr: float = 1e-3,
        classifier_warmup_steps: int = 300,
        classifier_steps: int = 2,
        divergence: str = "auto",
        dtype: str = "float32",
        device: str | torch.device = "auto",
        random_state=None,
        verbose: int = 0,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.n_blocks = n_blocks
        self.n_steps = n_steps
        self.solver = solver
        self.adjoint = adjoint
        self.tol = tol
        self.init_steps = init_steps
        self.init_pairing = init_pairing
        self.init_lr = init_lr
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.refine_steps = refine_steps
        self.refine_lr = refine_lr
        self.batch_size = batch_size
        self.gamma = gamma
        self.directions = directions
        self.classifier_hidden_layer_sizes = classifier_hidden_layer_sizes
        self.classifier_lr = classifier_lr
        self.classifier_warmup_steps = classifier_warmup_steps
        self.classifier_steps = classifier_steps
        self.divergence = divergence
        self.dtype = dtype
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _config(self) -> FlowConfig:
        return FlowConfig(
            hidden=_check_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes"),
            activation=self.activation,
            n_blocks=self.n_blocks,
            n_steps=None if self.n_steps == "auto" else self.n_steps,
            method=self.solver,
            adjoint=self.adjoint,
            tol=self.tol,
            init_steps=None if self.init_steps == "auto" else self.init_steps,
            init_pairing=self.init_pairing,
            init_lr=self.init_lr,
            validation_fraction=self.validation_fraction,
            n_iter_no_change=self.n_iter_no_change,
            refine_steps=self.refine_steps,
            batch_size=self.batch_size,
            lr=self.refine_lr,
            gamma=self.gamma,
            directions=self.directions,
            classifier_hidden=_check_layer_sizes(
                self.classifier_hidden_layer_sizes, "classifier_hidden_layer_sizes"
            ),
            classifier_lr=self.classifier_lr,
            classifier_warmup_steps=self.classifier_warmup_steps,
            classifier_steps=self.classifier_steps,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> FlowTransport:
        """Fit the flow from P to Q.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The P sample; or, with 1-D labels ``y``, both samples stacked.
        y : None, array-like of shape (n_q, n_features) or (n_samples,)
            ``None``: Q is the standard normal ``N(0, I)`` (a normalising flow);
            2-D: the Q sample; 1-D with two distinct values: labels, rows with
            ``classes_[0]`` form P and the others Q. Labels are passed 1-D: a
            column of two values for a one-feature ``X`` is refused, as it could
            be either.

        Returns
        -------
        self : FlowTransport
            The fitted estimator.
        """
        config = self._config()
        with self._fitting() as (seed, generator):
            samples = check_samples(self, X, y, reset=True)
            p = self._tensor(samples.p)
            q = None if samples.q is None else self._tensor(samples.q)
            flow, history = train_flow(p, q, config, generator, Progress(self.verbose))
            # Standardised, the pooled samples have mean squared norm d, so a sound
            # flow's image has at most about 2 d: 100 d means the flow blew up.
            with torch.no_grad():
                pushed = flow.transform(p[:DIVERGENCE_CHECK_ROWS])
                spread = float(flow.affine.to_flow(pushed).pow(2).sum(1).mean())
            check_divergence(
                pushed, spread, limit=100.0 * p.shape[1], fatal=True, what="The fitted flow",
                measure="the standardised mean squared norm of its image",
                cause="init_lr (or refine_lr with refinement)",
            )
            round_trip = _round_trip_error(flow, p[:DIVERGENCE_CHECK_ROWS], pushed)
        self.flow_: Flow = flow
        self.round_trip_error_ = round_trip
        self.history_ = history
        self.n_iter_ = flow.config.init_steps + flow.config.refine_steps
        self.n_steps_ = flow.config.n_steps
        self.q_is_standard_normal_ = samples.q is None
        self.classes_ = samples.classes
        self._probe_seed = seed
        return self

    def transform(self, X) -> np.ndarray:
        """Push rows from the P side to the Q side: ``T(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = check_features(self, X)
        return self._map_rows(self.flow_.transform, X)

    def inverse_transform(self, X) -> np.ndarray:
        """Pull rows from the Q side back to the P side: ``T^-1(X)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        X = check_features(self, X)
        return self._map_rows(self.flow_.inverse_transform, X)

    def trajectory(self, X, n_times: int | None = None) -> np.ndarray:
        """States of the rows of ``X`` along the flow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_times : int, optional
            Number of equally spaced times in [0, 1], both ends included.
            Default: the block ends (``n_blocks + 1`` times). Times between
            solver steps are linearly interpolated.

        Returns
        -------
        ndarray of shape (n_times, n_samples, n_features)
            ``out[0]`` is ``X``, ``out[-1]`` is ``transform(X)``.
        """
        check_is_fitted(self)
        X = check_features(self, X)
        if n_times is not None and (not isinstance(n_times, Integral) or n_times < 2):
            raise ValueError(f"n_times must be an integer of at least 2, got {n_times!r}")
        times = None
        if n_times is not None:
            times = torch.linspace(0.0, 1.0, int(n_times), dtype=self._torch_dtype)
        parts = [
            self.flow_.trajectory(self._tensor(X[i : i + self.predict_chunk_size]), times)
            .cpu().numpy().astype(np.float64, copy=False)
            for i in range(0, X.shape[0], self.predict_chunk_size)
        ]
        return np.concatenate(parts, axis=1)

    def transport_cost(self, X) -> float:
        """Mean squared displacement ``mean ||T(x) - x||^2`` over the rows of ``X``.

        On a sample of P this estimates the transport cost of the map, which
        for the optimal map equals the squared Wasserstein-2 distance ``W2^2(P, Q)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        float
        """
        check_is_fitted(self)
        X = check_features(self, X)
        displaced = self._map_rows(self.flow_.transform, X) - X
        return float(np.mean(np.sum(displaced**2, axis=1)))

    def _probe(self, dim: int) -> torch.Tensor | None:
        use_exact = self.divergence == "exact" or (
            self.divergence == "auto" and dim <= EXACT_DIVERGENCE_MAX_DIM
        )
        if use_exact:
            return None
        rng = np.random.default_rng(self._probe_seed)
        probe = rng.choice([-1.0, 1.0], size=(1, dim))
        return torch.as_tensor(probe, dtype=self._torch_dtype, device=self.device_)

    @available_if(_q_is_standard_normal)
    def score_samples(self, X) -> np.ndarray:
        """Log-density of the fitted model at ``X`` (after ``fit(X)`` alone).

        ``log p(x) = log N(T(x); 0, I) + int_0^1 div v(x(t), t) dt`` by the
        instantaneous change of variables.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Log-density in nats, in the units of the original data.
        """
        check_is_fitted(self)
        X = check_features(self, X)
        probe = self._probe(X.shape[1])

        def log_density(x: torch.Tensor) -> torch.Tensor:
            y, change = self.flow_.log_density_change(x, probe)
            return standard_normal_log_density(y) + change

        return self._map_rows(log_density, X)

    @available_if(_q_is_standard_normal)
    def sample(self, n_samples: int = 1, random_state=None) -> np.ndarray:
        """Draw from the fitted model: ``T^-1(z)`` with ``z ~ N(0, I)`` (after ``fit(X)``).

        Parameters
        ----------
        n_samples : int, default=1
        random_state : int, RandomState instance or None, default=None
            Seed of the normal draws.

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
        rng = np.random.default_rng(seed_from(random_state))
        Z = rng.standard_normal((int(n_samples), self.n_features_in_))
        return self._map_rows(self.flow_.inverse_transform, Z)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y is optional (Q = N(0, I) without it); as 1-D labels it takes exactly
        # two values, which ClassifierTags(multi_class=False) tells the common
        # checks, so that they send two-valued labels. estimator_type stays None:
        # this is not a classifier (no predict, and no stratified CV by default).
        tags.target_tags.required = False
        tags.classifier_tags = ClassifierTags(multi_class=False)
        tags.input_tags.allow_nan = False
        return tags
