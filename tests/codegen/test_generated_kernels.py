"""Generated kernels: numba functions against their NumPy twins, and the on-disk cache (SPEC §4).

* ``drift`` (numba) equals ``drift_np`` and ``exact_integrand`` (numba) equals
  ``exact_integrand_np`` at random points, to 1e-12 relative (same expressions, different
  evaluation order only).
* A second process with a warm kernel cache computes ``representation_gradient`` and the
  drift without importing sympy; the cold and warm wall times are printed (run with -s).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenarios import COSINE_RULES, RULES, beta_arg, rule_id

from isodyn.dynamics import kernels

RTOL = 1e-12
ROOT = Path(__file__).resolve().parents[2]


def _point(seed: int, M: int):
    rng = np.random.default_rng(seed)
    S = np.exp(rng.uniform(-1.5, 1.0, size=M))
    St = S * rng.uniform(0.5, 1.5, size=M)
    lam = np.exp(rng.uniform(-2.0, 1.0, size=M))
    s1, s2 = rng.uniform(0.0, 1.0, size=2)
    beta = rng.uniform(-0.5, 1.5)
    return S, St, lam, float(s1), float(s2), float(beta)


def _close(a, b, what):
    scale = np.max(np.abs(b))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)), what
    assert np.max(np.abs(a - b)) <= RTOL * scale, f"{what}: {np.max(np.abs(a - b)) / scale:.2e} relative"


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 12))
def test_drift_numba_matches_numpy(rule, seed, M):
    k = kernels(rule)
    S, St, lam, s1, s2, beta = _point(seed, M)
    if not rule.has_target_network:
        St = S
    if rule.beta is None:
        beta = beta_arg(rule)
    out = np.empty(M)
    k.drift(S, St, lam, s1, s2, beta, out)
    _close(out, k.drift_np(S, St, lam, s1, s2, beta), f"{rule.name} drift")


@pytest.mark.parametrize("rule", COSINE_RULES, ids=rule_id)
@settings(max_examples=25)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 12),
       logt=st.floats(-8, 6), logu=st.floats(-8, 6))
def test_exact_integrand_numba_matches_numpy(rule, seed, M, logt, logu):
    k = kernels(rule)
    S, St, lam, s1, s2, beta = _point(seed, M)
    if not rule.has_target_network:
        St = S
    if rule.beta is None:
        beta = beta_arg(rule)
    t, u = float(np.exp(logt)), float(np.exp(logu))
    out = np.empty(M)
    k.exact_integrand(t, u, S, St, lam, s1, s2, beta, out)
    ref = k.exact_integrand_np(np.array(t), np.array(u), S, St, lam, s1, s2, beta)
    assert ref.shape == (M,)
    _close(out, ref, f"{rule.name} exact integrand")


def test_numpy_twins_broadcast():
    """drift_np over (..., M) and exact_integrand_np over (...,) grids agree with per-point calls."""
    rule = COSINE_RULES[0]
    k = kernels(rule)
    S, St, lam, s1, s2, _ = _point(3, 4)
    batch = np.stack([S, 2 * S])
    both = k.drift_np(batch, np.stack([St, 2 * St]), np.stack([lam, lam]), s1, s2, 0.0)
    _close(both[1], k.drift_np(2 * S, 2 * St, lam, s1, s2, 0.0), "batched drift_np")
    T, U = np.meshgrid([0.1, 1.0, 3.0], [0.2, 5.0], indexing="ij")
    grid = k.exact_integrand_np(T, U, S, St, lam, s1, s2, 0.0)
    assert grid.shape == (3, 2, 4)
    _close(grid[2, 1], k.exact_integrand_np(np.array(3.0), np.array(5.0), S, St, lam, s1, s2, 0.0), "grid")


# --- the on-disk cache: a second process does no symbolic work -----------------------------

PROBE = textwrap.dedent("""
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    from isodyn.derivations import Rule
    from isodyn.dynamics import kernels, representation_gradient
    rng = np.random.default_rng(0)
    z1, z2 = rng.standard_normal((2, 16, 4))
    g = representation_gradient("cosine", "no-stopgrad", z1, z2, np.diag([0.5, 1.0, 1.5, 2.0]))
    t1 = time.perf_counter()
    out = np.empty(4)
    kernels(Rule("cosine", "no-stopgrad")).drift(np.ones(4), np.ones(4), np.ones(4), 0.1, 0.2, 0.0, out)
    t2 = time.perf_counter()
    print(json.dumps({"gradient_s": t1 - t0, "total_s": t2 - t0, "finite": bool(np.isfinite(g).all()),
                      "sympy": "sympy" in sys.modules}))
