"""Shared set-up of the documentation tests (docs/).

* ``TUTORIALS``: the tutorial notebooks, their MyST Markdown sources (docs/tutorials/NN-*.md).
* ``notebook_cache``: one jupyter-cache folder per session.  test_tutorials executes every tutorial and
  stores the executed notebook there; test_docs_build hands the folder to the Sphinx build
  (``nb_execution_cache_path``), whose MyST-NB ("cache" mode) then takes those outputs instead of executing
  the notebooks a second time.  Run alone, the build executes them itself.
* The build tests run after every other test of the session, so that they find the cache filled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9][0-9]-*.md"))


@pytest.fixture(scope="session")
def notebook_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("jupyter_cache")


def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: "test_docs_build" in item.nodeid)  # stable: the rest keep their order
