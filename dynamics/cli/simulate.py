"""``isodyn simulate``: mode dynamics of a linear Siamese network (SPEC §4; issue 3).

Initial spectrum ``--s0 v1,v2,...`` (eigenvalues s_m of the online correlation) or
``--modes M --s0-range lo,hi`` (log-spaced; default 10 modes in [1e-3, 1]).  ``--scheme`` picks the
expected-GD map (step for step comparable with training) or an ODE integrator; ``--closure`` the
cosine closure (exact by default).  ``--json`` prints the summary of ARCHITECTURE.md (nothing else on
stdout); ``--out`` writes .nc or .npz atomically.
"""

from __future__ import annotations

from isodyn.derivations import CLOSURES
from isodyn.derivations.checks import InputError
from isodyn.dynamics.cli.common import (
    PLOT_SUFFIXES,
    RECRUITMENT_HELP,
    UsageError,
    add_output_flags,
    add_plot_flag,
    add_rule_flags,
    add_training_flags,
    check_memory,
    check_output,
    emit_json,
    format_values,
    integer,
    parameter,
    predictor_options,
    real,
    real_list,
    rule_from_args,
    usage_error,
)
from isodyn.dynamics.modes.schemes import SCHEME_NAMES


def add_parser(sub):
    p = sub.add_parser("simulate", help="mode dynamics of a linear network (expected-GD map or ODE)",
                       description="Eigenmode dynamics of a linear Siamese network (SPEC §4).",
                       epilog=RECRUITMENT_HELP)
    add_rule_flags(p)
    add_training_flags(p, steps=1500, lr=None)
    g = p.add_argument_group("modes")
    g.add_argument("--s0", type=real_list("comma-separated positive finite reals"), default=None,
                   help="initial eigenvalues s_m, e.g. 0.01,0.1,1")
    g.add_argument("--modes", type=integer(), default=None, help="M log-spaced modes")
    g.add_argument("--s0-range", type=real_list("two positive reals lo,hi with lo <= hi", n=2), default=None,
                   help="lo,hi of the log-spaced initial eigenvalues (default 0.001,1)")
    g.add_argument("--rho", type=parameter("rho"), default=None,
                   help="closed-form predictor's lag in [0, 1): C <- rho C + (1 - rho) s (default 0: lambda from the "
                        "current s)")
    g.add_argument("--lam0", type=real_list("comma-separated finite reals >= 0, one per mode", lo=0.0, lo_open=False),
                   default=None, help="a trained predictor's initial eigenvalues (default: the closed-form "
                                      "predictor's at s0; --predictor trainable)")
    g = p.add_argument_group("integration")
    g.add_argument("--scheme", choices=SCHEME_NAMES, default="map")
    g.add_argument("--closure", choices=CLOSURES, default=None,
                   help="cosine metric only (default exact)")
    g.add_argument("--exact-tol", type=real("a real in [1e-13, 1e-3]", lo=1e-13, hi=1e-3), default=None,
                   help="relative accuracy of the exact closure's quadrature (cosine only; default 1e-9)")
    g.add_argument("--stride", type=integer(), default=1, help="save every stride-th step")
    g.add_argument("--substeps", type=integer(), default=None, help="rk4 steps per training step (rk4 only; "
                   "default 1)")
    g.add_argument("--rtol", type=real(lo=0.0, lo_open=True, hi=1.0, hi_open=True),
                   default=None, help="dopri5 relative tolerance (dopri5 only; default 1e-8)")
    g.add_argument("--atol", type=real(lo=0.0), default=None, help="dopri5 absolute tolerance (dopri5 only; "
                   "default 1e-12)")
    g.add_argument("--map-resync", type=integer(), default=None,
                   help="map: predictor eigenvalues in full every N steps, by <= 1-ulp ratio updates in between "
                        "(default 32; 1: in full every step)")
    add_output_flags(p)
    add_plot_flag(p)
    return p


def memory_estimate(modes: int, steps: int, stride: int) -> tuple[float, int]:
    """(bytes, saved frames) a simulation of ``modes`` modes over ``steps`` steps saving every ``stride``-th needs:
    the saved histories of s and lambda, (frames, M) float64 each, and as much again for their copies in the
    output (the labelled dataset, the JSON lists); the integrator's own state is O(M) and negligible."""
    frames = steps // stride + 2
    return 4 * 8.0 * frames * modes, frames


def initial_spectrum(args):
    from isodyn.dynamics.modes.simulation import log_spaced

    if args.s0 is not None and (args.modes is not None or args.s0_range is not None):
        raise UsageError("argument --s0: not allowed with --modes/--s0-range; accepted: one of the two forms")
    if args.s0 is not None:
        return args.s0
    lo, hi = args.s0_range if args.s0_range is not None else (1e-3, 1.0)
    if lo > hi:
        raise UsageError(f"argument --s0-range: invalid value '{lo:g},{hi:g}'; accepted: lo <= hi, both > 0")
    return list(log_spaced(args.modes if args.modes is not None else 10, lo, hi))


