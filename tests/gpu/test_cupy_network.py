"""CuPy network steps against NumPy on the same inputs (issue 4); skipped without CUDA (conftest)."""

import numpy as np
import pytest

from isodyn.derivations import METRICS, VARIANTS, Rule
from isodyn.dynamics.network.backends import resolve
from isodyn.dynamics.network.samplers import InputBatch
from isodyn.dynamics.network.trainer import NetworkConfig, NetworkTrainer, init_weights, train

RULES = [Rule(m, v) for m in METRICS for v in VARIANTS] + [Rule(m, "standard", beta=0.5) for m in METRICS]


def _batch(xp, arrays, dtype):
    return InputBatch(*(None if a is None else xp.asarray(a, dtype=dtype) for a in arrays))


@pytest.mark.gpu
@pytest.mark.parametrize("impl", ["xp", "elementwise", "fuse"])
@pytest.mark.parametrize("net", ["linear", "relu"])
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_weight_gradient_cupy_equals_numpy(rule, net, impl):
    import cupy

    N, M, n = 7, 4, 3000
    rng = np.random.default_rng(1)
    W = init_weights(M, N, 0.4, 3)
    x = rng.standard_normal((n, N))
    x1, x2 = x + 0.2 * rng.standard_normal((n, N)), x + 0.3 * rng.standard_normal((n, N))
    arrays = (x1, x2, x1 @ W.T, x2 @ W.T)
    for dtype, rtol in (("float64", 1e-9), ("float32", 2e-3)):
        cfg = NetworkConfig(rule, net=net, in_dim=N, out_dim=M, samples=n, sigma1=0.2, sigma2=0.3, dtype=dtype)
        ref = NetworkTrainer(cfg, W, backend="numpy").weight_gradient(_batch(np, arrays, dtype))[0]
        tr = NetworkTrainer(cfg, W, backend="cupy", grad_impl=impl)
        assert tr.grad_impl == impl
        got = tr.weight_gradient(_batch(cupy, arrays, dtype))[0]
        assert isinstance(got, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(got), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.gpu
def test_cupy_training_reproducible_and_auto_picks_cupy():
    assert resolve("auto").name == "cupy"
    cfg = NetworkConfig(Rule("cosine", "standard"), in_dim=6, out_dim=2, samples=4000, lr=0.1)
    a, b = (train(cfg, steps=50, seed=7, backend="auto") for _ in range(2))
    assert a.backend == "cupy" and np.array_equal(a.s, b.s)
    c = train(cfg, steps=50, seed=7, backend="numpy")  # other RNG stream: same law, not same numbers
    assert np.allclose(a.s[-1], c.s[-1], rtol=0.05)


@pytest.mark.gpu
def test_cli_reports_cupy(capsys):
    import json

    from isodyn.dynamics.cli.common import main

    rc = main(["train", "--backend", "cupy", "--in-dim", "6", "--out-dim", "2", "--samples", "1000",
               "--steps", "10", "--json", "--grad-impl", "elementwise"])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["backend"] == "cupy" and d["grad_impl"] == "elementwise"
