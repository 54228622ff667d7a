"""Sampled networks: moments vs inputs sampler, ReLU claims, reproducibility, the train CLI, the CUDA translation."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from isodyn.derivations import METRICS, VARIANTS, Rule
from isodyn.dynamics import kernels
from isodyn.dynamics.cli.common import main
from isodyn.dynamics.network.backends import elementwise_source
from isodyn.dynamics.network.trainer import NetworkConfig, NetworkTrainer, init_weights, train


def _updates(cfg, W, Wt, sampler, K, seed):
    cfg = NetworkConfig(**{**cfg.__dict__, "sampler": sampler})
    tr = NetworkTrainer(cfg, W, seed=seed)
    if Wt is not None:
        tr.Wt = Wt
    return np.array([tr.weight_gradient()[0].ravel() for _ in range(K)])


@pytest.mark.parametrize("variant,n,ema", [("standard", 30, True), ("no-stopgrad", 8, False),
                                           ("wrong-stopgrad", 40, False)])
def test_moments_sampler_matches_inputs_in_distribution(variant, n, ema):
    """Mean and covariance of the weight update agree within a Bonferroni z-bound from K draws each."""
    N, M, K = 4, 2, 4000
    rule = Rule("euclidean", variant)
    rng = np.random.default_rng(2)
    W = rng.standard_normal((M, N)) / 2
    Wt = W + 0.2 * rng.standard_normal((M, N)) if ema else None
    cfg = NetworkConfig(rule, in_dim=N, out_dim=M, samples=n, sigma1=0.3, sigma2=0.5, lr=0.01,
                        ema=0.5 if ema else 0.0, rho=0.0,
                        predictor_source="representations" if variant == "standard" else "weights")
    a, b = _updates(cfg, W, Wt, "inputs", K, 1), _updates(cfg, W, Wt, "moments", K, 2)
    d = a.shape[1]
    iu = np.triu_indices(d)
    z = 4.5  # two-sided 1e-3 family error over d + d(d+1)/2 = 44 statistics (Bonferroni)
    se_mean = np.sqrt(a.var(0) / K + b.var(0) / K)
    assert np.all(np.abs(a.mean(0) - b.mean(0)) <= z * se_mean)

    def cov_stats(x):
        c = x - x.mean(0)
        prods = (c[:, :, None] * c[:, None, :])[:, iu[0], iu[1]]
        return prods.mean(0), prods.var(0) / K

    ca, va = cov_stats(a)
    cb, vb = cov_stats(b)
    assert np.all(np.abs(ca - cb) <= z * np.sqrt(va + vb))
    # able to fail: an update with 50 % more spread is told apart
    assert np.any(np.abs(ca * 2.25 - cb) > z * np.sqrt(va * 2.25**2 + vb))


@pytest.mark.parametrize("predictor", ["closed-form", "trainable"])
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("net", ["linear", "relu"])
@pytest.mark.parametrize("N,M,rank_deficient", [(4, 2, False), (4, 2, True), (3, 3, False), (5, 3, False)])
def test_projected_draw_matches_the_full_draw_in_distribution(metric, net, N, M, rank_deficient, predictor):
    """The projected draw (sigma1 = 0, W_t = W; samplers module) gives weight updates (and a trained
    predictor's gradient) distributed as those from fully drawn inputs x (n, N): two-sample Kolmogorov-Smirnov
    tests of the update's projections on random directions (Cramer-Wold; the cosine rules' updates are
    heavy-tailed, so no moment tests), at a family error of 1e-3 (Bonferroni); a 50 % wider update would be
    told apart."""
    from scipy.stats import ks_2samp

    from isodyn.dynamics.network.samplers import InputBatch, ProjectedBatch

    K, n, n_dirs = 3000, 12, 8
    rng = np.random.default_rng(5)
    W = rng.standard_normal((M, N)) / 2
    if rank_deficient:
        W[0] = 0.0  # a collapsed mode: a zero singular value
    cfg = NetworkConfig(Rule(metric, "standard").with_(predictor=predictor), net=net, in_dim=N, out_dim=M,
                        samples=n, sigma1=0.0, sigma2=0.5, lr=0.01)
    proj, full = NetworkTrainer(cfg, W, seed=1), NetworkTrainer(cfg, W, seed=2)
    assert isinstance(proj._draw(None, projected=True), ProjectedBatch)
    assert type(full.sampler.draw(full.W, full.Wt)) is InputBatch

    def update(tr, batch=None):
        if tr.trained:
            grad, gWp, _ = tr.trained_gradients(batch)
            return np.concatenate([grad.ravel(), gWp.ravel()])
        return tr.weight_gradient(batch)[0].ravel()

    a = np.array([update(proj) for _ in range(K)])
    b = np.array([update(full, full.sampler.draw(full.W, full.Wt)) for _ in range(K)])
    dirs = rng.standard_normal((a.shape[1], n_dirs))
    alpha = 1e-3 / n_dirs
    assert all(ks_2samp(a @ d, b @ d).pvalue > alpha for d in dirs.T)
    assert any(ks_2samp(1.5 * (a @ d), b @ d).pvalue < alpha for d in dirs.T)


@pytest.mark.parametrize("predictor", ["closed-form", "trainable"])
@pytest.mark.parametrize("sigma2", [0.0, 0.5])
def test_the_step_takes_the_projected_draw(monkeypatch, predictor, sigma2):
    """The trainer's own step uses the projected draw where it is exact (sigma1 = 0, W_t = W), also without
    target noise (u2 = u1), and its update matches the full draw's in distribution there (float32)."""
    from scipy.stats import ks_2samp

    from isodyn.dynamics.network.samplers import InputsSampler

    calls = []
    real = InputsSampler._draw_projected
    monkeypatch.setattr(InputsSampler, "_draw_projected", lambda self, *a: calls.append(1) or real(self, *a))
    cfg = NetworkConfig(Rule("cosine", "standard").with_(predictor=predictor), in_dim=4, out_dim=2, samples=12,
                        sigma2=sigma2, dtype="float32")
    W = init_weights(2, 4, 0.5, 3)
    proj, full = NetworkTrainer(cfg, W, seed=1), NetworkTrainer(cfg, W, seed=2)
    K = 2000
    a = np.array([proj.weight_gradient()[0].ravel() for _ in range(K)], dtype=np.float64)
    assert len(calls) == K
    b = np.array([full.weight_gradient(full.sampler.draw(full.W, full.Wt))[0].ravel() for _ in range(K)],
                 dtype=np.float64)
    assert len(calls) == K  # the full draw was not projected
    dirs = np.random.default_rng(0).standard_normal((a.shape[1], 4))
    assert all(ks_2samp(a @ d, b @ d).pvalue > 1e-3 / 4 for d in dirs.T)


