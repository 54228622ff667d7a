"""``isodyn derive``: print a rule's derivation (Markdown or LaTeX).

The rendered text is cached next to the kernels (:func:`isodyn.dynamics.codegen.cache.derivation_text`),
so a second process does no symbolic work (it does not even import sympy).
"""

from __future__ import annotations

import sys

from isodyn.dynamics.cli.common import add_rule_flags, rule_from_args
from isodyn.dynamics.codegen.cache import derivation_text

__all__ = ["add_parser", "derivation_text", "run"]


def add_parser(sub):
    p = sub.add_parser(
        "derive",
        help="print how a rule turns into per-mode dynamics",
        description="Print the derivation of a rule: loss, gradient, eigenbasis form, expected "
        "mode map, ODE, fixed points and stability, weak-mode asymptotics.",
    )
    add_rule_flags(p)
    p.add_argument(
        "--closure",
        choices=("exact", "mean-field"),
        default=None,
        help="cosine closure of the expected map (default exact)",
    )
    p.add_argument("--format", choices=("markdown", "latex"), default="markdown")
    p.add_argument("--no-cache", action="store_true", help="derive afresh, ignoring the cache")


def run(args) -> int:
    from isodyn.dynamics.cli.common import UsageError

    rule = rule_from_args(args)
    if args.closure is not None and rule.metric != "cosine":
        raise UsageError("argument --closure: only for --metric cosine; accepted: {exact,mean-field}")
    closure = args.closure or "exact"
    sys.stdout.write(derivation_text(rule, closure, args.format, use_cache=not args.no_cache))
    return 0
