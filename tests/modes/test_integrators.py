"""Integrators of the mode equations (issue 3): orders, tolerances, map vs closed forms, batching.

Closed forms (SPEC §4, sigma1 = 0, no EMA, gamma = 0, lambda = s):
iso: ds/dt = 2 s (1 - s), logistic s(t) = 1 / (1 + (1/s0 - 1) e^{-2t});
standard: ds/dt = 2 s^2 (1 - s), implicit t(s) = (-1/s + ln(s / (1 - s))) / 2 + const.
"""

from __future__ import annotations

import numpy as np
import pytest

from isodyn.derivations import Rule
from isodyn.dynamics.codegen import kernels
from isodyn.dynamics.modes import integrators as I
from isodyn.dynamics.modes.exact import ExactGrid, closure_error, quadrature_np
from isodyn.dynamics.modes.simulation import simulate, simulate_batch

ISO, STD = Rule("euclidean", "iso"), Rule("euclidean", "standard")
S0 = np.array([0.02, 0.3, 0.7])


def logistic(t, s0):
    return 1.0 / (1.0 + (1.0 / s0 - 1.0) * np.exp(-2.0 * t))


def t_standard(s):
    return 0.5 * (-1.0 / s + np.log(s / (1.0 - s)))


def _fixed(rule, scheme, s0, lr, steps, substeps):
    P = np.zeros((1, I.NPAR))
    P[0, I.PIDX["lr"]], P[0, I.PIDX["alpha"]], P[0, I.PIDX["s_bound"]] = lr, 1.0, 1e8
    return I.run(rule, scheme, s0[None], P, steps, stride=steps, substeps=substeps).s[0, -1]


def _slope(hs, errs):
    return np.polyfit(np.log(hs), np.log(errs), 1)[0]


@pytest.mark.parametrize("scheme,order", [(I.RK4, 4), (I.DOPRI5, 5), ("dopri5-embedded", 4)])
def test_convergence_order(scheme, order):
    """Log-log slope of the global error at t = 4 against the step, logistic closed form."""
    if scheme == "dopri5-embedded":  # the embedded 4th-order weights b - e, run as a fixed-step table
        scheme = I.Scheme("dp4", 4, 1, I.DOPRI5.A, I.DOPRI5.b - I.DOPRI5.e, I.DOPRI5.c, np.zeros(7))
    assert scheme.order == order
    if scheme.adaptive:  # the same table driven at a fixed step
        scheme = I.Scheme("dp5", 5, 1, scheme.A, scheme.b, scheme.c, np.zeros(7))
    lr, steps = 0.2, 20
    subs = [1, 2, 4, 8]
    errs = [np.max(np.abs(_fixed(ISO, scheme, S0, lr, steps, n) - logistic(lr * steps, S0))) for n in subs]
    slope = _slope(1.0 / np.array(subs), errs)
    assert abs(slope - order) < 0.3, (slope, errs)


@pytest.mark.parametrize("rtol", [1e-6, 1e-8, 1e-10])
def test_dopri5_meets_rtol(rtol):
    """Adaptive dopri5: every saved frame (dense output) within 10 rtol of the logistic (global error)."""
    tr = simulate(ISO, S0, lr=0.05, steps=200, scheme="dopri5", rtol=rtol, atol=1e-14, stride=7)
    exact = logistic(0.05 * tr.step[:, None], S0)
    err = np.max(np.abs(tr.s - exact) / exact)
    assert err <= 10 * rtol, err
    assert err > 1e-4 * rtol  # the tolerance drives the step: a much tighter result would mean a fixed tiny step


def test_dopri5_standard_implicit_closed_form():
    s0 = np.array([0.02, 0.1, 0.3])
    tr = simulate(STD, s0, lr=0.01, steps=300, scheme="dopri5", rtol=1e-10, atol=1e-14, stride=300)
    assert np.all(tr.s_last < 0.99)  # t(s) well conditioned
    err = np.abs(t_standard(tr.s_last) - t_standard(s0) - 3.0)
    assert np.all(err < 1e-7), err


def test_map_matches_closed_form_step_for_step():
    """Euclidean family (SPEC §4) with sigma1, EMA and weight decay, typed here from SPEC as the reference."""
    s1, s2, gam, tau, lr, steps = 0.3, 0.2, 0.05, 0.6, 0.05, 300
    for rule, beta in ((STD, 1.0), (ISO, 0.0), (Rule("euclidean", "standard", alpha=0.5), 1.0)):
        tr = simulate(rule, S0, lr=lr, steps=steps, sigma1=s1, sigma2=s2, weight_decay=gam, ema=tau)
        S = np.sqrt(S0 / (1 + s1**2))
        St = S.copy()
        for k in range(1, steps + 1):
            lam = ((1 + s1**2) * S**2) ** rule.alpha
            G = lam**beta * (St - (1 + s1**2) * lam * S)
            S = S + lr * (G - gam * S)
            St = tau * St + (1 - tau) * S
            np.testing.assert_allclose(tr.s[k], (1 + s1**2) * S**2, rtol=1e-12, atol=0)
    # no-stopgrad and wrong-stopgrad closed forms
    for variant, G in (("no-stopgrad", lambda lam, S: -((1 + s1**2) * lam**2 - 2 * lam + 1 + s2**2) * S),
                       ("wrong-stopgrad", lambda lam, S: (lam - (1 + s2**2)) * S)):
        tr = simulate(Rule("euclidean", variant), S0, lr=lr, steps=100, sigma1=s1, sigma2=s2)
        S = np.sqrt(S0 / (1 + s1**2))
        for _ in range(100):
            S = S + lr * G((1 + s1**2) * S**2, S)
        np.testing.assert_allclose(tr.s[-1], (1 + s1**2) * S**2, rtol=1e-12)