#: flags that apply to one scheme only: given with another, they are an error (exit 2), never ignored
SCHEME_ONLY = {"--substeps": ("substeps", "rk4"), "--rtol": ("rtol", "dopri5"), "--atol": ("atol", "dopri5"),
               "--map-resync": ("map_resync", "map")}


def _scheme_options(args) -> None:
    for flag, (name, scheme) in SCHEME_ONLY.items():
        if getattr(args, name) is not None and args.scheme != scheme:
            raise UsageError(f"argument {flag}: only with --scheme {scheme}; accepted: omit it for --scheme "
                             f"{args.scheme}")


def run(args) -> int:
    from isodyn.dynamics.modes.simulation import simulate

    rule = rule_from_args(args)
    if rule.metric != "cosine":
        for flag, val in (("--closure", args.closure), ("--exact-tol", args.exact_tol)):
            if val is not None:
                raise UsageError(f"argument {flag}: only with --metric cosine; accepted: omit it for Euclidean "
                                 "rules (closed-form expectation)")
    _scheme_options(args)
    if args.rho is not None and rule.trainable:
        raise UsageError("argument --rho: only with --predictor closed-form (a trained predictor has no lag); "
                         "accepted: omit it with --predictor trainable")
    if args.out is not None:
        check_output("--out", args.out, (".nc", ".npz"))
    if args.plot is not None:
        check_output("--plot", args.plot, PLOT_SUFFIXES)
    M = len(args.s0) if args.s0 is not None else (args.modes if args.modes is not None else 10)
    nbytes, frames = memory_estimate(M, args.steps, args.stride)  # before the spectrum is made: --modes 10**8
    size_flag = "--steps" if frames >= M else ("--s0" if args.s0 is not None else "--modes")
    check_memory(size_flag, nbytes, f"{frames:,} saved frames x {M:,} modes",
                 "fewer --steps, a larger --stride or fewer modes")
    s0 = initial_spectrum(args)
    kw = dict(lr=args.lr, steps=args.steps, sigma1=args.sigma_online,
              sigma2=args.sigma_target, weight_decay=args.weight_decay, ema=args.ema, rho=args.rho or 0.0,
              scheme=args.scheme, closure=args.closure or "exact", stride=args.stride,
              substeps=args.substeps or 1, rtol=args.rtol or 1e-8, atol=1e-12 if args.atol is None else args.atol)
    kw.update(predictor_options(args))
    if args.lam0 is not None:
        kw["lam0"] = args.lam0
    if args.exact_tol is not None:
        kw["exact_tol"] = args.exact_tol
    if args.map_resync is not None:
        kw["map_resync"] = args.map_resync
    try:
        tr = simulate(rule, s0, **kw)
    except InputError as e:  # the library names the keyword; the command line its flag
        raise usage_error(e) from None
    summ = tr.summary()
    summ["parameters"]["seed"] = args.seed
    if args.out is not None:
        tr.extra["seed"] = args.seed
        tr.write(args.out)
    if args.plot is not None:
        from isodyn.figures.quicklook import eigenvalue_plot

        eigenvalue_plot(tr.step, tr.s, args.plot, lam=tr.lam, title=f"isodyn simulate: {rule.name}, {args.scheme}",
                        diverged_step=summ.get("diverged_step"))
    if args.json:
        emit_json(summ)
    else:
        _report(summ, args.out, args.plot)
    return 0


def _report(s: dict, out, plot=None) -> None:
    p = s["parameters"]
    r = p["rule"]
    print(f"isodyn simulate: {r['metric']}/{r['variant']} ({p['closure']}), {p['scheme']}, lr={p['lr']:g}, "
          f"{s['steps']} steps, M={len(s['s0'])}")
    print(f"  s_final   {format_values(s['s_final'])}")
    print(f"  lam_final {format_values(s['lam_final'])}")
    print(f"  recruit   {format_values(s['recruit_steps'])}  (per mode, order of s0)")
    div = f" at step {s['diverged_step']}" if s["diverged"] else ""
    print(f"  collapsed={s['collapsed']} dead={s['n_dead']} diverged={s['diverged']}{div} "
          f"converged={s['converged']} eff_rank={s['effective_rank']:.3g} isotropy={s['isotropy']:.3g} "
          f"seconds={s['seconds']:.3g}")
    if "closure_rel_error" in s:
        print(f"  exact closure: relative error {s['closure_rel_error']:.1e} (tolerance {s['closure_tol']:.0e})")
    for f in (out, plot):
        if f:
            print(f"  wrote {f}")
