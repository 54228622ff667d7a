"""``isodyn derive``: print a rule's derivation (Markdown or LaTeX).

The rendered text is cached next to the kernels, keyed by the rule, the closure, the
format and the hash of the derivations/ sources, so a second process does no
symbolic work (it does not even import sympy).
"""

from __future__ import annotations

import hashlib
import json
import sys

from isodyn.dynamics.cli.common import add_rule_flags, rule_from_args
from isodyn.dynamics.codegen import cache_dir, generator_hash
from isodyn.dynamics.codegen.cache import say_once
from isodyn.dynamics.files import atomic_write


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


def derivation_text(rule, closure: str, fmt: str, use_cache: bool = True) -> str:
    """The rendered derivation, from the cache when possible."""
    key = json.dumps([list(rule.structural_key), rule.normalize, rule.predictor, closure, fmt, generator_hash()])
    path = cache_dir() / "derive" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    if use_cache and path.exists():
        try:  # the text with its hash: a damaged entry is derived again
            entry = json.loads(path.read_text())
            if hashlib.sha256(entry["text"].encode()).hexdigest() == entry["sha256"]:
                return entry["text"]
        except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError):
            pass
        say_once(f"isodyn: note: the cached derivation {path.name} was corrupt; derived it again")
    from isodyn.derivations.render import derivation

    text = derivation(rule, closure, fmt)
    atomic_write(path, json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}))
    return text


def run(args) -> int:
    from isodyn.dynamics.cli.common import UsageError

    rule = rule_from_args(args)
    if args.closure is not None and rule.metric != "cosine":
        raise UsageError("argument --closure: only for --metric cosine; accepted: {exact,mean-field}")
    closure = args.closure or "exact"
    sys.stdout.write(derivation_text(rule, closure, args.format, use_cache=not args.no_cache))
    return 0
