"""Optimal-transport flows and telescopic density-ratio estimation with a scikit-learn face."""

from .transport import FlowTransport

__all__ = ["FlowTransport"]
__version__ = "0.1.0.dev0"
