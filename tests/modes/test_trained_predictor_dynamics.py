"""The mode equations with a trained predictor (SPEC §7) reproduce Tian et al.'s theory and the network.

* Tian's invariant S^2 - lambda^2 / alpha_p is conserved at gamma = 0 to dopri5's tolerance and decays as
  exp(-2 gamma t) with gamma_p = gamma (Euclidean standard, sigma1 = 0, no EMA);
* started on the parabola S^2 = lambda^2 / alpha_p, a mode above the separatrix lambda*- converges to
  lambda*+, one below it collapses, and every mode collapses above the threshold 1 / (4 (1 + sigma1^2));
  lambda*+- and the threshold come from derivations.analysis.trainable_theory (derived, not typed);
* the predictor drift H_m equals 10^6-sample Monte Carlo of -E[(dl/dp) z1^T] of the linear network, projected
  on the predictor's eigenvectors, within four standard errors (Euclidean closed form; cosine exact closure),
  and the off-diagonal entries vanish within four standard errors;
* batched runs with trained points equal one-at-a-time runs bit for bit (map, rk4, dopri5).
"""

from __future__ import annotations

import numpy as np
import pytest
from scenarios import exact_drift, random_network

from isodyn.derivations import Rule
from isodyn.derivations import analysis as an
from isodyn.derivations.modes import sigma1 as sigma1_sym
from isodyn.dynamics import kernels, representation_gradient
from isodyn.dynamics.modes.simulation import simulate, simulate_batch

TRAINED = Rule("euclidean", "standard", predictor="trainable")


def _invariant(tr, alpha_p):
    S2 = tr.s  # sigma1 = 0: s = S^2
    return S2 - tr.lam**2 / alpha_p


@pytest.mark.parametrize("alpha_p", [0.5, 1.0, 3.0])
def test_invariant_is_conserved_without_weight_decay(alpha_p):
    s0, lam0 = np.array([0.02, 0.3, 1.5]), np.array([0.4, 0.1, 0.9])
    rtol = 1e-10
    tr = simulate(TRAINED, s0, lam0=lam0, lr=0.05, steps=2000, sigma1=0.0, scheme="dopri5", rtol=rtol, atol=1e-14,
                  predictor_lr_ratio=alpha_p, stride=50)
    inv = _invariant(tr, alpha_p)
    scale = np.max(tr.s, axis=0) + np.max(tr.lam, axis=0) ** 2 / alpha_p
    assert np.max(np.abs(inv - inv[0]) / scale) < 100 * rtol
    # and it is not trivially constant: the modes and the predictor moved
    assert np.max(np.abs(tr.s[-1] - tr.s[0]) / tr.s[0]) > 0.1
    assert np.min(np.abs(tr.lam[-1] - tr.lam[0]) / tr.lam[0]) > 0.05


def test_invariant_decays_exponentially_with_matched_weight_decay():
    gam = 0.05
    s0, lam0 = np.array([0.5, 0.8]), np.array([0.2, 0.9])
    tr = simulate(TRAINED, s0, lam0=lam0, lr=0.05, steps=400, weight_decay=gam, scheme="dopri5", rtol=1e-11,
                  atol=1e-15, stride=20)
    inv = _invariant(tr, 1.0)
    t = tr.time
    np.testing.assert_allclose(inv, inv[0] * np.exp(-2 * gam * t)[:, None], rtol=1e-7, atol=1e-13)


def _fixed_points(gam, s1):
    th = an.trainable_theory(Rule("euclidean", "standard"))
    vals = {an.ema_ratio: 1, an.gamma: gam, sigma1_sym: s1}
    return [float(x.subs(vals)) for x in th.fixed_points], float(th.threshold.subs(vals))


