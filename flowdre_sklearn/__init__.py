"""Optimal-transport flows and telescopic density-ratio estimation with a scikit-learn face."""

from .density_ratio import TelescopicDensityRatio
from .mutual_info import mutual_information
from .transport import FlowTransport

__all__ = ["FlowTransport", "TelescopicDensityRatio", "mutual_information"]
__version__ = "0.1.0.dev0"
