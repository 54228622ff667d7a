"""The map's blocks of points (_map_block of the generated integrator module, codegen.fastmath.pow_rows) change
no bit."""

from __future__ import annotations

import numpy as np
from numba import njit

from isodyn.derivations import Rule
from isodyn.dynamics.codegen.fastmath import pow_inplace, pow_rows
from isodyn.dynamics.modes import integrators as I
from isodyn.dynamics.modes.simulation import simulate, simulate_batch


@njit(error_model="numpy")
def _one(a, y):
    pow_inplace(a, y)


def test_pow_rows_equals_pow_inplace_per_row_bitwise():
    rng = np.random.default_rng(5)
    R, M = 16, 10
    specials = [0.0, 0.5, 1.0, 2.0, 3.0, -1.0, -0.5, 2e6, np.nan]
    for trial in range(300):
        neg = trial % 2 == 0  # odd trials: positive bases and exponents (the vectorised fast path)
        y = rng.uniform(-3, 3, R) if neg else rng.uniform(0.1, 3, R)
        y[rng.integers(0, R, 4)] = rng.choice(specials if neg else [0.0, 0.5, 1.0, 2.0, 2e6, np.nan], 4)
        a = np.exp(rng.uniform(-700, 700, R * M))
        if neg:
            a *= rng.choice([1, 1, 1, -1], R * M)
            a[rng.integers(0, R * M, 10)] = rng.choice([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-320, -5e-320], 10)
        else:
            a[rng.integers(0, R * M, 5)] = rng.choice([0.0, np.inf, np.nan, 5e-320], 5)
        b = a.copy()
        pow_rows(b, y, M, np.empty(R * M))
        for r in range(R):
            c = a[r * M:(r + 1) * M].copy()
            _one(c, y[r])
            assert np.array_equal(c.view(np.int64), b[r * M:(r + 1) * M].view(np.int64)), (r, y[r])


def test_map_blocks_with_divergence_equal_one_at_a_time_bitwise():
    """More points than a block (of _map_block and of _map_fast), exact-path exponents mixed with general
    ones, some points diverging (mid-block) while the others go on, lagging predictor (the one-point map)
    and EMA target on some points."""
    rng = np.random.default_rng(11)
    B, M = max(I.MAP_BLOCK, I.MAP_FAST_BLOCK) + 7, 5
    s0 = np.exp(rng.uniform(-4, 0.5, (B, M)))
    lr = rng.uniform(0.005, 0.02, B)
    lr[[2, 9, 20]] = 3.0  # these diverge
    alpha = rng.uniform(0.5, 1.5, B)
    alpha[[1, 5, 17]] = [1.0, 0.5, 2.0]
    tau = np.where(rng.random(B) < 0.5, rng.uniform(0.5, 0.9, B), 0.0)
    rho = np.where(rng.random(B) < 0.5, rng.uniform(0.5, 0.9, B), 0.0)
    kw = dict(steps=300, sigma1=0.2, stride=7)
    bt = simulate_batch(Rule("euclidean", "standard"), s0, lr=lr, alpha=alpha, ema=tau, rho=rho, **kw)
    assert 0 < np.isnan(bt.s[:, -1, 0]).sum() < B
    for i in range(B):
        one = simulate(Rule("euclidean", "standard"), s0[i], lr=lr[i], alpha=alpha[i], ema=tau[i], rho=rho[i],
                       **kw)
        assert np.array_equal(bt.s[i], one.s, equal_nan=True)
        assert np.array_equal(bt.lam[i], one.lam, equal_nan=True)
        for k in one.measures:
            assert np.array_equal(np.asarray(bt.measures[k][i]), np.asarray(one.measures[k]), equal_nan=True), k
