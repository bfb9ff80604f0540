"""Every public name has a page in the API reference (docs/api.rst)."""

import re
from pathlib import Path

import pytest

import flowdre_sklearn
from flowdre_sklearn import datasets, divergence, two_sample, weights

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"


def documented_names() -> set[str]:
    """The autosummary entries of api.rst, qualified by their ``currentmodule``."""
    names, module = set(), "flowdre_sklearn"
    for line in API.read_text().splitlines():
        current = re.match(r"\.\. currentmodule:: (\S+)", line)
        if current:
            module = current.group(1)
        entry = re.match(r"   ([A-Za-z_][\w.]*)$", line)
        if entry:
            names.add(f"{module}.{entry.group(1)}")
    return names


@pytest.mark.parametrize("module", [flowdre_sklearn, datasets, divergence, two_sample, weights],
                         ids=lambda m: m.__name__)
def test_every_public_name_is_in_the_api_reference(module):
    documented = documented_names()
    # A name exported at the top level may be documented there instead.
    missing = [name for name in module.__all__
               if f"{module.__name__}.{name}" not in documented
               and f"flowdre_sklearn.{name}" not in documented]
    assert not missing, f"not in docs/api.rst: {missing}"
