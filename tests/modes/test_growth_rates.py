"""growth_rates (the explorer's learning-rate multiplier) against one step of the compiled map."""

import numpy as np
import pytest

import isodyn
from isodyn.dynamics.modes.theory import closed_form_lambda, growth_rates


@pytest.mark.parametrize("metric,variant,normalize", [("euclidean", "standard", False), ("euclidean", "iso", True),
                                                      ("cosine", "standard", False), ("cosine", "iso", False)])
def test_growth_rate_is_the_relative_drift_of_one_small_map_step(metric, variant, normalize):
    rule = isodyn.Rule(metric, variant, alpha=0.7, eps=0.01, normalize=normalize)
    s0 = np.array([1e-3, 3e-2, 0.2, 0.9])
    lr = 1e-6
    tr = isodyn.simulate(rule, s0, lr=lr, steps=1, sigma1=0.2, sigma2=0.1, closure="mean-field")
    measured = (np.sqrt(tr.s_final / s0) - 1.0) / lr  # s = (1 + sigma1^2) S^2: dS/S = (1/2) ds/s
    lam = closed_form_lambda(rule, s0, s0.max())
    r = growth_rates(rule, s0, s0, lam, sigma1=0.2, sigma2=0.1)
    np.testing.assert_allclose(r, measured, rtol=1e-4, atol=1e-6 * np.abs(r).max())
    assert np.ptp(r) > 1e-3  # the rate depends on the mode: the check is not of a constant
