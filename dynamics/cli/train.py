"""``isodyn train``: a sampled Siamese network, linear or ReLU, on NumPy or CuPy (SPEC §2-3; issue 4).

Prints a JSON summary with ``--json`` (nothing else on stdout), else a short report; a progress
bar goes to stderr for runs longer than a second; ``--out`` writes .nc or .npz atomically.
"""

from __future__ import annotations

import sys

import numpy as np

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
    human_bytes,
    integer,
    parameter,
    predictor_options,
    real,
    rule_from_args,
    usage_error,
)
from isodyn.dynamics.codegen.lambdified import correlation_functions
from isodyn.dynamics.network.backends import BACKENDS, TRAINER_GRAD_IMPLS
from isodyn.dynamics.network.config import DTYPES, NETS, PREDICTOR_INITS, SAMPLERS, SOURCES
from isodyn.dynamics.network.reference_notebook import STEPS as NOTEBOOK_STEPS
from isodyn.dynamics.network.reference_notebook import UPDATES, check_update
from isodyn.dynamics.paper import paper_lr

#: --rho's default (NetworkConfig's): the running correlation's rate under --predictor-source representations
RHO = 0.3
#: the defaults of the size flags (the flag named by a memory refusal is the one furthest above its default)
SIZE_DEFAULTS = {"--samples": 50_000, "--in-dim": 15, "--out-dim": 10, "--steps": 1500}


def add_parser(sub):
    p = sub.add_parser("train", help="train a sampled Siamese network (linear or ReLU)",
                       description="Sampled Siamese-network training (SPEC §2-3), NumPy or CuPy.",
                       epilog=RECRUITMENT_HELP)
    add_rule_flags(p)
    add_training_flags(p, steps=None, lr=None)
    g = p.add_argument_group("network")
    g.add_argument("--net", choices=NETS, default="linear")
    g.add_argument("--in-dim", type=integer(), default=15, help="N")
    g.add_argument("--out-dim", type=integer(), default=10, help="M (<= N)")
    g.add_argument("--w0", default=None, help="initial online weights, an (M, N) .npy file")
    g.add_argument("--init-scale", type=real(lo=0.0, lo_open=True), default=None,
                   help="W0 entries N(0, c^2) when --w0 is not given (default 1/4, SPEC §5)")
    g.add_argument("--update", choices=(*UPDATES, "exact"), default="gradient",
                   help="gradient (or its ARCHITECTURE.md name, exact): the loss's exact gradient (default); "
                        "reference-notebook: the paper's reference "
                        "notebook's own update, which departs from the gradient for ReLU Euclidean rules (f' "
                        "before the predictor's transpose; no-predictor without f') and for cosine no-stopgrad "
                        "(its target-branch term); identical to the gradient for the notebook's other rules; "
                        "refused for rules the notebook does not have (wrong-stopgrad, --beta, a trained predictor)")
    g.add_argument("--settings", choices=("reference-notebook",), default=None,
                   help="reference-notebook: start from the notebook's own W0 (torch.manual_seed(2); "
                        "torch.randn(M, N) / 4, re-implemented) and default to its 1,499 steps; the other "
                        "defaults (n = 50,000, sigma1 = 0, sigma2 = 0.1, alpha = 1, the paper's lr) are the "
                        "notebook's already; not with --w0 or --init-scale")
    g.add_argument("--samples", type=integer(), default=50_000, help="fresh inputs a step")
    g.add_argument("--predictor-source", choices=SOURCES, default="weights")
    g.add_argument("--rho", type=parameter("rho"), default=None,
                   help=f"running-correlation rate in [0, 1) (default {RHO}); --predictor-source representations only")
    g.add_argument("--sampler", choices=SAMPLERS, default="inputs",
                   help="moments: draw the views' second moments (Wishart); linear Euclidean rules only")
    g.add_argument("--backend", choices=BACKENDS, default="auto")
    g.add_argument("--dtype", choices=DTYPES, default="float64")
    g.add_argument("--grad-impl", choices=TRAINER_GRAD_IMPLS, default="auto",
                   help="per-sample gradient: generated xp code (either backend), one generated numba loop (NumPy; "
                        "auto there), an ElementwiseKernel (CuPy; auto there) or cupy.fuse")
    g.add_argument("--probes", default=None, help="(K, N) .npy inputs whose representations are recorded")
    g.add_argument("--predictor-init", choices=PREDICTOR_INITS, default=None,
                   help="a trained predictor's W_P(0): closed-form U diag(lambda) U^T from the current correlation "
                        "(default), identity, or random (the closed-form spectrum in Haar-random eigenvectors); "
                        "--predictor trainable")
    g.add_argument("--predictor-symmetric", action="store_true",
                   help="project a trained predictor onto symmetric matrices after every step (needed by the "
                        "IsoLoss family, --beta); --predictor trainable")
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    add_output_flags(p)
    add_plot_flag(p)
    return p


