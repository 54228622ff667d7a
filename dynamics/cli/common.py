"""The ``isodyn`` command line (ARCHITECTURE.md, "Command-line contract").

Each subcommand lives in its own module exposing ``add_parser(subparsers)`` and
``run(args) -> int``; this module holds the shared flags, their validation and the
error convention: bad input ends with exit status 2 and one line
``isodyn: error: ...`` on stderr naming the flag and the accepted range.

Everything a command is given is checked before it computes anything (issue 11, item 1):

* values: each flag's type (:func:`real`, :func:`integer`, :func:`parameter`, :func:`seed`) checks its range,
  finite values only; a value that would overflow a run (``--s0 1e308``, ``train --init-scale 1e300``) is refused
  with the range that does not;
* outputs: every path the command will write (``--out``, ``--plot``, ``--figure``) by :func:`check_output`, a
  probe file in its folder (nothing is left behind);
* sizes: each command estimates the arrays its run needs (one documented estimator per command:
  :func:`isodyn.dynamics.cli.simulate.memory_estimate`, :func:`isodyn.dynamics.cli.train.memory_estimate`; sweep
  specs by their own cap) and :func:`check_memory` refuses what this machine cannot hold, naming the flag whose
  size dominates.

**Inapplicable flags: the rule.**  A flag the user gave that has no effect under the other options chosen
(``--substeps``/``--rtol``/``--atol`` outside their scheme, ``--map-resync`` outside the map, ``--closure`` and
``--exact-tol`` for Euclidean rules, train's ``--rho`` without ``--predictor-source representations``, simulate's
``--rho`` with a trained predictor, a trained predictor's options or ``--lam0`` with the closed-form predictor,
``--ema`` for a rule without a target network) is an **error**, exit 2, one line naming the flag and the option
it needs -- never a warning, never silently ignored: a run that quietly differs from what was asked is worse
than no run, and a warning is lost in scripts.  Only flags the user actually gave count: such flags default to
None and take their documented default once the option they belong to is known, so a default is never mistaken
for a choice.  The one exception is the contract's common ``--seed``, accepted by every command that takes rule
flags and recorded with the result even where the run is deterministic (simulate).
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module

from isodyn.derivations.checks import PARAMETERS, SEED, InputError, Integer, Real, cli_flag
from isodyn.dynamics import interrupts

# modules dynamics.cmd_<name> ("-" -> "_"); a new subcommand appends its name here
SUBCOMMANDS = ("derive", "train", "sweep", "plot-sweep", "simulate", "bench", "validate", "reproduce", "explore")


class UsageError(Exception):
    """Bad input: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, no usage block
        raise UsageError(message)


# --- typed flag values ------------------------------------------------------------------
# argparse types made of the checkers of isodyn.derivations.checks (one implementation of the range
# logic for the library, the command line and sweep specs); argparse prefixes "argument --flag: ".


def _argparse_type(check, name: str):
    def parse(text):
        try:
            return check(text)
        except InputError as e:
            raise argparse.ArgumentTypeError(e.detail) from None

    parse.__name__ = name
    return parse


def real(accepted: str | None = None, lo=None, lo_open=False, hi=None, hi_open=False):
    """argparse type: a finite float in a range (:class:`~isodyn.derivations.checks.Real`); the error names
    what is accepted (default: the range in words)."""
    r = Real(accepted, lo, lo_open, hi, hi_open)
    return _argparse_type(lambda text: r.parse("", text), "real")


def integer(accepted: str | None = None, lo: int = 1, hi: int | None = None):
    """argparse type: an integer in [lo, hi] (:class:`~isodyn.derivations.checks.Integer`)."""
    i = Integer(accepted, lo, hi)
    return _argparse_type(lambda text: i.parse("", text), "integer")


def real_list(accepted: str = "comma-separated positive reals", lo=0.0, lo_open=True, n: int | None = None):
    """argparse type: comma-separated reals, each checked by one :class:`~isodyn.derivations.checks.Real`
    (default > 0), exactly ``n`` of them when given; the error shows the whole text."""
    one = Real(accepted, lo=lo, lo_open=lo_open)

    def check(text):
        parts = [p.strip() for p in text.split(",")]
        if any(not p for p in parts) or (n is not None and len(parts) != n):
            raise InputError("", text, accepted)
        try:
            return [one.parse("", p) for p in parts]
        except InputError:
            raise InputError("", text, accepted) from None

    return _argparse_type(check, "real_list")


