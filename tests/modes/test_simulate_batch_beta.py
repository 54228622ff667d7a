"""simulate_batch's beta applies to IsoLoss-family rules only: elsewhere it is refused, never recorded and ignored."""

import numpy as np
import pytest

import isodyn
from isodyn.derivations.checks import InputError


def test_beta_for_a_rule_without_a_beta_is_refused():
    with pytest.raises(InputError) as e:
        isodyn.simulate_batch(isodyn.Rule("euclidean", "standard"), np.full((3, 1), 1e-2),
                              beta=np.array([0.0, 0.5, 1.0]), steps=10)
    assert e.value.flag == "beta"


def test_beta_of_a_family_rule_changes_the_run_per_point():
    family = isodyn.Rule("euclidean", "standard", beta=0.5)
    tr = isodyn.simulate_batch(family, np.full((3, 1), 1e-2), beta=np.array([0.0, 0.5, 1.0]), steps=200, lr=0.05)
    s = tr.s[:, -1, 0]
    assert np.all(np.diff(s) != 0.0), s  # three different multipliers, three different ends
    one = isodyn.simulate_batch(isodyn.Rule("euclidean", "standard", beta=1.0), np.full((1, 1), 1e-2), steps=200,
                                lr=0.05)
    assert s[2] == one.s[0, -1, 0]
