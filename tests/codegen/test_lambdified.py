"""codegen.lambdified: printed functions equal sympy's lambdify, and a cache hit does not build (or need sympy)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from isodyn.dynamics.codegen import lambdified as L

x, y = sp.Symbol("lambda^*", positive=True), sp.Symbol(r"\bar{S}", positive=True)
EXPRS = {"f": ((x, y), sp.sqrt(x**2 + 1) * y ** (-2 * x - 2) - sp.log(y) / (1 + x)), "zero": ((x,), sp.Integer(0))}


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ISODYN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(L, "_LOADED", {})
    return tmp_path / "cache"


def test_printed_functions_match_lambdify(fresh_cache):
    mod = L.cached_functions(("test-lambdified", 1), lambda: (EXPRS, {"N": 2, "NAME": "f"}))
    assert (mod.N, mod.NAME) == (2, "f")
    a, b = np.random.default_rng(0).uniform(0.1, 3.0, (2, 50))
    ref = sp.lambdify((x, y), EXPRS["f"][1], "numpy")
    np.testing.assert_allclose(mod.f(a, b), ref(a, b), rtol=1e-14)
    assert mod.zero(1.5) == 0
    assert list((fresh_cache / "kernels").glob("l_*.py"))


def test_a_cache_hit_does_not_build(fresh_cache):
    L.cached_functions(("test-lambdified", 2), lambda: (EXPRS, {}))
    L._LOADED.clear()  # a new process: only the disk cache

    def fail():
        raise AssertionError("built again")

    mod = L.cached_functions(("test-lambdified", 2), fail)
    assert mod.f(1.0, 2.0) == pytest.approx(float(EXPRS["f"][1].subs({x: 1.0, y: 2.0})))
    with pytest.raises(AssertionError, match="built again"):
        L.cached_functions(("test-lambdified", 3), fail)  # another key builds
