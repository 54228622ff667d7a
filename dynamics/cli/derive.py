"""``isodyn derive``: print a rule's derivation (Markdown for GitHub, a LaTeX document, a Beamer deck).

Numbers: when any of --alpha --eps --beta --sigma-online --sigma-target --weight-decay --ema --lr is given,
every number is substituted (the ones not given at their defaults, marked so: the paper's learning rate for
the rule, sigma2 = 0.1, the rest 0 or 1 as in ``simulate``) and the document shows the fixed points as
numbers, their stability in words and the recruitment times next to the symbolic forms.  Without any, the
derivation is symbolic only.

The rendered text is cached next to the kernels (:func:`isodyn.dynamics.codegen.cache.derivation_text`)
under a key of everything that changes it (the rule with its
numbers, which numbers were given, the closure, the format, --fragment and the hash of the derivations/
sources), as {sha256, text}: a damaged entry is derived again.  A second process does no symbolic work (it
does not even import sympy).
"""

from __future__ import annotations

import sys

from isodyn.derivations import CLOSURES
from isodyn.dynamics.cli.common import add_rule_flags, parameter, rule_from_args
from isodyn.dynamics.codegen.cache import derivation_text

__all__ = ["add_parser", "derivation_text", "numbers_from_args", "run"]

FORMATS = ("markdown", "latex", "beamer")

#: the numbers a derivation shows: library keyword -> (argparse dest, default; None: the paper's learning rate)
NUMBERS = {"alpha": ("alpha", 1.0), "eps": ("eps", 0.0), "beta": ("beta", None), "sigma1": ("sigma_online", 0.0),
           "sigma2": ("sigma_target", 0.1), "weight_decay": ("weight_decay", 0.0), "ema": ("ema", 0.0),
           "lr": ("lr", None)}


def add_parser(sub):
    p = sub.add_parser(
        "derive",
        help="print how a rule turns into per-mode dynamics",
        description="Print the derivation of a rule: loss, gradients, eigenbasis form, expected mode map, ODE, "
        "fixed points and stability, weak-mode asymptotics (and the trained predictor). Give any of --alpha --eps "
        "--beta --sigma-online --sigma-target --weight-decay --ema --lr to see the fixed points, their stability "
        "and the recruitment times as numbers (the other numbers then at their defaults, marked so).",
    )
    add_rule_flags(p)
    p.set_defaults(alpha=None, eps=None)  # to tell given numbers from defaults (rule_from_args gets the defaults)
    g = p.add_argument_group("numbers (substituted when any is given)")
    g.add_argument("--sigma-online", type=parameter("sigma1"), default=None, help="sigma1 (default 0)")
    g.add_argument("--sigma-target", type=parameter("sigma2"), default=None, help="sigma2 (default 0.1)")
    g.add_argument("--weight-decay", type=parameter("weight_decay"), default=None, help="gamma (default 0)")
    g.add_argument("--ema", type=parameter("ema"), default=None, help="target EMA momentum tau (default 0: no EMA)")
    g.add_argument("--lr", type=parameter("lr"), default=None, help="learning rate eta (default: the paper's)")
    p.add_argument(
        "--closure",
        choices=CLOSURES,
        default=None,
        help="cosine closure of the expected map (default exact)",
    )
    p.add_argument("--format", choices=FORMATS, default="markdown",
                   help="markdown (GitHub: $...$, $$...$$), latex (a standalone article) or beamer (a deck, one "
                        "frame per step); both TeX formats compile with pdflatex")
    p.add_argument("--fragment", action="store_true",
                   help="only the body: no title (markdown), no preamble (latex), only the frames (beamer)")
    p.add_argument("--no-cache", action="store_true", help="derive afresh, ignoring the cache")


def numbers_from_args(args, rule):
    """({keyword: value} with every number, the keywords given), or (None, ()) when none was given."""
    from isodyn.dynamics.paper import paper_lr

    given = tuple(k for k, (dest, _) in NUMBERS.items() if getattr(args, dest, None) is not None)
    if not given:
        return None, ()
    values = {}
    for k, (dest, default) in NUMBERS.items():
        v = getattr(args, dest, None)
        if v is None:
            v = paper_lr(rule) if k == "lr" else default
        values[k] = v
    if rule.beta is None:  # the variant's own multiplier; no number to substitute
        values.pop("beta")
    return values, given


def run(args) -> int:
    from isodyn.dynamics.cli.common import UsageError

    alpha_given, eps_given = args.alpha, args.eps
    args.alpha = 1.0 if alpha_given is None else alpha_given
    args.eps = 0.0 if eps_given is None else eps_given
    rule = rule_from_args(args)
    if args.closure is not None and rule.metric != "cosine":
        raise UsageError("argument --closure: only for --metric cosine; accepted: {exact,mean-field}")
    if alpha_given == 0 and rule.has_predictor:
        raise UsageError("argument --alpha: invalid value '0'; accepted: a real > 0 for derive (at alpha = 0 the "
                         "predictor is the identity: see --variant no-predictor)")
    args.alpha, args.eps = alpha_given, eps_given
    numbers, given = numbers_from_args(args, rule)
    closure = args.closure or "exact"
    sys.stdout.write(derivation_text(rule, closure, args.format, use_cache=not args.no_cache, numbers=numbers,
                                     given=given, fragment=args.fragment))
    return 0
