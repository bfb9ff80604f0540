"""Samplers with known ground truth for transport and density-ratio experiments.

Every sampler takes a ``random_state`` with the meaning it has in the
estimators: ``None`` (fresh entropy from the operating system, so draws vary
from call to call), an integer seed (reproducible draws), a
:class:`numpy.random.RandomState`, or a :class:`numpy.random.Generator` (drawn
from, and so advanced, in place). Numpy's global random state is never touched.
Arguments are checked by scikit-learn's ``validate_params``, which names the
parameter and the values it takes.

Sign convention: ``log_ratio(x) = log p(x) - log q(x)``, where ``P`` is the
distribution of the first sample returned.

Samplers
--------
make_gaussian_mi
    The Gaussian mutual-information task of telescoping density-ratio
    estimation (TRE, DRE-infinity), with its true mutual information.
make_student_t_mi
    The same blocks drawn from a multivariate Student-t: heavy tails, and a
    dependence that correlation does not show, with its true mutual information.
make_gaussian_pair
    Two Gaussians with an exact log density ratio and KL divergence.
make_gaussian_ot
    Two Gaussians with their exact optimal-transport (Brenier) map and
    squared 2-Wasserstein distance.
make_logsumexp_ot
    A Gaussian mixture pushed by the gradient of a smooth maximum of
    quadratics: a non-affine optimal-transport map known in closed form.
make_moons_checkerboard
    Two moons against a checkerboard in two dimensions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from scipy.special import digamma, gammaln, logsumexp, softmax
from scipy.stats import multivariate_normal
from sklearn.datasets import make_moons
from sklearn.utils import check_random_state

from ._compat import Interval, validate_params

__all__ = [
    "GaussianOT",
    "GaussianPair",
    "LogSumExpOT",
    "gaussian_mi_rho",
    "make_gaussian_mi",
    "make_gaussian_ot",
    "make_gaussian_pair",
    "make_logsumexp_ot",
    "make_moons_checkerboard",
    "make_student_t_mi",
    "student_t_mi_excess",
]

RandomStateLike = int | np.random.Generator | np.random.RandomState | None

# ---------------------------------------------------------------------------
# Argument checks
# ---------------------------------------------------------------------------


# The constraints of ``validate_params`` that several samplers share.
_COUNT = [Interval(Integral, 1, None, closed="left")]
_NON_NEGATIVE = [Interval(Real, 0, None, closed="left")]
_POSITIVE = [Interval(Real, 0, None, closed="neither")]
_CORRELATION = [Interval(Real, -1, 1, closed="neither")]
_RANDOM_STATE = ["random_state", np.random.Generator]
_EIG_RANGE = ["array-like"]


def _random_state(random_state: RandomStateLike) -> np.random.RandomState:
    """A :class:`~numpy.random.RandomState` to draw from (``random_state`` validated).

    ``None`` seeds a new one from fresh operating-system entropy, leaving numpy's
    global state alone; a ``Generator`` gives a ``RandomState`` sharing its bit
    generator, so that drawing advances the caller's ``Generator``.
    """
    if random_state is None:
        return np.random.RandomState(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.Generator):
        return np.random.RandomState(random_state.bit_generator)
    return check_random_state(random_state)


def _check_eig_range(eig_range: object, name: str = "eig_range") -> tuple[float, float]:
    """The pair ``(low, high)``: a rule of two values, beyond what a constraint says."""
    try:
        low, high = (float(v) for v in eig_range)  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{name} must be a pair (low, high) of finite numbers, got {eig_range!r}"
        ) from err
    if not 0.0 < low <= high < np.inf:
        raise ValueError(f"{name} must satisfy 0 < low <= high, got {eig_range!r}")
    return low, high


def _check_points(X: object, dim: int, name: str = "X") -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"{name} must be a 2-D array with {dim} columns, got shape {X.shape}")
    return X


def _l2_uvp(T_X: object, X: object, dim: int, ot_map, target_variance: float) -> float:
    """``100 * mean_i ||T_X[i] - T(X[i])||^2 / target_variance`` after checking shapes."""
    T_X = _check_points(T_X, dim, "T_X")
    X = _check_points(X, dim, "X")
    if T_X.shape != X.shape:
        raise ValueError(f"T_X and X must have the same shape, got {T_X.shape} and {X.shape}")
    residual = T_X - ot_map(X)
    return float(100.0 * np.mean(np.sum(residual**2, axis=1)) / target_variance)


# ---------------------------------------------------------------------------
# Symmetric-matrix helpers (eigendecompositions, for numerical stability)
# ---------------------------------------------------------------------------


def _symmetrise(S: np.ndarray) -> np.ndarray:
    return 0.5 * (S + S.T)


def _sym_power(S: np.ndarray, power: float) -> np.ndarray:
    """``S ** power`` for a symmetric positive semi-definite ``S``."""
    eigvals, eigvecs = linalg.eigh(_symmetrise(S))
    eigvals = np.clip(eigvals, 0.0, None)
    return _symmetrise((eigvecs * eigvals**power) @ eigvecs.T)


def _random_spd(dim: int, rng: np.random.RandomState, eig_range: tuple[float, float]) -> np.ndarray:
    """A random SPD matrix ``V diag(lam) V^T``.

    ``V`` is Haar-distributed on the orthogonal group and the eigenvalues
    ``lam`` are independent uniforms on ``eig_range``, so the condition number
    is at most ``eig_range[1] / eig_range[0]``.
    """
    low, high = eig_range
    G = rng.standard_normal((dim, dim))
    V, R = np.linalg.qr(G)
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    V = V * signs  # sign fix makes V Haar-distributed
    eigvals = rng.uniform(low, high, size=dim)
    return _symmetrise((V * eigvals) @ V.T)


def _random_means(
    dim: int, shift: float, rng: np.random.RandomState
) -> tuple[np.ndarray, np.ndarray]:
    """``(m_p, m_q) = (+shift/2 u, -shift/2 u)`` for a uniform unit vector ``u``."""
    direction = rng.standard_normal(dim)
    norm = np.linalg.norm(direction)
    direction = direction / norm if norm > 0 else np.eye(dim)[0]
    return 0.5 * shift * direction, -0.5 * shift * direction


# ---------------------------------------------------------------------------
# Gaussian mutual information (TRE / DRE-infinity)
# ---------------------------------------------------------------------------


def _check_mi_dim(d: int) -> int:
    if d % 2:
        raise ValueError(f"d must be a positive even integer, got {d!r}")
    return int(d)


_MI_DIM = [Interval(Integral, 2, None, closed="left")]


@validate_params({"d": _MI_DIM, "mi": _NON_NEGATIVE}, prefer_skip_nested_validation=True)
def gaussian_mi_rho(d: int, mi: float) -> float:
    """The correlation that gives mutual information ``mi`` in dimension ``d``.

    In the task of :func:`make_gaussian_mi`, ``d / 2`` independent pairs each
    with correlation ``rho`` carry ``mi = -(d / 4) ln(1 - rho**2)`` nats, so
    ``rho = sqrt(1 - exp(-4 mi / d))``.

    Parameters
    ----------
    d : int
        Total dimension of ``x = (u, v)``; a positive even integer.
    mi : float
        Mutual information in nats, ``>= 0``.

    Returns
    -------
    rho : float
        The correlation, in ``[0, 1)``.

    Raises
    ------
    ValueError
        If ``d`` is not a positive even integer, if ``mi`` is negative or not
        finite, or if ``mi`` is so large for ``d`` that ``rho`` rounds to 1.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import gaussian_mi_rho
    >>> gaussian_mi_rho(2, 0.0)
    0.0
    >>> 0.0 < gaussian_mi_rho(40, 10.0) < 1.0
    True
    """
    d = _check_mi_dim(d)
    rho = float(np.sqrt(-np.expm1(-4.0 * mi / d)))
    if rho >= 1.0:
        raise ValueError(
            f"mi={mi!r} is too large for d={d}: the correlation rounds to 1; "
            "increase d or decrease mi"
        )
    return rho


def _gaussian_mi_from_rho(d: int, rho: float) -> float:
    """``-(d / 4) ln(1 - rho**2)``, the inverse of :func:`gaussian_mi_rho`."""
    return float(-0.25 * d * np.log1p(-(rho**2)))


@validate_params(
    {"n_samples": _COUNT, "d": _MI_DIM, "mi": _NON_NEGATIVE + [None],
     "rho": _CORRELATION + [None], "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_gaussian_mi(
    n_samples: int,
    d: int,
    mi: float | None = None,
    rho: float | None = None,
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Correlated Gaussian blocks with known mutual information.

    The Gaussian task of telescoping density-ratio estimation (TRE) and
    DRE-infinity. A point is ``x = (u, v)`` with ``u, v`` in ``R^(d/2)``; the
    pairs ``(u_i, v_i)``, ``i = 1, ..., d/2``, are independent, each a
    standard bivariate normal with correlation ``rho``. The mutual
    information between ``u`` and ``v`` is ``-(d / 4) ln(1 - rho**2)`` nats.
    The joint ``p(u, v)`` against the product of marginals ``p(u) p(v)``
    (e.g. ``Y`` shuffled) is the density-ratio problem whose mean log ratio
    under the joint is the mutual information.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    d : int
        Total dimension of ``(u, v)``; a positive even integer.
    mi : float, optional
        Target mutual information in nats (``>= 0``); then
        ``rho = sqrt(1 - exp(-4 mi / d))``. Give exactly one of ``mi`` and
        ``rho``.
    rho : float, optional
        Correlation of each pair, in ``(-1, 1)``. Give exactly one of ``mi``
        and ``rho``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness; an integer gives reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, d // 2)
        The ``u`` block.
    Y : ndarray of shape (n_samples, d // 2)
        The ``v`` block; column ``i`` of ``Y`` has correlation ``rho`` with
        column ``i`` of ``X`` and is independent of the other columns.
    true_mi : float
        ``-(d / 4) ln(1 - rho**2)`` nats.

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    See Also
    --------
    gaussian_mi_rho : The correlation for a given mutual information.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_gaussian_mi
    >>> X, Y, true_mi = make_gaussian_mi(100, d=4, mi=1.0, random_state=0)
    >>> X.shape, Y.shape
    ((100, 2), (100, 2))
    >>> round(true_mi, 6)
    1.0
    """
    d = _check_mi_dim(d)
    if (mi is None) == (rho is None):
        raise ValueError("exactly one of mi and rho must be given")
    if mi is not None:
        rho = gaussian_mi_rho(d, mi)
    rng = _random_state(random_state)
    half = d // 2
    X = rng.standard_normal((n_samples, half))
    noise = rng.standard_normal((n_samples, half))
    Y = rho * X + np.sqrt((1.0 - rho) * (1.0 + rho)) * noise
    return X, Y, _gaussian_mi_from_rho(d, rho)


