"""Public API of the mode-dynamics simulator (issue 3; SPEC §4).

    simulate(rule, s0, lr=..., steps=..., ...)              one point  -> Trajectory (T, M)
    simulate_batch(rule, s0, lr=array, sigma2=array, ...)   B points   -> Trajectory (B, T, M)

``s0`` are the initial eigenvalues s_m of the online correlation (SPEC §2); the amplitudes are
S_m = S_t,m = sqrt(s_m / (1 + sigma1^2)) and the lagging predictor's estimate starts at C = s0.
Every dynamics parameter may be a scalar or, in ``simulate_batch``, an array over points (they
broadcast against each other and against s0 of shape (B, M)); they are run-time arguments of the
compiled loops, so a sweep never recompiles.

Schemes: ``map`` (the expected-GD map, step for step comparable with training), ``rk4`` (fixed step
lr / substeps) and ``dopri5`` (adaptive, rtol / atol) on the ODE with t = lr * step; see
:mod:`isodyn.dynamics.modes.integrators`.  Cosine rules take ``closure='exact'`` (default; quadrature with the
accuracy control of :mod:`isodyn.dynamics.modes.exact`: the grid is calibrated on the initial states and checked
on the final ones, refined and the run repeated when the check fails) or ``'mean-field'``.

A run that diverges is a result: ``measures['diverged']`` and ``diverged_step``; the arrays hold NaN
after it and ``s_final`` the last finite state.
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

from isodyn.derivations import CLOSURES
from isodyn.derivations.checks import PARAMETERS, Choice, InputError, Integer, Real
from isodyn.dynamics import measures as ms
from isodyn.dynamics.modes import integrators as I
from isodyn.dynamics.modes.exact import DEFAULT_TOL, ExactGrid, closure_error_compiled
from isodyn.dynamics.modes.trajectory import Trajectory
from isodyn.dynamics.paper import paper_lr

CHECK_POINTS = 8  # states per batch on which the exact closure's accuracy is checked

#: kept for one release: simulate's error is the one input error of the package (flag = the keyword name)
ParameterError = InputError

#: per-point parameters (scalars or arrays over points) and their checks: the model's domains
#: (derivations.checks.PARAMETERS) and the divergence bound
_POSITIVE = Real(lo=0.0, lo_open=True)
POINT_CHECKS = {**PARAMETERS, "s_bound": _POSITIVE}
_ARRAY_PARAMS = ("lr", "sigma1", "sigma2", "weight_decay", "ema", "rho", "alpha", "eps", "beta", "s_bound",
                 "predictor_lr_ratio", "predictor_weight_decay")
_COUNT = Integer(lo=1)
_S0 = Real("positive finite eigenvalues", lo=0.0, lo_open=True)
_LAM0 = Real("finite predictor eigenvalues >= 0", lo=0.0)


def simulate(rule, s0, **kw) -> Trajectory:
    """One point: s0 (M,) initial eigenvalues; keyword arguments as :func:`simulate_batch` (scalars)."""
    s0 = np.asarray(s0, dtype=float)
    if s0.ndim != 1:
        raise InputError("s0", s0.shape, "a 1-d array of M > 0 eigenvalues")
    for k, v in kw.items():
        if k in _ARRAY_PARAMS and np.ndim(v) != 0:
            raise InputError(k, v, "a scalar (use simulate_batch for arrays)")
    return simulate_batch(rule, s0[None, :], **kw).point(0)


def simulate_batch(rule, s0, *, lr=None, steps: int = 1500, sigma1=0.0, sigma2=0.1, weight_decay=0.0, ema=0.0,
                   rho=0.0, alpha=None, eps=None, beta=None, s_bound=None, lam0=None, predictor_lr_ratio=None,
                   predictor_weight_decay=None, scheme: str = "map",
                   closure: str = "exact", stride: int = 1, substeps: int = 1, rtol: float = 1e-8,
                   atol: float = 1e-12, dense: bool = True, max_steps: int = 10**7,
                   exact_tol: float = DEFAULT_TOL, grid: ExactGrid | None = None, fixed_grid: bool = False,
                   threads: int | None = None, map_resync: int = I.MAP_RESYNC) -> Trajectory:
    """Integrate B points of the mode equations of ``rule`` (SPEC §4) in one compiled call.

    s0            (B, M) or (M,) initial eigenvalues, > 0
    lr            learning rate eta > 0 (default: the paper's for the rule, SPEC §5)
    steps         training steps; ODE schemes integrate to t = lr * steps
    sigma1/2      view noise of the online / target branch, >= 0
    weight_decay  gamma >= 0;  ema  target momentum tau in [0, 1) (0: no EMA; rules without a target
                  network accept only 0);  rho  predictor lag in [0, 1) (0: lambda from the current s)
    alpha, eps    predictor exponent and offset (default: the rule's); beta IsoLoss exponent (default:
                  the rule's; only for a rule with a beta, Rule(..., beta=B));  s_bound  divergence bound on s (default
                  measures.BOUND * max(1, max s0))
    lam0, predictor_lr_ratio, predictor_weight_decay
                  a trained predictor's (``rule.predictor == 'trainable'``, SPEC §7) initial eigenvalues
                  (B, M) or (M,) (default: the closed-form predictor's at s0), learning-rate ratio alpha_p > 0
                  (default 1) and weight decay gamma_p >= 0 (default: weight_decay); refused for the
                  closed-form predictor
    scheme        'map' | 'rk4' | 'dopri5';  substeps (rk4: dt = lr / substeps);  rtol, atol, dense,
                  max_steps (dopri5)
    closure       'exact' | 'mean-field' (cosine rules; Euclidean has a closed form)
    stride        save every stride-th step (and the last); recruitment steps have this resolution
    exact_tol     accuracy of the exact closure's quadrature (relative, against a refined grid)
    fixed_grid    exact closure: integrate on ``grid`` as given (no calibration, no refinement), so a point's
                  result depends on its own parameters only, whatever batch it is in (the sweep); the
                  accuracy is then checked at the initial and the final state of EVERY point and reported
                  per point as ``measures['closure_error']`` (NaN where the point did not end ok)
    map_resync    the map: lambda = b^alpha in full every map_resync steps, by ratio updates (<= 1 ulp
                  each) in between (isodyn.dynamics.modes.integrators._map_fast); 1: in full every step

    Bad input raises :class:`~isodyn.derivations.checks.InputError` naming the keyword, before any work.
    """
    t_start = time.perf_counter()
    _check_options(scheme, closure, steps, stride, substeps, rtol, atol, map_resync, exact_tol)
    if beta is not None and rule.beta is None:
        raise InputError("beta", np.asarray(beta).ravel()[:3].tolist(), "only with an IsoLoss-family rule, "
                         f"Rule({rule.metric!r}, {rule.variant!r}, beta=B) (this rule's multiplier is its variant's)")
    given = dict(lr=paper_lr(rule) if lr is None else lr, sigma1=sigma1, sigma2=sigma2, weight_decay=weight_decay,
                 ema=ema, alpha=rule.alpha if alpha is None else alpha, eps=rule.eps if eps is None else eps,
                 beta=(rule.beta if rule.beta is not None else 0.0) if beta is None else beta, rho=rho)
    given.update(_predictor_options(rule, weight_decay, predictor_lr_ratio, predictor_weight_decay, lam0))
    s0, cols = _point_columns(rule, s0, given, s_bound)
    P = _parameter_matrix(cols, s0.shape[0])
    lam0 = _initial_predictor(rule, lam0, s0, P)
    kw = dict(lam0=lam0, stride=stride, substeps=substeps, exact=rule.metric == "cosine" and closure == "exact",
              grid=grid, rtol=rtol, atol=atol, max_steps=max_steps, dense=dense, threads=threads,
              map_resync=int(map_resync))
    raw, extra, closure_error = _integrate(rule, I.SCHEMES[scheme], s0, P, steps, kw, exact_tol, fixed_grid)

    mod = I.compiled(rule)
    s_final = np.empty(s0.shape)
    lam_final = np.empty(s0.shape)
    mod.save_all(raw.Y, P, s_final, lam_final)
    status, event, last, nrhs = raw.info.T
    step = I.frame_steps(steps, stride)
    measures = _measures(raw, status, step, s0, s_final, lam_final)
    if closure_error is not None:
        measures["closure_error"] = closure_error
    params = _parameter_record(rule, cols, s0.shape[0], scheme, steps, stride, substeps, map_resync, rtol, atol,
                               dense)
    closure_name = closure if rule.metric == "cosine" else "closed-form"
    return Trajectory(rule, scheme, closure_name, params, step, raw.s, raw.lam, s0, s_final, lam_final, status,
                      event, last, measures, nrhs, time.perf_counter() - t_start, True, extra)


def _check_options(scheme, closure, steps, stride, substeps, rtol, atol, map_resync, exact_tol) -> None:
    """The run options of :func:`simulate_batch` (scalars); InputError naming the keyword."""
    Choice(tuple(I.SCHEMES))("scheme", scheme)
    Choice(CLOSURES)("closure", closure)
    for name, v in (("steps", steps), ("stride", stride), ("substeps", substeps), ("map_resync", map_resync)):
        _COUNT(name, v)
    _POSITIVE("rtol", rtol)
    Real(lo=0.0)("atol", atol)
    _POSITIVE("exact_tol", exact_tol)


def _predictor_options(rule, weight_decay, lr_ratio, decay, lam0) -> dict:
    """The trained predictor's per-point parameters (SPEC §7); the closed-form predictor refuses them."""
    if not rule.trainable:
        for name, v in (("predictor_lr_ratio", lr_ratio), ("predictor_weight_decay", decay), ("lam0", lam0)):
            if v is not None:
                raise InputError(name, v, "omit it for predictor closed-form (only with predictor trainable)")
        return {}
    return {"predictor_lr_ratio": 1.0 if lr_ratio is None else lr_ratio,
            "predictor_weight_decay": weight_decay if decay is None else decay}


def _initial_predictor(rule, lam0, s0, P) -> np.ndarray | None:
    """A trained predictor's initial eigenvalues (B, M): ``lam0`` checked, or the closed-form predictor's at s0."""
    if not rule.trainable:
        return None
    B, M = s0.shape
    if lam0 is None:
        out = np.empty((B, M))
        I.compiled(rule).closed_form_lambda(s0, P, out)
        return out
    lam0 = _LAM0.array("lam0", np.atleast_2d(np.asarray(lam0, dtype=float)))
    if lam0.ndim != 2 or lam0.shape[1] != M or lam0.shape[0] not in (1, B):
        raise InputError("lam0", lam0.shape, f"{M} predictor eigenvalues (one per mode of s0), or an array (B, {M})")
    return np.broadcast_to(lam0, (B, M)).copy()


def _point_columns(rule, s0, given: dict, s_bound) -> tuple[np.ndarray, dict]:
    """(s0 (B, M), name -> checked float array, scalar or (B,)) of the per-point parameters: each checked by
    POINT_CHECKS, the rule's constraints (ema = 0 without a target network), one common length B."""
    s0 = _S0.array("s0", np.atleast_2d(np.asarray(s0, dtype=float)))
    cols = {name: POINT_CHECKS[name].array(name, v) for name, v in given.items()}
    cols = {**{k: cols[k] for k in ("lr", "sigma1", "sigma2", "weight_decay", "ema", "alpha", "eps")},
            "normalize": np.asarray(float(rule.normalize)), "beta": cols["beta"], "rho": cols["rho"],
            **{k: cols[k] for k in ("predictor_lr_ratio", "predictor_weight_decay") if k in cols}}
    if not rule.has_target_network and np.any(cols["ema"] > 0):
        raise InputError("ema", float(np.max(cols["ema"])),
                         f"0 for variant {rule.variant} (no target network: W_t = W)")
    lengths = {v.shape[0] for v in cols.values() if v.ndim == 1} | {s0.shape[0]}
    if any(v.ndim > 1 for v in cols.values()) or s0.ndim != 2 or len(lengths - {1}) > 1:
        raise InputError("s0", s0.shape, "parameter arrays of one length B and s0 of shape (B, M) or (M,)")
    B = max(lengths)
    s0 = np.broadcast_to(s0, (B, s0.shape[1])).copy()
    if s_bound is None:
        bound = ms.divergence_bound(s0)
        if not np.all(np.isfinite(bound)):  # the default bound overflows: s0 itself is out of range
            raise InputError("s0", float(np.max(s0)), f"positive eigenvalues up to {ms.MAX_S0:g} (the divergence "
                             f"bound is {ms.BOUND:g} times the largest)")
    else:
        bound = s_bound
    cols["s_bound"] = POINT_CHECKS["s_bound"].array("s_bound", bound)
    return s0, cols


def _parameter_matrix(cols: dict, B: int) -> np.ndarray:
    """(B, NPAR) parameter columns of the compiled loops (integrators.PIDX); a column no parameter names is 0
    (the trained predictor's, for the closed-form predictor)."""
    P = np.zeros((B, I.NPAR))
    P[:, I.PIDX["trainable"]] = float("predictor_lr_ratio" in cols)
    for name, v in cols.items():
        try:
            P[:, I.PIDX[name]] = np.broadcast_to(v, (B,))
        except ValueError:
            raise InputError(name, np.shape(v), f"a scalar or an array of length {B}") from None
    return P


def _integrate(rule, sch, s0, P, steps, kw, exact_tol, fixed_grid):
    """One compiled run (:func:`integrators.run`), with the exact closure's accuracy control around it.

    Returns (raw, extra, closure_error): ``extra`` the run facts (run_seconds; closure error, tolerance and
    grid for the exact closure), ``closure_error`` (B,) per point with ``fixed_grid``, else None.
    """
    B = s0.shape[0]
    extra: dict = {}
    if not kw["exact"]:
        t_run = time.perf_counter()
        raw = I.run(rule, sch, s0, P, steps, **kw)
        extra["run_seconds"] = time.perf_counter() - t_run
        return raw, extra, None
    if fixed_grid:
        return _integrate_fixed_grid(rule, sch, s0, P, steps, kw, exact_tol)
    check = np.unique(np.linspace(0, B - 1, min(B, CHECK_POINTS)).astype(int))
    grid, err0 = _calibrate(rule, kw["grid"] or ExactGrid(), s0, _lam0_rows(kw["lam0"], s0), P, check, exact_tol)
    kw = dict(kw, grid=grid)
    for _ in range(3):
        t_run = time.perf_counter()
        raw = I.run(rule, sch, s0, P, steps, **kw)
        run_seconds = time.perf_counter() - t_run
        ok = [i for i in check if raw.info[i, 0] == I.OK]
        err1 = max([_state_error(rule, grid, raw.Y[i], P[i]) for i in ok], default=0.0)
        if err1 <= exact_tol:
            break
        grid = grid.finer()
        kw["grid"] = grid
    else:  # three refinements did not reach exact_tol: run on the last one, report the error before it
        t_run = time.perf_counter()
        raw = I.run(rule, sch, s0, P, steps, **kw)
        run_seconds = time.perf_counter() - t_run
        sys.stderr.write(f"isodyn: warning: exact closure error {err1:.1e} above {exact_tol:.1e}\n")
    extra.update(closure_rel_error=max(err0, err1), closure_tol=exact_tol, closure_grid=grid.as_dict(),
                 run_seconds=run_seconds)
    return raw, extra, None


def _integrate_fixed_grid(rule, sch, s0, P, steps, kw, exact_tol):
    """The exact closure on ``kw['grid']`` as given; its accuracy checked at the initial and final state of every
    point (``fixed_grid`` of :func:`simulate_batch`)."""
    grid = kw["grid"]
    if grid is None:
        raise InputError("grid", None, "an ExactGrid when fixed_grid is set")
    B = s0.shape[0]
    mod0 = I.compiled(rule)
    lam0 = _lam0_rows(kw["lam0"], s0)
    err0_pt = np.array([_state_error(rule, grid, mod0.initial_state(s0[i], lam0[i], P[i]), P[i]) for i in range(B)])
    t_run = time.perf_counter()
    raw = I.run(rule, sch, s0, P, steps, **kw)
    run_seconds = time.perf_counter() - t_run
    err_pt = np.full(B, np.nan)
    for i in range(B):
        if raw.info[i, 0] == I.OK:
            err_pt[i] = max(err0_pt[i], _state_error(rule, grid, raw.Y[i], P[i]))
    extra = dict(closure_rel_error=float(np.nanmax(err_pt)) if np.any(np.isfinite(err_pt)) else float("nan"),
                 closure_tol=exact_tol, closure_grid=grid.as_dict(), run_seconds=run_seconds)
    return raw, extra, err_pt


def _measures(raw, status, step, s0, s_final, lam_final) -> dict:
    """The measures of :mod:`isodyn.dynamics.measures` of every point (names as in the JSON summary)."""
    diverged = status == I.DIVERGED
    dead = ms.dead_modes(s_final, s0)
    return {
        "diverged": diverged,
        "dead": dead,
        "n_dead": dead.sum(-1),
        "collapsed": np.all(dead, axis=-1),
        "converged": ms.converged(raw.rate, ~dead, diverged | (status != I.OK)),
        "rate": raw.rate,
        "recruit_steps": ms.recruit_steps(raw.s, step, s_final=s_final, dead=dead | diverged[:, None]),
        "effective_rank": ms.effective_rank(s_final),
        "isotropy": ms.isotropy(lam_final),
    }


def _parameter_record(rule, cols, B, scheme, steps, stride, substeps, map_resync, rtol, atol, dense) -> dict:
    """Every parameter of the run as the Trajectory keeps it (scalars, or (B,) arrays where they vary)."""
    params = {k: (v.item() if v.ndim == 0 else np.broadcast_to(v, (B,)).copy()) for k, v in cols.items()}
    params["normalize"] = bool(rule.normalize)
    params["predictor"] = rule.predictor
    params.update(steps=int(steps), stride=int(stride))
    if scheme == "rk4":
        params["substeps"] = int(substeps)
    if scheme == "map":
        params["map_resync"] = int(map_resync)
    if scheme == "dopri5":
        params.update(rtol=float(rtol), atol=float(atol), dense=bool(dense))
    return params


def _state(rule, Y, p):
    """(S, S_t, lambda) the drift sees at state Y (3, M) with parameters p."""
    mod = I.compiled(rule)
    M = Y.shape[1]
    ema = rule.has_target_network and p[I.PIDX["ema"]] > 0
    lag = p[I.PIDX["rho"]] > 0
    s, lam, wk = np.empty(M), np.empty(M), np.empty((mod.NWORK, M))
    mod.save(Y, p, lag, wk, s, lam)
    return Y[0], (Y[1] if ema else Y[0]), lam


def _state_error(rule, grid, Y, p) -> float:
    S, St, lam = _state(rule, Y, p)
    return closure_error_compiled(I.compiled(rule), grid, np.ascontiguousarray(S), np.ascontiguousarray(St), lam,
                                  p[I.PIDX["sigma1"]], p[I.PIDX["sigma2"]], p[I.PIDX["beta"]])


def _lam0_rows(lam0, s0) -> np.ndarray:
    """A trained predictor's initial eigenvalues, or (closed-form predictor, not used) zeros like s0."""
    return np.zeros_like(s0) if lam0 is None else lam0


def _calibrate(rule, grid, s0, lam0, P, idx, tol):
    """Refine ``grid`` until the initial states of points ``idx`` meet ``tol``; (grid, achieved error)."""
    mod = I.compiled(rule)
    for _ in range(5):
        err = max(_state_error(rule, grid, mod.initial_state(s0[i], lam0[i], P[i]), P[i]) for i in idx)
        if err <= tol:
            return grid, err
        grid = grid.finer()
    raise InputError("exact_tol", tol, f"a tolerance the quadrature reaches (best {err:.1e})")


def log_spaced(M: int, lo: float, hi: float) -> np.ndarray:
    """M eigenvalues log-spaced between lo and hi (the CLI's --modes M --s0-range lo,hi)."""
    if M == 1:
        return np.array([math.sqrt(lo * hi)])
    return np.logspace(math.log10(lo), math.log10(hi), M)