@pytest.mark.parametrize("kw", [
    dict(rule=Rule("cosine", "standard"), net="relu"),  # the ReLU-cosine mask (keep)
    dict(rule=Rule("euclidean", "standard"), sigma1=0.3),  # the full draw with x1 noise
    dict(rule=Rule("cosine", "no-stopgrad"), dtype="float32"),  # x2 drawn, target gradient
    dict(rule=Rule("euclidean", "standard"), predictor_source="representations"),
    dict(rule=Rule("cosine", "standard").with_(predictor="trainable"), net="relu"),
    dict(rule=Rule("euclidean", "iso").with_(predictor="trainable"), ema=0.5),
])
def test_the_reused_workspace_gives_the_numbers_of_fresh_arrays(kw):
    """Steps writing into the reused workspace give, bit for bit, the weights of steps whose every temporary is
    a new array: no workspace name holds two live arrays within a step."""
    from isodyn.dynamics.network.workspace import Workspace

    rule = kw.pop("rule")
    cfg = NetworkConfig(rule, in_dim=5, out_dim=3, samples=64, sigma2=0.4, lr=0.02, **kw)
    W = init_weights(3, 5, 0.5, 1)
    reused, fresh = NetworkTrainer(cfg, W, seed=4), NetworkTrainer(cfg, W, seed=4)
    dt = fresh.dtype

    class Fresh(Workspace):
        def __call__(self, name, shape, dtype=None):
            return np.empty(shape, dtype=dt if dtype is None else dtype)

    fresh._ws = Fresh(np, dt)
    if fresh.trained:
        fresh.tp.ws = fresh._ws
    for _ in range(12):
        reused.step(), fresh.step()
    assert np.array_equal(reused.W, fresh.W)
    if reused.trained:
        assert np.array_equal(reused.Wp, fresh.Wp)


