"""``isodyn reproduce``: every theory figure and the reproduction report (issue 5; SPEC §5, §6).

    isodyn reproduce [--out DIR] [--quick] [--only NAMES] [--seed S] [--jobs J]

Writes DIR/figures/NAME.png and .pdf for every figure and DIR/report.md, DIR/report.html (self-contained).
Input is checked before any work: an unknown figure name in ``--only`` or an ``--out`` that cannot be
created and written ends with exit status 2 and one line.  The work itself is :mod:`figures.reproduce`
(this command is the top of the one-way flow, so it may call figures/).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from isodyn.dynamics.cli.common import UsageError, check_output, integer, seed


def _names(text):
    parts = [p.strip() for p in text.split(",")]
    if not parts or any(not p for p in parts):
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: comma-separated figure names")
    return list(dict.fromkeys(parts))


def add_parser(sub):
    p = sub.add_parser("reproduce", help="regenerate the paper's theory figures and the reproduction report",
                       description="Run every figure (the paper's theory figures and the ones beyond it) and write "
                       "report.md / report.html: each SPEC §6 claim with what isodyn measured and a verdict.")
    p.add_argument("--out", default="isodyn-output", help="output folder (default: isodyn-output/ in the cwd)")
    p.add_argument("--quick", action="store_true", help="fewer samples and steps (the report says so)")
    p.add_argument("--only", type=_names, action="append", default=None, metavar="NAMES",
                   help="comma-separated figure names (repeatable; default: all)")
    p.add_argument("--seed", type=seed(), default=0, help="base seed (default 0)")
    p.add_argument("--jobs", type=integer(lo=1, hi=64), default=None,
                   help="figures made at a time in worker processes (default: the number of CPUs)")


def run(args) -> int:
    from isodyn.figures import reproduce

    if args.only is not None:  # repeated --only accumulates (the names of every one, in order, once each)
        args.only = list(dict.fromkeys(name for names in args.only for name in names))
    # the folder first: checking it is cheap, importing the figure modules (for --only) is not; nothing is left
    # behind when a later check fails (check_output removes the folders it made for its probe)
    out = check_output("--out", args.out, folder=True)
    if (out / "figures").exists() and not (out / "figures").is_dir():
        raise UsageError(f"argument --out: {str(out / 'figures')!r} is a file; accepted: a folder whose figures/ "
                         "can be a folder")
    entries, skipped = reproduce.discover()
    try:
        reproduce.select(entries, args.only)
    except ValueError as e:
        raise UsageError(f"argument --only: {e}") from None
    jobs = args.jobs if args.jobs is not None else (os.cpu_count() or 1)
    command = "isodyn " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "isodyn reproduce"
    return reproduce.run(out, quick=args.quick, only=args.only, seed=args.seed, jobs=jobs, command=command,
                         entries=entries, skipped=skipped)