""")


def _probe(cache: Path) -> dict:
    env = dict(os.environ, ISODYN_CACHE=str(cache))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_warm_cache_process_imports_no_sympy(tmp_path):
    cold = _probe(tmp_path)
    warm = _probe(tmp_path)
    print(f"\nkernel cache, cosine/no-stopgrad: cold process {cold['gradient_s']:.2f} s to the gradient "
          f"({cold['total_s']:.2f} s with the numba drift compiled); warm {warm['gradient_s']:.2f} s "
          f"({warm['total_s']:.2f} s)")
    assert cold["finite"] and warm["finite"]
    assert cold["sympy"], "the cold process had to derive the kernels (else this test proves nothing)"
    assert not warm["sympy"], "a warm-cache process imported sympy"
    assert any((tmp_path / "kernels").glob("*.py"))


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@pytest.mark.parametrize("normalize", [False, True])
def test_eigenvalues_kernel_matches_spec(rule, normalize):
    """s_m = (1+sigma1^2) S_m^2; lambda_m = (s_m + eps)^alpha or (s_m/max s + eps)^alpha; 1 without predictor."""
    rng = np.random.default_rng(5)
    S = np.exp(rng.uniform(-1.0, 1.0, size=6))
    sigma1, alpha, eps = 0.4, 0.7, 0.05
    s_out, lam_out = np.empty(6), np.empty(6)
    kernels(rule).eigenvalues(S, sigma1, alpha, eps, normalize, s_out, lam_out)
    s = (1 + sigma1**2) * S**2
    lam = ((s / s.max() if normalize else s) + eps) ** alpha if rule.has_predictor else np.ones(6)
    _close(s_out, s, "s")
    _close(lam_out, lam, "lambda")


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(2, 12), n=st.integers(1, 40))
def test_sample_gradients_match_the_array_functions(rule, seed, M, n):
    """The numba loop ``sample_gradients`` equals invariants + grad_online / grad_target of NumPy: float64 to
    1e-12 relative (same expressions, order of the sums only); float32 inputs against the float64 result within
    a few float32 roundings of the largest gradient (the products are float32, the sums float64): 4 eps for the
    Euclidean metric (linear in z: worst seen 1.2 eps over 400 random cases per rule), 32 eps for the cosine
    metric, whose gradient is a difference of two terms of size 1/||p|| that cancel to a smaller result (worst
    seen 17 eps, cosine no-stopgrad).  M >= 2: with one mode the cosine gradient is zero and only rounding is
    left to compare."""
    k = kernels(rule)
    rng = np.random.default_rng(seed)
    Z1, Z2 = rng.standard_normal((n, M)), rng.standard_normal((n, M))
    lam = np.exp(rng.uniform(-1.0, 1.0, M)) if rule.has_predictor else np.ones(M)
    beta = beta_arg(rule)
    Q = k.invariants(np, Z1, Z2, lam, beta)
    ref_on, ref_tg = k.grad_online(np, Z1, Z2, lam, beta, Q), k.grad_target(np, Z1, Z2, lam, beta, Q)
    g_on, g_tg = np.empty((n, M)), np.empty((n, M))
    k.sample_gradients(Z1, Z2, lam, beta, g_on, g_tg)
    for got, ref, what in ((g_on, ref_on, "online"), (g_tg, ref_tg, "target")):
        scale = max(float(np.max(np.abs(ref))), 1e-300)
        assert np.max(np.abs(got - ref)) <= RTOL * scale, f"{rule.name} {what} (float64)"
    f32 = [a.astype(np.float32) for a in (Z1, Z2, lam)]
    g32, h32 = np.empty((n, M), np.float32), np.empty((n, M), np.float32)
    k.sample_gradients(*f32, beta, g32, h32)
    Q64 = k.invariants(np, *[a.astype(np.float64) for a in f32], beta)
    roundings = 32 if rule.metric == "cosine" else 4
    for got, fn, what in ((g32, k.grad_online, "online"), (h32, k.grad_target, "target")):
        ref = fn(np, *[a.astype(np.float64) for a in f32], beta, Q64)
        scale = max(float(np.max(np.abs(ref))), 1e-30)
        err = np.max(np.abs(got - ref))
        assert err <= roundings * np.finfo(np.float32).eps * scale, f"{rule.name} {what} (float32)"
