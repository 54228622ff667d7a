"""The pieces that make dopri5 fast (_dopri_one of the generated integrator module, codegen.fastmath): the binomial
power update of the inner stages (fastmath.pow_ratio_update) against exact and fresh powers, on random
and on real trajectory data; dopri5 with general alpha against a tight reference; batching bit for bit
with the EMA target and the lagging predictor on; reference-count-free views (fastmath.borrow).

Runs in ~25 s (numba compiles of the helpers, mpmath references on ~1e4 values, one scipy reference).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from isodyn.derivations import Rule
from isodyn.dynamics.codegen import fastmath as fm
from isodyn.dynamics.codegen import kernels
from isodyn.dynamics.modes.simulation import simulate, simulate_batch

mpmath = pytest.importorskip("mpmath")
STD = Rule("euclidean", "standard")
ULP1 = 2.0**-52


@njit(error_model="numpy")
def _update(a, b0, l0, y):
    """pow_ratio_update on copies, anchored at (b0, l0); returns (powers, refused count)."""
    c = np.empty(fm.RATIO_TERMS)
    fm.binomial_coeffs(y, c)
    B0 = np.empty(a.shape[0])
    L0 = np.empty(a.shape[0])
    fm.pow_ratio_anchor(b0, l0, B0, L0)
    out = a.copy()
    nbad = fm.pow_ratio_update(out, B0, L0, c)
    return out, nbad


def _fresh(x, y):
    a = np.array(x, dtype=float)
    fm.pow_inplace(a, y)
    return a


def _ulps(got, ref):
    """|got - ref| in units of the last place of ref (normal ref)."""
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_truncation_bound():
    """sum_{j > RATIO_TERMS} |binom(y, j)| RATIO_DMAX^j <= 5.7e-22 for y in (0, RATIO_YMAX] (docstring)."""
    mpmath.mp.dps = 30
    D = mpmath.mpf(fm.RATIO_DMAX)
    worst = 0.0
    for y in np.linspace(0.01, fm.RATIO_YMAX, 300):
        t = sum(abs(mpmath.binomial(mpmath.mpf(y), j)) * D**j for j in range(fm.RATIO_TERMS + 1, fm.RATIO_TERMS + 80))
        worst = max(worst, float(t))
    assert worst <= 5.7e-22, worst


def test_binomial_coeffs():
    mpmath.mp.dps = 30
    c = np.empty(fm.RATIO_TERMS)
    for y in (0.3, 0.77, 1.5, 2.9):
        fm.binomial_coeffs(y, c)
        ref = np.array([float(mpmath.binomial(mpmath.mpf(y), j + 1)) for j in range(fm.RATIO_TERMS)])
        assert np.all(np.abs(c - ref) <= 1e-14 * np.abs(ref)), y


def test_update_accuracy_against_exact_and_fresh():
    """Random bases and moves |d| <= RATIO_DMAX, y in (0, 3]: relative error against the exact power (mpmath)
    <= 2.6e-16 (measured 2.35e-16; a fresh pow_inplace: <= 1.07 ulp, ~2.4e-16), at most 2 ulp from the
    fresh pow_inplace, on average well below 1 ulp."""
    mpmath.mp.dps = 40
    rng = np.random.default_rng(11)
    worst_rel = worst_fresh = 0.0
    means = []
    for y in np.concatenate([rng.uniform(0.05, 3.0, 12), [0.5 + 1e-9, 1.5, 2.843, 2.999]]):
        b0 = np.exp(rng.uniform(math.log(1e-8), math.log(1e4), 400))
        d = rng.uniform(-fm.RATIO_DMAX, fm.RATIO_DMAX, 400) * rng.choice([1.0, 1.0, 0.1, 1e-3, 1e-6], 400)
        a = b0 * (1.0 + d)
        got, nbad = _update(a, b0, _fresh(b0, y), y)
        assert nbad == 0
        exact = [mpmath.power(mpmath.mpf(x), mpmath.mpf(y)) for x in a]
        rel = np.array([float(abs((mpmath.mpf(g) - e) / e)) for g, e in zip(got, exact)])
        worst_rel = max(worst_rel, float(rel.max()))
        worst_fresh = max(worst_fresh, float(_ulps(got, _fresh(a, y)).max()))
        means.append(float(_ulps(got, np.array([float(e) for e in exact])).mean()))
    assert worst_rel <= 2.6e-16, worst_rel
    assert worst_fresh <= 2.0, worst_fresh
    assert np.mean(means) <= 0.6, np.mean(means)


def test_update_along_real_trajectories():
    """Bases s_m(t) of real dopri5 trajectories (Euclidean standard, random spectra and alpha), updated
    from their value up to 8 frames earlier (relative moves up to RATIO_DMAX, as between the stages
    of a step): within 2 ulp of the fresh power, half of them bit for bit or within 1 ulp."""
    rng = np.random.default_rng(5)
    s0 = np.exp(rng.uniform(math.log(1e-3), 0.0, (4, 10)))
    alpha = rng.uniform(0.5, 1.5, 4)
    tr = simulate_batch(STD, s0, lr=0.01, steps=800, alpha=alpha, scheme="dopri5", rtol=1e-8, stride=2)
    worst = 0.0
    n = 0
    within1 = 0
    for i in range(4):
        s = tr.s[i]  # (T, M) the bases (eps = 0, no normalisation)
        for lag in range(1, 9):
            b0, a = s[:-lag].ravel(), s[lag:].ravel()
            ok = np.abs((a - b0) / b0) <= fm.RATIO_DMAX
            got, nbad = _update(a[ok], b0[ok], _fresh(b0[ok], alpha[i]), alpha[i])
            assert nbad == 0
            u = _ulps(got, _fresh(a[ok], alpha[i]))
            worst = max(worst, float(u.max()))
            n += u.size
            within1 += int(np.sum(u <= 1.0))
    assert n > 10_000
    assert worst <= 2.0, worst
    assert within1 >= 0.5 * n


def test_update_refuses():
    """Moves beyond RATIO_DMAX and invalid anchors (0, inf, NaN, negative, subnormal power) are counted and
    refused; in range next to them nothing is refused."""
    y = 0.7
    b0 = np.array([1.0, 2.0, 3.0, 4.0])
    a = b0 * np.array([1.0 + 1.01 * fm.RATIO_DMAX, 1.0 - 1.01 * fm.RATIO_DMAX, 1.0, 1.0 + fm.RATIO_DMAX])
    assert _update(a, b0, _fresh(b0, y), y)[1] == 2
    for bad in (0.0, math.inf, math.nan, -1.0):
        b = np.array([bad, 1.0])
        assert _update(np.array([1.0, 1.0]), b, np.array([1.0, 1.0]), y)[1] == 1, bad
    sub = np.array([1e-310, 1.0])  # a subnormal known power
    assert _update(np.array([1.0, 1.0]), np.array([1.0, 1.0]), sub, y)[1] == 1


def _reference(s0, alpha, t_end, sigma2):
    """Euclidean standard with fresh math.pow powers, scipy DOP853 at rtol 1e-13."""
    from scipy.integrate import solve_ivp

    k = kernels(STD)

    def f(t, S):
        lam = (S * S) ** alpha
        return k.drift_np(S, S, lam, 0.0, sigma2, 0.0)

    r = solve_ivp(f, (0.0, t_end), np.sqrt(s0), method="DOP853", rtol=1e-13, atol=1e-16)
    return r.y[:, -1] ** 2


@pytest.mark.parametrize("alpha", [0.63, 1.37, 2.6])
@pytest.mark.parametrize("rtol", [1e-6, 1e-9])
def test_dopri5_general_alpha_meets_rtol(alpha, rtol):
    """Inner-stage powers by the binomial update: the global error stays within 10 rtol (and is driven by
    rtol: above 1e-4 rtol), as for alpha = 1 in tests/test_integrators.py."""
    s0 = np.array([0.003, 0.05, 0.3, 0.9])
    tr = simulate(STD, s0, lr=0.01, steps=600, alpha=alpha, sigma2=0.1, scheme="dopri5", rtol=rtol, atol=1e-14,
                  stride=600)
    ref = _reference(s0, alpha, 6.0, 0.1)
    err = np.max(np.abs(tr.s_last - ref) / ref)
    assert err <= 10 * rtol, err
    assert err > 1e-4 * rtol


@pytest.mark.parametrize("dense", [True, False])
def test_batched_equals_one_at_a_time_with_ema_and_lag(dense):
    """Bit for bit with every state row active (EMA target, lagging predictor) and general alpha."""
    rng = np.random.default_rng(9)
    B = 5
    s0 = np.exp(rng.uniform(-5, 0.0, (B, 6)))
    lr = rng.uniform(0.005, 0.02, B)
    alpha = rng.uniform(0.5, 2.5, B)
    tau = rng.uniform(0, 0.9, B)
    rho = rng.uniform(0, 0.9, B)
    kw = dict(steps=300, scheme="dopri5", sigma1=0.2, stride=7, dense=dense)
    bt = simulate_batch(STD, s0, lr=lr, alpha=alpha, ema=tau, rho=rho, **kw)
    assert np.all(np.isfinite(bt.s))
    for i in range(B):
        one = simulate(STD, s0[i], lr=lr[i], alpha=alpha[i], ema=tau[i], rho=rho[i], **kw)
        assert np.array_equal(bt.s[i], one.s)
        assert np.array_equal(bt.lam[i], one.lam)
        assert np.array_equal(bt.nrhs[i], one.nrhs)


@njit
def _borrowed_sum(a):
    v = fm.borrow(a)
    for k in range(v.shape[0]):
        v[k] += 1.0
    fm.keep_alive(a)
    return v.sum()


def test_borrow_is_a_view():
    a = np.arange(5.0)
    assert _borrowed_sum(a) == 15.0
    assert np.array_equal(a, np.arange(5.0) + 1.0)
