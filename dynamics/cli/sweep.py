"""``isodyn sweep SPEC.toml --out FILE.nc [--scheduler ADDRESS] [--resume]``: parameter-space sweeps.

Order of events: the spec is read and checked, the output path and the scheduler are checked
(an unreachable scheduler ends here), and only then does any point run.  Each of these failures
is exit status 2 and one line naming the key or flag.  See :mod:`isodyn.dynamics.sweep.spec` for the spec
format and :mod:`isodyn.dynamics.sweep` for execution.
"""

from __future__ import annotations

import sys

from isodyn.dynamics.cli.common import check_output, integer, real


def add_parser(sub):
    p = sub.add_parser(
        "sweep",
        help="parameter-space exploration from a TOML spec",
        description="Run every point of a TOML sweep spec (rules x parameter axes) through the batched "
        "mode-dynamics integrator and write one labelled netCDF dataset. Locally on all cores by default; "
        "on Dask with --scheduler. Interrupted sweeps continue with --resume.",
    )
    p.add_argument("spec", metavar="SPEC.toml", help="sweep specification (see examples/)")
    p.add_argument("--out", required=True, help="output dataset (.nc); chunk parts go to OUT.parts/ until merged")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run chunks as Dask tasks: tcp://HOST:PORT of a running scheduler, or local:N for a "
        "LocalCluster of N worker processes (needs the 'dist' extra)",
    )
    p.add_argument("--scheduler-timeout", type=real(lo=0.0, lo_open=True), default=10.0,
                   help="seconds to wait for the scheduler (default 10)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted sweep from OUT.parts/")
    p.add_argument("--chunk-size", type=integer("an integer in [1, 10**6]", hi=10**6), default=None,
                   help="points per compiled call (default: the spec's run.chunk_size, else automatic)")
    p.add_argument("--keep-parts", action="store_true", help="keep OUT.parts/ after the merge")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="one JSON summary object on stdout")


def run(args) -> int:
    from isodyn.derivations.checks import InputError
    from isodyn.dynamics.cli.common import UsageError, emit_json
    from isodyn.dynamics.sweep.executors import SchedulerError, executor_for
    from isodyn.dynamics.sweep.run import run_sweep
    from isodyn.dynamics.sweep.spec import load_spec
    from isodyn.dynamics.sweep.store import StoreError

    try:
        spec = load_spec(args.spec)
    except InputError as e:
        raise UsageError(f"{args.spec}: {e}") from None
    out = check_output("--out", args.out, (".nc",))
    try:
        executor = executor_for(args.scheduler, args.scheduler_timeout)
    except SchedulerError as e:
        raise UsageError(str(e)) from None
    import time

    t0, stats = time.perf_counter(), {}
    try:
        ds = run_sweep(spec, out, executor=executor, resume=args.resume, chunk_size=args.chunk_size,
                       progress=not args.no_progress, keep_parts=args.keep_parts, stats=stats)
    except StoreError as e:
        raise UsageError(str(e)) from None
    finally:
        executor.close()
    seconds = time.perf_counter() - t0
    counts = {name: int((ds["outcome"] == code).sum()) for code, name in enumerate(ds.attrs["outcomes"].split(","))}
    summary = {"out": str(out), "points": spec.n_points, **stats, "dims": dict(ds.sizes), "outcomes": counts,
               "seconds": seconds, "scheduler": executor.name,
               "spec_digest": spec.digest}
    if args.json:
        emit_json(summary)
    else:
        sys.stderr.write(f"isodyn sweep: {spec.n_points} points in {seconds:.2f} s -> {out} "
                         f"({', '.join(f'{k} {v}' for k, v in counts.items())})\n")
    return 0
