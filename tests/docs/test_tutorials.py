"""Every tutorial (docs/tutorials/NN-*.md) runs top to bottom within 180 s, and its .ipynb twin matches it.

The notebooks check their own claims in their cells (asserts), so a changed API or a changed result fails
here.  Each is read from its MyST Markdown source by jupytext and executed by nbclient in a fresh kernel,
in the folder of the notebook, with one wall-clock limit for the whole notebook.  The executed notebook
goes into the session's jupyter-cache (conftest), where the documentation build finds it (without nbclient's
per-cell timing metadata, which would change the notebook's hash in the cache).
"""

from __future__ import annotations

import asyncio
import time

import jupytext
import nbformat
import pytest
from conftest import TUTORIALS
from jupyter_cache import get_cache
from jupyter_cache.base import CacheBundleIn
from nbclient import NotebookClient

#: seconds for a whole notebook (the tutorials' budget on a 2-core machine)
NOTEBOOK_TIMEOUT = 180


def test_there_are_four_tutorials():
    assert [p.stem[:2] for p in TUTORIALS] == ["01", "02", "03", "04"]


@pytest.mark.slow
@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_executes(path, notebook_cache):
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=NOTEBOOK_TIMEOUT, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    t0 = time.perf_counter()
    try:
        asyncio.run(asyncio.wait_for(client.async_execute(), NOTEBOOK_TIMEOUT))
    except (TimeoutError, asyncio.TimeoutError):  # one class from Python 3.11 on
        pytest.fail(f"{path.name} did not finish within {NOTEBOOK_TIMEOUT} s")
    seconds = time.perf_counter() - t0
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count for c in code), "every code cell ran"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    print(f"{path.name}: {seconds:.1f} s")
    get_cache(str(notebook_cache)).cache_notebook_bundle(
        CacheBundleIn(nb, str(path), data={"execution_seconds": seconds}), check_validity=False, overwrite=True)


@pytest.mark.parametrize("path", TUTORIALS, ids=lambda p: p.stem)
def test_ipynb_twin_matches_its_source(path):
    """The committed .ipynb holds the cells of the .md (``jupytext --sync``) and no outputs."""
    twin = path.with_suffix(".ipynb")
    assert twin.exists(), f"{twin.name} missing: run jupytext --sync {path.name}"
    source, paired = jupytext.read(path), nbformat.read(twin, as_version=4)
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(paired) == cells(source), f"{twin.name} is out of date: run jupytext --sync {path.name}"
    assert not any(c.get("outputs") for c in paired.cells if c.cell_type == "code"), "commit it without outputs"
