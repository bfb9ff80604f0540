"""Sphinx configuration of the flowdre-sklearn documentation.

Built by ``make docs`` (warnings are errors). No extension here reaches the
network at build time: there is no intersphinx, and MathJax is served from the
site itself (``sphinx-mathjax-offline``) rather than from a CDN.
"""

import os
import sys

import flowdre_sklearn

sys.path.insert(0, os.path.abspath(".."))

project = "flowdre-sklearn"
author = "flowdre-sklearn developers"
copyright = "flowdre-sklearn developers"
release = flowdre_sklearn.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.doctest",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    # Copies a MathJax 3 bundle into _static/mathjax and points mathjax_path at it.
    "sphinx-mathjax-offline",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build"]
root_doc = "index"

# API reference: one generated page per public name (docs/generated/, not tracked).
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections carry the types

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Only the explicit ``.. doctest::`` blocks of these pages run under ``-b doctest``;
# the docstrings' examples run under ``pytest --doctest-modules``.
doctest_test_doctest_blocks = ""
doctest_global_setup = "import os; os.environ.setdefault('OMP_NUM_THREADS', '1')"

# Markdown: the benchmark reports of benchmarks/results/ are included as they are.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

html_theme = "pydata_sphinx_theme"
html_title = f"flowdre-sklearn {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
