"""Optimal-transport flows and telescopic density-ratio estimation with a scikit-learn face."""

from .density_ratio import TelescopicDensityRatio
from .divergence import DivergenceEstimate, kl_divergence
from .mutual_info import mutual_information
from .transport import FlowTransport
from .two_sample import TwoSampleResult, two_sample_test
from .weights import effective_sample_size

__all__ = [
    "DivergenceEstimate",
    "FlowTransport",
    "TelescopicDensityRatio",
    "TwoSampleResult",
    "effective_sample_size",
    "kl_divergence",
    "mutual_information",
    "two_sample_test",
]
__version__ = "0.1.0.dev0"