def _load_matrix(path: str, flag: str, shape_text: str, cols: int, rows: int | None):
    accepted = f"an .npy file holding a finite {shape_text} array"
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise UsageError(f"argument {flag}: cannot read {path!r} ({type(e).__name__}); accepted: {accepted}") from None
    if not isinstance(a, np.ndarray) or a.ndim != 2 or a.shape[1] != cols or (rows is not None and a.shape[0] != rows):
        raise UsageError(f"argument {flag}: {path!r} holds shape {getattr(a, 'shape', '?')}; accepted: {accepted}")
    if not np.issubdtype(a.dtype, np.number) or not np.all(np.isfinite(a)):
        raise UsageError(f"argument {flag}: {path!r} has non-numeric or non-finite entries; accepted: {accepted}")
    return a.astype(np.float64)


def config_from_args(args):
    from isodyn.dynamics.network.trainer import NetworkConfig

    rule = rule_from_args(args)
    trained = _trained_predictor_options(args, rule)
    if args.out_dim > args.in_dim:
        raise UsageError(f"argument --out-dim: invalid value {args.out_dim}; accepted: an integer in [1, --in-dim]")
    if args.ema and not rule.has_target_network:
        raise UsageError(f"argument --ema: invalid value {args.ema}; accepted: 0 with --variant {rule.variant}")
    if args.sampler == "moments" and (args.net != "linear" or rule.metric != "euclidean"):
        raise UsageError("argument --sampler: invalid value 'moments'; accepted: moments only with --net linear "
                         "and --metric euclidean, else inputs")
    if args.rho is not None and args.predictor_source != "representations":
        raise UsageError("argument --rho: only with --predictor-source representations (the weights source has no "
                         "running correlation); accepted: omit it, or add --predictor-source representations")
    if args.update == "exact":  # ARCHITECTURE.md's name for the gradient; recorded as 'gradient'
        args.update = "gradient"
    bad = check_update(args.update, rule, args.ema, args.predictor_source, args.sampler)
    if bad is not None:
        flag, value, accepted = bad
        raise UsageError(f"argument --{flag.replace('_', '-')}: invalid value {value!r} with --update {args.update}; "
                         f"accepted: {accepted}")
    if args.settings is not None:
        for flag, given in (("--w0", args.w0 is not None), ("--init-scale", args.init_scale is not None)):
            if given:
                raise UsageError(f"argument {flag}: not with --settings {args.settings} (it sets the notebook's "
                                 f"W0); accepted: omit {flag}, or omit --settings")
    lr = args.lr if args.lr is not None else paper_lr(rule)
    try:  # the flags are checked above; NetworkConfig checks them again, by the same checkers
        return NetworkConfig(rule, net=args.net, in_dim=args.in_dim, out_dim=args.out_dim, samples=args.samples,
                             sigma1=args.sigma_online, sigma2=args.sigma_target, lr=lr,
                             weight_decay=args.weight_decay, ema=args.ema, predictor_source=args.predictor_source,
                             rho=RHO if args.rho is None else args.rho, sampler=args.sampler, dtype=args.dtype,
                             update=args.update, **trained)
    except InputError as e:
        raise usage_error(e) from None


def _trained_predictor_options(args, rule) -> dict:
    """NetworkConfig's trained-predictor keywords from the flags (SPEC §7); a trainable-only flag with the
    closed-form predictor, or the IsoLoss family without --predictor-symmetric, is a usage error."""
    opts = predictor_options(args)
    if args.predictor_init is not None:
        opts["predictor_init"] = args.predictor_init
    if args.predictor_symmetric:
        opts["predictor_symmetric"] = True
    if not rule.trainable:
        for name in opts:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"argument {flag}: only with --predictor trainable (the closed-form predictor has no "
                             "such option); accepted: omit it, or add --predictor trainable")
    elif rule.beta is not None and not args.predictor_symmetric:
        raise UsageError("argument --predictor-symmetric: required with --beta and --predictor trainable (the "
                         "IsoLoss family's W_P^beta needs a symmetric trained predictor); accepted: add "
                         "--predictor-symmetric, or omit --beta")
    return opts


