"""``isodyn bench --quick --json``: the registry holds the rows of issues 3, 4 and 6, every row has the
registry's fields, a CuPy row without CuPy is a skipped row (not a crash).

Runs the cheap groups (sweep: a 64-point sweep locally and on a 2-worker LocalCluster; network;
network-cupy) in a subprocess, about 15 s on 2 cores; the simulator group (about 20 s in quick mode)
is only checked to be registered.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from isodyn.dynamics.bench.registry import groups

ROOT = Path(__file__).resolve().parents[2]
FIELDS = ("name", "value", "unit", "baseline", "baseline_value", "ratio", "runs", "goal", "note", "group")
CHEAP = ("sweep", "network", "network-cupy")


def test_groups_registered():
    assert {"simulator", *CHEAP} <= set(groups())


@pytest.fixture(scope="module")
def rows():
    pytest.importorskip("distributed")
    cmd = [sys.executable, "-m", "isodyn", "bench", "--quick", "--json"]
    for g in CHEAP:
        cmd += ["--only", g]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)["rows"]  # stdout is one JSON document, nothing else


def test_rows_have_the_registry_fields(rows):
    assert {r["group"] for r in rows} == set(CHEAP)
    for r in rows:
        assert all(k in r for k in FIELDS), (r["name"], [k for k in FIELDS if k not in r])
        assert isinstance(r["name"], str) and r["unit"] and r["baseline"] and r["goal"]
        if r.get("skipped"):
            assert r["value"] is None and r["ratio"] is None and r["note"].startswith("skipped:")
            continue
        for k in ("value", "baseline_value", "ratio"):
            assert isinstance(r[k], (int, float)) and math.isfinite(r[k]) and r[k] > 0, (r["name"], k, r[k])
        assert isinstance(r["runs"], int) and r["runs"] >= 1


def test_sweep_rows(rows):
    sweep = [r for r in rows if r["group"] == "sweep"]
    assert len(sweep) == 2 and all(r["unit"] == "points/s" for r in sweep)
    local, dask = sweep
    assert local["name"].startswith("sweep local") and dask["name"].startswith("sweep dask local:2")
    assert dask["baseline_value"] == pytest.approx(local["value"])  # dask is measured against local
    assert "identical" in dask["note"]


def test_cupy_row_is_a_result_either_way(rows):
    from isodyn.dynamics.network.backends import cupy_status

    cupy = [r for r in rows if r["group"] == "network-cupy"]
    assert cupy
    ok, why = cupy_status()
    assert all(bool(r.get("skipped")) == (not ok) for r in cupy)
    if not ok:
        assert why in cupy[0]["note"]


def test_trained_predictor_row(rows):
    """issue 13: the sampled step with a trained predictor against the closed-form step, side by side."""
    trained = [r for r in rows if r["group"] == "network" and "trained predictor vs closed-form" in r["name"]]
    assert len(trained) == 2  # quick: Euclidean, inputs and moments samplers
    for r in trained:
        assert r["unit"] == "ms/step" and r["baseline"].startswith("closed-form predictor step")
