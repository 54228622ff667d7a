"""CuPy against NumPy with a trained predictor (SPEC §7; issue 13): the same batch gives the same dL/dW and dL/dW_P;
training is reproducible on the GPU and follows the same law as on the CPU; the CLI runs it.  Skipped without
CUDA (conftest)."""

import json

import numpy as np
import pytest

from isodyn.derivations import BETA_VARIANTS, METRICS, Rule
from isodyn.dynamics.network.samplers import InputBatch
from isodyn.dynamics.network.trainer import NetworkConfig, NetworkTrainer, init_weights, train

RULES = ([Rule(m, v, predictor="trainable") for m in METRICS for v in ("standard", "iso", "no-stopgrad",
                                                                         "wrong-stopgrad")]
         + [Rule(m, v, beta=0.5, predictor="trainable") for m in METRICS for v in BETA_VARIANTS])


def _batch(xp, arrays, dtype):
    return InputBatch(*(None if a is None else xp.asarray(a, dtype=dtype) for a in arrays))


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["xp", "elementwise", "fuse"])
@pytest.mark.parametrize("net", ["linear", "relu"])
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_trained_gradients_cupy_equal_numpy(rule, net, impl):
    import cupy

    N, M, n = 7, 4, 3000
    rng = np.random.default_rng(1)
    W = init_weights(M, N, 0.4, 3)
    Wp = np.eye(M) + 0.3 * rng.standard_normal((M, M))
    sym = rule.beta is not None
    if sym:
        Wp = (Wp + Wp.T) / 2 + 0.5 * np.eye(M)
    x = rng.standard_normal((n, N))
    x1, x2 = x + 0.2 * rng.standard_normal((n, N)), x + 0.3 * rng.standard_normal((n, N))
    arrays = (x1, x2, x1 @ W.T, x2 @ W.T)
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-3)):
        cfg = NetworkConfig(rule, net=net, in_dim=N, out_dim=M, samples=n, sigma1=0.2, sigma2=0.3, dtype=dtype,
                            predictor_symmetric=sym)
        ref = NetworkTrainer(cfg, W, backend="numpy", Wp0=Wp).trained_gradients(_batch(np, arrays, dtype))
        tr = NetworkTrainer(cfg, W, backend="cupy", grad_impl=impl, Wp0=Wp)
        assert tr.grad_impl == impl
        got = tr.trained_gradients(_batch(cupy, arrays, dtype))
        for a, b in zip(got[:2], ref[:2]):
            if b is None:
                assert a is None
                continue
            assert isinstance(a, cupy.ndarray)
            np.testing.assert_allclose(cupy.asnumpy(a), b, rtol=rtol, atol=rtol * np.abs(b).max())


@pytest.mark.gpu
@pytest.mark.parametrize("metric", METRICS)
def test_cupy_trained_training_reproducible_and_like_numpy(metric):
    cfg = NetworkConfig(Rule(metric, "standard", predictor="trainable"), in_dim=6, out_dim=2, samples=4000,
                        lr=0.1 if metric == "cosine" else 0.01, predictor_init="random")
    a, b = (train(cfg, steps=60, seed=7, backend="cupy") for _ in range(2))
    assert a.backend == "cupy" and np.array_equal(a.s, b.s) and np.array_equal(a.alignment, b.alignment)
    c = train(cfg, steps=60, seed=7, backend="numpy")  # another RNG stream: the same law, not the same numbers
    assert np.allclose(a.lam[-1], c.lam[-1], rtol=0.05)
    assert a.alignment[-1] < a.alignment[0] and abs(a.alignment[-1] - c.alignment[-1]) < 0.2 * a.alignment[0]


@pytest.mark.gpu
def test_cli_trained_predictor_on_cupy(capsys):
    from isodyn.dynamics.cli.common import main

    rc = main(["train", "--backend", "cupy", "--in-dim", "6", "--out-dim", "2", "--samples", "1000", "--steps", "10",
               "--json", "--predictor", "trainable", "--predictor-init", "random", "--dtype", "float32"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["backend"] == "cupy" and "alignment_final" in d and len(d["lam_final"]) == 2
