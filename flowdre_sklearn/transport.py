"""``FlowTransport``: the optimal-transport flow between two samples, with an sklearn face."""

from __future__ import annotations

from dataclasses import fields
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import ClassifierTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._base import (
    DIVERGENCE_CHECK_ROWS,
    TORCH_DTYPES,
    TorchEstimatorMixin,
    check_divergence,
    seed_from,
)
from ._compat import Interval, StrOptions, _fit_context, validate_params, warn
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


def _is_auto(value) -> bool:
    return isinstance(value, str) and value == "auto"


def _check_layer_sizes(sizes, name: str) -> tuple[int, ...]:
    sizes = tuple(np.atleast_1d(np.asarray(sizes)).tolist())
    if not sizes or not all(isinstance(s, int) and s > 0 for s in sizes):
        raise ValueError(f"{name} must be a non-empty sequence of positive integers, got {sizes}")
    return sizes


def _round_trip_error(flow: Flow, x: torch.Tensor, pushed: torch.Tensor) -> float:
    """``max ||T^-1(T(x)) - x||`` over ``x``; warns when the grid is too coarse.

    The exact flow is invertible, so a large round trip means the grid cannot
    resolve the field: worth saying at fit time, while the user can still refit.
    """
    with torch.no_grad():
        error = float((flow.inverse_transform(pushed) - x).norm(dim=1).max())
    if error > ROUND_TRIP_TOLERANCE * flow.affine.scale:
        warn(
            f"The fitted flow maps its training rows forward and back with an error of up "
            f"to {error:.3g} ({error / flow.affine.scale:.1%} of the samples' standard "
            "deviation): the solver grid is too coarse for the learned velocity field, so "
            "transform and inverse_transform are inaccurate. Raise n_steps (or n_blocks) "
            "or use solver='dopri5'; with fit(X), whose Q is N(0, I), also standardise X.",
            UserWarning,
        )
    return error


def _q_is_standard_normal(estimator) -> bool:
    """``score_samples`` and ``sample`` exist before fit and after ``fit(X)`` alone."""
    return getattr(estimator, "q_is_standard_normal_", True)