def pick_backend(args):
    from isodyn.dynamics.network.backends import BackendUnavailable, resolve

    if args.sampler == "moments":
        if args.backend == "cupy":
            raise UsageError("argument --backend: invalid value 'cupy'; accepted: auto or numpy with --sampler moments")
        return resolve("numpy")
    try:
        bk = resolve(args.backend)
    except BackendUnavailable as e:
        raise UsageError(f"argument --backend: cupy is not usable here ({e}); accepted: auto, numpy") from None
    if args.grad_impl in ("elementwise", "fuse") and bk.name != "cupy":
        raise UsageError(f"argument --grad-impl: invalid value {args.grad_impl!r}; accepted: auto, xp or numba on "
                         f"the {bk.name} backend")
    if args.grad_impl == "numba" and bk.name != "numpy":
        raise UsageError(f"argument --grad-impl: invalid value 'numba'; accepted: auto, xp, elementwise or fuse on "
                         f"the {bk.name} backend")
    return bk


def memory_estimate(cfg, steps: int, probes: int = 0, itemsize: int = 8) -> dict:
    """Bytes a training run needs, by part (the estimator of ``isodyn train``; ``itemsize`` of --dtype):

    batch      one step's samples: with the inputs sampler up to 5 (n, N) arrays (x, the two views, their noise)
               and 10 (n, M) ones (u1, u2, z1, z2, the eigenbasis copies Z1, Z2, the invariants, the per-sample
               gradients g, h, a mask); with the moments sampler the Wishart draw and its (2N, 3N) factor, about
               4 (3N, 3N) float64 arrays whatever n is;
    weights    W, W_t, the gradient, the update and their float64 host copies: 8 (M, N) arrays, and the predictor's
               (M, M) matrices (G, its eigenvectors, a trained W_P and its gradient): 6;
    histories  the per-step records kept for the result, float64: s and lambda (steps + 1, M), probes' representations
               (steps + 1, K, M), a trained predictor's alignment per eigenvector (steps + 1, M) and two scalars
               -- twice, for the copies written to --out / the JSON.
    """
    n, N, M, T = cfg.samples, cfg.in_dim, cfg.out_dim, steps + 1
    if cfg.sampler == "moments":
        batch = 4 * 8.0 * (3 * N) ** 2
    else:
        batch = itemsize * float(n) * (5 * N + 10 * M)
    weights = (4 * itemsize + 4 * 8.0) * M * N + 8.0 * 6 * M * M
    per_step = 2 + probes + ((M + 2 / M) if cfg.rule.trainable else 0)
    histories = 2 * 8.0 * T * M * per_step
    return {"batch": batch, "weights": weights, "histories": histories}


def check_size(args, cfg, probes: int, backend) -> None:
    """Refuse, before any work, a run whose arrays (:func:`memory_estimate`) this machine cannot hold (and, on CuPy,
    whose batch and weights its GPU cannot), naming the size flag furthest above its default."""
    itemsize = np.dtype(cfg.dtype).itemsize
    parts = memory_estimate(cfg, args.steps, probes, itemsize)
    values = {"--samples": cfg.samples, "--in-dim": cfg.in_dim, "--out-dim": cfg.out_dim, "--steps": args.steps}
    flag = max(values, key=lambda f: values[f] / SIZE_DEFAULTS[f])
    what = (f"{cfg.samples:,} samples x {cfg.in_dim:,} inputs -> {cfg.out_dim:,} outputs over {args.steps:,} steps "
            f"(batch {human_bytes(parts['batch'])}, weights {human_bytes(parts['weights'])}, histories "
            f"{human_bytes(parts['histories'])})")
    accepted = "fewer --samples, a smaller --in-dim / --out-dim or fewer --steps"
    check_memory(flag, sum(parts.values()), what, accepted)
    if backend is not None and backend.name == "cupy":
        free = float(backend.xp.cuda.runtime.memGetInfo()[0])
        check_memory(flag, parts["batch"] + parts["weights"], what, accepted, available=free, where="the GPU")


def max_init_scale(in_dim: int, out_dim: int, sigma1: float) -> float:
    """The largest --init-scale c whose initial eigenvalues stay within the bound every run accepts
    (dynamics.measures.MAX_S0, as simulate's --s0): the largest singular value of an (M, N) matrix of N(0, c^2)
    entries is about c (sqrt N + sqrt M), so c = S(MAX_S0) / (sqrt N + sqrt M), S(s) the amplitude whose
    correlation eigenvalue is s."""
    from isodyn.dynamics.measures import MAX_S0

    return float(correlation_functions().amplitude(MAX_S0, sigma1) / (np.sqrt(in_dim) + np.sqrt(out_dim)))


