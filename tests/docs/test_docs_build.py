"""The documentation site builds with warnings as errors, with the pages it promises.

The build is the README's command (``sphinx-build -W --keep-going -b html docs ...``) into a temporary
folder; the tutorials' outputs come from the session's jupyter-cache when test_tutorials filled it
(conftest), else the build executes them.  MyST-NB fails the build on a failing cell.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import DOCS, TUTORIALS
from jupyter_cache import get_cache


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path, notebook_cache):
    cached = len(get_cache(str(notebook_cache)).list_cache_records())
    html = tmp_path / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-d", str(tmp_path / "doctrees"),
           "-D", f"nb_execution_cache_path={notebook_cache}", str(DOCS), str(html)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-8000:]

    for page in ("index", "getting-started", "theory", "cli", "api", "gallery", "dask", "performance",
                 "tutorials/index", *(f"tutorials/{p.stem}" for p in TUTORIALS)):
        assert (html / f"{page}.html").exists(), page

    # the CLI reference comes from the real parser: every subcommand and a few of its flags
    cli = (html / "cli.html").read_text()
    for name in ("derive", "simulate", "train", "validate", "reproduce", "sweep", "plot-sweep", "bench"):
        assert re.search(rf">\s*isodyn {name}\b|id=\"isodyn-{name}\"|>{name}<", cli), name
    for flag in ("--metric", "--s0-range", "--scheduler", "--closure"):
        assert flag in cli, flag
    # the API reference documents the public names
    api = (html / "api.html").read_text()
    for name in ("isodyn.simulate_batch", "isodyn.Trajectory", "isodyn.train", "isodyn.run_sweep"):
        assert f'id="{name}"' in api, name
    # the tutorials are shown executed: their figures and printed numbers are in the pages
    for p in TUTORIALS:
        page = (html / "tutorials" / f"{p.stem}.html").read_text()
        assert "<img" in page and "cell_output" in page, p.name
    # the notebooks the tutorial test executed were not executed again
    if cached == len(TUTORIALS):
        assert "Executing notebook" not in log, "the build re-executed a cached tutorial"