def seed():
    """argparse type of a seed: an integer in [0, SEED_MAX] (:data:`~isodyn.derivations.checks.SEED`, the range
    sweep specs check too)."""
    return _argparse_type(lambda text: SEED.parse("", text), "integer")


def parameter(name: str):
    """argparse type of the model parameter ``name`` (library keyword), in its domain from
    :data:`~isodyn.derivations.checks.PARAMETERS` (the one table the library and sweep specs check too)."""
    r = PARAMETERS[name]
    return _argparse_type(lambda text: r.parse("", text), "real")


def usage_error(e: InputError) -> UsageError:
    """A library :class:`InputError` (flag = the keyword name) as the command line's one line, naming the
    flag as spelled on the command line (:func:`~isodyn.derivations.checks.cli_flag`)."""
    return UsageError(f"argument {cli_flag(e.flag)}: {e.detail}")


#: what the JSON's recruit_steps means (the help of simulate and train; dynamics/measures.py defines it)
RECRUITMENT_HELP = ("recruit_steps (JSON, per mode): the first step at which a mode is within 1% of its final "
                    "eigenvalue, reported only for modes that rose (log s grew by at least log 2: the eigenvalue at "
                    "least doubled) and are alive at the end; null for modes that barely moved (0.001 -> 0.00103), "
                    "shrank, died, or for a diverged run.")


# --- checks of what a command will write and hold, before any work ---------------------------------


def check_output(flag: str, path, suffixes: tuple = (), folder: bool = False):
    """The output ``path`` of ``flag`` as a Path, or UsageError naming the flag: it must end in one of
    ``suffixes`` (files), must not be an existing folder (files) or file (folders), and its folder must exist or
    be creatable and be writable -- tried with a probe file, so nothing is computed for an output that cannot
    be written.  Nothing is left behind."""
    import os
    import tempfile
    from pathlib import Path

    out = Path(path)
    want = ("a writable folder" if folder else "a writable file path"
            + (f" ending in {', '.join(suffixes)}" if suffixes else ""))
    if not folder and out.is_dir():
        raise UsageError(f"argument {flag}: {str(path)!r} is a folder; accepted: {want}")
    if not folder and suffixes and out.suffix not in suffixes:
        raise UsageError(f"argument {flag}: invalid value {str(path)!r}; accepted: {want}")
    if folder and out.exists() and not out.is_dir():
        raise UsageError(f"argument {flag}: {str(path)!r} is a file; accepted: {want}")
    target = out if folder else out.parent
    made = [d for d in [target, *target.parents] if not d.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=target, prefix=".isodyn-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise UsageError(f"argument {flag}: cannot write to {str(path)!r} ({e.strerror or type(e).__name__}); "
                         f"accepted: {want}") from None
    finally:
        for d in made:  # folders made only for the probe (the command makes its own when it writes)
            try:
                d.rmdir()
            except OSError:
                pass
    return out


