"""``isodyn bench [--json] [--quick] [--only GROUP]``: performance rows against their baselines.

Groups come from the registry in :mod:`isodyn.dynamics.bench.registry` (later issues register theirs).  The
table shows, per row, our figure, the baseline's, and the median ratio of side-by-side runs.
"""

from __future__ import annotations

import sys

from isodyn.dynamics.cli.common import UsageError, emit_json


def add_parser(sub):
    from isodyn.dynamics.bench.registry import groups

    p = sub.add_parser("bench", help="performance table against the baselines named in the issues",
                       description="Benchmark rows, each with its baseline and the median ratio of side-by-side runs.")
    p.add_argument("--json", action="store_true", help="machine-readable rows on stdout, nothing else there")
    p.add_argument("--quick", action="store_true", help="smaller problems (a smoke test of the rows)")
    p.add_argument("--check", action="store_true", help="exit status 1 when a row misses its goal")
    p.add_argument("--only", action="append", default=None, metavar="GROUP",
                   help="run only this group (repeatable): " + ", ".join(groups()))
    return p


def run(args) -> int:
    from isodyn.dynamics.bench.registry import groups, meets_goal, run_group

    names = args.only or groups()
    unknown = [n for n in names if n not in groups()]
    if unknown:
        raise UsageError(f"argument --only: invalid value {unknown[0]!r}; accepted: one of {', '.join(groups())}")
    rows = []
    for name in names:
        if not args.json:
            sys.stderr.write(f"isodyn bench: running {name} ...\n")
        rows += run_group(name, args.quick)
    for r in rows:
        r["meets_goal"] = meets_goal(r)
    missed = [r["name"] for r in rows if r["meets_goal"] is False]
    if args.json:
        emit_json({"rows": rows, "missed": missed})
    else:
        for r in rows:
            print(f"{r['name']}" + ("   ** MISSES ITS GOAL **" if r["meets_goal"] is False else ""))
            if r.get("skipped"):
                print(f"    {r['note']}")
                continue
            print(f"    ours {r['value']:.4g} {r['unit']}   baseline {r['baseline_value']:.4g} ({r['baseline']})")
            print(f"    median ratio {r['ratio']:.3g} over {r['runs']} runs   goal {r['goal']}   {r.get('note', '')}")
        if missed:
            sys.stderr.write(f"isodyn bench: {len(missed)} row(s) miss their goal\n")
    return 1 if (args.check and missed) else 0
