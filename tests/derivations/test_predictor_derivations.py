"""The trainable predictor's derivations (SPEC §7) against SPEC's closed forms and finite differences.

* dl/dlambda_m of the predictor's loss (derivations.losses.predictor_gradient), evaluated numerically,
  equals central finite differences of an independently written NumPy loss with respect to the
  eigenvalues of a symmetric predictor W_P = U diag(lambda) U^T (relative error <= 1e-6), every rule;
* the Euclidean H_m equals SPEC §7's closed form symbolically; for the stop-gradient rules H_m equals
  S_m times the IsoLoss drift G_m|beta=0 (Euclidean closed form and cosine mean-field);
* Tian's invariant, the fixed points lambda*+- with their stability and the collapse threshold
  (derivations.analysis.trainable_theory) equal SPEC §7's closed forms.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scenarios import RULES, random_orthogonal, rule_id

from isodyn.derivations import Rule
from isodyn.derivations import analysis as an
from isodyn.derivations.invariants import component, invariants_in, key_of, lam
from isodyn.derivations.losses import predictor_gradient
from isodyn.derivations.modes import S, St, mode_drift, predictor_drift, sigma1

RTOL = 1e-6
PREDICTOR_RULES = [r for r in RULES if r.has_predictor]


def _metric(metric, p, t):
    if metric == "euclidean":
        return 0.5 * np.sum((p - t) ** 2, axis=-1)
    return -np.sum(p * t, axis=-1) / (np.linalg.norm(p, axis=-1) * np.linalg.norm(t, axis=-1))


def oracle_loss(rule: Rule, lam_, U, z1, z2):
    """The loss a trainable predictor descends, written from SPEC §7: the metric between p = W_P z1 and the
    target; wrong-stopgrad stops p (no dependence on W_P)."""
    Wp = (U * lam_) @ U.T
    if rule.variant == "wrong-stopgrad":
        return np.zeros(z1.shape[0])
    return _metric(rule.metric, z1 @ Wp.T, z2)


def derived(rule: Rule, lam_, U, z1, z2):
    """predictor_gradient(rule) evaluated per sample and mode: (n, M)."""
    expr = predictor_gradient(rule)
    Z1, Z2 = z1 @ U, z2 @ U
    invs = invariants_in(expr)
    base = {"z1": Z1, "z2": Z2}
    f = sp.lambdify([component("z1"), component("z2"), lam, *invs], expr, "numpy")
    vals = []
    for q in invs:
        k = key_of(q)
        x, y = k.live_pair
        vals.append(np.sum(lam_ ** float(k.c.subs(sp.Symbol("beta", real=True), 0)) * base[x] * base[y],
                           axis=-1, keepdims=True))
    return np.broadcast_to(f(Z1, Z2, lam_, *vals), Z1.shape)


@pytest.mark.parametrize("rule", PREDICTOR_RULES, ids=rule_id)
def test_predictor_gradient_equals_finite_differences(rule, rng):
    M, n = 4, 7
    U = random_orthogonal(rng, M)
    lam_ = rng.uniform(0.3, 2.0, M)
    z1 = rng.standard_normal((n, M))
    z2 = 0.7 * z1 + 0.5 * rng.standard_normal((n, M))
    g = derived(rule, lam_, U, z1, z2)
    fd = np.empty_like(g)
    for m in range(M):
        h = 1e-5 * lam_[m]
        up, dn = lam_.copy(), lam_.copy()
        up[m] += h
        dn[m] -= h
        fd[:, m] = (oracle_loss(rule, up, U, z1, z2) - oracle_loss(rule, dn, U, z1, z2)) / (2 * h)
    if rule.variant == "wrong-stopgrad":
        assert np.all(g == 0) and np.all(fd == 0)
        return
    err = np.linalg.norm(g - fd, axis=-1) / np.linalg.norm(fd, axis=-1)
    assert err.max() <= RTOL


def test_euclidean_predictor_drift_equals_spec_closed_form():
    H = predictor_drift(Rule("euclidean", "standard")).drift
    assert sp.simplify(H - (S * St - (1 + sigma1**2) * lam * S**2)) == 0


@pytest.mark.parametrize("rule", [r for r in PREDICTOR_RULES if r.has_target_network], ids=rule_id)
def test_predictor_drift_is_S_times_the_iso_drift(rule):
    """H_m = S_m G_m|beta=0 (SPEC §7) for the stop-gradient rules, mean-field closure for cosine."""
    H = predictor_drift(rule)
    G0 = mode_drift(Rule(rule.metric, "iso"))
    sums = {ms.symbol: ms.summand for ms in H.sums} | {ms.symbol: ms.summand for ms in G0.sums}
    assert sp.simplify((H.drift - S * G0.drift).xreplace(sums)) == 0


def test_wrong_stopgrad_predictor_gets_no_gradient():
    assert predictor_drift(Rule("euclidean", "wrong-stopgrad")).drift == 0


def test_tian_invariant_fixed_points_and_threshold_match_spec():
    th = an.trainable_theory(Rule("euclidean", "standard"))
    a_p, gam, r = an.alpha_p, an.gamma, an.ema_ratio
    c = 1 + sigma1**2
    assert sp.simplify(th.invariant_rate - (-2 * gam * th.invariant)) == 0
    assert sp.simplify(th.reduced_flow - (lam**2 * (r - c * lam) - gam * lam)) == 0
    disc = sp.sqrt(r**2 - 4 * gam * c)
    assert sp.simplify(th.fixed_points[0] - (r + disc) / (2 * c)) == 0
    assert sp.simplify(th.fixed_points[1] - (r - disc) / (2 * c)) == 0
    assert sp.simplify(th.threshold - r**2 / (4 * c)) == 0
    # lambda*+ stable, lambda*- unstable wherever they are real and distinct
    for vals in ({r: 1, gam: 0.1, sigma1: 0}, {r: 0.8, gam: 0.05, sigma1: 0.3}, {r: 1, gam: 0.249, sigma1: 0}):
        plus, minus = (float(x.subs(vals)) for x in th.stability)
        assert plus < 0 < minus
    assert a_p in th.invariant.free_symbols


def test_trainable_theory_is_for_the_euclidean_standard_loss():
    with pytest.raises(ValueError):
        an.trainable_theory(Rule("cosine", "standard"))
