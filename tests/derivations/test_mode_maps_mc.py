"""Derived mode maps against SPEC §4's closed forms and against Monte Carlo of the linear network.

Symbolic (exact): for every Euclidean rule, ``derivations.mode_drift(rule).drift`` minus SPEC §4's
closed form simplifies to 0 with sigma1, sigma2, lambda_m, beta symbolic; the expected map
and ODE of ``derivations.analysis`` are S <- S + eta (G - gamma S), S_t <- tau S_t + (1 - tau) S'
and dS/dt = G - gamma S, dS_t/dt = kappa (S - S_t), with gamma, tau, eta, kappa symbolic.

Monte Carlo (slow): for a linear network W = U diag(S) V^T (N = 5, M = 3, distinct singular
values), target W_t = U diag(S_t) V^T (S_t != S where the rule has a target network, else W),
x ~ N(0, I), x1 = x + sigma1 xi1, x2 = x + sigma2 xi2, z1 = W x1, z2 = W_t x2 and the predictor
W_P = U diag(lam) U^T, lam = s^alpha, the descent direction D = -E[g x1^T + h x2^T]
(g = representation_gradient, h = target_gradient) satisfies U^T D [V V_perp] = [diag(G) 0]
entry by entry within four standard errors of 10^6 samples, where G is the derived map:
Euclidean ``drift_np``, cosine the exact closure integrated by ``scenarios.exact_drift``.
"""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp
from scenarios import (
    COSINE_RULES,
    EUCLIDEAN_RULES,
    RULES,
    beta_arg,
    exact_drift,
    mode_arguments,
    random_network,
    rule_id,
)

from isodyn import derivations
from isodyn.derivations.invariants import beta, lam
from isodyn.derivations.modes import S, St, eta, gamma, kappa, sigma1, sigma2, tau
from isodyn.dynamics import kernels, representation_gradient, target_gradient

# --- symbolic: SPEC §4 closed forms -------------------------------------------------------------


def spec_euclidean_drift(rule) -> sp.Expr:
    """G_m of SPEC §4 (Euclidean), typed from the SPEC, St -> S where W_t = W."""
    b = beta if rule.beta is not None else None
    if rule.variant in ("standard", "iso"):
        mult = lam**b if b is not None else (lam if rule.variant == "standard" else 1)
        return mult * (St - (1 + sigma1**2) * lam * S)
    if rule.variant == "no-predictor":
        return St - (1 + sigma1**2) * S
    if rule.variant == "no-stopgrad":
        if b is None:
            return -((1 + sigma1**2) * lam**2 - 2 * lam + 1 + sigma2**2) * S
        # family: online W_P^beta (p - z2), target -(p - z2): -lam^b((1+s1^2)lam - 1)S - (1+s2^2 - lam)S;
        # beta = 1 gives SPEC's no-stopgrad line (checked below)
        return -(lam**b * ((1 + sigma1**2) * lam - 1) + 1 + sigma2**2 - lam) * S
    if rule.variant == "wrong-stopgrad":
        return (lam - (1 + sigma2**2)) * S
    raise AssertionError(rule)


@pytest.mark.parametrize("rule", EUCLIDEAN_RULES, ids=rule_id)
def test_euclidean_drift_equals_spec_closed_form(rule):
    derived = derivations.mode_drift(rule).drift
    assert sp.simplify(derived - spec_euclidean_drift(rule)) == 0, derived
    # the test can fail: a wrong predictor power is not simplified away
    assert sp.simplify(derived - spec_euclidean_drift(rule) * (1 + sigma2)) != 0


def test_family_no_stopgrad_formula_reduces_to_spec():
    fam = spec_euclidean_drift(derivations.Rule("euclidean", "no-stopgrad", beta=0.5)).subs(beta, 1)
    assert sp.simplify(fam - spec_euclidean_drift(derivations.Rule("euclidean", "no-stopgrad"))) == 0


@pytest.mark.parametrize("rule", EUCLIDEAN_RULES, ids=rule_id)
def test_euclidean_expected_map_and_ode(rule):
    """S <- S + eta (G - gamma S); S_t <- tau S_t + (1 - tau) S'; ODE with kappa (SPEC §4)."""
    from isodyn.derivations.analysis import expected_map, ode

    G = spec_euclidean_drift(rule)
    step, flow = expected_map(rule), ode(rule)
    S_new = S + eta * (G - gamma * S)
    assert sp.simplify(step[S] - S_new) == 0
    assert sp.simplify(flow[S] - (G - gamma * S)) == 0
    if rule.has_target_network:
        assert sp.simplify(step[St] - (tau * St + (1 - tau) * S_new)) == 0
        assert sp.simplify(flow[St] - kappa * (S - St)) == 0
    else:
        assert St not in step and St not in flow
        assert St not in G.free_symbols


