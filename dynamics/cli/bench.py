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
    p.add_argument("--only", action="append", default=None, metavar="GROUP",
                   help="run only this group (repeatable): " + ", ".join(groups()))
    return p


def run(args) -> int:
    from isodyn.dynamics.bench.registry import groups, run_group

    names = args.only or groups()
    unknown = [n for n in names if n not in groups()]
    if unknown:
        raise UsageError(f"argument --only: invalid value {unknown[0]!r}; accepted: one of {', '.join(groups())}")
    rows = []
    for name in names:
        if not args.json:
            sys.stderr.write(f"isodyn bench: running {name} ...\n")
        rows += run_group(name, args.quick)
    if args.json:
        emit_json({"rows": rows})
        return 0
    for r in rows:
        print(f"{r['name']}")
        if r.get("skipped"):
            print(f"    {r['note']}")
            continue
        print(f"    ours {r['value']:.4g} {r['unit']}   baseline {r['baseline_value']:.4g} ({r['baseline']})")
        print(f"    median ratio {r['ratio']:.3g} over {r['runs']} runs   goal {r['goal']}   {r.get('note', '')}")
    return 0
