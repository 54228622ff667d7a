"""Numerical theory curves for the figures, lambdified from derivations/ (nothing typed here; SPEC §4).

* :func:`recruitment_leading` -- the leading recruitment time of a weak mode against its initial
  predictor eigenvalue lambda_0, ``derivations.analysis.weak_mode_asymptotics(rule).leading``;
  cosine rules need the mode sums (P^2, Z^2, ...) of the state the weak mode sees, evaluated from the
  ``ModeSum`` summands of ``derivations.modes.mode_drift(rule, 'mean-field')``.
* :func:`mode_sums` -- those sums for a state (S, S_t) of M modes.
"""

from __future__ import annotations

from functools import cache

import numpy as np


@cache
def _leading(structural_key):
    import sympy as sp

    from isodyn.derivations import Rule
    from isodyn.derivations.analysis import lam0, weak_mode_asymptotics
    from isodyn.derivations.modes import alpha, mode_drift

    rule = Rule.from_structural_key(structural_key)
    expr = weak_mode_asymptotics(rule).leading
    sums = tuple(ms.symbol for ms in mode_drift(rule, "mean-field").sums if ms.symbol in expr.free_symbols)
    return sp.lambdify((lam0, alpha) + sums, expr, "numpy"), sums


@cache
def _summands(structural_key):
    import sympy as sp

    from isodyn.derivations import Rule
    from isodyn.derivations.invariants import lam
    from isodyn.derivations.modes import S, St, mode_drift, sigma1, sigma2

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