# --- Monte Carlo of the linear network -------------------------------------------------------

N_IN, M_OUT = 5, 3
SIGMA1, SIGMA2 = 0.3, 0.5
N_SAMPLES, CHUNK = 1_000_000, 250_000
N_SE = 4.0


def alpha_of(rule) -> float:
    """The paper's toy alpha = 1 for Euclidean rules, DirectPred's alpha = 1/2 for cosine ones."""
    return 1.0 if rule.metric == "euclidean" else 0.5


def network_descent(rule, net, seed: int):
    """Mean and standard error of U^T (-g x1^T - h x2^T) [V V_perp] over N_SAMPLES draws, (M, N) each."""
    St_r, lam_ = mode_arguments(rule, net.S, net.St, SIGMA1, alpha_of(rule))
    W = net.W
    Wt = (net.U * St_r) @ net.V.T
    Wp = (net.U * lam_) @ net.U.T
    basis = np.hstack([net.V, net.V_perp])
    s1 = np.zeros((M_OUT, N_IN))
    s2 = np.zeros((M_OUT, N_IN))
    for c in range(N_SAMPLES // CHUNK):
        rng = np.random.default_rng([seed, c])
        x = rng.standard_normal((CHUNK, N_IN))
        x1 = x + SIGMA1 * rng.standard_normal((CHUNK, N_IN))
        x2 = x + SIGMA2 * rng.standard_normal((CHUNK, N_IN))
        z1, z2 = x1 @ W.T, x2 @ Wt.T
        y = np.zeros((CHUNK, M_OUT, N_IN))
        if rule.online_gradient:
            g = representation_gradient(rule.metric, rule.variant, z1, z2, Wp, beta=rule.beta)
            y -= (g @ net.U)[:, :, None] * (x1 @ basis)[:, None, :]
        if rule.target_gradient:
            h = target_gradient(rule.metric, rule.variant, z1, z2, Wp, beta=rule.beta)
            y -= (h @ net.U)[:, :, None] * (x2 @ basis)[:, None, :]
        s1 += y.sum(axis=0)
        s2 += np.einsum("nij,nij->ij", y, y)
    mean = s1 / N_SAMPLES
    var = (s2 / N_SAMPLES - mean**2) * N_SAMPLES / (N_SAMPLES - 1)
    return mean, np.sqrt(var / N_SAMPLES), St_r, lam_


def derived_map(rule, S_, St_, lam_):
    k = kernels(rule)
    if rule.metric == "euclidean":
        return k.drift_np(S_, St_, lam_, SIGMA1, SIGMA2, beta_arg(rule))
    return exact_drift(k, S_, St_, lam_, SIGMA1, SIGMA2, beta_arg(rule))


@pytest.mark.slow
@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_mode_map_matches_network_monte_carlo(rule):
    idx = RULES.index(rule)
    net = random_network(np.random.default_rng(500 + idx), M_OUT, N_IN,
                         distinct_target=rule.has_target_network)
    assert np.min(net.S[:-1] / net.S[1:]) > 1.1, "distinct singular values"
    mean, se, St_r, lam_ = network_descent(rule, net, seed=900 + idx)
    G = derived_map(rule, net.S, St_r, lam_)
    expected = np.zeros((M_OUT, N_IN))
    expected[np.arange(M_OUT), np.arange(M_OUT)] = G
    z = (mean - expected) / se
    on = np.zeros(z.shape, dtype=bool)
    on[np.arange(M_OUT), np.arange(M_OUT)] = True
    print(f"\n{rule.name}: G = {np.round(G, 5)}, max |z| diagonal {np.abs(z[on]).max():.2f}, "
          f"off-diagonal and V_perp {np.abs(z[~on]).max():.2f}, max SE/|G| {np.max(se[on] / np.abs(G)):.1e}")
    assert np.all(np.abs(z) <= N_SE), f"z-scores (rows: modes of U; columns: V then V_perp)\n{np.round(z, 2)}"
    # power: the Monte Carlo resolves 10% of the largest |G_m| on that mode
    m = np.argmax(np.abs(G))
    assert 0.1 * np.abs(G[m]) > N_SE * se[m, m]
    if rule in COSINE_RULES:
        # and tells the exact closure from the mean-field one
        mf = kernels(rule).drift_np(net.S, St_r, lam_, SIGMA1, SIGMA2, beta_arg(rule))
        z_mf = np.abs(np.diag(mean) - mf) / np.diag(se)
        print(f"   mean-field {np.round(mf, 5)}: max |z| {z_mf.max():.1f}")
        assert z_mf.max() > N_SE