@validate_params({"d": _MI_DIM, "df": _POSITIVE}, prefer_skip_nested_validation=True)
def student_t_mi_excess(d: int, df: float) -> float:
    """Mutual information of a ``d``-dimensional multivariate t beyond its Gaussian part.

    For ``(X, Y)`` multivariate t with ``df`` degrees of freedom, blocks of sizes
    ``p = q = d / 2`` and any scale matrix, ``I(X; Y)`` is the Gaussian mutual
    information of the same correlation matrix plus this term, which depends on
    ``df`` and the block sizes only (Arellano-Valle, Contreras-Reyes and Genton,
    Scand. J. Statist. 40, 2013). It is positive, and tends to 0 as ``df`` grows:
    the shared random scale of the t makes the blocks dependent even where they
    are uncorrelated.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import student_t_mi_excess
    >>> round(student_t_mi_excess(4, df=1.0), 4)
    0.4319
    """
    d = _check_mi_dim(d)
    half = d / 2

    def log_gamma_term(k: float) -> float:
        a = (df + k) / 2
        return a * digamma(a) - gammaln(a)

    return float(2 * log_gamma_term(half) - log_gamma_term(0) - log_gamma_term(d))


@validate_params(
    {"n_samples": _COUNT, "d": _MI_DIM, "df": _POSITIVE, "rho": _CORRELATION,
     "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_student_t_mi(
    n_samples: int,
    d: int,
    df: float,
    rho: float = 0.0,
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Blocks of a multivariate Student-t with known mutual information.

    The rows of :func:`make_gaussian_mi` with ``rho`` correlation between
    paired coordinates, each divided by one shared ``sqrt(W / df)`` with
    ``W ~ chi2(df)``: a multivariate t with ``df`` degrees of freedom. Its
    tails are heavy (no variance for ``df <= 2``, no mean for ``df <= 1``), and
    its blocks are dependent even at ``rho = 0``, through the shared scale.

    Parameters
    ----------
    n_samples : int
        Number of rows.
    d : int
        Total dimension of ``(u, v)``; a positive even integer.
    df : float
        Degrees of freedom, positive.
    rho : float, default=0.0
        Correlation parameter of each pair ``(u_i, v_i)``, in ``(-1, 1)``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness; an integer gives reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, d // 2)
    Y : ndarray of shape (n_samples, d // 2)
    true_mi : float
        ``-(d / 4) ln(1 - rho**2) + student_t_mi_excess(d, df)`` nats.

    See Also
    --------
    student_t_mi_excess : The part of the mutual information due to the shared scale.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_student_t_mi
    >>> X, Y, true_mi = make_student_t_mi(100, d=4, df=1.0, random_state=0)
    >>> X.shape, Y.shape, round(true_mi, 2)
    ((100, 2), (100, 2), 0.43)
    """
    excess = student_t_mi_excess(d, df)
    rng = _random_state(random_state)
    X, Y, gaussian_mi = make_gaussian_mi(n_samples, d, rho=rho, random_state=rng)
    scale = np.sqrt(df / rng.chisquare(df, size=(n_samples, 1)))
    return X * scale, Y * scale, gaussian_mi + excess


# ---------------------------------------------------------------------------
# Pairs of Gaussians
# ---------------------------------------------------------------------------


def _frozen_array(value: object, name: str) -> np.ndarray:
    array = np.array(value, dtype=float)  # a private copy
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be finite")
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class GaussianPair:
    """Two Gaussians ``P = N(mean_p, cov_p)`` and ``Q = N(mean_q, cov_q)``.

    The arrays are copied and made read-only on construction.

    Parameters
    ----------
    mean_p : array-like of shape (d,)
    cov_p : array-like of shape (d, d)
        Symmetric positive definite.
    mean_q : array-like of shape (d,)
    cov_q : array-like of shape (d, d)
        Symmetric positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn.datasets import GaussianPair
    >>> pair = GaussianPair(np.zeros(2), np.eye(2), np.ones(2), 2 * np.eye(2))
    >>> pair.log_ratio(np.zeros((3, 2))).shape
    (3,)
    >>> pair.sample_q(5, random_state=0).shape
    (5, 2)
    """

    mean_p: np.ndarray
    cov_p: np.ndarray
    mean_q: np.ndarray
    cov_q: np.ndarray

    def __post_init__(self) -> None:
        mean_p = _frozen_array(self.mean_p, "mean_p")
        if mean_p.ndim != 1 or mean_p.size == 0:
            raise ValueError(f"mean_p must be a non-empty 1-D array, got shape {mean_p.shape}")
        dim = mean_p.size
        object.__setattr__(self, "mean_p", mean_p)
        for name in ("cov_p", "mean_q", "cov_q"):
            array = _frozen_array(getattr(self, name), name)
            shape = (dim,) if name.startswith("mean") else (dim, dim)
            if array.shape != shape:
                raise ValueError(f"{name} must have shape {shape}, got {array.shape}")
            if name.startswith("cov"):
                if not np.allclose(array, array.T, rtol=1e-10, atol=1e-12):
                    raise ValueError(f"{name} must be symmetric")
                try:
                    np.linalg.cholesky(array)
                except np.linalg.LinAlgError as err:
                    raise ValueError(f"{name} must be positive definite") from err
            object.__setattr__(self, name, array)

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return self.mean_p.size

    @cached_property
    def _chol_p(self) -> np.ndarray:
        return np.linalg.cholesky(self.cov_p)

    @cached_property
    def _chol_q(self) -> np.ndarray:
        return np.linalg.cholesky(self.cov_q)

    @staticmethod
    def _sample(
        mean: np.ndarray, chol: np.ndarray, n: int, random_state: RandomStateLike
    ) -> np.ndarray:
        rng = _random_state(random_state)
        return mean + rng.standard_normal((n, mean.size)) @ chol.T

    @validate_params({"n": _COUNT, "random_state": _RANDOM_STATE},
                     prefer_skip_nested_validation=True)
    def sample_p(self, n: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Draw ``n`` points from ``P``; an ndarray of shape (n, d)."""
        return self._sample(self.mean_p, self._chol_p, n, random_state)

    @validate_params({"n": _COUNT, "random_state": _RANDOM_STATE},
                     prefer_skip_nested_validation=True)
    def sample_q(self, n: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Draw ``n`` points from ``Q``; an ndarray of shape (n, d)."""
        return self._sample(self.mean_q, self._chol_q, n, random_state)

    def log_p(self, X: np.ndarray) -> np.ndarray:
        """``log p(X)``, an ndarray of shape (n,), for ``X`` of shape (n, d)."""
        X = _check_points(X, self.dim)
        return np.atleast_1d(multivariate_normal.logpdf(X, self.mean_p, self.cov_p)).reshape(-1)

    def log_q(self, X: np.ndarray) -> np.ndarray:
        """``log q(X)``, an ndarray of shape (n,), for ``X`` of shape (n, d)."""
        X = _check_points(X, self.dim)
        return np.atleast_1d(multivariate_normal.logpdf(X, self.mean_q, self.cov_q)).reshape(-1)

    def log_ratio(self, X: np.ndarray) -> np.ndarray:
        """The exact ``log p(X) - log q(X)``, an ndarray of shape (n,)."""
        return self.log_p(X) - self.log_q(X)

    def kl_pq(self) -> float:
        """The closed-form ``KL(P || Q) = E_P[log p - log q]`` in nats.

        ``0.5 * (tr(S_q^-1 S_p) + dm^T S_q^-1 dm - d + ln det S_q - ln det S_p)``
        with ``dm = m_q - m_p``.
        """
        factor = linalg.cho_factor(self.cov_q)
        delta = self.mean_q - self.mean_p
        trace_term = np.trace(linalg.cho_solve(factor, self.cov_p))
        mahalanobis = delta @ linalg.cho_solve(factor, delta)
        logdet_q = 2.0 * np.sum(np.log(np.diag(self._chol_q)))
        logdet_p = 2.0 * np.sum(np.log(np.diag(self._chol_p)))
        kl = 0.5 * (trace_term + mahalanobis - self.dim + logdet_q - logdet_p)
        return float(max(kl, 0.0))


def _random_gaussian_params(
    dim: int,
    shift: float,
    eig_range: tuple[float, float],
    scale_q: float,
    rng: np.random.RandomState,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(mean_p, cov_p, mean_q, cov_q)`` shared by the two Gaussian samplers."""
    mean_p, mean_q = _random_means(dim, shift, rng)
    cov_p = _random_spd(dim, rng, eig_range)
    cov_q = scale_q**2 * _random_spd(dim, rng, eig_range)
    return mean_p, cov_p, mean_q, cov_q


@validate_params(
    {"n_p": _COUNT, "n_q": _COUNT + [None], "d": _COUNT, "shift": _NON_NEGATIVE,
     "scale_q": _POSITIVE, "eig_range": _EIG_RANGE, "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_gaussian_pair(
    n_p: int,
    n_q: int | None = None,
    d: int = 2,
    shift: float = 1.0,
    scale_q: float = 1.0,
    eig_range: tuple[float, float] = (0.5, 2.0),
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray, GaussianPair]:
    """Samples from two random Gaussians, with their exact log density ratio.

    ``P = N(m_p, S_p)`` and ``Q = N(m_q, S_q)`` where ``m_p = +shift/2 u`` and
    ``m_q = -shift/2 u`` for a uniformly random unit vector ``u`` (so
    ``||m_p - m_q|| = shift``), ``S_p = V_p diag(lam_p) V_p^T`` and
    ``S_q = scale_q**2 V_q diag(lam_q) V_q^T`` with independent
    Haar-random rotations ``V`` and eigenvalues ``lam`` drawn uniformly from
    ``eig_range``.

    Parameters
    ----------
    n_p : int
        Rows of the ``P`` sample.
    n_q : int, optional
        Rows of the ``Q`` sample; ``n_p`` when omitted.
    d : int, default=2
        Dimension.
    shift : float, default=1.0
        ``||m_p - m_q||``, ``>= 0``.
    scale_q : float, default=1.0
        ``Q``'s covariance is multiplied by ``scale_q**2`` (``> 0``); a value
        above 1 makes ``Q`` wider than ``P``, which keeps ``p / q`` bounded
        when large enough.
    eig_range : tuple of float, default=(0.5, 2.0)
        ``(low, high)`` with ``0 < low <= high``: the range of the covariance
        eigenvalues (before ``scale_q``).
    random_state : int, RandomState, Generator or None, default=None
        Randomness for the parameters and the samples; an integer gives
        reproducible output.

    Returns
    -------
    X_p : ndarray of shape (n_p, d)
        Sample from ``P``.
    X_q : ndarray of shape (n_q, d)
        Sample from ``Q``.
    pair : GaussianPair
        The parameters, with the exact ``log_ratio`` (``log p - log q``),
        ``log_p``, ``log_q``, ``kl_pq`` and samplers.

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_gaussian_pair
    >>> X_p, X_q, pair = make_gaussian_pair(100, 50, d=3, random_state=0)
    >>> X_p.shape, X_q.shape
    ((100, 3), (50, 3))
    >>> pair.log_ratio(X_p).shape
    (100,)
    """
    n_q = n_p if n_q is None else n_q
    eig_range = _check_eig_range(eig_range)
    rng = _random_state(random_state)
    pair = GaussianPair(*_random_gaussian_params(d, shift, eig_range, scale_q, rng))
    return pair.sample_p(n_p, rng), pair.sample_q(n_q, rng), pair


# ---------------------------------------------------------------------------
# Gaussian optimal transport
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GaussianOT(GaussianPair):
    """Optimal transport (quadratic cost) from ``P = N(m_p, S_p)`` to ``Q = N(m_q, S_q)``.

    A :class:`GaussianPair` that also knows the Brenier map
    ``T(x) = m_q + A (x - m_p)`` with the symmetric positive definite

    ``A = S_p^(-1/2) (S_p^(1/2) S_q S_p^(1/2))^(1/2) S_p^(-1/2)``,

    the gradient of the convex ``x -> m_q^T x + (x - m_p)^T A (x - m_p) / 2``,
    and the squared 2-Wasserstein distance.

    Parameters
    ----------
    mean_p, cov_p, mean_q, cov_q
        As in :class:`GaussianPair`.

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn.datasets import GaussianOT
    >>> problem = GaussianOT(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
    >>> problem.ot_map(np.zeros((1, 2)))
    array([[1., 1.]])
    >>> round(problem.w2_squared(), 6)
    4.0
    """

    @cached_property
    def _sqrt_cov_p(self) -> np.ndarray:
        return _sym_power(self.cov_p, 0.5)

    @cached_property
    def _cross_sqrt(self) -> np.ndarray:
        """``(S_p^(1/2) S_q S_p^(1/2))^(1/2)``."""
        root = self._sqrt_cov_p
        return _sym_power(root @ self.cov_q @ root, 0.5)

    @cached_property
    def ot_matrix(self) -> np.ndarray:
        """The symmetric positive definite ``A`` of ``T(x) = m_q + A (x - m_p)``."""
        inv_root = _sym_power(self.cov_p, -0.5)
        matrix = _symmetrise(inv_root @ self._cross_sqrt @ inv_root)
        matrix.setflags(write=False)
        return matrix

    def ot_map(self, X: np.ndarray) -> np.ndarray:
        """The optimal map ``m_q + A (x - m_p)`` applied to the rows of ``X`` (n, d)."""
        X = _check_points(X, self.dim)
        return self.mean_q + (X - self.mean_p) @ self.ot_matrix

    def w2_squared(self) -> float:
        """The squared 2-Wasserstein distance ``W_2^2(P, Q)``.

        ``||m_p - m_q||^2 + tr(S_p) + tr(S_q) - 2 tr((S_p^(1/2) S_q S_p^(1/2))^(1/2))``.
        """
        delta = self.mean_p - self.mean_q
        value = (
            delta @ delta
            + np.trace(self.cov_p)
            + np.trace(self.cov_q)
            - 2.0 * np.trace(self._cross_sqrt)
        )
        return float(max(value, 0.0))

    def l2_uvp(self, T_X: np.ndarray, X: np.ndarray) -> float:
        """The L2 unexplained variance percentage of a fitted map (Korotin et al.).

        ``100 * mean_i ||T_X[i] - T(X[i])||^2 / tr(S_q)``, where ``T_X`` is a
        fitted map's image of the ``P``-points ``X`` and ``T`` the optimal map;
        0 for the optimal map, 100 for the constant map ``x -> m_q``.

        Parameters
        ----------
        T_X : array-like of shape (n, d)
            The fitted map applied to ``X``.
        X : array-like of shape (n, d)
            Points, usually drawn from ``P``.

        Returns
        -------
        float
        """
        return _l2_uvp(T_X, X, self.dim, self.ot_map, float(np.trace(self.cov_q)))


@validate_params(
    {"n_samples": _COUNT, "d": _COUNT, "shift": _NON_NEGATIVE, "eig_range": _EIG_RANGE,
     "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_gaussian_ot(
    n_samples: int,
    d: int = 2,
    shift: float = 1.0,
    eig_range: tuple[float, float] = (0.25, 2.0),
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray, GaussianOT]:
    """Samples from two random Gaussians, with their exact optimal-transport map.

    The parameters are drawn as in :func:`make_gaussian_pair` (with
    ``scale_q=1``): means ``+-shift/2 u`` for a uniformly random unit vector
    ``u``, covariances with Haar-random eigenvectors and eigenvalues uniform
    on ``eig_range``, so each covariance has condition number at most
    ``eig_range[1] / eig_range[0]`` (8 by default).

    Parameters
    ----------
    n_samples : int
        Rows of each sample.
    d : int, default=2
        Dimension.
    shift : float, default=1.0
        ``||m_p - m_q||``, ``>= 0``.
    eig_range : tuple of float, default=(0.25, 2.0)
        ``(low, high)`` with ``0 < low <= high``: the range of the covariance
        eigenvalues.
    random_state : int, RandomState, Generator or None, default=None
        Randomness for the parameters and the samples; an integer gives
        reproducible output.

    Returns
    -------
    X_p : ndarray of shape (n_samples, d)
        Sample from the source ``P``.
    X_q : ndarray of shape (n_samples, d)
        Sample from the target ``Q``, independent of ``X_p``.
    problem : GaussianOT
        The parameters with ``ot_map``, ``ot_matrix``, ``w2_squared``,
        ``l2_uvp`` and everything of :class:`GaussianPair`.

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_gaussian_ot
    >>> X_p, X_q, problem = make_gaussian_ot(200, d=3, random_state=0)
    >>> X_p.shape, X_q.shape
    ((200, 3), (200, 3))
    >>> problem.l2_uvp(problem.ot_map(X_p), X_p)
    0.0
    """
    eig_range = _check_eig_range(eig_range)
    rng = _random_state(random_state)
    problem = GaussianOT(*_random_gaussian_params(d, shift, eig_range, 1.0, rng))
    return problem.sample_p(n_samples, rng), problem.sample_q(n_samples, rng), problem


# ---------------------------------------------------------------------------
# A non-affine Brenier map: the gradient of a smooth maximum of quadratics
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LogSumExpOT:
    """Optimal transport from a Gaussian mixture ``P`` to ``Q = (grad psi)#P``.

    ``P`` is the equal-weight mixture of ``N(mu_j, I)``. The potential is a
    smooth maximum of ``K`` convex quadratics,

    ``psi(x) = tau log sum_k exp(q_k(x) / tau)``, ``q_k(x) = x^T A_k x / 2 + b_k^T x``,

    with symmetric positive definite ``A_k``. It is convex with Hessian at least
    ``min_k lambda_min(A_k) I``, so by Brenier's theorem its gradient

    ``T(x) = sum_k w_k(x) (A_k x + b_k)``, ``w = softmax(q(x) / tau)``,

    is the optimal map for the squared Euclidean cost: a blend of affine maps
    that changes across ``P``'s support, far from the single affine map that
    is optimal between Gaussians (POT's ``LinearTransport``), increasingly so
    as the dimension grows.

    Parameters
    ----------
    means : array-like of shape (n_components, d)
        Means of ``P``'s components.
    A : array-like of shape (K, d, d)
        Symmetric positive definite matrices of the quadratics.
    b : array-like of shape (K, d)
        Linear terms of the quadratics.
    tau : float
        Temperature of the smooth maximum, ``> 0``: small is close to a hard
        maximum (a map that jumps between pieces), large close to the mean of
        the quadratics (an affine map).

    Examples
    --------
    >>> import numpy as np
    >>> from flowdre_sklearn.datasets import LogSumExpOT
    >>> one_piece = LogSumExpOT(np.zeros((1, 2)), 2 * np.eye(2)[None], np.ones((1, 2)), 1.0)
    >>> one_piece.ot_map(np.array([[1.0, 0.0]]))  # a single quadratic: x -> 2 x + 1
    array([[3., 1.]])
    """

    means: np.ndarray
    A: np.ndarray
    b: np.ndarray
    tau: float

    def __post_init__(self) -> None:
        means, A, b = (_frozen_array(getattr(self, n), n) for n in ("means", "A", "b"))
        if means.ndim != 2 or means.size == 0:
            raise ValueError(f"means must be a non-empty 2-D array, got shape {means.shape}")
        dim = means.shape[1]
        if A.ndim != 3 or A.shape[1:] != (dim, dim) or b.shape != (A.shape[0], dim):
            raise ValueError(
                f"A must have shape (K, {dim}, {dim}) and b (K, {dim}), got {A.shape} and "
                f"{b.shape}"
            )
        for k, matrix in enumerate(A):
            if not np.allclose(matrix, matrix.T) or np.linalg.eigvalsh(matrix)[0] <= 0:
                raise ValueError(f"A[{k}] must be symmetric positive definite")
        tau = float(self.tau)
        if not 0 < tau < np.inf:
            raise ValueError(f"tau must be positive and finite, got {self.tau!r}")
        for name, value in (("means", means), ("A", A), ("b", b), ("tau", tau)):
            object.__setattr__(self, name, value)

    @property
    def dim(self) -> int:
        """The dimension ``d``."""
        return self.means.shape[1]

    @validate_params({"n": _COUNT, "random_state": _RANDOM_STATE},
                     prefer_skip_nested_validation=True)
    def sample_p(self, n: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Draw ``n`` points from ``P``; an ndarray of shape (n, d)."""
        rng = _random_state(random_state)
        component = rng.randint(len(self.means), size=n)
        return self.means[component] + rng.standard_normal((n, self.dim))

    def sample_q(self, n: int, random_state: RandomStateLike = None) -> np.ndarray:
        """Draw ``n`` points from ``Q``: the optimal map of fresh draws from ``P``."""
        return self.ot_map(self.sample_p(n, random_state))

    def _quadratics(self, X: np.ndarray) -> np.ndarray:
        """``q_k(x)`` for every row and piece, shape (n, K)."""
        return 0.5 * np.einsum("ni,kij,nj->nk", X, self.A, X, optimize=True) + X @ self.b.T

    def potential(self, X: np.ndarray) -> np.ndarray:
        """The convex potential ``psi(x)`` at the rows of ``X``, shape (n,)."""
        X = _check_points(X, self.dim)
        return self.tau * logsumexp(self._quadratics(X) / self.tau, axis=1)

    def weights(self, X: np.ndarray) -> np.ndarray:
        """The softmax weights ``w(x)`` of the pieces, shape (n, K)."""
        X = _check_points(X, self.dim)
        return softmax(self._quadratics(X) / self.tau, axis=1)

    def ot_map(self, X: np.ndarray, chunk_size: int = 4096) -> np.ndarray:
        """The optimal map ``T(x) = grad psi(x)`` applied to the rows of ``X`` (n, d)."""
        X = _check_points(X, self.dim)
        out = np.empty_like(X)
        for start in range(0, len(X), chunk_size):
            x = X[start : start + chunk_size]
            pieces = np.einsum("kij,nj->nki", self.A, x, optimize=True) + self.b
            out[start : start + chunk_size] = np.einsum("nk,nki->ni", self.weights(x), pieces)
        return out

    @cached_property
    def target_variance(self) -> float:
        """``tr Cov(Q)``, from 50,000 draws of a fixed private seed."""
        return float(np.trace(np.cov(self.sample_q(50_000, 54321).T)))

    def w2_squared(self, n: int = 50_000) -> float:
        """``W_2^2(P, Q) = E ||T(x) - x||^2``, a Monte-Carlo mean over ``n`` draws of ``P``."""
        X = self.sample_p(n, 12345)
        return float(np.mean(np.sum((self.ot_map(X) - X) ** 2, axis=1)))

    def l2_uvp(self, T_X: np.ndarray, X: np.ndarray) -> float:
        """The L2 unexplained variance percentage of a fitted map (Korotin et al.).

        ``100 * mean_i ||T_X[i] - T(X[i])||^2 / tr Cov(Q)``: 0 for the optimal
        map, 100 for the constant map ``x -> E[Q]``.

        Parameters
        ----------
        T_X : array-like of shape (n, d)
            The fitted map applied to ``X``.
        X : array-like of shape (n, d)
            Points, usually fresh draws from ``P``.

        Returns
        -------
        float
        """
        return _l2_uvp(T_X, X, self.dim, self.ot_map, self.target_variance)


@validate_params(
    {"n_samples": _COUNT, "d": _COUNT, "n_pieces": _COUNT, "n_components": _COUNT,
     "separation": _NON_NEGATIVE, "shift": _NON_NEGATIVE, "temperature": _POSITIVE,
     "eig_range": _EIG_RANGE, "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_logsumexp_ot(
    n_samples: int,
    d: int = 2,
    n_pieces: int = 8,
    n_components: int = 3,
    separation: float = 4.0,
    shift: float = 5.0,
    temperature: float = 1.0,
    eig_range: tuple[float, float] = (0.5, 2.0),
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray, LogSumExpOT]:
    """Samples of a Gaussian mixture and of its image by a non-affine optimal map.

    Draws a :class:`LogSumExpOT`: ``n_components`` unit-covariance components
    with means ``N(0, separation**2 / d I)`` (so about ``separation`` apart);
    ``n_pieces`` quadratics with Haar-random eigenvectors and eigenvalues
    uniform on ``eig_range``, linear terms ``N(0, shift**2 I)``, and the
    temperature ``tau = temperature * sqrt(d)`` (the quadratics' spread over
    ``P`` grows like ``sqrt(d)``, so the blend stays as soft at every ``d``).
    The defaults are a hard transport problem: the affine map between the
    moment-matched Gaussians leaves much of ``Q``'s variance unexplained from
    ``d = 16`` on (``benchmarks/results/ot_hard.md``).

    Parameters
    ----------
    n_samples : int
        Rows of each sample.
    d : int, default=2
        Dimension.
    n_pieces : int, default=8
        Number ``K`` of quadratics.
    n_components : int, default=3
        Components of the mixture ``P``.
    separation : float, default=4.0
        Scale of the component means, ``>= 0``.
    shift : float, default=5.0
        Scale of the quadratics' linear terms, ``>= 0``: how far apart the
        pieces move their share of ``P``.
    temperature : float, default=1.0
        Softness of the maximum, per ``sqrt(d)``, ``> 0``.
    eig_range : tuple of float, default=(0.5, 2.0)
        ``(low, high)`` with ``0 < low <= high``: the quadratics' eigenvalues.
    random_state : int, RandomState, Generator or None, default=None
        Randomness for the problem and the samples.

    Returns
    -------
    X_p : ndarray of shape (n_samples, d)
        Sample from the source ``P``.
    X_q : ndarray of shape (n_samples, d)
        Sample from the target ``Q``, independent of ``X_p``.
    problem : LogSumExpOT
        The problem, with ``ot_map``, ``w2_squared`` and ``l2_uvp``.

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_logsumexp_ot
    >>> X_p, X_q, problem = make_logsumexp_ot(200, d=4, random_state=0)
    >>> X_p.shape, X_q.shape
    ((200, 4), (200, 4))
    >>> problem.l2_uvp(problem.ot_map(X_p), X_p)
    0.0
    """
    eig_range = _check_eig_range(eig_range)
    rng = _random_state(random_state)
    A = np.stack([_random_spd(d, rng, eig_range) for _ in range(n_pieces)])
    b = rng.standard_normal((n_pieces, d)) * shift
    means = rng.standard_normal((n_components, d)) * separation / np.sqrt(d)
    problem = LogSumExpOT(means, A, b, temperature * np.sqrt(d))
    return problem.sample_p(n_samples, rng), problem.sample_q(n_samples, rng), problem


# ---------------------------------------------------------------------------
# Two moons against a checkerboard
# ---------------------------------------------------------------------------

_MOONS_CENTRE = np.array([0.5, 0.25])
_MOONS_SCALE = 1.5


def _sample_checkerboard(n: int, rng: np.random.RandomState) -> np.ndarray:
    """Uniform on the 8 black unit squares ``[i, i+1) x [j, j+1)`` of ``[-2, 2]^2``,
    those with ``i + j`` even."""
    column = rng.randint(-2, 2, size=n)  # i in {-2, -1, 0, 1}
    # j in {-2, 0} for even i and in {-1, 1} for odd i, so that i + j is even
    row = -2 + 2 * rng.randint(0, 2, size=n) + np.mod(column, 2)
    corner = np.column_stack([column, row]).astype(float)
    return corner + rng.uniform(0.0, 1.0, size=(n, 2))


@validate_params(
    {"n_samples": _COUNT, "noise": _NON_NEGATIVE, "random_state": _RANDOM_STATE},
    prefer_skip_nested_validation=True,
)
def make_moons_checkerboard(
    n_samples: int,
    noise: float = 0.1,
    random_state: RandomStateLike = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Two moons (``P``) and a checkerboard (``Q``) in two dimensions.

    ``P``: the noiseless two moons of :func:`sklearn.datasets.make_moons`
    (the upper unit half circle about the origin and the lower unit half
    circle about ``(1, 0.5)``, ``n_samples // 2`` and
    ``n_samples - n_samples // 2`` points evenly spaced in angle, shuffled)
    mapped by ``x -> 1.5 (x - (0.5, 0.25))``, so that they fill
    ``[-2.25, 2.25] x [-1.125, 1.125]``, then isotropic Gaussian noise of
    standard deviation ``noise`` (in these output units) added.

    ``Q``: the checkerboard, uniform (density 1/8) on the 8 "black" unit
    squares ``[i, i+1) x [j, j+1)`` of the 4 x 4 board on ``[-2, 2]^2`` with
    ``i + j`` even (``i, j`` in ``{-2, -1, 0, 1}``), zero elsewhere.

    Parameters
    ----------
    n_samples : int
        Rows of each sample.
    noise : float, default=0.1
        Standard deviation of the noise on the moons, ``>= 0``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness; an integer gives reproducible output.

    Returns
    -------
    X_p : ndarray of shape (n_samples, 2)
        The two moons.
    X_q : ndarray of shape (n_samples, 2)
        The checkerboard.

    Raises
    ------
    ValueError
        On a bad argument, naming it.

    Examples
    --------
    >>> from flowdre_sklearn.datasets import make_moons_checkerboard
    >>> X_p, X_q = make_moons_checkerboard(300, random_state=0)
    >>> X_p.shape, X_q.shape
    ((300, 2), (300, 2))
    """
    rng = _random_state(random_state)
    moons, _ = make_moons(n_samples=n_samples, shuffle=True, noise=None, random_state=rng)
    X_p = _MOONS_SCALE * (moons - _MOONS_CENTRE) + noise * rng.standard_normal((n_samples, 2))
    X_q = _sample_checkerboard(n_samples, rng)
    return X_p, X_q
