"""Benchmark rows of issue 6: sweep throughput locally and on a 2-worker Dask LocalCluster.

The sweep: 10^4 Euclidean points (standard rule, learning rate x weight decay, 100 x 100),
M = 10 modes, 10^4 steps of the expected-GD map, summary measures only.  Rows:

* ``sweep local``: points per second of ``run_sweep`` in this process (numba threads = cores);
* ``sweep dask local:2``: the same sweep as Dask tasks on a LocalCluster of 2 single-threaded
  worker processes (cluster started and kernels loaded on the workers before the clock starts;
  the start-up time is reported apart), and its overhead against local: t_dask / t_local - 1
  (goal < 20%).

Runs alternate local / dask ``reps`` times and report medians (the machine may be shared).

    python -m dynamics.sweep_bench [--reps R] [--points N] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

GOAL_OVERHEAD = 0.20


def bench_spec(points: int = 10_000, steps: int = 10_000, modes: int = 10):
    from .sweep_spec import parse_spec

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


def rows(reps: int = 2, points: int = 10_000, steps: int = 10_000, workers: int = 2) -> list[dict]:
    import numba
    import xarray as xr

    from .sweep import DaskExecutor, LocalExecutor, compute_chunk, run_sweep

    spec = bench_spec(points, steps)
    compute_chunk(spec, [0])  # compile / load kernels here
    t0 = time.perf_counter()
    dask = DaskExecutor(f"local:{workers}")
    dask.client.run(lambda: compute_chunk(spec, [0], threads=1))  # load kernels on every worker
    startup = time.perf_counter() - t0
    t_local, t_dask = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(reps):
                for name, ex, times in (("local", LocalExecutor(), t_local), ("dask", dask, t_dask)):
                    out = Path(tmp) / f"{name}{r}.nc"
                    t = time.perf_counter()
                    run_sweep(spec, out, executor=ex, progress=False)
                    times.append(time.perf_counter() - t)
            a, b = (xr.load_dataset(Path(tmp) / f"{k}0.nc") for k in ("local", "dask"))
            xr.testing.assert_identical(a, b)
    finally:
        dask.close()
    n = spec.n_points
    tl, td = statistics.median(t_local), statistics.median(t_dask)
    overhead = td / tl - 1
    common = {"points": n, "modes": spec.max_modes, "steps": spec.run["steps"], "reps": reps}
    return [
        {"row": "sweep local", "points_per_s": n / tl, "seconds": tl, "threads": numba.get_num_threads(), **common,
         "baseline": "none (throughput)"},
        {"row": f"sweep dask local:{workers}", "points_per_s": n / td, "seconds": td, "workers": workers,
         "cluster_startup_s": startup, "overhead_vs_local": overhead, "goal_overhead": GOAL_OVERHEAD,
         "meets_goal": overhead < GOAL_OVERHEAD, "identical_to_local": True, **common,
         "baseline": "sweep local, same run, same cores"},
    ]


def format_rows(rs) -> str:
    lines = []
    for r in rs:
        extra = ""
        if "overhead_vs_local" in r:
            extra = (f"  overhead {100 * r['overhead_vs_local']:+.1f}% (goal < {100 * r['goal_overhead']:.0f}%), "
                     f"cluster start {r['cluster_startup_s']:.1f} s")
        lines.append(f"{r['row']:<22} {r['points_per_s']:10.0f} points/s  ({r['points']} points, M = {r['modes']}, "
                     f"{r['steps']} steps, {r['seconds']:.2f} s){extra}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m dynamics.sweep_bench", description=__doc__.splitlines()[0])
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
