"""``isodyn validate``: sampled linear training against the mode equations (issue 4, item 5; SPEC §4, §6.7).

Runs the matrix metric x variant x M (and EMA on, sigma1 > 0) of :mod:`isodyn.dynamics.network.validation`, prints
the table (largest |ds| per case, the sampling error at that n, the tolerance derived from it,
pass / fail) and the mean-field closure's error against M.  ``--out FILE`` saves the table
atomically (Markdown, or JSON when FILE ends in .json) and the figure next to it (FILE's stem +
.png / .pdf; ``--figure STEM`` elsewhere); ``--json`` prints the JSON on stdout (nothing else).
Exit status 0 when every case passes or its failure is explained, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from isodyn.dynamics.cli.common import UsageError, check_output, emit_json, integer, seed


def _csv(choices, flag):
    def parse(text):
        import argparse

        parts = [p.strip() for p in text.split(",")]
        if not parts or any(p not in choices for p in parts):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: comma-separated from "
                                             f"{{{','.join(choices)}}}")
        return tuple(dict.fromkeys(parts))

    return parse


def _modes(text):
    import argparse

    from isodyn.derivations.checks import InputError, Integer

    one = Integer(lo=1, hi=200)
    try:
        return tuple(dict.fromkeys(one.parse("--modes", p) for p in text.split(",")))
    except InputError:
        raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: comma-separated integers in "
                                         f"[{one.lo}, {one.hi}]") from None


def add_parser(sub):
    from isodyn.derivations import METRICS, VARIANTS
    from isodyn.dynamics.network.validation import DEFAULT_SETTINGS, MODES, SETTINGS

    p = sub.add_parser("validate", help="sampled linear training vs the mode equations (a table and a figure)",
                       description="Check the mode equations (SPEC §4) against sampled linear training: "
                       "metric x variant x M, EMA on/off, sigma1 > 0; tolerance from the seed-to-seed spread.")
    p.add_argument("--metrics", type=_csv(METRICS, "--metrics"), default=METRICS, help="default: both")
    p.add_argument("--variants", type=_csv(VARIANTS, "--variants"), default=VARIANTS, help="default: all five")
    p.add_argument("--modes", type=_modes, default=MODES, help="comma-separated M (default 2,5,10,50)")
    p.add_argument("--settings", type=_csv(SETTINGS, "--settings"), default=DEFAULT_SETTINGS,
                   help="plain, ema (tau = 0.9), sigma1 (= 0.3) (the default: these three); trained (a trained "
                        "predictor started aligned, SPEC §7) and unaligned (started at a random W_P), M <= 10")
    p.add_argument("--seeds", type=integer(lo=3, hi=64), default=4,
                   help="K repeated seeds per case (the sampling error comes from their spread)")
    p.add_argument("--seed", type=seed(), default=0, help="base seed")
    p.add_argument("--quick", action="store_true", help="fewer steps and samples (a smoke test)")
    p.add_argument("--jobs", type=integer(lo=1, hi=64), default=None,
                   help="worker processes (default: min(2, CPUs))")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else there")
    p.add_argument("--out", default=None, help="save the table (.md/.txt Markdown, .json JSON), atomically")
    p.add_argument("--figure", default=None, help="figure path stem (STEM.png, STEM.pdf); default: next to --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return p


def run(args) -> int:
    from isodyn.dynamics.files import atomic_write
    from isodyn.dynamics.network import validation as V

    if args.out is not None:
        check_output("--out", args.out, (".md", ".txt", ".json"))
    if args.figure is not None:  # a stem: STEM.png and STEM.pdf are written
        check_output("--figure", args.figure + ".png", (".png",))
    elif args.out is not None:
        check_output("--out", str(Path(args.out).with_suffix("")) + ".png", (".png",))
    cases = V.matrix(args.metrics, args.variants, args.modes, args.quick, args.settings)
    if not cases:
        raise UsageError("argument --settings: no case selected; accepted: a selection with at least one case")
    jobs = args.jobs or max(1, min(2, os.cpu_count() or 1))
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(cases), desc="isodyn validate", unit="case", file=sys.stderr, leave=False)
    t0 = time.perf_counter()
    try:
        results = V.run_matrix(cases, K=args.seeds, seed=args.seed, jobs=jobs,
                               progress=(lambda label: bar.update(1)) if bar is not None else None)
    finally:
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t0
    table = V.format_table(results, args.seeds)
    data = V.to_json(results, args.seeds, args.seed, seconds)
    data["quick"] = bool(args.quick)
    if args.out is not None:
        import json

        text = json.dumps(data, allow_nan=False, default=float) if args.out.endswith(".json") else table
        atomic_write(Path(args.out), text.encode())
    stem = args.figure or (str(Path(args.out).with_suffix("")) if args.out else None)
    files = []
    if stem is not None:
        from isodyn.figures.fig_validation import plot_validation

        files = plot_validation(results, stem)
    if args.json:
        data["figure"] = [str(f) for f in files]
        emit_json(data)
    else:
        sys.stdout.write(table)
        sys.stdout.write(f"\n{seconds:.1f} s, K = {args.seeds} seeds, base seed {args.seed}, {jobs} process(es)"
                         + (" (quick)" if args.quick else "") + "\n")
        for f in ([args.out] if args.out else []) + [str(f) for f in files]:
            sys.stdout.write(f"wrote {f}\n")
    ok = all(r.status in ("pass", "explained") for r in results)
    return 0 if ok else 1
