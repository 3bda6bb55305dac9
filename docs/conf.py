"""Sphinx configuration of the convmat documentation (``make docs``).

Built offline: no intersphinx, no remote assets; warnings are errors in CI
(``sphinx-build -W --keep-going``), and every gallery example runs.
"""

from __future__ import annotations

import os

import matplotlib

import convmat

matplotlib.use("Agg")

project = "convmat"
author = "the convmat developers"
copyright = "2026, the convmat developers"  # noqa: A001
release = convmat.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",  # the guide's Markdown pages
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_heading_anchors = 2

exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# every cross-reference must resolve (with -W a dead one fails the build); the build is
# offline, with no intersphinx, so references into numpy, scipy, dask, torch and the
# standard library cannot resolve here and are the only ones let through
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|scipy|dask|distributed|torch|matplotlib|skimage)(\..*)?"),
    (r"py:.*", r"(collections|typing|pathlib|os|threading)\..*"),
]
autosummary_generate = True
# a class page is its docstring (numpydoc's Attributes and Methods sections): no tables
# of the members it inherits from scipy's LinearOperator or from tuple, which have no
# page here to link to
templates_path = ["_templates"]
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

html_theme = "pydata_sphinx_theme"
html_title = f"convmat {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"^(deblur|fcn)\.py$",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "run_stale_examples": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
}
if os.environ.get("CONVMAT_DOCS_NO_GALLERY"):
    sphinx_gallery_conf["filename_pattern"] = r"^$"  # list the examples without running them
