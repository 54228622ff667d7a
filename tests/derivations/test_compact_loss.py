"""The compact (textbook) losses that `isodyn derive` shows are the losses that are differentiated: for every rule,
the family included, losses.to_invariants(compact_loss) equals per_sample_loss symbolically (SPEC §3)."""

import pytest
import sympy as sp

from isodyn.derivations import BETA_VARIANTS, METRICS, VARIANTS, Rule
from isodyn.derivations.losses import Norm, compact_loss, per_sample_loss, to_invariants

RULES = [Rule(m, v) for m in METRICS for v in VARIANTS] + [Rule(m, v, beta=0.5) for m in METRICS for v in BETA_VARIANTS]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_compact_loss_equals_the_derived_loss(rule):
    assert sp.simplify(to_invariants(compact_loss(rule)) - per_sample_loss(rule)) == 0


def test_the_comparison_can_fail():
    """A compact loss with the stop-gradient misplaced is not the derived loss (the check above has teeth)."""
    std = Rule("euclidean", "standard")
    assert sp.simplify(to_invariants(compact_loss(Rule("euclidean", "no-stopgrad"))) - per_sample_loss(std)) != 0
    assert sp.simplify(to_invariants(2 * compact_loss(std)) - per_sample_loss(std)) != 0


def test_isoloss_is_written_as_in_spec():
    """Euclidean IsoLoss is 1/2 ||z1 - sg(z2 + z1 - p)||^2, one norm, not an expansion in ten inner products."""
    loss = compact_loss(Rule("euclidean", "iso"))
    assert loss.atoms(Norm) and len(sp.Add.make_args(loss)) == 1
    assert len(sp.Add.make_args(per_sample_loss(Rule("euclidean", "iso")))) == 10
    assert len(sp.Add.make_args(compact_loss(Rule("cosine", "iso")))) == 2