def test_map_to_ode_first_order():
    """Map at learning rate eta vs the ODE's closed form at the same time: error O(eta)."""
    T = 3.0
    errs = []
    etas = [0.02, 0.01, 0.005, 0.0025]
    for eta in etas:
        tr = simulate(ISO, S0, lr=eta, steps=int(round(T / eta)), stride=10**6)
        errs.append(np.max(np.abs(tr.s_last - logistic(T, S0))))
    assert abs(_slope(etas, errs) - 1.0) < 0.1, errs


@pytest.mark.parametrize("scheme", ["map", "rk4", "dopri5"])
def test_batched_equals_one_at_a_time_bitwise(scheme):
    rng = np.random.default_rng(3)
    B = 6
    s0 = np.exp(rng.uniform(-5, 0.5, (B, 4)))
    lr = rng.uniform(0.005, 0.02, B)
    alpha = rng.uniform(0.5, 1.5, B)
    gam = rng.uniform(0, 0.1, B)
    tau = rng.uniform(0, 0.9, B)
    kw = dict(steps=400, scheme=scheme, sigma1=0.1, stride=3)
    bt = simulate_batch(STD, s0, lr=lr, alpha=alpha, weight_decay=gam, ema=tau, **kw)
    for i in range(B):
        one = simulate(STD, s0[i], lr=lr[i], alpha=alpha[i], weight_decay=gam[i], ema=tau[i], **kw)
        assert np.array_equal(bt.s[i], one.s, equal_nan=True)
        assert np.array_equal(bt.lam[i], one.lam, equal_nan=True)
        assert np.array_equal(bt.measures["recruit_steps"][i], one.measures["recruit_steps"])


def test_batched_exact_closure_bitwise():
    rule = Rule("cosine", "standard")
    s0 = np.array([[0.05, 0.3, 1.0], [0.1, 0.2, 0.4]])
    g = ExactGrid(hx=0.6, lo=-40, hi=22)
    bt = simulate_batch(rule, s0, lr=np.array([0.1, 0.05]), steps=30, grid=g, exact_tol=1e-6)
    for i in range(2):
        one = simulate(rule, s0[i], lr=[0.1, 0.05][i], steps=30, grid=g, exact_tol=1e-6)
        assert np.array_equal(bt.s[i], one.s)


def test_amplitude_inverts_eigenvalues_kernel():
    mod = I.compiled(STD)
    k = kernels(STD)
    for s1 in (0.0, 0.7):
        s = np.array([1e-6, 0.3, 2.0])
        S = np.array([mod.amplitude(x, s1) for x in s])
        out, lam = np.empty(3), np.empty(3)
        k.eigenvalues(S, s1, 1.0, 0.0, False, out, lam)
        np.testing.assert_allclose(out, s, rtol=1e-15)


@pytest.mark.parametrize("variant", ["standard", "iso", "no-stopgrad", "wrong-stopgrad", "no-predictor"])
@pytest.mark.parametrize("M,spread", [(2, 1.0), (10, 3.0)])
def test_exact_quadrature_accuracy(variant, M, spread):
    """Default grid: relative error <= 1e-8 against the refined grid; compiled == NumPy twin."""
    rule = Rule("cosine", variant)
    k = kernels(rule)
    S = np.sqrt(np.logspace(-spread, 0, M))
    St = S * np.linspace(0.8, 1.2, M) if rule.has_target_network else S
    lam = S**2 if rule.has_predictor else np.ones(M)
    g = ExactGrid()
    assert closure_error(k, g, S, St, lam, 0.2, 0.1, 0.0) <= 1e-8
    x, w = g.nodes()
    G, tmp = np.empty(M), np.empty(M)
    I.compiled(rule).exact_drift(S, St, lam, 0.2, 0.1, 0.0, x, w, x, w, G, tmp, False)
    Gn, _ = quadrature_np(k, g, S, St, lam, 0.2, 0.1, 0.0)
    np.testing.assert_allclose(G, Gn, rtol=1e-11, atol=1e-14 * np.abs(Gn).max())
    # a coarse grid is detected as inaccurate: the check can fail
    assert closure_error(k, ExactGrid(hx=1.2, lo=-20, hi=10), S, St, lam, 0.2, 0.1, 0.0) > 1e-8


def test_lagging_predictor_and_ema_follow_their_maps():
    """rho > 0: C <- rho C + (1 - rho) s, lambda = C^alpha; EMA target; iso rule, SPEC closed form."""
    rho, tau, lr = 0.5, 0.3, 0.05
    tr = simulate(ISO, S0, lr=lr, steps=50, rho=rho, ema=tau, sigma2=0.1)
    S = np.sqrt(S0)
    St, C = S.copy(), S0.copy()
    for _ in range(50):
        C = rho * C + (1 - rho) * S**2
        S = S + lr * (St - C * S)
        St = tau * St + (1 - tau) * S
    np.testing.assert_allclose(tr.s[-1], S**2, rtol=1e-12)
    np.testing.assert_allclose(tr.lam[-1], C, rtol=1e-12)
