"""Sweep execution (issue 6): local vs a real Dask LocalCluster, chunking independence, kill + resume.

Every comparison is ``xarray.testing.assert_identical`` on the written files: bit-equal values,
coordinates and attributes.  The spec draws random initial spectra (per-point seeds), so a point
that ran with another point's seed or in another order would show.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from interruptible import restore_sigint

from isodyn.dynamics.sweep.executors import LocalExecutor
from isodyn.dynamics.sweep.plan import plan_chunks
from isodyn.dynamics.sweep.run import run_sweep
from isodyn.dynamics.sweep.spec import parse_spec

ROOT = Path(__file__).resolve().parents[2]

SMALL = """
[run]
steps = 400
[fixed]
modes = 3
s0_family = "random"
s0_lo = 0.01
seed = 7
[axes]
variant = ["standard", "iso"]
lr = { logspace = [0.01, 0.3, 3] }
weight_decay = [0.0, 0.02, 0.3, 1.5]
"""


def _run(spec, out, **kw):
    run_sweep(spec, out, progress=False, **kw)
    return xr.load_dataset(out)


def test_small_sweep_is_labelled_and_right(tmp_path):
    spec = parse_spec(SMALL)
    ds = _run(spec, tmp_path / "a.nc")
    assert ds["outcome"].dims == ("variant", "lr", "weight_decay")
    assert ds["s_final"].dims == ("variant", "lr", "weight_decay", "mode")
    assert ds.attrs["modes"] == 3 and ds.attrs["isodyn_version"] and ds.attrs["run_steps"] == 400
    names = ds.attrs["outcomes"].split(",")
    # SPEC §4: every mode dies under the standard loss for weight decay > 1/4; IsoLoss keeps them to 1
    std, iso = ds.sel(variant="standard"), ds.sel(variant="iso")
    assert np.all(std["collapsed"].sel(weight_decay=0.3, lr=0.3) == 1)
    assert np.all(iso["collapsed"].sel(weight_decay=[0.0, 0.02, 0.3], lr=0.3) == 0)
    assert np.all(iso["outcome"].sel(weight_decay=1.5, lr=[0.1, 0.3], method="nearest") == names.index("collapsed"))
    # the initial spectra differ between points (per-point seeds) and are the same across variants
    s0 = ds["s0"].values
    assert not np.array_equal(s0[0, 0, 0], s0[0, 0, 1])
    assert not (tmp_path / "a.nc.parts").exists()


def test_chunking_does_not_change_results(tmp_path):
    spec = parse_spec(SMALL)
    a = _run(spec, tmp_path / "a.nc", chunk_size=1)
    b = _run(spec, tmp_path / "b.nc", chunk_size=7)
    xr.testing.assert_identical(a, b)


def test_local_and_dask_local_cluster_identical(tmp_path):
    distributed = pytest.importorskip("distributed")
    from isodyn.dynamics.sweep.executors import DaskExecutor

    spec = parse_spec(SMALL)
    local = _run(spec, tmp_path / "local.nc", executor=LocalExecutor())
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=40) as cluster:
        ex = DaskExecutor(cluster.scheduler_address, timeout=20)
        try:
            assert len(ex.client.nthreads()) == 2
            dask = _run(spec, tmp_path / "dask.nc", executor=ex, chunk_size=3)
            workers = ex.client.run(os.getpid)
        finally:
            ex.close()
    assert len(set(workers.values()) | {os.getpid()}) == 3  # two worker processes besides this one
    xr.testing.assert_identical(local, dask)


def _cli(*args):
    return [sys.executable, "-m", "isodyn", "sweep", *map(str, args)]


def test_killed_sweep_resumes_to_identical_dataset(tmp_path):
    """SIGKILL a CLI sweep after a few chunks are on disk, resume with --resume, compare with a clean run."""
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(SMALL.replace("steps = 400", "steps = 1000000"))
    spec = parse_spec(spec_path.read_text())
    chunks = plan_chunks(spec, 1)
    out = tmp_path / "r.nc"
    parts = tmp_path / "r.nc.parts"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_cli(spec_path, "--out", out, "--chunk-size", 1, "--no-progress"), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t0 = time.monotonic()
    try:
        while len(list(parts.glob("chunk-*.npz"))) < 3:
            assert proc.poll() is None, "sweep ended before it could be interrupted"
            assert time.monotonic() - t0 < 60
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    n_before = len(list(parts.glob("chunk-*.npz")))
    assert 3 <= n_before < len(chunks) and not out.exists()

    # without --resume the parts are refused (exit 2, one line), with it the rest runs
    r = subprocess.run(_cli(spec_path, "--out", out, "--chunk-size", 1), env=env, cwd=ROOT, capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--resume" in r.stderr
    r = subprocess.run(_cli(spec_path, "--out", out, "--chunk-size", 1, "--resume", "--json", "--no-progress"),
                       env=env, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    import json

    summary = json.loads(r.stdout)
    assert summary["chunks_found"] == n_before and summary["chunks_run"] == len(chunks) - n_before
    resumed = xr.load_dataset(out)

    clean = _run(spec, tmp_path / "clean.nc", chunk_size=5)
    assert "--resume" in resumed.attrs.pop("history")  # the command differs (CF history); nothing else may
    clean.attrs.pop("history")
    xr.testing.assert_identical(resumed, clean)


def test_sigint_leaves_resumable_parts(tmp_path):
    """Ctrl-C: exit status 130 and one line; the finished chunks are kept and --resume completes."""
    spec_path = tmp_path / "s.toml"
    spec_path.write_text(SMALL.replace("steps = 400", "steps = 1000000"))
    out = tmp_path / "r.nc"
    parts = tmp_path / "r.nc.parts"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_cli(spec_path, "--out", out, "--chunk-size", 1, "--no-progress"), env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=restore_sigint)
    t0 = time.monotonic()
    while not list(parts.glob("chunk-*.npz")):
        assert proc.poll() is None and time.monotonic() - t0 < 60
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip().splitlines() == ["isodyn: interrupted"]
    r = subprocess.run(_cli(spec_path, "--out", out, "--chunk-size", 1, "--resume", "--no-progress"), env=env,
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert xr.load_dataset(out)["outcome"].min() >= 0


def test_scheduler_without_workers_is_a_usage_error():
    distributed = pytest.importorskip("distributed")
    from isodyn.dynamics.sweep.executors import DaskExecutor, SchedulerError

    with distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1", dashboard_address=None,
                                  silence_logs=40) as cluster:
        with pytest.raises(SchedulerError, match="no worker"):
            DaskExecutor(cluster.scheduler_address, timeout=1)
