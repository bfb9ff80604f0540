"""Sphinx configuration of the flowdre-sklearn documentation.

Built by ``make docs`` (warnings are errors). No extension here reaches the
network at build time: there is no intersphinx, MathJax is served from the
site itself (``sphinx-mathjax-offline``) rather than from a CDN, and the example
gallery has no Binder or JupyterLite links.
"""

import os
import sys

import matplotlib

import flowdre_sklearn

# The gallery's figures are drawn off screen.
matplotlib.use("Agg")

sys.path.insert(0, os.path.abspath(".."))
# docs/ itself, for gallery_order (the order of the gallery's examples).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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
    "sphinx_gallery.gen_gallery",
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

# The example gallery: every examples/plot_*.py is run and its page written to
# docs/auto_examples/ (not tracked); an example that fails fails the build. An example
# runs again only when its file changes, so the doctest build after the HTML one does
# not rerun them. The demo script of ``make demo`` is a command-line program, not a
# gallery page.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"__init__\.py|demo_moons_checkerboard\.py",
    "within_subsection_order": "gallery_order.example_order",
    # Printed output only, not the repr of a block's last expression (an Axes, a Text).
    "capture_repr": (),
    # "# sphinx_gallery_thumbnail_number = 2" picks a thumbnail, and is not shown.
    "remove_config_comments": True,
    # Every example's time in sg_execution_times, however short.
    "min_reported_time": 0,
    "download_all_examples": False,
}