def _check_w0_scale(W0, flag: str, sigma1: float) -> None:
    """A --w0 whose largest initial eigenvalue s(S_max) exceeds MAX_S0 (or overflows) is refused."""
    from isodyn.dynamics.measures import MAX_S0

    m = np.float64(np.abs(W0).max())
    with np.errstate(over="ignore", invalid="ignore"):
        top = correlation_functions().eigenvalue(m * np.linalg.norm(W0 / m, 2), sigma1) if m > 0 else np.float64(0.0)
    if not np.isfinite(top) or top > MAX_S0:
        raise UsageError(f"argument {flag}: its largest initial eigenvalue is {float(top):.3g}; accepted: weights "
                         f"whose initial eigenvalues (1 + sigma1^2) S_m^2 are at most {MAX_S0:g}")


def run(args) -> int:
    from isodyn.dynamics.network.io import SUFFIXES, write
    from isodyn.dynamics.network.reference_notebook import notebook_w0
    from isodyn.dynamics.network.run import summary
    from isodyn.dynamics.network.trainer import NetworkTrainer, init_weights

    cfg = config_from_args(args)
    # the defaults that depend on --settings, resolved once (the checks below and the run read args)
    args.steps = steps = args.steps if args.steps is not None else (NOTEBOOK_STEPS if args.settings else 1500)
    args.init_scale = init_scale = 0.25 if args.init_scale is None else args.init_scale
    if args.out is not None:
        check_output("--out", args.out, tuple(SUFFIXES))
    if args.plot is not None:
        check_output("--plot", args.plot, PLOT_SUFFIXES)
    M, N = cfg.out_dim, cfg.in_dim
    if args.w0 is None and args.init_scale > (c_max := max_init_scale(N, M, cfg.sigma1)):
        raise UsageError(f"argument --init-scale: invalid value {args.init_scale:g}; accepted: a real in "
                         f"(0, {c_max:.3g}] at --in-dim {N} --out-dim {M} (initial eigenvalues up to 1e+300)")
    bk = pick_backend(args)
    check_size(args, cfg, 0, bk)  # before anything of the run's size is made
    if args.w0 is not None:
        W0 = _load_matrix(args.w0, "--w0", f"{M}x{N} (--out-dim x --in-dim)", N, M)
        _check_w0_scale(W0, "--w0", cfg.sigma1)
    elif args.settings == "reference-notebook":
        W0 = notebook_w0(M, N)
    else:
        W0 = init_weights(M, N, init_scale, args.seed)
    probes = None if args.probes is None else _load_matrix(args.probes, "--probes", f"K x {N} (--in-dim)", N, None)
    if probes is not None:
        check_size(args, cfg, probes.shape[0], bk)
    trainer = NetworkTrainer(cfg, W0, args.seed, bk, probes, args.grad_impl)
    from tqdm import tqdm

    with tqdm(total=steps, file=sys.stderr, unit="step", delay=1.0, leave=False,
              disable=args.no_progress, desc=f"train {cfg.rule.name} [{bk.name}]") as bar:
        result = trainer.run(steps, progress=bar.update)
    extra = {"w0": args.w0, "init_scale": None if (args.w0 or args.settings) else init_scale, "probes": args.probes,
             "settings": args.settings, "steps": steps, "backend_requested": args.backend,
             "grad_impl_requested": args.grad_impl}
    summ = summary(result, extra)
    if args.out is not None:
        write(result, summ, args.out)
    if args.plot is not None:
        from isodyn.figures.quicklook import eigenvalue_plot

        eigenvalue_plot(np.arange(result.s.shape[0]), result.s, args.plot, lam=result.lam,
                        title=f"isodyn train: {cfg.rule.name}, {cfg.net}, n = {cfg.samples:,}",
                        diverged_step=result.diverged_step)
    if args.json:
        emit_json(summ)
    else:
        _report(summ, args.out, args.plot)
    return 0


def _report(s: dict, out, plot=None) -> None:
    p = s["parameters"]
    print(f"isodyn train: {p['metric']}/{p['variant']} {p['net']} {p['in_dim']}->{p['out_dim']}, "
          f"n={p['samples']}, {s['steps']} steps on {s['backend']} ({p['dtype']}, {p['sampler']} sampler)")
    print(f"  s_final   {format_values(s['s_final'])}")
    print(f"  lam_final {format_values(s['lam_final'])}")
    if "alignment_final" in s:
        a, asym = s["alignment_final"], s["asymmetry_final"]
        print(f"  trained predictor: alignment ||[C, W_P]|| / (||C|| ||W_P||) = "
              f"{'null' if a is None else f'{a:.3g}'}, asymmetry = {'null' if asym is None else f'{asym:.3g}'}, "
              f"per eigenvector {format_values(s['eigvec_alignment_final'])}")
    print(f"  collapsed={s['collapsed']} diverged={s['diverged']} seconds={s['seconds']:.3g}")
    for f in (out, plot):
        if f:
            print(f"  wrote {f}")
