"""``isodyn plot-sweep FILE --x AXIS --y AXIS [--color MEASURE] [--facet AXIS]``: phase diagrams.

Reads a dataset written by ``isodyn sweep``; axes other than x, y and facet must have one value
or be fixed with ``--sel AXIS=VALUE`` (nearest value).  Draws with :mod:`figures.phase_diagram`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from isodyn.dynamics.cli.common import check_output, integer

NON_AXES = ("mode", "step")
#: the figure formats --out takes
FORMATS = (".png", ".pdf", ".svg")


def add_parser(sub):
    p = sub.add_parser(
        "plot-sweep",
        help="phase diagrams of a sweep dataset",
        description="Outcome maps and measure heat maps over two sweep axes, one panel per value of "
        "--facet, with the weight-decay survival threshold of derivations/ overlaid where it exists.",
    )
    p.add_argument("file", metavar="FILE", help="dataset written by isodyn sweep (.nc)")
    p.add_argument("--x", required=True, metavar="AXIS")
    p.add_argument("--y", required=True, metavar="AXIS")
    p.add_argument("--color", default="outcome", metavar="MEASURE", help="variable to colour by (default outcome)")
    p.add_argument("--facet", default=None, metavar="AXIS", help="one panel per value of this axis")
    p.add_argument("--sel", action="append", default=[], metavar="AXIS=VALUE",
                   help="fix another axis at (the nearest) value; repeatable")
    p.add_argument("--mode", type=integer(lo=0), default=0,
                   help="mode of a per-mode measure (0 = weakest initial mode)")
    p.add_argument("--no-theory", action="store_true", help="do not overlay theory boundaries")
    p.add_argument("--out", default=None, help="figure path (.png or .pdf; default FILE_COLOR_X_Y.png)")


def _select(ds, sels, keep, UsageError):
    import numpy as np

    axes = [d for d in ds.dims if d not in NON_AXES]
    for s in sels:
        name, sep, value = s.partition("=")
        if not sep or name not in axes or name in keep:
            raise UsageError(f"argument --sel: invalid value {s!r}; accepted: AXIS=VALUE with AXIS one of "
                             f"{', '.join(a for a in axes if a not in keep)}")
        coord = ds[name].values
        if coord.dtype.kind in "fiu":
            try:
                v = float(value)
            except ValueError:
                raise UsageError(f"argument --sel: invalid value {s!r}; accepted: a number for axis {name}") from None
            ds = ds.isel({name: int(np.argmin(np.abs(coord.astype(float) - v)))})
        else:
            if value not in [str(c) for c in coord]:
                raise UsageError(f"argument --sel: invalid value {s!r}; accepted: {name} one of "
                                 f"{', '.join(str(c) for c in coord)}")
            ds = ds.isel({name: [str(c) for c in coord].index(value)})
    left = [d for d in ds.dims if d not in NON_AXES and d not in keep and ds.sizes[d] > 1]
    if left:
        raise UsageError(f"argument --sel: axis {left[0]!r} has {ds.sizes[left[0]]} values; accepted: "
                         f"--sel {left[0]}=VALUE for every axis other than --x/--y/--facet")
    return ds.squeeze([d for d in ds.dims if d not in NON_AXES and d not in keep])


def run(args) -> int:
    from isodyn.dynamics.cli.common import UsageError

    path = Path(args.file)
    if args.out is not None:  # a path given is checked before the dataset is read (the default needs --color)
        check_output("--out", args.out, FORMATS)
    try:
        import xarray as xr

        ds = xr.load_dataset(path)
    except (OSError, ValueError) as e:
        raise UsageError(f"argument FILE: cannot read {args.file!r} ({e.__class__.__name__}); accepted: a .nc "
                         "dataset written by isodyn sweep") from None
    from isodyn.dynamics.sweep.points import RENAMED, current_names

    ds = current_names(ds)  # a file written before this release: its variables under the current names
    args.color = RENAMED.get(args.color, args.color)  # ... and the old names accepted for --color
    if "outcome" not in ds:
        raise UsageError(f"argument FILE: {args.file!r} is not a sweep dataset (no 'outcome'); accepted: a .nc "
                         "dataset written by isodyn sweep")
    axes = [d for d in ds.dims if d not in NON_AXES]
    for flag, name in (("--x", args.x), ("--y", args.y), ("--facet", args.facet)):
        if name is not None and name not in axes:
            raise UsageError(f"argument {flag}: invalid value {name!r}; accepted: one of {', '.join(axes)}")
    keep = [args.x, args.y] + ([args.facet] if args.facet else [])
    if len(set(keep)) != len(keep):
        raise UsageError(f"argument --y: the same axis as --x or --facet ({args.y!r}); accepted: three different axes")
    measures = [k for k, v in ds.data_vars.items() if "step" not in v.dims]
    if args.color not in measures:
        raise UsageError(f"argument --color: invalid value {args.color!r}; accepted: one of {', '.join(measures)}")
    if "mode" in ds[args.color].dims and args.mode >= ds.sizes["mode"]:
        raise UsageError(f"argument --mode: invalid value {args.mode}; accepted: an integer in "
                         f"[0, {ds.sizes['mode'] - 1}]")
    out = check_output("--out", args.out or path.with_name(f"{path.stem}_{args.color}_{args.x}_{args.y}.png"),
                       FORMATS)
    ds = _select(ds, args.sel, keep, UsageError)

    from isodyn.figures.phase_diagram import phase_diagram
    from isodyn.figures.style import save

    fig = phase_diagram(ds, args.x, args.y, color=args.color, facet=args.facet, mode=args.mode,
                        theory=not args.no_theory)
    written = save(fig, out.with_suffix(""), formats=(out.suffix[1:],))
    sys.stderr.write(f"isodyn plot-sweep: wrote {', '.join(map(str, written))}\n")
    return 0