@pytest.mark.parametrize("gam,s1", [(0.1, 0.0), (0.05, 0.3)])
def test_above_the_separatrix_converges_to_lambda_plus_below_collapses(gam, s1):
    (plus, minus), _ = _fixed_points(gam, s1)
    alpha_p = 1.0
    lam0 = np.array([minus * 1.2, (minus + plus) / 2, plus * 1.5, minus * 0.8, minus * 0.5])
    s0 = (1 + s1**2) * lam0**2 / alpha_p  # on the parabola S^2 = lambda^2 / alpha_p
    tr = simulate(TRAINED, s0, lam0=lam0, lr=0.05, steps=40_000, weight_decay=gam, sigma1=s1, scheme="dopri5",
                  predictor_lr_ratio=alpha_p)
    lam = np.asarray(tr.lam_final)
    np.testing.assert_allclose(lam[:3], plus, rtol=1e-6)
    assert np.all(lam[3:] < 1e-6 * plus)
    assert list(tr.measures["dead"][3:]) == [True, True]


@pytest.mark.parametrize("s1", [0.0, 0.3])
def test_every_mode_collapses_above_the_threshold(s1):
    _, gc = _fixed_points(0.1, s1)
    lam0 = np.array([0.2, 0.6, 1.0, 2.0])
    s0 = (1 + s1**2) * lam0**2
    for gam, dies in ((0.97 * gc, False), (1.03 * gc, True)):
        tr = simulate(TRAINED, s0, lam0=lam0, lr=0.05, steps=60_000, weight_decay=gam, sigma1=s1, scheme="dopri5")
        assert bool(tr.measures["collapsed"]) is dies, (gam, gc)
        if not dies:  # the upper modes sit at lambda*+
            (plus, _), _ = _fixed_points(gam, s1)
            np.testing.assert_allclose(tr.lam_final[2:], plus, rtol=1e-5)


def _network_predictor_descent(rule, net, seed, n=1_000_000, chunk=125_000, sigma1=0.3, sigma2=0.5):
    """-E[(dl/dp) z1^T] of the linear network (M, M) in the predictor's eigenbasis, its standard errors, and the
    predictor eigenvalues used: dl/dp is IsoLoss's online gradient (the predictor's transpose removed)."""
    rng = np.random.default_rng(seed)
    U, S, St, V = net.U, net.S, net.St, net.V
    N = V.shape[0]
    W = (U * S) @ np.hstack([V, net.V_perp]).T[:S.size]
    Wt = (U * St) @ np.hstack([V, net.V_perp]).T[:S.size]
    lam = 0.5 + (np.arange(S.size) + 1) / S.size
    Wp = (U * lam) @ U.T
    iso = Rule(rule.metric, "iso")
    acc, acc2, done = 0.0, 0.0, 0
    while done < n:
        x = rng.standard_normal((chunk, N))
        x1 = x + sigma1 * rng.standard_normal((chunk, N))
        x2 = x + sigma2 * rng.standard_normal((chunk, N))
        z1, z2 = x1 @ W.T, x2 @ Wt.T
        g = representation_gradient(iso, z1=z1, z2=z2, Wp=Wp)  # dl/dp per sample (n, M)
        d = -(np.einsum("ni,nj->nij", g @ U, z1 @ U))  # in the eigenbasis
        acc = acc + d.sum(0)
        acc2 = acc2 + (d**2).sum(0)
        done += chunk
    mean = acc / done
    se = np.sqrt(np.maximum(acc2 / done - mean**2, 0) / done)
    return mean, se, lam


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_predictor_drift_matches_network_monte_carlo(metric, rng):
    rule = Rule(metric, "standard", predictor="trainable")
    net = random_network(rng, 3, 5)
    mean, se, lam = _network_predictor_descent(rule, net, seed=7)
    k = kernels(rule)
    s1, s2 = 0.3, 0.5
    if metric == "euclidean":
        H = k.predictor_drift_np(net.S, net.St, lam, s1, s2, 0.0)
    else:
        H = exact_drift(k, net.S, net.St, lam, s1, s2, 0.0, integrand=k.exact_predictor_integrand_np)
    z = np.abs(np.diag(mean) - H) / np.diag(se)
    assert z.max() < 4, z
    off = ~np.eye(3, dtype=bool)
    assert np.max(np.abs(mean[off]) / se[off]) < 4
    # and the comparison can fail: the closed-form lambda's drift is a different vector
    assert np.max(np.abs(np.diag(mean) - 1.05 * H) / np.diag(se)) > 4


