"""The private scikit-learn names the package relies on, and warnings that find the user's line.

scikit-learn may move or change its underscore names in any release without a
deprecation. Every module of the package imports them from here, so that a
release which moves one is met by an edit of this file alone; CI runs the test
suite on the lowest supported versions (``requirements/floors.txt``) and on
current ones.
"""

from __future__ import annotations

import os
import sys
import warnings

import joblib
import sklearn
from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import _get_feature_names

__all__ = [
    "HasMethods",
    "Interval",
    "InvalidParameterError",
    "StrOptions",
    "_fit_context",
    "_get_feature_names",
    "validate_params",
    "warn",
]

# A warning raised in the package is about the user's call, which reaches it through
# scikit-learn (the _fit_context wrapper, Pipeline, cross-validation) and joblib
# (Pipeline's memory, parallel loops) at a depth no fixed stacklevel knows.
_INTERNAL = tuple(
    os.path.dirname(path) + os.sep for path in (__file__, sklearn.__file__, joblib.__file__)
)


def warn(message: str, category: type[Warning]) -> None:
    """Warn on behalf of the first caller outside this package, scikit-learn and joblib.

    The warning's filename and line, which filters match and Python prints, are
    then those of the user's code, however deep the call.

    Parameters
    ----------
    message : str
        The warning's text.
    category : type of Warning
        The warning's class.
    """
    if sys.version_info >= (3, 12):
        warnings.warn(message, category, skip_file_prefixes=_INTERNAL)
        return
    frame, level = sys._getframe(1), 2  # level 2 is warn's caller
    while frame is not None and frame.f_code.co_filename.startswith(_INTERNAL):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
