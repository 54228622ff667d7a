"""Numerical theory curves for the figures, lambdified from derivations/ (nothing typed here; SPEC §4).

* :func:`recruitment_leading` -- the leading recruitment time of a weak mode against its initial
  predictor eigenvalue lambda_0, ``derivations.analysis.weak_mode_asymptotics(rule).leading``;
  cosine rules need the mode sums (P^2, Z^2, ...) of the state the weak mode sees, evaluated from the
  ``ModeSum`` summands of ``derivations.modes.mode_drift(rule, 'mean-field')``.
* :func:`mode_sums` -- those sums for a state (S, S_t) of M modes.
* :func:`growth_rates` -- the per-mode growth rate G/S against s (``derivations.analysis.growth_rate``), the
  learning-rate multiplier of the explorer; :func:`closed_form_lambda` -- lambda(s) of the closed-form predictor.
* :func:`trained_fixed_points`, :func:`trained_threshold`, :func:`trained_invariant` -- Tian et al.'s fixed
  points lambda*+-, collapse threshold and invariant for a trained predictor (SPEC §7),
  ``derivations.analysis.trainable_theory``.
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _leading(structural_key):
    import sympy as sp

    from isodyn.derivations.analysis import lam0, weak_mode_asymptotics
    from isodyn.derivations.modes import alpha, mode_drift
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(structural_key)
    expr = weak_mode_asymptotics(rule).leading
    sums = tuple(ms.symbol for ms in mode_drift(rule, "mean-field").sums if ms.symbol in expr.free_symbols)
    return sp.lambdify((lam0, alpha) + sums, expr, "numpy"), sums


@cache
def _summands(structural_key):
    import sympy as sp

    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import S, St, mode_drift, sigma1, sigma2
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(structural_key)
    return {ms.symbol: sp.lambdify((S, St, lam, sigma1, sigma2), ms.summand, "numpy")
            for ms in mode_drift(rule, "mean-field").sums}


def mode_sums(rule, S, St, lam, sigma1=0.0, sigma2=0.1) -> dict:
    """{sum symbol: value} of the mean-field mode sums at a state: S, St, lam arrays (M,)."""
    return {sym: float(np.sum(np.broadcast_to(f(np.asarray(S, float), np.asarray(St, float), np.asarray(lam, float),
                                                 sigma1, sigma2), np.shape(S))))
            for sym, f in _summands(rule.structural_key).items()}


def recruitment_leading(rule, lam0, S=None, St=None, lam=None, sigma1=0.0, sigma2=0.1) -> np.ndarray:
    """Leading recruitment time (ODE time t = eta * step) of a weak mode starting at lambda_0 (array).

    Cosine rules: the mode sums are those of the state (S, St, lam) (M,) the weak mode starts in.
    """
    f, sums = _leading(rule.structural_key)
    args = []
    if sums:
        if S is None:
            raise ValueError(f"{rule.name}: the recruitment law needs the state's mode sums (S, St, lam)")
        vals = mode_sums(rule, S, S if St is None else St, lam, sigma1, sigma2)
        args = [vals[s] for s in sums]
    return np.asarray(f(np.asarray(lam0, dtype=float), rule.alpha, *args), dtype=float)


@cache
def _trained():
    import sympy as sp

    from isodyn.derivations.analysis import alpha_p, ema_ratio, gamma, trainable_theory
    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import S, sigma1
    from isodyn.derivations.rules import Rule

    th = trainable_theory(Rule("euclidean", "standard"))
    args = (gamma, sigma1, ema_ratio)
    return {"plus": sp.lambdify(args, th.fixed_points[0], "numpy"),
            "minus": sp.lambdify(args, th.fixed_points[1], "numpy"),
            "threshold": sp.lambdify((sigma1, ema_ratio), th.threshold, "numpy"),
            "invariant": sp.lambdify((S, lam, alpha_p), th.invariant, "numpy")}


def trained_fixed_points(gamma, sigma1=0.0, ratio=1.0) -> tuple[np.ndarray, np.ndarray]:
    """(lambda*+, lambda*-) of the Euclidean standard loss with a trained predictor under weight decay gamma
    (gamma_p = gamma, S_t = ratio S); NaN where they are not real (gamma above the threshold)."""
    g = np.asarray(gamma, dtype=float)
    f = _trained()
    real = np.where(g <= trained_threshold(sigma1, ratio), 1.0, np.nan)
    plus, minus = (np.asarray(f[k](g + 0j, sigma1, ratio)).real * real for k in ("plus", "minus"))
    return plus, minus


def trained_threshold(sigma1=0.0, ratio=1.0) -> float:
    """The weight decay above which every mode collapses with a trained predictor: ratio^2 / (4 (1 + sigma1^2))."""
    return float(_trained()["threshold"](sigma1, ratio))


def trained_invariant(S, lam, alpha_p=1.0) -> np.ndarray:
    """Tian's invariant S^2 - lambda^2 / alpha_p (conserved at gamma = 0, decaying as exp(-2 gamma t) with
    gamma_p = gamma; sigma1 = 0, S_t = S)."""
    return np.asarray(_trained()["invariant"](np.asarray(S, float), np.asarray(lam, float), alpha_p))


@cache
def _growth(structural_key):
    import sympy as sp

    from isodyn.derivations.analysis import growth_rate
    from isodyn.derivations.invariants import beta, lam
    from isodyn.derivations.modes import mode_drift, sigma1, sigma2
    from isodyn.derivations.rules import Rule

    rule = Rule.from_structural_key(structural_key)
    r = growth_rate(rule)
    sums = tuple(ms.symbol for ms in mode_drift(rule, "mean-field").sums if ms.symbol in r.free_symbols)
    return sp.lambdify((lam, sigma1, sigma2, beta) + sums, r, "numpy"), sums


@cache
def _closed_form(normalize: bool):
    import sympy as sp

    from isodyn.derivations.modes import alpha, amplitude, eps, predictor_eigenvalue, s, s_max, sigma1

    return (sp.lambdify((s, s_max, eps, alpha), predictor_eigenvalue(normalize), "numpy"),
            sp.lambdify((s, sigma1), amplitude(), "numpy"))


def closed_form_lambda(rule, s, s_max=1.0) -> np.ndarray:
    """lambda(s) of the closed-form predictor (``derivations.modes.predictor_eigenvalue``; SPEC §2): array like s;
    ``s_max`` the largest eigenvalue of the state (a normalised predictor)."""
    f, _ = _closed_form(bool(rule.normalize))
    return np.asarray(f(np.asarray(s, dtype=float), float(s_max), rule.eps, rule.alpha), dtype=float)


def growth_rates(rule, s, state_s, state_lam, sigma1=0.0, sigma2=0.1, lam=None) -> np.ndarray:
    """r = G/S on S_t = S (``derivations.analysis.growth_rate``, mean-field for cosine), the per-mode rate in
    (1/S) dS/dt = r - gamma, at eigenvalues ``s`` (array) with lambda the closed-form predictor's at s (or
    ``lam``, like s).  The state (``state_s``, ``state_lam``, (M,)) gives a normalised predictor its s_max and a
    cosine rule its mode sums."""
    f, sums = _growth(rule.structural_key)
    state_s, state_lam = np.asarray(state_s, dtype=float), np.asarray(state_lam, dtype=float)
    lam = closed_form_lambda(rule, s, np.max(state_s)) if lam is None else np.asarray(lam, dtype=float)
    args = []
    if sums:
        S = _closed_form(False)[1](state_s, sigma1)
        vals = mode_sums(rule, S, S, state_lam, sigma1, sigma2)
        args = [vals[x] for x in sums]
    b = rule.multiplier if rule.multiplier is not None else 0.0
    return np.broadcast_to(np.asarray(f(lam, sigma1, sigma2, b, *args), dtype=float), np.shape(lam)).copy()
