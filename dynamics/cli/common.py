"""The ``isodyn`` command line (ARCHITECTURE.md, "Command-line contract").

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module holds the shared flags, their validation and the
error convention: bad input ends with exit status 2 and one line
``isodyn: error: ...`` on stderr naming the flag and the accepted range.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from importlib import import_module

# modules dynamics.cmd_<name> ("-" -> "_"); a new subcommand appends its name here
SUBCOMMANDS = ("derive", "train", "sweep", "plot-sweep", "simulate", "bench", "validate", "reproduce")


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(message)


# --- typed flag values ------------------------------------------------------------------


def real(accepted: str = "a finite real", lo=None, lo_open=False, hi=None, hi_open=False):
    """argparse type: a finite float in a range; the error names what is accepted."""

    def parse(text):
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}") from None
        bad = not math.isfinite(x)
        bad |= lo is not None and (x < lo or (lo_open and x == lo))
        bad |= hi is not None and (x > hi or (hi_open and x == hi))
        if bad:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}")
        return x

    return parse


def integer(accepted: str = "an integer >= 1", lo: int = 1, hi: int | None = None):
    def parse(text):
        try:
            x = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}") from None
        if x < lo or (hi is not None and x > hi):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}")
        return x

    return parse


def real_list(accepted: str = "comma-separated positive reals", lo=0.0, lo_open=True, n: int | None = None):
    one = real(accepted, lo=lo, lo_open=lo_open)

    def parse(text):
        parts = [p for p in text.split(",")]
        if not parts or any(not p.strip() for p in parts) or (n is not None and len(parts) != n):
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}")
        try:
            return [one(p.strip()) for p in parts]
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}; accepted: {accepted}") from None

    return parse


# --- shared flag groups -------------------------------------------------------------------


def add_rule_flags(p):
    from isodyn.derivations import METRICS, VARIANTS

    g = p.add_argument_group("rule")
    g.add_argument("--metric", choices=METRICS, default="euclidean")
    g.add_argument("--variant", choices=VARIANTS, default="standard")
    g.add_argument(
        "--beta",
        type=real("a finite real"),
        default=None,
        help="IsoLoss-family exponent: online gradient W_P^beta dl/dp (overrides the variant's)",
    )
    g.add_argument("--alpha", type=real("a real >= 0", lo=0.0), default=1.0, help="predictor exponent")
    g.add_argument("--eps", type=real("a real >= 0", lo=0.0), default=0.0, help="predictor offset")
    g.add_argument("--normalize", action="store_true", help="lambda = (s / max s + eps)^alpha")


def add_training_flags(p, steps: int = 1500, lr: float | None = None):
    g = p.add_argument_group("training")
    g.add_argument("--sigma-online", type=real("a real >= 0", lo=0.0), default=0.0, help="sigma1")
    g.add_argument("--sigma-target", type=real("a real >= 0", lo=0.0), default=0.1, help="sigma2")
    g.add_argument("--weight-decay", type=real("a real >= 0", lo=0.0), default=0.0, help="gamma")
    g.add_argument(
        "--ema",
        type=real("a real in [0, 1)", lo=0.0, hi=1.0, hi_open=True),
        default=0.0,
        help="target EMA momentum tau (0 = no EMA)",
    )
    g.add_argument(
        "--lr",
        type=real("a real > 0", lo=0.0, lo_open=True),
        default=lr,
        help="learning rate eta (default: the paper's for the rule)",
    )
    g.add_argument("--steps", type=integer("an integer >= 1"), default=steps)
    g.add_argument("--seed", type=integer("an integer >= 0", lo=0), default=0)


def add_output_flags(p):
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else there")
    g.add_argument("--out", default=None, help="write results (.nc or .npz), atomically")


def rule_from_args(args):
    from isodyn.derivations import Rule, RuleError

    try:
        return Rule(
            args.metric,
            args.variant,
            beta=args.beta,
            alpha=args.alpha,
            eps=args.eps,
            normalize=args.normalize,
        )
    except RuleError as e:
        raise UsageError(f"argument {e.flag}: invalid value {e.value!r}; accepted: {e.accepted}") from None


def format_values(v) -> str:
    """A list of numbers for the one-screen reports: [0.1234, null, ...] (4 significant digits)."""
    return "[" + ", ".join("null" if x is None else f"{x:.4g}" for x in v) + "]"


def emit_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, allow_nan=False, default=_json_default) + "\n")


def _json_default(x):
    import numpy as np

    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(type(x))


# --- entry point ---------------------------------------------------------------------------


def build_parser():
    parser = _Parser(prog="isodyn", description="Eigenmode dynamics of non-contrastive SSL (SPEC.md).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    modules = {}
    for name in SUBCOMMANDS:
        mod = import_module(f"isodyn.dynamics.cli.{name.replace('-', '_')}")
        mod.add_parser(sub)
        modules[name] = mod
    return parser, modules


def main(argv=None) -> int:
    parser, modules = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(modules[args.command].run(args) or 0)
    except UsageError as e:
        sys.stderr.write(f"isodyn: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("isodyn: interrupted\n")
        return 130


if __name__ == "__main__":  # run the canonical module so exception classes match
    from isodyn.dynamics.cli.common import main as _main

    sys.exit(_main())