class FlowTransport(OneToOneFeatureMixin, TransformerMixin, TorchEstimatorMixin, BaseEstimator):
    r"""Optimal-transport flow between two samples (Q-flow).

    Learns a neural ODE ``dx/dt = v(x, t)``, ``t`` in [0, 1], whose flow map ``T``
    carries ``X_p ~ P`` to ``X_q ~ Q`` at low transport cost ``E||T(x) - x||^2``, by
    minibatch-OT flow matching and optional Q-flow refinement [1]_ (see Notes).
    ``inverse_transform`` runs the ODE backwards; after ``fit(X)`` alone, Q is
    ``N(0, I)`` and the flow is a density model. Inputs are standardised
    internally by column centres and one common scale, which leaves the optimal
    map unchanged (for per-feature scaling, put a ``StandardScaler`` first in a
    ``Pipeline`` and use ``fit(X, y)``). A column constant in one sample warns.

    Parameters
    ----------
    hidden_layer_sizes : sequence of int or "auto", default="auto"
        Hidden widths of the velocity network. ``"auto"``: (128, 128, 128) up to
        128 features; above, three layers as wide as the power of two at or above
        the number of features, since a network with a layer narrower than the
        dimension cannot represent a full-rank linear map. The cost grows with
        the square of the width: in thousands of dimensions, or for data on a
        low-dimensional subspace, give narrower layers. Depth helps maps far from
        affine; for smooth maps in a few dimensions ``(64, 64)`` is as accurate
        and much cheaper.
    activation : {"silu", "softplus", "tanh", "elu"}, default="silu"
        Activation of all networks.
    n_blocks : int, default=4
        Time blocks of [0, 1]; their end states are the flow's snapshots.
    n_steps : int or "auto", default="auto"
        Fixed solver steps per block; ``"auto"`` takes the fewest (2 to 16) that
        resolve the learned field. An integer fixes the cost of ``transform``.
    solver : {"rk4", "midpoint", "euler", "dopri5"}, default="rk4"
        ODE solver. With the adaptive ``dopri5`` a row's image depends slightly
        on the other rows of its batch; fixed-step solvers avoid this.
    adjoint : bool, default=False
        Backpropagate by the adjoint method: less memory, more computation.
    tol : float, default=1e-5
        Relative and absolute tolerance of ``dopri5``.
    init_steps : int or "auto", default="auto"
        Most Adam steps of flow matching. ``"auto"``: ``round(2500 * sqrt(d))``, as
        the regression grows noisier with the dimension. Lower it for a quicker
        fit, or for near-affine maps, where long fits learn the pairing's noise.
    init_pairing : {"ot", "independent"}, default="ot"
        Pairing of the rows of a flow-matching batch: exact minibatch OT (nearly
        optimal paths) or independent (a valid map, not an optimal one).
    init_lr : float, default=5e-3
        Adam learning rate of flow matching (cosine decay); lower it if the fit
        diverges.
    validation_fraction : float, default=0.1
        Share of each sample held out to stop flow matching (after a cut of the
        learning rate) once the held-out loss stops improving, before the field
        learns the noise of the pairing. ``0`` trains on all rows throughout.
    n_iter_no_change : int, default=5
        Validation checks without improvement before the learning rate is cut;
        raise it if flow matching stops too early.
    refine_steps : int, default=0
        Flow steps of Q-flow refinement (see Notes). Off by default: it costs
        several times the initialisation, and from the minibatch-OT start the
        gain is of the order of the classifiers' noise. Use it after a poor
        start or to lower the transport cost in low dimension
        (``benchmarks/results/ot_hard.md``).
    refine_lr : float, default=5e-5
        Adam learning rate of the flow in refinement; small, so that the
        classifiers keep up.
    batch_size : int, default=128
        Rows of each sample per batch. Larger batches pair the samples more
        nearly optimally, but the exact assignment's cost grows about cubically.
    gamma : float, default=0.1
        Initial weight of the kinetic energy in refinement (see Notes): larger
        values give shorter paths and a looser match; lower it in high dimension.
    directions : {"both", "alternate", "forward"}, default="both"
        Refinement KL terms: both directions summed, alternated, or P -> Q only.
    classifier_hidden_layer_sizes : sequence of int, default=(64, 64)
        Hidden widths of the refinement classifiers; widen them in high dimension.
    classifier_lr : float, default=1e-3
        Adam learning rate of the classifiers.
    classifier_warmup_steps : int, default=300
        Classifier steps on the initial flow before refinement.
    classifier_steps : int, default=2
        Classifier steps per flow step: more keep them fresher, at a cost.
    divergence : {"auto", "exact", "hutchinson"}, default="auto"
        Trace of the velocity Jacobian in ``score_samples``: exact (one backward
        pass per dimension) or Hutchinson's one-pass estimate, noisy per row;
        ``"auto"`` is exact up to 64 dimensions.
    dtype : {"float32", "float64"}, default="float32"
        Floating-point precision of the networks and of the computation.
    device : str or torch.device, default="auto"
        ``"auto"`` uses CUDA when available, else the CPU.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and batches: the same seed gives the same flow on
        the same device. Global RNG states are left untouched.
    verbose : int, default=0
        Progress lines on stderr: a few per phase with 1, about 20 with 2.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    classes_ : ndarray of shape (2,) or None
        The two labels of the ``fit(X, y)`` form (``classes_[0]`` marks P).
    q_is_standard_normal_ : bool
        True after ``fit(X)``: Q is ``N(0, I)``; ``score_samples`` and ``sample`` exist.
    history_ : list of dict
        About 20 records per phase, in the order made: ``phase``
        (``"flow_matching"``, ``"flow_matching_validation"`` or ``"refinement"``),
        ``step``, the mean losses since the last record, and ``time``, the
        wall-clock seconds since training began (non-decreasing). Time per step
        of a phase: the difference of ``time`` between two of its records over
        that of ``step``; a phase's wall time: its last ``time`` minus the last
        of the phase before.
    n_iter_ : int
        Training steps of the flow run in both phases.
    n_steps_ : int
        Solver steps per block of the fitted flow (chosen with ``"auto"``).
    hidden_layer_sizes_ : tuple of int
        Hidden widths of the fitted velocity network (chosen with ``"auto"``).
    round_trip_error_ : float
        ``max ||T^-1(T(x)) - x||`` over up to 1024 training rows of P, in data
        units; ``fit`` warns when it shows that the solver grid is too coarse.
    device_ : torch.device
        Device the flow lives on.

    See Also
    --------
    TelescopicDensityRatio : Log density ratio of P and Q along this flow.
    mutual_information : Mutual information by telescopic density-ratio estimation.

    Notes
    -----
    The map is :math:`T(x) = x(1)` for :math:`\dot x = v(x, t)`, :math:`x(0) = x`.
    Flow matching [2]_ fits

    .. math::

        \min_v \; \mathbb{E}\, \big\| v\big((1 - t) x_p + t x_q, t\big) - (x_q - x_p) \big\|^2,
        \qquad t \sim U[0, 1],

    with the rows of each batch paired by an exact optimal assignment [3]_, [4]_.
    Refinement [1]_ then minimises

    .. math::

        \mathrm{KL}(T_\# P \,\|\, Q) + \mathrm{KL}(T^{-1}_\# Q \,\|\, P)
        + \gamma \sum_k \frac{\|x(t_k) - x(t_{k-1})\|^2}{t_k - t_{k-1}},

    the last term being the kinetic energy of the paths on the solver grid, at
    least the transport cost. Each KL term is estimated by a logistic classifier
    :math:`c` of pushed against real rows (:math:`c = \log q - \log T_\# p` at its
    optimum, so :math:`\mathrm{KL}(T_\# P \,\|\, Q) \approx -\mathbb{E}_P\, c(T(x))`).
    :math:`\gamma` decays linearly to zero over the first seven tenths of the
    steps, and the flow kept is a moving average of its weights. After ``fit(X)``,
    :math:`\log p(x) = \log \mathcal{N}(T(x); 0, I) + \int_0^1 \nabla \cdot v(x(t), t)\, dt`.

    References
    ----------
    .. [1] C. Xu, X. Cheng and Y. Xie, "Computing high-dimensional optimal
       transport by flow neural networks", AISTATS 2025.
    .. [2] Y. Lipman et al., "Flow matching for generative modeling", ICLR 2023.
    .. [3] A. Tong et al., "Improving and generalizing flow-based generative
       models with minibatch optimal transport", TMLR 2024.
    .. [4] A.-A. Pooladian et al., "Multisample flow matching: straightening
       flows with minibatch couplings", ICML 2023.

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

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", StrOptions({"auto"})],
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
    _torch_attributes = ("flow_",)

    def __init__(
        self,
        *,
        hidden_layer_sizes="auto",
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
        """The core's settings: the parameters of the same names, with "auto" as None."""
        config = {field.name: getattr(self, field.name) for field in fields(FlowConfig)}
        for name in ("hidden_layer_sizes", "n_steps", "init_steps"):
            config[name] = None if _is_auto(config[name]) else config[name]
        for name in ("hidden_layer_sizes", "classifier_hidden_layer_sizes"):
            if config[name] is not None:
                config[name] = _check_layer_sizes(config[name], name)
        return FlowConfig(**config)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None) -> FlowTransport:
        """Fit the flow from P to Q.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The P sample; or, with 1-D labels ``y``, both samples stacked.
        y : None, array-like of shape (n_q, n_features) or (n_samples,)
            ``None``: Q is ``N(0, I)`` (a normalising flow); 2-D: the Q sample;
            1-D with two values: labels, ``classes_[0]`` marking P. A column of
            two values for a one-feature ``X`` is refused as ambiguous.
            The labelled form is the one for cross-validation; as the estimator
            is no classifier, scikit-learn's default splitter does not stratify,
            so on P rows stacked above Q rows pass
            ``cv=StratifiedKFold(n_splits, shuffle=True)``.
            ``FlowTransport`` has no ``score``: give a search a ``scoring``.

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
        self.history_ = list(history)
        self.n_iter_ = flow.config.init_steps + flow.config.refine_steps
        self.n_steps_ = flow.config.n_steps
        self.hidden_layer_sizes_ = flow.config.hidden_layer_sizes
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

    @validate_params({"n_times": [Interval(Integral, 2, None, closed="left"), None]},
                     prefer_skip_nested_validation=True)
    def trajectory(self, X, n_times: int | None = None) -> np.ndarray:
        """States of the rows of ``X`` along the flow.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        n_times : int, optional
            Equally spaced times in [0, 1], ends included (default: the block
            ends); times between solver steps are linearly interpolated.

        Returns
        -------
        ndarray of shape (n_times, n_samples, n_features)
            ``out[0]`` is ``X``, ``out[-1]`` is ``transform(X)``.
        """
        check_is_fitted(self)
        X = check_features(self, X)
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

        On a sample of P, the map's transport cost: ``W2^2(P, Q)`` for the optimal map.

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
        """Log-density of the fitted model at ``X`` (after ``fit(X)``; see Notes).

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
    @validate_params({"n_samples": [Interval(Integral, 1, None, closed="left")],
                      "random_state": ["random_state", np.random.Generator]},
                     prefer_skip_nested_validation=True)
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
        rng = np.random.default_rng(seed_from(random_state))
        Z = rng.standard_normal((int(n_samples), self.n_features_in_))
        return self._map_rows(self.flow_.inverse_transform, Z)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # y is optional (Q = N(0, I) without it); as 1-D labels it takes exactly
        # two values, which ClassifierTags(multi_class=False) tells the common
        # checks, so that they send two-valued labels. estimator_type stays None:
        # "classifier" would make scikit-learn's default splitter stratified, but also
        # make check_estimator run the classifier checks, which need predict, and
        # check_supervised_y_2d, which contradicts the 2-D y (Q sample) form. So a
        # default cv on stacked rows is an unshuffled KFold, and the one-class error
        # says to pass StratifiedKFold (tests/test_cross_validation.py).
        tags.target_tags.required = False
        tags.classifier_tags = ClassifierTags(multi_class=False)
        tags.input_tags.allow_nan = False
        return tags
