"""Benchmark rows of issue 6: sweep throughput locally and on a 2-worker Dask LocalCluster.

The sweep: 10^4 Euclidean points (standard rule, learning rate x weight decay, 100 x 100),
M = 10 modes, 10^4 steps of the expected-GD map, summary measures only.  Rows:

* ``sweep local``: points per second of ``run_sweep`` in this process (all cores), against the same
  chunks' bare :func:`isodyn.dynamics.modes.simulation.simulate_batch` calls (what translation, storage and the
  merge cost);
* ``sweep dask local:2``: the same sweep as Dask tasks on a LocalCluster of 2 single-threaded
  worker processes (cluster started and kernels loaded on the workers before the clock starts;
  the start-up time is reported apart), and its overhead against local: t_dask / t_local - 1
  (goal < 20%).

Runs alternate bare / local / dask ``reps`` times and report medians (the machine may be shared).
Registered as the ``isodyn bench`` group ``sweep`` (:func:`bench_rows`).

    python -m isodyn.dynamics.bench.sweep [--reps R] [--points N] [--json FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: the local sweep's throughput against its bare simulate_batch calls
LOCAL_GOAL = 0.8
GOAL_OVERHEAD = 0.20


def bench_spec(points: int = 10_000, steps: int = 10_000, modes: int = 10):
    from isodyn.dynamics.sweep.spec import parse_spec

    side = int(round(points**0.5))
    return parse_spec(f"""
[run]
steps = {steps}
[fixed]
metric = "euclidean"
variant = "standard"
modes = {modes}
s0_lo = 0.01
[axes]
lr = {{ logspace = [1e-3, 0.1, {side}] }}
weight_decay = {{ linspace = [0.0, 0.3, {side}] }}
""")


def _time_sweep(spec, out, ex) -> float:
    from isodyn.dynamics.sweep.run import run_sweep

    t = time.perf_counter()
    run_sweep(spec, out, executor=ex, progress=False)
    return time.perf_counter() - t


def rows(reps: int = 2, points: int = 10_000, steps: int = 10_000, workers: int = 2) -> list[dict]:
    """Registry rows (see isodyn.dynamics.bench.registry): ``sweep local`` against the chunks' bare simulate_batch
    calls (the sweep machinery's own cost), ``sweep dask`` against ``sweep local``."""
    import numba
    import xarray as xr

    from isodyn.dynamics.modes.simulation import simulate_batch
    from isodyn.dynamics.sweep.executors import DaskExecutor, LocalExecutor, compute_chunk
    from isodyn.dynamics.sweep.plan import plan_chunks
    from isodyn.dynamics.sweep.points import arguments

    spec = bench_spec(points, steps)
    compute_chunk(spec, [0])  # compile / load kernels here
    calls = [arguments(spec, c.index) for c in plan_chunks(spec)]
    with tempfile.TemporaryDirectory() as tmp:  # first-use costs (netCDF writer, imports) off the clock
        _time_sweep(bench_spec(16, 10), Path(tmp) / "warm.nc", LocalExecutor())
    dask = None
    if importlib.util.find_spec("distributed") is not None:
        t0 = time.perf_counter()
        dask = DaskExecutor(f"local:{workers}")
        dask.client.run(lambda: compute_chunk(spec, [0], threads=1))  # load kernels on every worker
        startup = time.perf_counter() - t0
    t_bare, t_local, t_dask = [], [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(reps):
                t = time.perf_counter()
                for rule, s0, kw in calls:
                    simulate_batch(rule, s0, **kw)
                t_bare.append(time.perf_counter() - t)
                t_local.append(_time_sweep(spec, Path(tmp) / f"local{r}.nc", LocalExecutor()))
                if dask is not None:
                    t_dask.append(_time_sweep(spec, Path(tmp) / f"dask{r}.nc", dask))
            a = xr.load_dataset(Path(tmp) / "local0.nc")
            if dask is not None:
                xr.testing.assert_identical(a, xr.load_dataset(Path(tmp) / "dask0.nc"))
            resolution = a.attrs["recruit_resolution"]
    finally:
        if dask is not None:
            dask.close()
    n, M = spec.n_points, spec.max_modes
    tb, tl = statistics.median(t_bare), statistics.median(t_local)
    size = f"{n} points euclidean/standard M={M} x {steps} steps map"
    dask_name = f"sweep dask local:{workers}, {size}"
    goal = f"overhead < {100 * GOAL_OVERHEAD:.0f}% (ratio > {1 / (1 + GOAL_OVERHEAD):.2f})"
    if dask is None:
        dask_row = {"name": dask_name, "value": None, "unit": "points/s", "baseline": "sweep local",
                    "baseline_value": n / tl, "ratio": None, "runs": 0, "goal": goal, "skipped": True,
                    "note": "skipped: dask.distributed is not installed (extra 'dist')"}
    else:
        td = statistics.median(t_dask)
        overhead = td / tl - 1
        dask_row = {
            "name": dask_name, "value": n / td, "unit": "points/s",
            "baseline": "sweep local, same run, same cores", "baseline_value": n / tl,
            "ratio": statistics.median([x / y for x, y in zip(t_local, t_dask)]), "runs": reps, "goal": goal,
            "goal_ratio": 1 / (1 + GOAL_OVERHEAD),
            "note": f"overhead {100 * overhead:+.1f}% ({'meets' if overhead < GOAL_OVERHEAD else 'misses'} the "
                    f"goal); {workers} single-threaded workers; cluster start {startup:.1f} s not counted; "
                    "datasets identical to local"}
    return [
        {"name": f"sweep local, {size}", "value": n / tl, "unit": "points/s",
         "baseline": "the chunks' bare simulate_batch calls (no storage, no merge)", "baseline_value": n / tb,
         "ratio": statistics.median([b / x for b, x in zip(t_bare, t_local)]), "runs": reps,
         "goal": f"ratio near 1 (chunking, storage and merge cheap: >= {LOCAL_GOAL:g})", "goal_ratio": LOCAL_GOAL,
         "note": f"{numba.get_num_threads()} threads; {tl / (n * M * steps) * numba.get_num_threads() * 1e9:.1f} "
                 f"ns/mode-step/thread; recruitment resolution {resolution} steps"},
        dask_row,
    ]


def bench_rows(quick: bool = False) -> list[dict]:
    """``isodyn bench`` group ``sweep``: 10^4 points x 10^4 steps (quick: 64 points x 1000 steps)."""
    if quick:
        return rows(reps=1, points=64, steps=1000)
    return rows(reps=3)


def format_rows(rs) -> str:
    return "\n".join(f"{r['name']:<70} {r['value']:10.0f} {r['unit']}  baseline {r['baseline_value']:10.0f}  "
                     f"ratio {r['ratio']:.3f}  {r['note']}" for r in rs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m isodyn.dynamics.bench.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--json", default=None, help="also write the rows to this JSON file")
    a = p.parse_args(argv)
    rs = rows(a.reps, a.points, a.steps)
    sys.stdout.write(format_rows(rs) + "\n")
    if a.json:
        Path(a.json).write_text(json.dumps(rs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
