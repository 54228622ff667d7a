"""Quick runs shared by the figure tests, once a session.

* ``quick_run``: ``isodyn reproduce --quick`` of the six paper figures (PAPER_FIGURES), --jobs 2: (out, the
  completed process, seconds).  test_reproduce checks its files and report, test_captions its captions.
* ``quick_result(module)``: a figure module beyond the paper made at quick size, once: (module, FigureResult,
  its output folder).  test_figures_beyond checks its files and claims, test_captions its captions;
  test_phase_portraits and test_probe_animation use it for their figures too.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from isodyn.figures.base import Context

ROOT = Path(__file__).resolve().parents[2]
PAPER_FIGURES = ["eigenvalue_dynamics", "eigenvalue_dynamics_relu", "probe_trajectories", "probe_trajectories_relu",
                 "fixed_points", "fixed_points_relu"]


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce") / "out"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "isodyn", "reproduce", "--quick", "--out", str(out), "--only",
                        ",".join(PAPER_FIGURES), "--jobs", "2"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    return out, r, time.perf_counter() - t0


@pytest.fixture(scope="session")
def quick_result(tmp_path_factory):
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            mod = importlib.import_module(f"isodyn.figures.{name}")
            out = tmp_path_factory.mktemp(name)
            cache[name] = (mod, mod.make(Context(out=out, quick=True)), out)
        return cache[name]

    return get
