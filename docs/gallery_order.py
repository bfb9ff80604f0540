"""The order of the examples in the gallery (``within_subsection_order`` in conf.py).

A module of its own, named to sphinx-gallery by a string: a function in conf.py
would make the configuration uncacheable, which Sphinx warns about (an error
under ``-W``).
"""

#: File names in gallery order; any other example follows them, by name.
ORDER = [
    "plot_moons_checkerboard.py",
    "plot_mutual_information.py",
    "plot_covariate_shift.py",
    "plot_digits_density.py",
    "plot_grid_search.py",
]


def example_order(filename: str) -> tuple[int, str]:
    """Sort key of an example's file name."""
    name = filename.rsplit("/", 1)[-1]
    return (ORDER.index(name) if name in ORDER else len(ORDER), name)
