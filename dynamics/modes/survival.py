"""Theory boundaries for phase diagrams, evaluated from derivations/ (no formula typed here).

Weight-decay survival (SPEC §4, "Weight decay"): on the diagonal S_t = S a mode obeys
(1/S) dS/dt = r(lambda) - gamma with r = G/S = :func:`derivations.analysis.growth_rate`.  A mode
shrinking from lambda_0 stops at the largest lambda <= lambda_0 where r = gamma, so it survives
iff gamma < gamma_c(lambda_0) = sup_{0 < lambda <= lambda_0} r(lambda).  Standard Euclidean
(r = lambda(1 - lambda) at sigma1 = 0): gamma_c = lambda_0(1 - lambda_0) below lambda_0 = 1/2 and
1/4 above, so every mode dies for gamma > 1/4; IsoLoss (r = 1 - lambda): gamma_c = 1.
A boundary exists only where r depends on lambda alone (Euclidean rules; the cosine rate
involves the other modes).
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _rate(structural_key):
    import sympy as sp

    from isodyn.derivations.analysis import growth_rate
    from isodyn.derivations.invariants import beta, lam
    from isodyn.derivations.modes import sigma1, sigma2
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(structural_key)
    r = growth_rate(rule)
    if not r.free_symbols <= {lam, sigma1, sigma2, beta}:
        return None
    return sp.lambdify((lam, sigma1, sigma2, beta), r, "numpy")


@cache
def _lam_of_s():
    import sympy as sp

    from isodyn.derivations.modes import alpha, eps, predictor_eigenvalue, s

    return sp.lambdify((s, eps, alpha), predictor_eigenvalue(False), "numpy")


def growth_rate_fn(rule):
    """r(lambda, sigma1, sigma2) = G/S on S_t = S for ``rule`` as a NumPy function, or None (cosine)."""
    f = _rate(rule.structural_key)
    if f is None:
        return None
    b = rule.multiplier if rule.multiplier is not None else 0.0
    return lambda lam_, s1, s2: np.broadcast_to(f(lam_, s1, s2, b), np.shape(lam_)).astype(np.float64)


def predictor_eigenvalues(rule, s):
    """lambda_m = (s_m + eps)^alpha of SPEC §2 (unnormalised predictor); array like ``s``."""
    return np.asarray(_lam_of_s()(np.asarray(s, dtype=np.float64), rule.eps, rule.alpha), dtype=np.float64)


def survival_threshold(rule, s0, sigma1=0.0, sigma2=0.0):
    """gamma_c for each initial eigenvalue s0 (array): the mode survives weight decay gamma < gamma_c.

    None when the rule has no such boundary (cosine rates couple modes; a normalised predictor
    couples every lambda to the largest mode).  sup over (0, lambda_0] on a log grid down to
    1e-12 lambda_0 (the iso supremum sits at lambda -> 0), refined by a bounded scalar search.
    """
    from scipy.optimize import minimize_scalar

    r = growth_rate_fn(rule)
    if r is None or rule.normalize:
        return None
    lam0 = np.atleast_1d(predictor_eigenvalues(rule, s0))
    out = np.empty(lam0.shape)
    u = np.geomspace(1e-12, 1.0, 2001)
    for i, l0 in enumerate(lam0.ravel()):
        grid = l0 * u
        vals = r(grid, sigma1, sigma2)
        k = int(np.argmax(vals))
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
        best = vals[k]
        if hi > lo:
            res = minimize_scalar(lambda x: -float(r(np.array(x), sigma1, sigma2)), bounds=(lo, hi),
                                  method="bounded", options={"xatol": 1e-14 * max(hi, 1e-300)})
            best = max(best, -res.fun)
        out.ravel()[i] = best
    return out.reshape(np.shape(s0)) if np.ndim(s0) else float(out[0])
