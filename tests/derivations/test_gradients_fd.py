"""Per-sample gradients of every rule against central finite differences (SPEC §3).

The oracle writes each per-sample loss of SPEC §3 independently in NumPy, with the
stop-gradient implemented as *frozen copies*: a loss is a function
``loss(z1, z2, z1f, z2f, Wp)`` of live (z1, z2) and frozen (z1f, z2f) representations;
the finite difference perturbs only the live argument and the gradient is taken at
z1f = z1, z2f = z2.  For the IsoLoss family l_beta = SG(W_P^beta dl/dp) . z1, dl/dp is
itself a central finite difference of the metric with respect to p (no formula typed).

Tolerance: relative error <= 1e-6 per sample, ||g - g_fd|| <= 1e-6 ||g_fd|| in float64.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenarios import FAMILY_BETA, RULES, matrix_power_spd, random_spd, rule_id

from isodyn.derivations import Rule
from isodyn.dynamics import representation_gradient, target_gradient

RTOL = 1e-6
REL_STEP = 1e-5  # FD step relative to the row's RMS: truncation ~1e-10, rounding ~1e-11


# --- the oracle: per-sample losses of SPEC §3, rows are samples -----------------------------


def _dot(x, y):
    return np.sum(x * y, axis=-1)


def _norm(x):
    return np.sqrt(_dot(x, x))


def euclidean(p, t):
    """l = 1/2 ||p - t||^2, per row."""
    return 0.5 * _dot(p - t, p - t)


def cosine(p, t):
    """l = -p.t / (||p|| ||t||), per row."""
    return -_dot(p, t) / (_norm(p) * _norm(t))


METRIC = {"euclidean": euclidean, "cosine": cosine}


def fd_gradient(f, x):
    """Central differences of the per-row scalar f(x) (n,) with respect to x (n, M)."""
    h = REL_STEP * np.sqrt(np.mean(x**2, axis=-1))
    g = np.empty_like(x)
    for j in range(x.shape[1]):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        g[:, j] = (f(xp) - f(xm)) / (2 * h)
    return g


def dl_dp(metric: str, p, t):
    """dl/dp of the metric at (p, t), by central differences in p."""
    return fd_gradient(lambda q: METRIC[metric](q, t), p)


def iso_loss(metric: str, z1, z2f, z1f, Wp):
    """IsoLoss surrogates exactly as SPEC §3 writes them (frozen copies = SG)."""
    pf = z1f @ Wp.T
    if metric == "euclidean":
        r = z1 - (z2f + z1f - pf)
        return 0.5 * _dot(r, r)
    npf, nz = _norm(pf), _norm(z2f)
    # -z1.SG(z2)/SG(||p|| ||z2||) + 1/2 SG(p.z2/(||p||^3 ||z2||)) ||W_P^{1/2} z1||^2
    return -_dot(z1, z2f) / (npf * nz) + 0.5 * (_dot(pf, z2f) / (npf**3 * nz)) * _dot(z1, z1 @ Wp.T)


def loss(rule: Rule, z1, z2, z1f, z2f, Wp):
    """Per-sample loss l(z1, z2; z1f, z2f) of ``rule``: live and frozen representations (n, M)."""
    m = METRIC[rule.metric]
    P = Wp if rule.has_predictor else np.eye(Wp.shape[0])
    p, pf = z1 @ P.T, z1f @ P.T
    if rule.beta is not None:
        c = dl_dp(rule.metric, pf, z2f) @ matrix_power_spd(P, rule.beta).T  # SG(W_P^beta dl/dp)
        out = _dot(c, z1)
        if rule.variant == "no-stopgrad":  # the target branch still gets the metric's gradient
            out = out + m(pf, z2)
        return out
    if rule.variant in ("standard", "no-predictor"):
        return m(p, z2f)
    if rule.variant == "iso":
        return iso_loss(rule.metric, z1, z2f, z1f, P)
    if rule.variant == "no-stopgrad":
        return m(p, z2)
    if rule.variant == "wrong-stopgrad":
        return m(pf, z2)
    raise AssertionError(rule)


def oracle(rule: Rule, z1, z2, Wp):
    """(dl/dz1, dl/dz2) by central differences of the live arguments at the frozen point."""
    g1 = fd_gradient(lambda x: loss(rule, x, z2, z1, z2, Wp), z1)
    g2 = fd_gradient(lambda x: loss(rule, z1, x, z1, z2, Wp), z2)
    return g1, g2


def assert_rel_close(g, ref, what):
    err = np.linalg.norm(g - ref, axis=-1)
    scale = np.linalg.norm(ref, axis=-1)
    bad = err > RTOL * scale
    assert not bad.any(), f"{what}: relative error {np.max(err / np.where(scale > 0, scale, 1)):.3g} > {RTOL}"


def random_point(seed: int, M: int, n: int = 6):
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(-1.5, 1.5))
    z1 = scale * rng.standard_normal((n, M))
    z2 = z1 * rng.uniform(0.3, 1.5) + scale * rng.standard_normal((n, M))
    return z1, z2, random_spd(rng, M)


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 6))
def test_gradients_match_finite_differences(rule, seed, M):
    z1, z2, Wp = random_point(seed, M)
    g1_fd, g2_fd = oracle(rule, z1, z2, Wp)
    g1 = representation_gradient(rule.metric, rule.variant, z1, z2, Wp, beta=rule.beta)
    g2 = target_gradient(rule.metric, rule.variant, z1, z2, Wp, beta=rule.beta)
    assert g1.shape == g2.shape == z1.shape
    assert_rel_close(g1, g1_fd, f"{rule.name} dl/dz1")
    assert_rel_close(g2, g2_fd, f"{rule.name} dl/dz2")
    if rule.variant in ("standard", "iso", "no-predictor"):
        assert np.all(g2 == 0), "stopped target branch must get an exactly zero gradient"
    if rule.variant == "wrong-stopgrad":
        assert np.all(g1 == 0), "stopped online branch must get an exactly zero gradient"


def test_oracle_can_fail():
    """The oracle distinguishes the rules: standard and iso differ by W_P (SPEC §3)."""
    z1, z2, Wp = random_point(7, 4)
    gs, _ = oracle(Rule("cosine", "standard"), z1, z2, Wp)
    gi, _ = oracle(Rule("cosine", "iso"), z1, z2, Wp)
    assert np.allclose(gs, gi @ Wp.T, rtol=1e-6)
    with pytest.raises(AssertionError):
        assert_rel_close(gs, gi, "standard vs iso")


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("variant", ["standard", "iso"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_family_endpoints(metric, variant, seed):
    """beta = 1 is the standard rule and beta = 0 the iso rule, whatever the variant named (SPEC §3)."""
    z1, z2, Wp = random_point(seed, 5)
    std = representation_gradient(metric, "standard", z1, z2, Wp)
    iso = representation_gradient(metric, "iso", z1, z2, Wp)
    one = representation_gradient(metric, variant, z1, z2, Wp, beta=1.0)
    zero = representation_gradient(metric, variant, z1, z2, Wp, beta=0.0)
    half = representation_gradient(metric, variant, z1, z2, Wp, beta=FAMILY_BETA)
    assert_rel_close(one, std, "beta=1 vs standard")
    assert_rel_close(zero, iso, "beta=0 vs iso")
    # W_P^(1/2) applied twice to the beta=0 gradient is the standard one
    Wh = matrix_power_spd(Wp, 0.5)
    assert_rel_close(half @ Wh.T, std, "W_P^1/2 * beta=1/2 vs standard")


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_family_no_stopgrad_endpoint(metric):
    z1, z2, Wp = random_point(11, 4)
    for fn in (representation_gradient, target_gradient):
        ref = fn(metric, "no-stopgrad", z1, z2, Wp)
        assert_rel_close(fn(metric, "no-stopgrad", z1, z2, Wp, beta=1.0), ref, f"{fn.__name__} beta=1")