def test_a_non_finite_gradient_gives_a_non_finite_update():
    """A diverging run's overflowing gradient makes a NaN update (recorded as diverged), not an exception."""
    cfg = NetworkConfig(Rule("euclidean", "standard"), in_dim=4, out_dim=2, samples=8, sigma2=0.5)
    tr = NetworkTrainer(cfg, init_weights(2, 4, 0.5, 0), seed=0)
    batch = tr._draw(None, projected=True)
    g = np.full((8, 2), 1e200)
    assert np.isnan(batch.online_inputs(g)).all()
    r = train(NetworkConfig(Rule("euclidean", "wrong-stopgrad"), in_dim=15, out_dim=10, samples=500, lr=5.0,
                            dtype="float32"), steps=200, seed=0)
    assert r.diverged


@pytest.mark.parametrize("kw", [{"sigma1": 0.2}, {"ema": 0.5}])
def test_projected_draw_only_where_exact(kw):
    """sigma1 > 0 (x1 != x) or a separate target network (W_t != W): the full draw."""
    from isodyn.dynamics.network.samplers import ProjectedBatch

    cfg = NetworkConfig(Rule("euclidean", "standard"), in_dim=4, out_dim=2, samples=8, sigma2=0.5, **kw)
    tr = NetworkTrainer(cfg, init_weights(2, 4, 0.5, 0), seed=0)
    assert not isinstance(tr._draw(None, projected=True), ProjectedBatch)


@pytest.mark.parametrize("metric", METRICS)
def test_relu_no_collapse_with_stopgrad_and_predictor(metric):
    cfg = NetworkConfig(Rule(metric, "standard"), net="relu", in_dim=6, out_dim=2, samples=2000,
                        lr=0.1 if metric == "cosine" else 0.01)
    r = train(cfg, steps=1500, seed=0)
    assert not r.diverged
    assert r.s[-1].min() > 0.1 * r.s[0].min()


@pytest.mark.parametrize("metric", METRICS)
def test_relu_collapse_without_stopgrad(metric):
    cfg = NetworkConfig(Rule(metric, "no-stopgrad"), net="relu", in_dim=6, out_dim=2, samples=2000,
                        lr=0.1 if metric == "cosine" else 0.01)
    r = train(cfg, steps=1500, seed=0)
    s = r.s[-1]
    if metric == "euclidean":  # every mode dies
        assert s.max() < 1e-4 * r.s[0].max()
    else:  # dimensional collapse: the weak mode vanishes relative to the survivor
        assert s.min() < 1e-3 * s.max()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_same_seed_same_numbers(dtype):
    cfg = NetworkConfig(Rule("cosine", "iso"), in_dim=6, out_dim=3, samples=500, lr=0.1, dtype=dtype,
                        predictor_source="representations")
    a, b, c = (train(cfg, steps=20, seed=s) for s in (4, 4, 5))
    assert np.array_equal(a.s, b.s) and np.array_equal(a.W, b.W)
    assert not np.array_equal(a.s, c.s)


def _c_to_python(body: str) -> str:
    body = re.sub(r"\(\(T\)([-0-9.e]+)\)", r"\1", body)
    body = body.replace("pow(", "_pow(").replace("fabs(", "abs(")
    lines = [ln.strip().rstrip(";") for ln in body.splitlines()]
    return "\n".join(ln[2:] if ln.startswith("T ") else ln for ln in lines)


RULES = [Rule(m, v) for m in METRICS for v in VARIANTS] + [Rule(m, "iso", beta=0.3) for m in METRICS]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_cuda_translation_evaluates_like_the_generated_code(rule):
    """The ElementwiseKernel body, read back as Python, gives the generated xp function's numbers."""
    k = kernels(rule)
    rng = np.random.default_rng(0)
    Z1, Z2 = rng.standard_normal((7, 4)), rng.standard_normal((7, 4))
    lam, beta = rng.uniform(0.3, 2.0, 4), 0.0 if rule.beta is None else rule.beta
    Q = k.invariants(np, Z1, Z2, lam, beta)
    for which in ("grad_online", "grad_target"):
        body, nq = elementwise_source(getattr(k, which))
        env = {"Z1": Z1, "Z2": Z2, "lam": lam, "beta": beta, "_pow": np.power, "sqrt": np.sqrt, "exp": np.exp,
               "log": np.log, "abs": np.abs, **{f"Q{i}": Q[i] for i in range(nq)}}
        exec(_c_to_python(body), env)
        want = getattr(k, which)(np, Z1, Z2, lam, beta, Q)
        np.testing.assert_allclose(np.broadcast_to(env["g"], want.shape), want, rtol=1e-12, atol=1e-14)


