"""What every torch-backed estimator of the package shares: devices, seeds, tensors, pickling."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from ._compat import warn
from ._core.training import resolve_device, seeded

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

#: Training rows a fitted model is applied to, to check that its fit did not diverge.
DIVERGENCE_CHECK_ROWS = 1024


def seed_from(random_state) -> int:
    """An int seed from ``random_state`` without touching numpy's global RNG.

    ``None`` draws fresh entropy from the operating system (so fits vary, as
    sklearn's ``None`` means, while the global state stays as the caller left it).
    """
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, np.random.RandomState | np.random.Generator):
        return int(random_state.integers(2**31) if hasattr(random_state, "integers")
                   else random_state.randint(2**31))
    return int(random_state)


def check_divergence(
    values: torch.Tensor, badness: float, *, limit: float, fatal: bool, what: str,
    measure: str, cause: str,
) -> None:
    """Stop a fit that is broken on its own training sample, or warn about a suspect one.

    The training loops stop when a loss is no longer finite, but a diverged model
    can keep finite (if absurd) losses and overflow only when it is applied; so
    the caller applies it to its training sample. Non-finite ``values``, or with
    ``fatal`` a ``badness`` above ``limit`` (a bound no sound model comes near),
    raise ``FloatingPointError``, which ``_fitting`` turns into a ``RuntimeError``
    after forgetting the fit. Without ``fatal`` the bound is a heuristic, and
    exceeding it warns with a ``ConvergenceWarning`` and keeps the model.
    """
    if not bool(torch.isfinite(values).all()):
        raise FloatingPointError(
            f"{what} gives non-finite values on its own training sample: training diverged. "
            f"Lower {cause}, or check the data for extreme values."
        )
    if badness > limit:
        message = (
            f"{what} is far worse on its own training sample than a model that learned "
            f"nothing ({measure} is {badness:.3g}, above {limit:.3g}): training "
            f"{'diverged' if fatal else 'probably diverged'}. Lower {cause}."
        )
        if fatal:
            raise FloatingPointError(message)
        warn(message, ConvergenceWarning)


class TorchEstimatorMixin:
    """Device and dtype resolution, conversions, chunked prediction and CPU-safe pickling.

    Subclasses list their fitted torch objects (each with a ``to(device)``
    method) in ``_torch_attributes``.
    """

    _torch_attributes: tuple[str, ...] = ()
    #: Rows per prediction chunk: small enough for the activations to stay in cache,
    #: which is faster on the CPU than larger chunks, and keeps memory flat
    #: (benchmarks/speed.py).
    predict_chunk_size: int = 8192

    @contextlib.contextmanager
    def _fitting(self) -> Iterator[tuple[int, torch.Generator]]:
        """A seeded training block; on any failure, Ctrl-C included, nothing half-fitted stays.

        Yields the seed and the generator that drives the fit's random draws.
        """
        self._forget_fit()
        self.device_ = resolve_device(self.device)
        seed = seed_from(self.random_state)
        try:
            with seeded(seed, self.device_) as generator:
                yield seed, generator
        except FloatingPointError as exc:
            self._forget_fit()
            # The core knows which loss diverged, not what the user calls its step sizes.
            rates = ", ".join(
                f"{k}={v!r}" for k, v in self.get_params(deep=False).items() if k.endswith("lr")
            )
            raise RuntimeError(f"{exc} Learning rates of this fit: {rates}.") from exc
        except BaseException:
            self._forget_fit()
            raise

    def _forget_fit(self) -> None:
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)

    @property
    def _torch_dtype(self) -> torch.dtype:
        return TORCH_DTYPES[self.dtype]

    def _tensor(self, X: np.ndarray) -> torch.Tensor:
        # Shares memory with X when it can (the core never writes to its inputs);
        # torch takes neither negative strides nor, without a warning, read-only memory.
        array = np.ascontiguousarray(X, dtype=np.dtype(self.dtype))
        if not array.flags.writeable:
            array = array.copy()
        return torch.from_numpy(array).to(self.device_)

    def _map_rows(self, fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray) -> np.ndarray:
        """``fn`` applied to chunks of rows, so that memory stays flat in the number of rows."""
        out = []
        for start in range(0, X.shape[0], self.predict_chunk_size):
            chunk = self._tensor(X[start : start + self.predict_chunk_size])
            out.append(fn(chunk).detach().cpu().numpy().astype(np.float64, copy=False))
        return np.concatenate(out) if out else np.empty((0,))

    def __getstate__(self):
        # Copy: BaseEstimator.__getstate__ returns the live __dict__, and moving
        # the live networks to the CPU would change the fitted estimator.
        state = dict(super().__getstate__())
        for name in self._torch_attributes:
            if name in state:
                state[name] = copy.deepcopy(state[name]).to(torch.device("cpu"))
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if not any(name in self.__dict__ for name in self._torch_attributes):
            return
        fitted_on = torch.device(self.__dict__.get("device_", "cpu"))
        if fitted_on.type == "cuda" and not torch.cuda.is_available():
            warn(
                f"This model was fitted on {fitted_on} but CUDA is not available here: "
                "it is loaded on the CPU.",
                RuntimeWarning,
            )
            fitted_on = torch.device("cpu")
        self.device_ = fitted_on
        for name in self._torch_attributes:
            if name in self.__dict__:
                self.__dict__[name] = self.__dict__[name].to(fitted_on)