@pytest.mark.parametrize("scheme", ["map", "rk4", "dopri5"])
def test_batched_trained_points_equal_one_at_a_time(scheme):
    rng = np.random.default_rng(3)
    B, M = 6, 4
    s0 = np.exp(rng.uniform(np.log(1e-2), 0.0, (B, M)))
    lam0 = rng.uniform(0.1, 1.2, (B, M))
    kw = dict(lr=0.05, steps=300, scheme=scheme, weight_decay=rng.uniform(0, 0.1, B),
              predictor_lr_ratio=rng.uniform(0.5, 2.0, B), ema=np.where(np.arange(B) % 2, 0.5, 0.0))
    batch = simulate_batch(TRAINED, s0, lam0=lam0, **kw)
    for i in range(B):
        one = simulate(TRAINED, s0[i], lam0=lam0[i], **{k: (v[i] if np.ndim(v) else v) for k, v in kw.items()})
        assert np.array_equal(batch.s[i], one.s, equal_nan=True)
        assert np.array_equal(batch.lam[i], one.lam, equal_nan=True)


def test_trained_predictor_options_refused_for_the_closed_form_predictor():
    from isodyn.derivations.checks import InputError

    for kw in ({"lam0": [0.1, 0.2]}, {"predictor_lr_ratio": 2.0}, {"predictor_weight_decay": 0.1}):
        with pytest.raises(InputError) as e:
            simulate(Rule(), [0.1, 0.2], steps=2, **kw)
        assert e.value.flag == next(iter(kw))
    with pytest.raises(InputError) as e:
        simulate(TRAINED, [0.1, 0.2], steps=2, lam0=[0.1, 0.2, 0.3])
    assert e.value.flag == "lam0"
    with pytest.raises(InputError):
        Rule("euclidean", "no-predictor", predictor="trainable")


@pytest.mark.parametrize("rule", [TRAINED, Rule("cosine", "standard", predictor="trainable"),
                                  Rule("euclidean", "iso", beta=0.5, predictor="trainable"),
                                  Rule("cosine", "wrong-stopgrad", predictor="trainable")], ids=lambda r: r.name)
def test_fused_trained_map_equals_the_one_point_map_bitwise(rule):
    """The fused elementwise map with a trained predictor (_map_fast_trained) against the one-point map
    (_map_block): the same generated expressions and operation order, so the same bits, EMA and weight decay on,
    a diverging point included."""
    from isodyn.dynamics.modes import integrators as I

    rng = np.random.default_rng(11)
    B, M = I.MAP_FAST_BLOCK + 5, 5
    s0 = np.exp(rng.uniform(np.log(1e-2), 0.0, (B, M)))
    s0[3] *= 50.0
    lam0 = rng.uniform(0.1, 1.0, (B, M))
    lam0[3] = 4.0  # strong predictor on a strong mode: diverges at this learning rate
    kw = dict(lr=0.3 if rule.metric == "euclidean" else 0.1, steps=300, lam0=lam0, closure="mean-field",
              weight_decay=rng.uniform(0, 0.05, B), predictor_lr_ratio=rng.uniform(0.5, 2.0, B))
    if rule.has_target_network:
        kw["ema"] = np.where(np.arange(B) % 2, 0.9, 0.0)
    fused = simulate_batch(rule, s0, **kw)
    orig = I.run
    try:
        I.run = lambda *a, **k: orig(*a, **{**k, "fused": False})
        one_point = simulate_batch(rule, s0, **kw)
    finally:
        I.run = orig
    assert np.array_equal(fused.s, one_point.s, equal_nan=True)
    assert np.array_equal(fused.lam, one_point.lam, equal_nan=True)
    assert np.array_equal(fused.status, one_point.status)
    if rule.metric == "euclidean" and rule.beta is None:
        assert fused.measures["diverged"].any()
