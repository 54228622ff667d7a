"""Shared pytest set-up.

* The kernel cache (ISODYN_CACHE, default ~/.cache/isodyn) is left as it is, so numba's
  on-disk cache pays across test runs.
* ``tests/`` is put on sys.path so test modules can ``import scenarios``.
* ``installed_package``: the project installed (not editable) into a temporary folder, once a session,
  for checks of what a user's ``pip install .`` gets (the layout, the import contracts).
* Tests that need a whole figure run (FIGURE_RUNS) are marked ``slow``: the default run leaves them out.
* Hypothesis runs derandomised (fixed seeds, reproducible failures) and without deadlines
  (the first call of a rule may generate and compile its kernels).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

settings.register_profile("isodyn", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("isodyn")


@pytest.fixture
def rng():
    """A fixed-seed generator, fresh for each test."""
    return np.random.default_rng(20231120)


@pytest.fixture(scope="session")
def installed_package(tmp_path_factory) -> Path:
    """``pip install --no-deps --target DIR .`` of this checkout; returns DIR (holding isodyn/ and its metadata)."""
    target = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "-q", "--target",
                    str(target), str(HERE.parent)], check=True, capture_output=True, timeout=600)
    return target


#: session fixtures that run whole figures (tests/figures/conftest.py): a test that needs one is a long check
FIGURE_RUNS = ("quick_run", "quick_result")


@pytest.hookimpl(tryfirst=True)  # before pytest's -m selection (addopts leaves out `slow`)
def pytest_collection_modifyitems(config, items):
    """Mark ``slow`` every test that needs a whole figure run (their fixtures make the figures once a
    session; the default run leaves them out, ``pytest -m slow`` runs them)."""
    for item in items:
        if any(f in getattr(item, "fixturenames", ()) for f in FIGURE_RUNS):
            item.add_marker(pytest.mark.slow)