def available_memory() -> int:
    """Bytes of memory this machine can give a run now (MemAvailable; else the physical memory)."""
    import os

    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def human_bytes(n: float) -> str:
    """``n`` bytes in words: 1.2 GB (decimal units)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} PB"


#: the share of the available memory one run may plan to use
MEMORY_SHARE = 0.8


def check_memory(flag: str, nbytes: float, what: str, accepted: str, available: float | None = None,
                 where: str = "this machine") -> None:
    """UsageError naming ``flag`` when the arrays a run needs (``nbytes``, an estimate: ``what`` says of what)
    exceed MEMORY_SHARE of the memory available now (``available``: bytes of another memory, e.g. a GPU's,
    ``where`` names it; default :func:`available_memory`)."""
    have = available_memory() if available is None else available
    if nbytes > MEMORY_SHARE * have:
        raise UsageError(f"argument {flag}: {what} need about {human_bytes(nbytes)}, more than {where} can give "
                         f"({human_bytes(have)} available); accepted: {accepted}")


#: the formats of a quick-look figure (``--plot``)
PLOT_SUFFIXES = (".png", ".pdf")


def add_plot_flag(p) -> None:
    """``--plot FILE.png|pdf``: a quick figure of the run (figures/quicklook.py), its path checked before the work."""
    p.add_argument("--plot", default=None, metavar="FILE",
                   help="a quick figure of the run's eigenvalues against steps (.png or .pdf), in the report's style")


# --- shared flag groups -------------------------------------------------------------------


def add_rule_flags(p):
    from isodyn.derivations import METRICS, PREDICTORS, VARIANTS

    g = p.add_argument_group("rule")
    g.add_argument("--metric", choices=METRICS, default="euclidean")
    g.add_argument("--variant", choices=VARIANTS, default="standard")
    g.add_argument("--predictor", choices=PREDICTORS, default="closed-form",
                   help="closed-form (lambda from the correlation, DirectPred) or trainable (W_P learned by "
                        "gradient descent, BYOL; SPEC §7)")
    g.add_argument(
        "--beta",
        type=parameter("beta"),
        default=None,
        help="IsoLoss-family exponent: online gradient W_P^beta dl/dp (overrides the variant's)",
    )
    g.add_argument("--alpha", type=parameter("alpha"), default=1.0, help="predictor exponent")
    g.add_argument("--eps", type=parameter("eps"), default=0.0, help="predictor offset")
    g.add_argument("--normalize", action="store_true", help="lambda = (s / max s + eps)^alpha")


def add_training_flags(p, steps: int = 1500, lr: float | None = None):
    g = p.add_argument_group("training")
    g.add_argument("--sigma-online", type=parameter("sigma1"), default=0.0, help="sigma1")
    g.add_argument("--sigma-target", type=parameter("sigma2"), default=0.1, help="sigma2")
    g.add_argument("--weight-decay", type=parameter("weight_decay"), default=0.0, help="gamma")
    g.add_argument(
        "--ema",
        type=parameter("ema"),
        default=0.0,
        help="target EMA momentum tau (0 = no EMA)",
    )
    g.add_argument(
        "--lr",
        type=parameter("lr"),
        default=lr,
        help="learning rate eta (default: the paper's for the rule)",
    )
    g.add_argument("--steps", type=integer(), default=steps)
    g.add_argument("--seed", type=seed(), default=0, help="random seed, an integer in [0, 2**32 - 1]")
    g.add_argument("--predictor-lr-ratio", type=parameter("predictor_lr_ratio"), default=None,
                   help="alpha_p: a trained predictor's learning rate / lr (default 1; --predictor trainable)")
    g.add_argument("--predictor-weight-decay", type=parameter("predictor_weight_decay"), default=None,
                   help="gamma_p: a trained predictor's weight decay (default: --weight-decay; --predictor trainable)")


def add_output_flags(p):
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="one JSON object on stdout, nothing else there")
    g.add_argument("--out", default=None, help="write results (.nc or .npz), atomically")


def rule_from_args(args):
    from isodyn.derivations.rules import Rule

    try:
        return Rule(
            args.metric,
            args.variant,
            beta=args.beta,
            alpha=args.alpha,
            eps=args.eps,
            normalize=args.normalize,
            predictor=args.predictor,
        )
    except InputError as e:
        raise usage_error(e) from None


def predictor_options(args) -> dict:
    """The trained predictor's keyword arguments the user gave (the library refuses them for the closed-form
    predictor, naming the keyword)."""
    return {k: v for k, v in (("predictor_lr_ratio", args.predictor_lr_ratio),
                              ("predictor_weight_decay", args.predictor_weight_decay)) if v is not None}


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
    import isodyn

    parser = _Parser(prog="isodyn", description="Eigenmode dynamics of non-contrastive SSL (SPEC.md).")
    parser.add_argument("--version", action="version", version=f"isodyn {isodyn.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    modules = {}
    for name in SUBCOMMANDS:
        mod = import_module(f"isodyn.dynamics.cli.{name.replace('-', '_')}")
        mod.add_parser(sub)
        modules[name] = mod
    return parser, modules


def parser() -> argparse.ArgumentParser:
    """The ``isodyn`` parser with every subcommand (the documentation's CLI reference is generated from it)."""
    return build_parser()[0]


def main(argv=None) -> int:
    parser, modules = build_parser()
    interrupts.install()
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
