"""CuPy in -> CuPy out: the generated per-sample gradients agree with NumPy on the same inputs.

Skipped where CuPy or a usable CUDA device is missing.
"""

import numpy as np
import pytest

from isodyn.derivations import METRICS, VARIANTS, Rule
from isodyn.dynamics import representation_gradient, target_gradient

cp = pytest.importorskip("cupy")
try:
    cp.cuda.runtime.getDeviceCount()
    cp.zeros(1).sum().item()
except Exception as e:  # pragma: no cover - depends on the machine
    pytest.skip(f"no usable CUDA device: {e}", allow_module_level=True)

RULES = [Rule(m, v) for m in METRICS for v in VARIANTS] + [
    Rule(m, v, beta=0.5) for m in METRICS for v in ("standard", "iso", "no-stopgrad")
]


@pytest.mark.gpu
@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_cupy_matches_numpy(rule):
    rng = np.random.default_rng(3)
    n, M = 257, 7
    z1, z2 = rng.standard_normal((n, M)), rng.standard_normal((n, M))
    A = rng.standard_normal((M, M))
    Wp = A @ A.T / M + 0.1 * np.eye(M)
    for fn in (representation_gradient, target_gradient):
        ref = fn(rule.metric, rule.variant, z1, z2, Wp, beta=rule.beta)
        got = fn(rule.metric, rule.variant, cp.asarray(z1), cp.asarray(z2), cp.asarray(Wp), beta=rule.beta)
        assert isinstance(got, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(got), ref, rtol=1e-10, atol=1e-12)