# --- CLI ---------------------------------------------------------------------------------------


def _cli(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("argv", [
    ["--w0", "/nonexistent.npy"], ["--samples", "-5"], ["--net", "tanh"], ["--backend", "cupy"],
    ["--out-dim", "20"], ["--sampler", "moments", "--metric", "cosine"], ["--out", "x.txt"],
    ["--variant", "no-stopgrad", "--ema", "0.5"], ["--rho", "1"], ["--init-scale", "0"],
])
def test_train_bad_input_one_line_exit_2(capsys, argv):
    from isodyn.dynamics.network.backends import cupy_status

    if argv == ["--backend", "cupy"] and cupy_status()[0]:
        pytest.skip("CuPy is usable here")
    rc, out, err = _cli(capsys, "train", "--steps", "2", "--samples", "10", *argv)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("isodyn: error: argument ")


def test_train_wrong_shape_w0(tmp_path, capsys):
    p = tmp_path / "w.npy"
    np.save(p, np.ones((3, 3)))
    rc, out, err = _cli(capsys, "train", "--w0", str(p))
    assert rc == 2 and "--w0" in err and err.count("\n") == 1


def test_train_json_and_files(tmp_path, capsys):
    import xarray as xr

    W0 = init_weights(2, 6, 0.25, 9)
    np.save(tmp_path / "w0.npy", W0)
    np.save(tmp_path / "probes.npy", np.eye(6)[:3])
    for suffix in (".nc", ".npz"):
        out = tmp_path / ("r" + suffix)
        rc, so, err = _cli(capsys, "train", "--in-dim", "6", "--out-dim", "2", "--samples", "300", "--steps", "30",
                           "--w0", str(tmp_path / "w0.npy"), "--probes", str(tmp_path / "probes.npy"),
                           "--backend", "auto", "--json", "--out", str(out), "--seed", "3")
        assert rc == 0
        d = json.loads(so)
        for key in ("s_final", "lam_final", "steps", "collapsed", "diverged", "recruit_steps", "seconds", "backend",
                    "parameters"):
            assert key in d
        assert d["s_final"] == sorted(d["s_final"]) and d["steps"] == 30 and d["backend"] in ("numpy", "cupy")
        assert d["parameters"]["lr"] == 0.01 and d["parameters"]["seed"] == 3
        if suffix == ".nc":
            ds = xr.open_dataset(out)
            assert ds["s"].shape == (31, 2) and ds["probes"].shape == (31, 3, 2)
            assert np.allclose(np.sort(ds["s"].values[-1]), d["s_final"])
            ds.close()
        else:
            z = np.load(out)
            assert z["s"].shape == (31, 2) and json.loads(str(z["summary_json"]))["steps"] == 30


def _run_with(s_hist, diverged_step=None):
    """A NetworkRun holding the eigenvalue history s_hist (steps + 1, M)."""
    from isodyn.dynamics.network.trainer import NetworkRun

    steps, M = s_hist.shape[0] - 1, s_hist.shape[1]
    W = np.zeros((M, M + 1))
    return NetworkRun(NetworkConfig(Rule(), in_dim=M + 1, out_dim=M), 0, s_hist, s_hist.copy(), None, W, W, steps,
                      diverged_step is not None, diverged_step, 0.0, "numpy", "xp")


def test_train_summary_uses_the_mode_equations_measures():
    """collapsed = every mode dead (s <= DEAD * max s0), as in `isodyn simulate`; recruit_steps from
    dynamics.measures: null for dead modes and diverged runs, else the first step within 1% of the final value."""
    from isodyn.dynamics import measures as ms
    from isodyn.dynamics.network.trainer import summary

    t = np.arange(6.0)[:, None]
    s = np.hstack([1e-3 * np.exp(-10 * t), np.minimum(1.0, 0.5 + 0.2 * t)])  # mode 0 dies, mode 1 saturates
    d = summary(_run_with(s))
    assert d["collapsed"] is False and d["n_dead"] == 1
    assert d["recruit_steps"] == [None, 3]
    one_dead = s.copy()
    one_dead[:, 1] = 1e-2  # a live mode that never moved: not recruited (it did not rise)
    assert summary(_run_with(one_dead))["recruit_steps"] == [None, None]
    all_dead = s * np.exp(-10 * t)
    d = summary(_run_with(all_dead))
    assert d["collapsed"] is bool(ms.collapsed(all_dead[-1], all_dead[0])) is True and d["n_dead"] == 2
    some_below_1e6 = np.hstack([np.full((6, 1), 1e-7), np.ones((6, 1))])  # the old "collapsed": some mode < 1e-6
    assert summary(_run_with(some_below_1e6))["collapsed"] is False
    div = s.copy()
    div[4:] = np.nan
    div[3, 1] = 1e12
    d = summary(_run_with(div, diverged_step=3))
    assert d["diverged"] and d["recruit_steps"] == [None, None] and d["s_final"] == sorted(s[2].tolist())


def test_divergence_bound_of_sampled_training_is_the_mode_equations():
    """Euclidean wrong-stopgrad with a strong mode: the run stops at the first state beyond
    measures.divergence_bound(s at step 0) and reports the state before it."""
    from isodyn.dynamics import measures as ms

    rule = Rule("euclidean", "wrong-stopgrad")
    cfg = NetworkConfig(rule, in_dim=4, out_dim=2, samples=5000, lr=0.01, sampler="moments")
    W0 = np.diag([0.3, 1.6])[:, :2] @ np.eye(2, 4)
    r = train(cfg, W0=W0, steps=4000, seed=1)
    assert r.diverged
    k = r.diverged_step
    bound = ms.divergence_bound(r.s[0])
    assert r.s[k].max() > bound and np.all(r.s[: k] <= bound) and r.last_index == k - 1


def test_weights_source_scale_is_the_generated_kernel():
    """The 'weights' source: s = (1 + sigma1^2) eig(W W^T) for linear networks (SPEC §2), eig(W W^T) for ReLU,
    through kernels(rule).eigenvalues (the formula of derivations.modes.correlation_eigenvalue); so is
    correlation_eigenvalues, which keeps NaN."""
    from isodyn.dynamics.network.trainer import correlation_eigenvalues

    W0 = init_weights(3, 6, 0.5, 1)
    gram = np.linalg.eigvalsh(W0 @ W0.T)
    for net, factor in (("linear", 1 + 0.7**2), ("relu", 1.0)):
        cfg = NetworkConfig(Rule(), net=net, in_dim=6, out_dim=3, sigma1=0.7, samples=10)
        tr = NetworkTrainer(cfg, W0)
        s, lam, U = tr.predictor(*tr.weights_source())
        np.testing.assert_allclose(s, factor * gram, rtol=1e-12)
        np.testing.assert_allclose(lam, s, rtol=1e-15)  # alpha = 1, eps = 0
        np.testing.assert_allclose(np.abs(U.T @ np.linalg.eigh(W0 @ W0.T)[1]), np.eye(3), atol=1e-10)
    S = np.array([[0.5, 1.0, np.nan], [2.0, 0.0, 1e-3]])
    got = correlation_eigenvalues(Rule("cosine", "iso"), S, 0.3)
    np.testing.assert_allclose(got, 1.09 * S**2, rtol=1e-14)
    assert np.isnan(got[0, 2]) and got.shape == S.shape


@pytest.mark.parametrize("kw, flag", [({"lr": 0.0}, "lr"), ({"ema": 1.0}, "ema"), ({"out_dim": 20}, "out_dim"),
                                      ({"net": "cnn"}, "net"), ({"samples": 0}, "samples"),
                                      ({"sigma1": -0.1}, "sigma1"), ({"sampler": "moments", "net": "relu"}, "sampler")])
def test_network_config_checks_by_the_one_checker(kw, flag):
    from isodyn.derivations.checks import InputError

    with pytest.raises(InputError) as e:
        NetworkConfig(Rule(), **kw)
    assert e.value.flag == flag
