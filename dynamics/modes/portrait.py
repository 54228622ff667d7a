"""The two-mode phase portrait: the reduced flow of a spectrum of two modes (SPEC §4), for teaching.

    two_mode_field(rule, params, s1, s2)      -> (ds1/dt, ds2/dt), arrays of the shape of s1, s2
    nullclines(rule, params, s1_range, s2_range)  -> {"s1": [curves], "s2": [curves]}, each (n, 2)
    portrait_fixed_points(rule, params)       -> [PortraitPoint(s1, s2, stability), ...]
    fixed_point_eigenvalues(rule, params)     -> [(s1, s2, eigenvalues or None), ...]

The state is the two eigenvalues s_m = (1+sigma1^2) S_m^2 with no EMA lag (S_t = S) and no predictor lag;
the rate is per unit ODE time t = eta * step (the expected-GD map moves S by eta times it a step).  Nothing is
typed here: the drift G_m is the rule's generated kernel (``codegen.kernels(rule).drift_np``, the cosine
mode sums taken over the two modes, so the cosine modes couple and the Euclidean ones do not; the exact
closure: the compiled quadrature ``exact_drift`` that ``simulate`` runs), and dS/dt = G - gamma S, lambda_m,
S_m(s_m) and ds/dS are lambdified from derivations (analysis.ode_step, modes.predictor_eigenvalue,
modes.amplitude, modes.correlation_eigenvalue).

``params``: a dict of ``simulate`` keyword names, every one optional -- sigma1 (0), sigma2 (0.1),
weight_decay (0), alpha, eps, beta (the rule's, as in simulate); ema and rho only 0.  Fixed points and their
stability come from derivations.analysis (Euclidean: each mode at 0 or at a root s* of rate(lambda) = gamma;
cosine: the isotropic line s1 = s2 where its residual vanishes), evaluated at these numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from isodyn.derivations import CLOSURES
from isodyn.derivations.checks import PARAMETERS, InputError
from isodyn.dynamics.codegen.lambdified import correlation_functions

_KEYS = ("sigma1", "sigma2", "weight_decay", "alpha", "eps", "beta", "ema", "rho")
#: |eigenvalue| below this (relative to the largest, or absolute when all are tiny): marginal
MARGINAL = 1e-9
LINE = "line of fixed points (marginal)"


class PortraitPoint(NamedTuple):
    """A fixed point of the two-mode flow: eigenvalues (s1, s2) and its stability in words."""

    s1: float
    s2: float
    stability: str


def portrait_params(rule, params: dict | None) -> dict:
    """The checked parameters (every key of the module docstring filled in); InputError naming the key."""
    params = dict(params or {})
    for k in params:
        if k not in _KEYS:
            raise InputError(k, params[k], "one of " + ", ".join(_KEYS) + " (the two-mode portrait's parameters)")
    if rule.trainable:
        raise InputError("predictor", rule.predictor, "closed-form (a trained predictor's lambda is a state: "
                         "the flow is not two-dimensional)")
    out = dict(sigma1=0.0, sigma2=0.1, weight_decay=0.0, alpha=rule.alpha, eps=rule.eps,
               beta=rule.beta if rule.beta is not None else 0.0, ema=0.0, rho=0.0)
    out.update(params)
    out = {k: PARAMETERS[k](k, v) for k, v in out.items()}
    for k in ("ema", "rho"):
        if out[k] != 0.0:
            raise InputError(k, out[k], "0 (the portrait is the flow of S with S_t = S and no predictor lag)")
    return out


def _field_build():
    import sympy as sp

    from isodyn.derivations.analysis import ode_step
    from isodyn.derivations.modes import (
        S,
        alpha,
        eps,
        gamma,
        predictor_eigenvalue,
        s,
        s_max,
    )

    G = sp.Symbol("G")
    return {"lam": ((s, s_max, eps, alpha), predictor_eigenvalue(False)),
            "lam_normed": ((s, s_max, eps, alpha), predictor_eigenvalue(True)),
            "dS": ((G, S, gamma), ode_step(G)[0])}, {}


def _field_functions():
    """NumPy functions printed from derivations into the kernel cache (codegen.lambdified): lam(s, s_max, eps,
    alpha) plain and lam_normed, dS(G, S, gamma) = dS/dt (s(S), its inverse and ds/dS: correlation_functions)."""
    from isodyn.dynamics.codegen.lambdified import cached_functions

    return cached_functions(("portrait-field",), _field_build)


def _lambda(rule, s, p):
    """lambda_m (..., 2) of the predictor for eigenvalues s (..., 2) (1 without a predictor)."""
    f = _field_functions()
    if not rule.has_predictor:
        return np.ones_like(s)
    smax = np.max(s, axis=-1, keepdims=True)
    fn = f.lam_normed if rule.normalize else f.lam
    return np.asarray(fn(s, smax, p["eps"], p["alpha"]), dtype=float) + 0.0 * s


def _drift(rule, S, lam, p, closure, grid):
    """G (..., 2) at amplitudes S (..., 2) with S_t = S: the generated kernel, or the exact quadrature."""
    if rule.metric == "cosine" and closure == "exact":
        from isodyn.dynamics.modes import integrators as I
        from isodyn.dynamics.modes.exact import ExactGrid

        mod = I.compiled(rule)
        x, wx = (grid or ExactGrid()).nodes()
        flatS, flatL = S.reshape(-1, 2), lam.reshape(-1, 2)
        out = np.empty_like(flatS)
        aux = np.empty(2)
        for i in range(flatS.shape[0]):
            Si = np.ascontiguousarray(flatS[i])
            mod.exact_drift(Si, Si, np.ascontiguousarray(flatL[i]), p["sigma1"], p["sigma2"], p["beta"], x, wx, x,
                            wx, out[i], aux, False)
        return out.reshape(S.shape)
    from isodyn.dynamics.codegen.kernels import kernels

    return kernels(rule).drift_np(S, S, lam, p["sigma1"], p["sigma2"], p["beta"])


def two_mode_field(rule, params, s1, s2, closure: str = "mean-field", grid=None):
    """(ds1/dt, ds2/dt) of the two-mode flow at eigenvalues s1, s2 (arrays of one shape, > 0), per unit ODE
    time t = eta * step (SPEC §4; S_t = S).  ``closure``: the cosine rules' 'mean-field' or 'exact' (the
    quadrature on ``grid``, default ExactGrid(); a loop over the points: slower)."""
    if closure not in CLOSURES:
        raise InputError("closure", closure, "one of " + ", ".join(CLOSURES))
    p = portrait_params(rule, params)
    s1, s2 = np.broadcast_arrays(np.asarray(s1, dtype=float), np.asarray(s2, dtype=float))
    if not (np.all(np.isfinite(s1)) and np.all(np.isfinite(s2)) and np.all(s1 > 0) and np.all(s2 > 0)):
        raise InputError("s1, s2", "non-positive or non-finite", "positive finite eigenvalues")
    f, c = _field_functions(), correlation_functions()
    s = np.stack([s1, s2], axis=-1)
    S = np.asarray(c.amplitude(s, p["sigma1"]), dtype=float)
    G = _drift(rule, S, _lambda(rule, s, p), p, closure, grid)
    ds = np.asarray(c.ds_dS(S, p["sigma1"]) * f.dS(G, S, p["weight_decay"]), dtype=float)
    return ds[..., 0], ds[..., 1]


def nullclines(rule, params, s1_range, s2_range, closure: str = "mean-field", n: int = 160, grid=None) -> dict:
    """The curves ds1/dt = 0 and ds2/dt = 0 inside s1_range x s2_range ((lo, hi), lo > 0): {"s1": [(k, 2) arrays
    of (s1, s2) points], "s2": [...]}, contours of the relative rates ds_m/dt / s_m on an n x n log grid."""
    import contourpy

    if not (0 < s1_range[0] < s1_range[1] and 0 < s2_range[0] < s2_range[1]):
        raise InputError("s1_range, s2_range", (s1_range, s2_range), "ranges (lo, hi) with 0 < lo < hi")
    x = np.linspace(np.log10(s1_range[0]), np.log10(s1_range[1]), n)
    y = np.linspace(np.log10(s2_range[0]), np.log10(s2_range[1]), n)
    X, Y = np.meshgrid(x, y)
    d1, d2 = two_mode_field(rule, params, 10.0**X, 10.0**Y, closure, grid)
    out = {}
    for name, d, v in (("s1", d1, 10.0**X), ("s2", d2, 10.0**Y)):
        lines = contourpy.contour_generator(x, y, d / v).lines(0.0)
        out[name] = [10.0**ln for ln in lines if len(ln) > 1]
    return out


# --- fixed points (derivations.analysis at the numbers) --------------------------------------------------


def _euclidean_build(key):
    from isodyn.derivations.analysis import fixed_points, growth_rate, lam_star, s_star
    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import alpha, eps, gamma, sigma1, sigma2
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(key)
    args = (alpha, eps, gamma, sigma1, sigma2)
    fns = {"rate": ((lam,) + args, growth_rate(rule))}
    roots = [fp for fp in fixed_points(rule) if fp.s is not None]
    for i, fp in enumerate(roots):
        J = fp.jacobian
        fns[f"s_{i}"] = (args, fp.s)
        fns[f"lam_{i}"] = (args, fp.lam)
        fns[f"eig_{i}"] = ((lam_star, s_star) + args, J[0, 0] + (J[0, 1] if J.shape[1] > 1 else 0))
    return fns, {"N_ROOTS": len(roots)}


def _euclidean_theory(key):
    """From analysis.fixed_points / growth_rate, printed into the kernel cache: per root i, s_i and lam_i (alpha,
    eps, gamma, sigma1, sigma2) and eig_i(lambda*, s*, ...), the eigenvalue of the flow of S along S_t = S
    (J[0,0] + J[0,1] of the analysis Jacobian in (S, S_t); J[0,0] without a target); rate(lambda, ...), the
    growth rate (1/S) dS/dt + gamma."""
    from isodyn.dynamics.codegen.lambdified import cached_functions

    return cached_functions(("portrait-euclidean", *key), lambda: _euclidean_build(key))


def _cosine_build(key):
    from isodyn.derivations.analysis import Lbar, Sbar, isotropic_jacobian, isotropic_residual
    from isodyn.derivations.invariants import beta
    from isodyn.derivations.modes import alpha, sigma1, sigma2
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(key)
    _, eig = isotropic_jacobian(rule, 2)
    fns = {"residual": ((Sbar, Lbar, sigma1, sigma2, beta), isotropic_residual(rule, 2))}
    fns.update({f"eig_{i}": ((Sbar, alpha, sigma2, beta), e) for i, e in enumerate(eig)})
    return fns, {"N_EIG": len(eig)}


def _cosine_theory(key):
    """From analysis, printed into the kernel cache: residual(S, lambda, sigma1, sigma2, beta), the isotropic
    residual (the condition of analysis.fixed_points) at M = 2, and eig_i(S, alpha, sigma2, beta), the eigenvalues
    of isotropic_jacobian(rule, 2) (sigma1 = eps = gamma = 0)."""
    from isodyn.dynamics.codegen.lambdified import cached_functions

    return cached_functions(("portrait-cosine", *key), lambda: _cosine_build(key))


def _real(x) -> float | None:
    z = complex(x)
    return z.real if np.isfinite(z.real) and abs(z.imag) <= 1e-12 * max(1.0, abs(z.real)) else None


def fixed_point_eigenvalues(rule, params=None, s_range=(1e-3, 10.0), n_line: int = 9) -> list:
    """[(s1, s2, eigenvalues (2,) or None), ...]: the fixed points of :func:`portrait_fixed_points` with the
    eigenvalues of the flow's Jacobian there (in S_m, ODE time; the Euclidean modes decouple, so one per
    mode).  Cosine: n_line points of the isotropic line log-spaced in s_range, eigenvalues from
    analysis.isotropic_jacobian (None unless sigma1 = eps = 0, its setting)."""
    p = portrait_params(rule, params)
    args = (p["alpha"], p["eps"], p["weight_decay"], p["sigma1"], p["sigma2"])
    if rule.normalize:
        raise InputError("normalize", True, "False (derivations.analysis derives the fixed points of the "
                         "unnormalised predictor)")
    if rule.metric == "euclidean":
        th = _euclidean_theory(rule.structural_key)
        lam0 = p["eps"] ** p["alpha"] if rule.has_predictor else 1.0
        per_mode = {0.0: float(th.rate(lam0, *args)) - p["weight_decay"]}  # dS/dt = S (rate - gamma) near S = 0
        for i in range(th.N_ROOTS):
            s_f, lam_f, eig_f = (getattr(th, f"{n}_{i}") for n in ("s", "lam", "eig"))
            with np.errstate(invalid="ignore"):
                sv, lv = _real(s_f(*args)), _real(lam_f(*args))
            if sv is None or lv is None or sv < 0 or lv <= 0:
                continue
            key = 0.0 if sv <= 1e-12 else float(sv)
            per_mode.setdefault(key, float(np.real(eig_f(lv, sv, *args))))
        pts = sorted(per_mode)
        return [(a, b, np.array([per_mode[a], per_mode[b]])) for a in pts for b in pts]
    th = _cosine_theory(rule.structural_key)
    res, eig = th.residual, [getattr(th, f"eig_{i}") for i in range(th.N_EIG)]
    line = np.geomspace(s_range[0], s_range[1], n_line)
    S = correlation_functions().amplitude(line, p["sigma1"])
    lam = _lambda(rule, np.stack([line, line], -1), p)[:, 0]
    resid = np.asarray(res(S, lam, p["sigma1"], p["sigma2"], p["beta"]), dtype=float) - p["weight_decay"] * S
    if not np.all(np.abs(resid) <= 1e-12 * np.maximum(1.0, S)):
        return []  # the isotropic spectra are not fixed at these numbers (e.g. weight decay)
    exact = p["sigma1"] == 0.0 and p["eps"] == 0.0
    out = []
    for sv, Sv in zip(line, S):
        ev = np.array([float(e(Sv, p["alpha"], p["sigma2"], p["beta"])) for e in eig]) if exact else None
        out.append((float(sv), float(sv), ev))
    return out


def stability_word(eigenvalues) -> str:
    """'stable' (all < 0), 'unstable' (all > 0), 'saddle' (both signs), 'marginal' (a zero one, isolated
    point), from the eigenvalues (relative tolerance MARGINAL)."""
    e = np.asarray(eigenvalues, dtype=float)
    tol = MARGINAL * max(float(np.max(np.abs(e))), 1.0)
    neg, pos = e < -tol, e > tol
    if np.all(neg):
        return "stable"
    if np.all(pos):
        return "unstable"
    if np.any(neg) and np.any(pos):
        return "saddle"
    return "marginal"


def portrait_fixed_points(rule, params=None, s_range=(1e-3, 10.0), n_line: int = 9) -> list[PortraitPoint]:
    """The fixed points of the two-mode flow in s1, s2 >= 0 that derivations.analysis derives, with their
    stability in words: Euclidean every pair (each mode at 0 or a root s*), 'stable' / 'unstable' / 'saddle' /
    'marginal' from the Jacobian's eigenvalues; cosine the isotropic line s1 = s2 (n_line points in s_range),
    ``LINE``; [] where analysis gives none at these numbers."""
    out = []
    for a, b, ev in fixed_point_eigenvalues(rule, params, s_range, n_line):
        word = LINE if rule.metric == "cosine" else stability_word(ev)
        out.append(PortraitPoint(a, b, word))
    return out
