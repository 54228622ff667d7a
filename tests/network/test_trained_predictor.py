"""Sampled training with a trained full-matrix predictor W_P (SPEC §7; issue 13, items 3-4).

* (a) the per-sample encoder gradients through a *non-symmetric* W_P, the predictor's gradient dL/dW_P and the
  weight gradients dL/dW of a linear and a ReLU network against central finite differences of per-sample
  losses written here in NumPy (the oracle style of tests/derivations/test_gradients_fd.py: stop-gradients as
  frozen copies), every rule with a predictor; relative error <= 1e-6, float64;
* (b) with W_P symmetric and equal to the closed-form predictor, the trained path's weight gradient equals the
  closed-form path's (same kernels, another route), both samplers;
* (c) from a random start the eigenspace alignment ||[C, W_P]|| / (||C|| ||W_P||) falls, from an aligned start
  it stays at the sampling-noise level;
* (d) the expected predictor update of one step matches the mode equations' H_m (Euclidean closed form, cosine
  exact closure) within four standard errors in the aligned basis, and the whole expected step matches the
  map's lambda step (alpha_p, gamma_p included);
* (e) isodyn train --predictor trainable: bad input exits 2 with one line naming the flag, before any work;
  the JSON keys and the file arrays; closed-form runs report exactly the keys they did.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenarios import FAMILY_BETA, exact_drift, matrix_power_spd, random_network, random_orthogonal, rule_id

from isodyn.derivations import BETA_VARIANTS, METRICS, Rule
from isodyn.derivations.checks import InputError
from isodyn.dynamics import kernels
from isodyn.dynamics.cli.common import main
from isodyn.dynamics.network.backends import resolve
from isodyn.dynamics.network.predictor import TrainedPredictorGradients, random_predictor
from isodyn.dynamics.network.samplers import InputBatch
from isodyn.dynamics.network.trainer import NetworkConfig, NetworkTrainer, init_weights, summary, train

PREDICTOR_VARIANTS = ("standard", "iso", "no-stopgrad", "wrong-stopgrad")
#: every rule with a predictor, trained; the IsoLoss family with a symmetric W_P
RULES = tuple([Rule(m, v, predictor="trainable") for m in METRICS for v in PREDICTOR_VARIANTS]
              + [Rule(m, v, beta=FAMILY_BETA, predictor="trainable") for m in METRICS for v in BETA_VARIANTS])
RTOL = 1e-6
REL_STEP = 1e-5


def _symmetric_only(rule: Rule) -> bool:
    return rule.beta is not None


# --- the oracle: per-sample losses with a general W_P, frozen copies for SG ----------------------------------


def _dot(x, y):
    return np.sum(x * y, axis=-1)


def _norm(x):
    return np.sqrt(_dot(x, x))


def euclidean(p, t):
    return 0.5 * _dot(p - t, p - t)


def cosine(p, t):
    return -_dot(p, t) / (_norm(p) * _norm(t))


METRIC = {"euclidean": euclidean, "cosine": cosine}


def fd_rows(f, x):
    """Central differences of the per-row scalar f(x) (n,) in x (n, M) (a zero row, e.g. a ReLU's z, takes the
    step of the whole array)."""
    h = REL_STEP * np.sqrt(np.mean(x**2, axis=-1))
    h = np.where(h > 0, h, REL_STEP * np.sqrt(np.mean(x**2)))
    g = np.empty_like(x)
    for j in range(x.shape[1]):
        xp, xm = x.copy(), x.copy()
        xp[:, j] += h
        xm[:, j] -= h
        g[:, j] = (f(xp) - f(xm)) / (2 * h)
    return g


def fd_matrix(f, A):
    """Central differences of the scalar f(A) in every entry of the matrix A."""
    h = REL_STEP * np.sqrt(np.mean(A**2))
    g = np.empty_like(A)
    for idx in np.ndindex(A.shape):
        Ap, Am = A.copy(), A.copy()
        Ap[idx] += h
        Am[idx] -= h
        g[idx] = (f(Ap) - f(Am)) / (2 * h)
    return g


def loss(rule: Rule, z1, z2, z1f, z2f, Wp):
    """The encoder's per-sample loss (n,) with the predictor W_P (any square matrix; symmetric for the family):
    live (z1, z2), frozen (z1f, z2f)."""
    m = METRIC[rule.metric]
    p, pf = z1 @ Wp.T, z1f @ Wp.T
    if rule.beta is not None:  # SG(W_P^beta dl/dp) . z1 (+ the metric's target gradient for no-stopgrad)
        c = fd_rows(lambda q: m(q, z2f), pf) @ matrix_power_spd(Wp, rule.beta).T
        out = _dot(c, z1)
        return out + m(pf, z2) if rule.variant == "no-stopgrad" else out
    if rule.variant == "standard":
        return m(p, z2f)
    if rule.variant == "iso":
        if rule.metric == "euclidean":  # SPEC §3 as written (valid for any W_P)
            r = z1 - (z2f + z1f - pf)
            return 0.5 * _dot(r, r)
        # SPEC §3's cosine surrogate with its W_P^(1/2) term written as SG(c p) . z1 (the same gradient c W_P z1
        # for a symmetric W_P; defined for any W_P)
        npf, nz = _norm(pf), _norm(z2f)
        return -_dot(z1, z2f) / (npf * nz) + (_dot(pf, z2f) / (npf**3 * nz)) * _dot(pf, z1)
    if rule.variant == "no-stopgrad":
        return m(p, z2)
    if rule.variant == "wrong-stopgrad":
        return m(pf, z2)
    raise AssertionError(rule)


def predictor_loss(rule: Rule, z1, z2, Wp):
    """The loss the predictor descends (SPEC §7), a function of W_P only (z1, z2 fixed): the metric of p = W_P z1
    against z2 - every variant but wrong-stopgrad, whose p is stopped (a constant in W_P)."""
    if rule.variant == "wrong-stopgrad":
        return np.zeros(z1.shape[0])
    return METRIC[rule.metric](z1 @ Wp.T, z2)


def random_instance(seed: int, M: int, n: int = 6, symmetric: bool = False):
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.uniform(-1.0, 1.0))
    z1 = scale * rng.standard_normal((n, M))
    z2 = z1 * rng.uniform(0.3, 1.5) + scale * rng.standard_normal((n, M))
    Q = random_orthogonal(rng, M)
    Wp = (Q * rng.uniform(0.3, 2.0, M)) @ Q.T
    if not symmetric:  # a general matrix: a Gaussian part and an antisymmetric part of 0.4 ||W_P||
        K = rng.standard_normal((M, M))
        Wp = Wp + 0.4 * rng.standard_normal((M, M)) + 0.4 * np.linalg.norm(Wp) * (K - K.T) / np.linalg.norm(K - K.T)
    return z1, z2, Wp


def assert_rows_close(g, ref, what):
    err, scale = np.linalg.norm(g - ref, axis=-1), np.linalg.norm(ref, axis=-1)
    assert np.all(err <= RTOL * scale), f"{what}: relative error {np.max(err / np.maximum(scale, 1e-300)):.3g}"


def assert_close(a, ref, what):
    err, scale = np.linalg.norm(a - ref), np.linalg.norm(ref)
    assert err <= RTOL * scale, f"{what}: relative error {err / scale:.3g}"


# --- (a) finite differences --------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@settings(max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 6))
def test_per_sample_gradients_through_a_general_predictor_match_finite_differences(rule, seed, M):
    z1, z2, Wp = random_instance(seed, M, symmetric=_symmetric_only(rule))
    if not _symmetric_only(rule):
        assert np.linalg.norm(Wp - Wp.T) > 0.1 * np.linalg.norm(Wp)
    g, h, D = TrainedPredictorGradients(rule, resolve("numpy"))(z1, z2, Wp)
    g1_fd = fd_rows(lambda x: loss(rule, x, z2, z1, z2, Wp), z1)
    g2_fd = fd_rows(lambda x: loss(rule, z1, x, z1, z2, Wp), z2)
    if rule.online_gradient:
        assert_rows_close(g, g1_fd, f"{rule.name} dl/dz1")
    else:
        assert g is None and np.all(g1_fd == 0)
    if rule.target_gradient:
        assert_rows_close(h, g2_fd, f"{rule.name} dl/dz2")
    else:
        assert h is None and np.all(g2_fd == 0)
    gWp_fd = fd_matrix(lambda A: np.mean(predictor_loss(rule, z1, z2, A)), Wp)
    if rule.variant == "wrong-stopgrad":
        assert D is None
    else:
        assert_close(TrainedPredictorGradients.predictor_gradient(D, z1), gWp_fd, f"{rule.name} dL/dW_P")


def _linear_or_relu(net):
    return (lambda u: np.maximum(u, 0)) if net == "relu" else (lambda u: u)


@pytest.mark.parametrize("grad_impl", ["numba", "xp"])  # the generated loops (NumPy's auto) and array functions
@pytest.mark.parametrize("net", ["linear", "relu"])
@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_weight_gradients_of_the_trainer_match_finite_differences(rule, net, grad_impl):
    """dL/dW and dL/dW_P of NetworkTrainer.trained_gradients for one batch, against FD of the batch-mean loss in W
    (live branches only: W_t frozen unless the target branch gets a gradient) and in W_P."""
    N, M, n = 5, 3, 40
    rng = np.random.default_rng(17)
    W = init_weights(M, N, 0.6, 4)
    Wt = W + (0.2 * rng.standard_normal((M, N)) if rule.has_target_network else 0)
    Q = random_orthogonal(rng, M)
    Wp = (Q * rng.uniform(0.4, 1.6, M)) @ Q.T
    if not _symmetric_only(rule):
        Wp = Wp + 0.4 * rng.standard_normal((M, M))
    x = rng.standard_normal((n, N))
    x1, x2 = x + 0.3 * rng.standard_normal((n, N)), x + 0.4 * rng.standard_normal((n, N))
    f = _linear_or_relu(net)
    ema = 0.5 if rule.has_target_network else 0.0
    cfg = NetworkConfig(rule, net=net, in_dim=N, out_dim=M, samples=n, sigma1=0.3, sigma2=0.4, ema=ema,
                        predictor_symmetric=_symmetric_only(rule))
    tr = NetworkTrainer(cfg, W, Wp0=Wp, grad_impl=grad_impl)
    assert tr.grad_impl == grad_impl
    tr.Wt = Wt
    gW, gWp, _ = tr.trained_gradients(InputBatch(x1, x2, x1 @ W.T, x2 @ Wt.T))
    z1f, z2f = f(x1 @ W.T), f(x2 @ Wt.T)
    # ReLU + cosine: a sample whose z1 or z2 is the zero vector has no defined cosine and contributes nothing
    # (the trainer's convention); small perturbations keep such a vector zero
    keep = (np.abs(z1f).max(1) > 0) & (np.abs(z2f).max(1) > 0) | (rule.metric == "euclidean")
    assert keep.all() or (net == "relu" and keep.sum() > n // 2)
    k1, k2 = z1f[keep], z2f[keep]

    def batch_loss(A):  # the live online (and, where it gets one, target) branch with weights A
        z2 = f(x2[keep] @ A.T) if rule.target_gradient else k2
        return np.sum(loss(rule, f(x1[keep] @ A.T), z2, k1, k2, Wp)) / n

    assert_close(gW, fd_matrix(batch_loss, W), f"{rule.name} {net} dL/dW")
    if rule.variant == "wrong-stopgrad":
        assert gWp is None
    else:
        assert_close(gWp, fd_matrix(lambda A: np.sum(predictor_loss(rule, k1, k2, A)) / n, Wp),
                     f"{rule.name} {net} dL/dW_P")


def test_the_oracle_tells_the_routes_apart():
    """With a non-symmetric W_P, standard (W_P^T dl/dp) and iso (dl/dp) and the wrong transpose (W_P dl/dp)
    differ beyond the tolerance: the FD test can fail."""
    z1, z2, Wp = random_instance(5, 4)
    std = Rule("euclidean", "standard", predictor="trainable")
    g, _, D = TrainedPredictorGradients(std, resolve("numpy"))(z1, z2, Wp)
    g_fd = fd_rows(lambda x: loss(std, x, z2, z1, z2, Wp), z1)
    assert_rows_close(g, g_fd, "standard")
    for wrong in (D, D @ Wp.T):
        with pytest.raises(AssertionError):
            assert_rows_close(wrong, g_fd, "a wrong route")


# --- (b) the closed-form predictor, by the trained route -------------------------------------------------


ROUTES = [(r, net, smp) for r in RULES for net in ("linear", "relu") for smp in ("inputs", "moments")
          if smp == "inputs" or (net == "linear" and r.metric == "euclidean")]  # moments: linear Euclidean


@pytest.mark.parametrize("rule,net,sampler", ROUTES, ids=lambda v: rule_id(v) if isinstance(v, Rule) else v)
def test_trained_route_at_the_closed_form_predictor_equals_the_closed_form_path(rule, net, sampler):
    N, M, n = 7, 4, 500
    rng = np.random.default_rng(3)
    W = init_weights(M, N, 0.5, 2)
    ema = 0.5 if rule.has_target_network else 0.0
    kw = dict(net=net, in_dim=N, out_dim=M, samples=n, sigma1=0.2, sigma2=0.3, ema=ema, sampler=sampler)
    closed = NetworkTrainer(NetworkConfig(rule.with_(predictor="closed-form"), **kw), W)
    trained = NetworkTrainer(NetworkConfig(rule, predictor_symmetric=_symmetric_only(rule), **kw), W)
    _, lam, U = closed.predictor(*closed.weights_source())
    np.testing.assert_allclose(trained.Wp, (U * lam) @ U.T, rtol=0, atol=1e-15)
    if ema:
        closed.Wt = trained.Wt = W + 0.1 * rng.standard_normal((M, N))
    if sampler == "moments":
        batch = closed.sampler.draw()
    else:
        x = rng.standard_normal((n, N))
        x1, x2 = x + 0.2 * rng.standard_normal((n, N)), x + 0.3 * rng.standard_normal((n, N))
        batch = InputBatch(x1, x2, x1 @ W.T, x2 @ closed.Wt.T)
    with np.errstate(invalid="ignore", divide="ignore"):  # ReLU + cosine: the closed-form path's masked 0/0 rows
        ref, s_ref, lam_ref = closed.weight_gradient(batch)
    got, s, lam_got = trained.weight_gradient(batch)
    np.testing.assert_allclose(got, ref, rtol=1e-11, atol=1e-13 * np.abs(ref).max())
    np.testing.assert_allclose(s, s_ref, rtol=1e-14)
    np.testing.assert_allclose(lam_got, lam_ref, rtol=1e-12, atol=1e-14)


# --- (c) alignment ----------------------------------------------------------------------------------------

ALIGN_SETTINGS = {  # (sampler, n, lr, steps, seeds)
    "euclidean": ("moments", 50_000, 0.01, 1500, range(5)),
    "cosine": ("inputs", 2000, 0.1, 600, range(3)),
}
#: alignment(end) / alignment(0) from a random start must be below this for every seed.  Measured on the 15 -> 10
#: network (SPEC §5): Euclidean 0.23-0.35 over seeds 0-7, cosine 0.27-0.36 over seeds 0-4 (the fall is
#: deterministic up to sampling noise; the seeds change W0 and the random W_P(0)).  0.5 ("at least halved")
#: leaves a margin of about 1.4 over the worst seed.
ALIGN_BOUND = 0.5
#: an aligned start stays aligned up to the sampling noise: measured max over the run 1e-4 - 1e-3
ALIGNED_NOISE = 5e-3


@pytest.mark.parametrize("metric", METRICS)
def test_alignment_falls_from_a_random_start_and_an_aligned_start_stays(metric):
    sampler, n, lr, steps, seeds = ALIGN_SETTINGS[metric]
    rule = Rule(metric, "standard", predictor="trainable")
    for seed in seeds:
        base = dict(in_dim=15, out_dim=10, samples=n, lr=lr, sampler=sampler)
        r = train(NetworkConfig(rule, predictor_init="random", **base), steps=steps, seed=seed)
        a = r.alignment
        assert not r.diverged and a[0] > 0.05, (seed, a[0])  # a random start is unaligned
        assert a[-1] < ALIGN_BOUND * a[0], (seed, a[-1] / a[0])
        assert a[steps // 2] < a[0] and a[-1] <= a[steps // 2] * 1.05  # falling, not a transient
        aligned = train(NetworkConfig(rule, **base), steps=steps // 3, seed=seed)
        assert aligned.alignment[0] < 1e-12 and np.max(aligned.alignment) < ALIGNED_NOISE


def test_alignment_measures():
    from isodyn.dynamics import measures as ms

    rng = np.random.default_rng(0)
    Q = random_orthogonal(rng, 4)
    C = (Q * [0.1, 0.5, 1.0, 2.0]) @ Q.T
    aligned = (Q * [0.3, 0.6, 0.9, 1.2]) @ Q.T
    assert ms.eigenspace_alignment(C, aligned) < 1e-14
    np.testing.assert_allclose(ms.eigenvector_alignment(C, aligned), 1.0, atol=1e-12)
    R = random_predictor([0.3, 0.6, 0.9, 1.2], seed=1)
    assert ms.eigenspace_alignment(C, R) > 0.05 and ms.asymmetry(R) < 1e-14
    np.testing.assert_allclose(ms.predictor_spectrum(R), [0.3, 0.6, 0.9, 1.2], rtol=1e-12)
    A = rng.standard_normal((4, 4))
    assert ms.asymmetry(A - A.T) == pytest.approx(2.0)
    np.testing.assert_allclose(ms.predictor_spectrum(A), np.linalg.eigvalsh((A + A.T) / 2))


# --- (d) the expected predictor update against the mode equations --------------------------------------


def _batch_means(tr, K):
    """K independent dL/dW_P of the trainer (each a mean over its n samples), (K, M, M)."""
    return np.array([tr.trained_gradients()[1] for _ in range(K)])


@pytest.mark.parametrize("variant", ["standard", "iso", "no-stopgrad"])
@pytest.mark.parametrize("metric", METRICS)
def test_expected_predictor_update_is_the_mode_equations_H(metric, variant, rng):
    """-E[dL/dW_P] in the aligned eigenbasis U: diag = H_m (kernels(rule).predictor_drift_np; cosine: the exact
    closure), off-diagonal 0, within 4 standard errors of K = 40 batches of 25,000 samples (10^6 in all);
    sigma1, sigma2 > 0 and, for rules with a target network, a distinct EMA target (S_t != S).  (wrong-stopgrad:
    no predictor gradient, H = 0 - test_per_sample_gradients... checks that it gets none.)"""
    rule = Rule(metric, variant, predictor="trainable")
    M, N, K, n = 3, 5, 40, 25_000
    net = random_network(rng, M, N, distinct_target=rule.has_target_network)
    lam = np.array([0.6, 1.1, 1.7])
    s1, s2 = 0.3, 0.5
    cfg = NetworkConfig(rule, in_dim=N, out_dim=M, samples=n, sigma1=s1, sigma2=s2,
                        ema=0.5 if rule.has_target_network else 0.0)
    tr = NetworkTrainer(cfg, net.W, seed=11, Wp0=(net.U * lam) @ net.U.T)
    if rule.has_target_network:
        tr.Wt = net.Wt
    G = -np.einsum("im,kij,jl->kml", net.U, _batch_means(tr, K), net.U)  # -U^T dL/dW_P U per batch
    mean, se = G.mean(0), G.std(0, ddof=1) / np.sqrt(K)
    k = kernels(rule)
    if metric == "euclidean":
        H = k.predictor_drift_np(net.S, net.St, lam, s1, s2, 0.0)
    else:
        H = exact_drift(k, net.S, net.St, lam, s1, s2, 0.0, integrand=k.exact_predictor_integrand_np)
    z = np.abs(np.diag(mean) - H) / np.diag(se)
    assert z.max() < 4, z
    off = ~np.eye(M, dtype=bool)
    assert np.max(np.abs(mean[off]) / se[off]) < 4
    assert np.max(np.abs(np.diag(mean) - 1.05 * H) / np.diag(se)) > 4  # able to fail: a 5 % error is seen


@pytest.mark.parametrize("metric", METRICS)
def test_expected_step_of_the_predictor_is_the_maps_lambda_step(metric):
    """The mean one-step change of W_P (alpha_p = 2, gamma_p = 0.1), projected on U, equals simulate's map step
    lambda_1 - lambda_0 from (s0, lam0) (cosine: exact closure), W_t = W; 4 standard errors of K = 40 batches."""
    from isodyn.dynamics.modes.simulation import simulate

    rule = Rule(metric, "standard", predictor="trainable")
    M, N, K, n, lr = 3, 5, 40, 25_000, 0.1
    rng = np.random.default_rng(8)
    net = random_network(rng, M, N, distinct_target=False)
    lam0 = np.array([0.5, 0.9, 1.4])
    s1, s2, ap, gp = 0.3, 0.5, 2.0, 0.1
    cfg = NetworkConfig(rule, in_dim=N, out_dim=M, samples=n, sigma1=s1, sigma2=s2, lr=lr, predictor_lr_ratio=ap,
                        predictor_weight_decay=gp)
    Wp0 = (net.U * lam0) @ net.U.T
    dl = []
    for i in range(K):
        tr = NetworkTrainer(cfg, net.W, seed=100 + i, Wp0=Wp0)
        tr.step()
        dl.append(np.diag(net.U.T @ tr.Wp @ net.U) - lam0)
    dl = np.array(dl)
    tj = simulate(rule, (1 + s1**2) * net.S**2, lam0=lam0, lr=lr, steps=1, sigma1=s1, sigma2=s2, scheme="map",
                  predictor_lr_ratio=ap, predictor_weight_decay=gp, **({"closure": "exact"} if metric == "cosine"
                                                                        else {}))
    want = tj.lam[1] - tj.lam[0]
    z = np.abs(dl.mean(0) - want) / (dl.std(0, ddof=1) / np.sqrt(K))
    assert z.max() < 4, (z, dl.mean(0), want)


# --- (e) configuration and the command line -------------------------------------------------------------


@pytest.mark.parametrize("kw,flag", [
    ({"predictor_lr_ratio": 2.0}, "predictor_lr_ratio"), ({"predictor_weight_decay": 0.1}, "predictor_weight_decay"),
    ({"predictor_init": "random"}, "predictor_init"), ({"predictor_symmetric": True}, "predictor_symmetric"),
])
def test_trained_options_refused_for_the_closed_form_predictor(kw, flag):
    with pytest.raises(InputError) as e:
        NetworkConfig(Rule(), **kw)
    assert e.value.flag == flag


@pytest.mark.parametrize("kw,flag", [
    ({"predictor_lr_ratio": 0.0}, "predictor_lr_ratio"), ({"predictor_weight_decay": -0.1}, "predictor_weight_decay"),
    ({"predictor_init": "zeros"}, "predictor_init"), ({"predictor_symmetric": 1}, "predictor_symmetric"),
])
def test_trained_options_checked(kw, flag):
    with pytest.raises(InputError) as e:
        NetworkConfig(Rule(predictor="trainable"), **kw)
    assert e.value.flag == flag


def test_family_needs_a_symmetric_predictor_and_defaults():
    fam = Rule("cosine", "iso", beta=0.5, predictor="trainable")
    with pytest.raises(InputError) as e:
        NetworkConfig(fam)
    assert e.value.flag == "predictor_symmetric"
    cfg = NetworkConfig(Rule(predictor="trainable"), weight_decay=0.03)
    assert cfg.alpha_p == 1.0 and cfg.gamma_p == 0.03
    d = cfg.as_dict()
    assert d["predictor_lr_ratio"] == 1.0 and d["predictor_weight_decay"] == 0.03 and d["predictor_init"] == \
        "closed-form" and d["predictor_symmetric"] is False


def test_symmetric_projection_and_identity_start():
    cfg = NetworkConfig(Rule(predictor="trainable"), in_dim=6, out_dim=3, samples=300, predictor_init="random",
                        predictor_symmetric=True)
    r = train(cfg, steps=20, seed=2)
    assert np.all(r.asymmetry == 0) and np.array_equal(r.Wp, r.Wp.T)
    free = train(NetworkConfig(Rule(predictor="trainable"), in_dim=6, out_dim=3, samples=300,
                               predictor_init="random"), steps=20, seed=2)
    assert free.asymmetry[0] < 1e-15 and free.asymmetry[-1] > 1e-4  # the gradient W_P F - E[z2 z1^T] is not symmetric
    ident = train(NetworkConfig(Rule(predictor="trainable"), in_dim=6, out_dim=3, samples=300,
                                predictor_init="identity"), steps=0, seed=2)
    np.testing.assert_array_equal(ident.Wp, np.eye(3))


def _cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv,flag", [
    (["--predictor-lr-ratio", "2"], "--predictor-lr-ratio"),
    (["--predictor-weight-decay", "0.1"], "--predictor-weight-decay"),
    (["--predictor-init", "random"], "--predictor-init"),
    (["--predictor-symmetric"], "--predictor-symmetric"),
    (["--predictor", "trainable", "--predictor-lr-ratio", "0"], "--predictor-lr-ratio"),
    (["--predictor", "trainable", "--predictor-lr-ratio", "nan"], "--predictor-lr-ratio"),
    (["--predictor", "trainable", "--predictor-weight-decay", "-0.5"], "--predictor-weight-decay"),
    (["--predictor", "trainable", "--predictor-init", "zeros"], "--predictor-init"),
    (["--predictor", "trainable", "--beta", "0.5"], "--predictor-symmetric"),
    (["--predictor", "trainable", "--variant", "no-predictor"], "--predictor"),
])
def test_train_trained_predictor_bad_input_one_line_exit_2(capsys, argv, flag):
    rc, out, err = _cli(capsys, "train", "--steps", "2", "--samples", "10", "--json", *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"isodyn: error: argument {flag}")


def test_train_trained_predictor_json_and_files(tmp_path, capsys):
    import xarray as xr

    base = ["train", "--in-dim", "6", "--out-dim", "3", "--samples", "300", "--steps", "25", "--seed", "4",
            "--backend", "numpy"]
    rc, so, _ = _cli(capsys, *base, "--json")
    closed = json.loads(so)
    for key in ("alignment_final", "eigvec_alignment_final", "asymmetry_final"):
        assert key not in closed
    assert not {"predictor_lr_ratio", "predictor_weight_decay", "predictor_init", "predictor_symmetric"} & \
        set(closed["parameters"])
    for suffix in (".nc", ".npz"):
        out = tmp_path / ("r" + suffix)
        rc, so, _ = _cli(capsys, *base, "--predictor", "trainable", "--predictor-init", "random",
                         "--predictor-lr-ratio", "2", "--weight-decay", "0.01", "--json", "--out", str(out))
        assert rc == 0
        d = json.loads(so)
        assert set(closed) <= set(d)  # every key of the contract is still there
        p = d["parameters"]
        assert p["predictor"] == "trainable" and p["predictor_lr_ratio"] == 2.0
        assert p["predictor_weight_decay"] == 0.01 and p["predictor_init"] == "random"
        assert 0 <= d["alignment_final"] < 2 and len(d["eigvec_alignment_final"]) == 3
        assert d["asymmetry_final"] >= 0 and d["lam_final"] == sorted(d["lam_final"])
        if suffix == ".nc":
            ds = xr.open_dataset(out)
            arrays = {k: ds[k].values for k in ("alignment", "asymmetry", "eigvec_alignment", "lam", "Wp")}
            ds.close()
        else:
            z = np.load(out)
            arrays = {k: z[k] for k in ("alignment", "asymmetry", "eigvec_alignment", "lam", "Wp")}
        assert arrays["alignment"].shape == (26,) and arrays["eigvec_alignment"].shape == (26, 3)
        assert arrays["Wp"].shape == (3, 3) and arrays["alignment"][-1] == pytest.approx(d["alignment_final"])
        np.testing.assert_allclose(arrays["lam"][-1], d["lam_final"])
        np.testing.assert_allclose(np.linalg.eigvalsh((arrays["Wp"] + arrays["Wp"].T) / 2), d["lam_final"])


def test_summary_of_a_trained_run_and_reproducibility():
    cfg = NetworkConfig(Rule("cosine", "iso", predictor="trainable"), in_dim=6, out_dim=2, samples=400, lr=0.1)
    a, b = train(cfg, steps=30, seed=5), train(cfg, steps=30, seed=5)
    assert np.array_equal(a.alignment, b.alignment) and np.array_equal(a.Wp, b.Wp)
    d = summary(a)
    np.testing.assert_allclose(d["lam_final"], np.linalg.eigvalsh((a.Wp + a.Wp.T) / 2), rtol=1e-12)
    assert d["alignment_final"] == pytest.approx(a.alignment[-1])
