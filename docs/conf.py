"""Sphinx configuration (a stub: the user guide and API reference grow with the package)."""

project = "flowdre-sklearn"
extensions = ["sphinx.ext.autodoc", "numpydoc"]
numpydoc_show_class_members = False
html_theme = "alabaster"
