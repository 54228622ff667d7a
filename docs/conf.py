"""Sphinx configuration of the isodyn documentation site.

Build (README, "Documentation"), warnings as errors:

    sphinx-build -W --keep-going -b html docs docs/_build/html

The tutorials (docs/tutorials/*.md, MyST Markdown notebooks paired with .ipynb by jupytext) are executed
by MyST-NB in "cache" mode: a notebook runs only when its code changed since it was last cached (in
docs/_build/.jupyter_cache, or where ``-D nb_execution_cache_path=...`` points: tests/docs hands the build
the cache its tutorial test filled, so the test suite executes each notebook once).  A failing cell fails
the build.
"""

from __future__ import annotations

import re

import isodyn

project = "isodyn"
author = "the isodyn developers"
copyright = "the isodyn developers"
release = isodyn.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinxarg.ext",
    "sphinx_design",
]

# the .ipynb twins of the tutorials are for Jupyter users; the MyST Markdown file is the source read here
exclude_patterns = ["_build", "**.ipynb_checkpoints", "tutorials/*.ipynb"]

# --- MyST and MyST-NB ------------------------------------------------------------------------------------
# (no "substitution" extension: performance.md holds {{...}} placeholders that stay literal text)
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
nb_execution_mode = "cache"
nb_execution_timeout = 180  # seconds per cell; tests/docs holds each whole notebook to 180 s
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# outputs of IPython.display.Markdown (the derivations) are parsed as MyST, with $...$ math
nb_render_markdown_format = "myst"

# --- API reference (autodoc + napoleon) ------------------------------------------------------------------
autodoc_default_options = {"members": False, "show-inheritance": False}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = True

# --- HTML ------------------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"isodyn {release}"
html_theme_options = {
    "navigation_depth": 3,
    "show_toc_level": 2,
    "navbar_align": "left",
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
html_static_path: list[str] = []

# --- docstrings: "SPEC §N" is a section of theory.md ------------------------------------------------------
# The package's docstrings cite the numbered sections of the theory as "SPEC §N"; in the API reference the
# citation becomes a link to that section (labels theory-N in theory.md).  Docstrings written as aligned
# plain text (a summary, then a table of names and meanings) are not reStructuredText: their body is shown
# as a literal block, as written, rather than misparsed.

_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`([^`]*)`")
_SPEC = re.compile(r"SPEC §(\d+)((?:[-–,]\s*§?\d+)*)")


def _link_spec(line: str) -> str:
    return _SPEC.sub(lambda m: f":ref:`SPEC §{m.group(1)}{m.group(2)} <theory-{m.group(1)}>`", line)


def _parses_cleanly(text: str) -> bool:
    """Whether ``text`` is reStructuredText that docutils reads without a warning (roles of Sphinx are
    replaced by their text first: docutils alone does not know them)."""
    import docutils.core
    import docutils.utils

    plain = re.sub(r":[a-z:]+:`([^`]*)`", r"``\1``", text)
    try:
        levels = docutils.utils.Reporter
        docutils.core.publish_doctree(plain, settings_overrides={"report_level": levels.SEVERE_LEVEL + 1,
                                                                 "halt_level": levels.WARNING_LEVEL,
                                                                 "warning_stream": False})
    except docutils.utils.SystemMessage:
        return False
    return True


#: files of the project's workspace that some docstrings name, and what the site has in their place
_OUTSIDE = {"ARCHITECTURE.md": "the command-line reference", "SPEC.md": "the theory page"}


def _docstring(app, what, name, obj, options, lines):
    if not lines:
        return
    for old, new in _OUTSIDE.items():
        lines[:] = [line.replace(old, new) for line in lines]
    text = "\n".join(lines)
    if not _parses_cleanly(text):
        head_end = lines.index("") if "" in lines else len(lines)
        head, body = lines[:head_end], lines[head_end + 1:]
        body = [_ROLE.sub(lambda m: m.group(1).lstrip("~").rsplit(".", 1)[-1] if m.group(1).startswith("~")
                          else m.group(1), b) for b in body]  # a role in a literal block: its text
        lines[:] = [*head, "", "::", "", *("    " + b if b else "" for b in body), ""] if body else head
        lines[: len(head)] = [_link_spec(h) for h in head]
        return
    lines[:] = [_link_spec(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _docstring)
