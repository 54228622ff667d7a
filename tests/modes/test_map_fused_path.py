"""The fused elementwise map (_map_fast of the generated integrator module, templates/integrator_map.py.j2)
against the one-point map (_map_block).

_map_fast steps a block of points x modes in one loop per step and carries lambda = b^alpha along the
trajectory by ratio updates (codegen.fastmath.pow_ratio_step), with the full power every ``map_resync``
steps.  With map_resync = 1 every lambda the dynamics uses is the full power, so the two paths must agree
bit for bit (same generated expressions, same operation order); with the default they differ only by
the ratio updates' rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from isodyn.derivations import Rule
from isodyn.dynamics.modes import integrators as I

RULES = [
    Rule("euclidean", "standard"),
    Rule("euclidean", "iso"),
    Rule("euclidean", "no-stopgrad"),
    Rule("euclidean", "no-predictor"),
    Rule("euclidean", "standard", beta=0.5),
    Rule("cosine", "standard"),
    Rule("cosine", "iso"),
]
FIELDS = ("s", "lam", "Y", "rate", "info")


def _mixed_points(rng, B, M, beta):
    """Every parameter varied: sigma1, weight decay, EMA, eps, exact-path and general alpha, bounds that
    make some points diverge mid-run, step sizes large enough for ratio updates out of range."""
    s0 = np.exp(rng.uniform(np.log(1e-3), 0.0, (B, M)))
    P = np.zeros((B, I.NPAR))
    P[:, I.PIDX["lr"]] = rng.choice([0.01, 0.05, 0.5], B)
    P[:, I.PIDX["sigma1"]] = rng.choice([0.0, 0.3], B)
    P[:, I.PIDX["sigma2"]] = 0.5
    P[:, I.PIDX["weight_decay"]] = rng.choice([0.0, 0.01], B)
    P[:, I.PIDX["ema"]] = rng.choice([0.0, 0.9], B)
    P[:, I.PIDX["alpha"]] = rng.choice([0.0, 0.5, 1.0, 2.0, 0.7, 1.3, 3.1], B)
    P[:, I.PIDX["eps"]] = rng.choice([0.0, 0.01], B)
    P[:, I.PIDX["beta"]] = beta
    P[:, I.PIDX["s_bound"]] = rng.choice([1e6, 0.9], B)
    s0[::5, 0] = 2.0  # above the 0.9 bound: these diverge at once where that bound is drawn
    P[::7, I.PIDX["lr"]] = 3.0  # these blow up (or oscillate) within a few steps
    return s0, P


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.metric}-{r.variant}-{r.beta}")
def test_fused_map_with_full_powers_equals_one_point_map_bitwise(rule):
    rng = np.random.default_rng(1)
    B, M = I.MAP_FAST_BLOCK + 9, 6
    s0, P = _mixed_points(rng, B, M, 0.5 if rule.beta is not None else 0.0)
    ref = I.run(rule, I.MAP, s0, P, 300, stride=7, map_resync=0, threads=1)
    fast = I.run(rule, I.MAP, s0, P, 300, stride=7, map_resync=1, threads=2)
    assert 0 < (ref.info[:, 0] == I.DIVERGED).sum() < B
    for f in FIELDS:
        assert np.array_equal(getattr(ref, f), getattr(fast, f), equal_nan=True), f


@pytest.mark.parametrize("rule, tol", [(Rule("euclidean", "standard"), 1e-12), (Rule("cosine", "standard"), 1e-10)],
                         ids=["euclidean", "cosine"])
def test_fused_map_ratio_updates_stay_at_rounding_level(rule, tol):
    """Default resync against full powers every step, on convergent runs (lr <= 0.3; the lr = 0.3 points
    move their bases by more than pow_ratio_step's range, so the per-element fallback is exercised): the
    trajectories agree to rounding level over 3000 steps.  Euclidean is contractive (measured < 1e-14);
    the cosine map's fixed points form a continuum and its transients amplify: a 1e-15 change of s0
    alone moves these trajectories by up to 1.6e-12 (measured), the ratio updates by 1.7e-12."""
    rng = np.random.default_rng(5)
    B, M = 40, 8
    s0 = np.exp(rng.uniform(np.log(1e-3), 0.0, (B, M)))
    P = np.zeros((B, I.NPAR))
    P[:, I.PIDX["lr"]] = rng.choice([0.003, 0.02, 0.3], B)
    P[:, I.PIDX["sigma1"]] = rng.choice([0.0, 0.3], B)
    P[:, I.PIDX["sigma2"]] = 0.5
    P[:, I.PIDX["ema"]] = rng.choice([0.0, 0.5], B)
    P[:, I.PIDX["alpha"]] = rng.uniform(0.3, 2.5, B)
    P[:, I.PIDX["s_bound"]] = 1e6
    ref = I.run(rule, I.MAP, s0, P, 3000, stride=1, map_resync=0, threads=1)
    fast = I.run(rule, I.MAP, s0, P, 3000, stride=1, threads=1)
    assert (ref.info[:, 0] == I.OK).all()
    # the fallback really ran: some base moved by more than pow_ratio_step's range in one step
    b = ref.s + 0.0
    jump = np.nanmax(np.abs(np.diff(b, axis=1)) / b[:, :-1])
    assert jump > 4 * 2.0**-6
    rel = np.max(np.abs(fast.s - ref.s) / ref.s)
    assert rel < tol, rel
    assert not np.array_equal(fast.s, ref.s)  # the ratio path is in use (else this test proves nothing)


def test_fused_and_one_point_map_points_in_one_batch_equal_one_at_a_time():
    """Points of the fused map and points of the one-point map (lagging predictor, normalisation) mixed in
    one batch on several threads: each equals its own one-point run bit for bit."""
    rng = np.random.default_rng(2)
    B, M = 2 * I.MAP_FAST_BLOCK + 5, 5
    rule = Rule("euclidean", "standard")
    s0, P = _mixed_points(rng, B, M, 0.0)
    P[::3, I.PIDX["rho"]] = 0.8
    P[1::4, I.PIDX["normalize"]] = 1.0
    bt = I.run(rule, I.MAP, s0, P, 200, stride=9, threads=2)
    for i in rng.choice(B, 20, replace=False):
        one = I.run(rule, I.MAP, s0[i:i + 1], P[i:i + 1], 200, stride=9, threads=1)
        for f in FIELDS:
            assert np.array_equal(getattr(bt, f)[i], getattr(one, f)[0], equal_nan=True), (i, f)
