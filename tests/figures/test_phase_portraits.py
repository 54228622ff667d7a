"""The phase-portrait figure (issue 12 item 4): its markers are derivations.analysis' fixed points and its
caption states what its numbers hold."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from isodyn.derivations import Rule
from isodyn.derivations import analysis as A
from isodyn.derivations.modes import alpha, eps, gamma, sigma1
from isodyn.dynamics.modes import portrait as PP
from isodyn.figures import _paper as P
from isodyn.figures import fig_phase_portraits as F
from isodyn.figures.base import Context

PANELS = [(m, v) for m in ("euclidean", "cosine") for v in ("standard", "iso")]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return F.make(Context(tmp_path_factory.mktemp("portraits"), quick=True))


def test_files_written(result):
    assert [p.suffix for p in result.files] == [".png", ".pdf"]
    assert all(p.stat().st_size > 10_000 for p in result.files)
    assert result.claims == []


@pytest.mark.parametrize("metric,variant", PANELS)
def test_marked_fixed_points_are_the_analysis_ones(result, metric, variant):
    nb = result.numbers[f"{metric}/{variant}"]
    marked = nb["marked_fixed_points"]  # read back from the drawn artists
    rule = P.rule(metric, variant)
    expected = [q for q in PP.portrait_fixed_points(rule, F.PARAMS, s_range=F.S_RANGE) if q.s1 > 0 and q.s2 > 0]
    assert [w for *_, w in marked] == [q.stability for q in expected]
    np.testing.assert_allclose([(a, b) for a, b, _ in marked], [(q.s1, q.s2) for q in expected], rtol=1e-12)
    if metric == "euclidean":
        # analysis directly: s* = lambda*^(1/alpha) - eps of every root at the figure's numbers (gamma = 0)
        at = {alpha: F.PARAMS["alpha"], eps: 0, gamma: 0, sigma1: F.PARAMS["sigma1"]}
        roots = sorted({float(fp.s.subs(at)) for fp in A.fixed_points(rule) if fp.s is not None} - {0.0})
        assert sorted({a for a, _, _ in marked}) == pytest.approx(roots)
        assert len(marked) == len(roots) ** 2 and {w for *_, w in marked} == {"stable"}
        assert len(nb["off_axis_fixed_points"]) == (len(roots) + 1) ** 2 - len(roots) ** 2
    else:
        assert sp.simplify(A.isotropic_residual(rule, 2)) == 0  # every isotropic spectrum is fixed
        assert all(a == b for a, b, _ in marked) and {w for *_, w in marked} == {PP.LINE}
        lo, hi = F.S_RANGE
        assert min(a for a, *_ in marked) == pytest.approx(lo) and max(a for a, *_ in marked) == pytest.approx(hi)


@pytest.mark.parametrize("metric,variant", PANELS)
def test_caption_states_the_numbers(result, metric, variant):
    nb = result.numbers[f"{metric}/{variant}"]
    cap = result.caption
    assert cap == F.caption_from(result.numbers)
    for s, e in zip(nb["trajectory_starts"], nb["trajectory_ends"]):
        assert f"{F._pair(s)} → {F._pair(e)}" in cap
    assert f"{nb['steps']:,} steps at η = {P.fmt(nb['lr'])}" in cap
    if metric == "euclidean":
        for *p, w in nb["marked_fixed_points"] + nb["off_axis_fixed_points"]:
            assert f"{w} at {F._pair(p)}" in cap
        assert "filled circle: stable" in cap  # the marker key names the kinds drawn
        assert "half-filled circle" not in cap  # no saddle is drawn at these settings
    else:
        assert f"marked at {len(nb['marked_fixed_points'])} points" in cap


def test_trajectories_end_where_the_theory_says(result):
    """Euclidean IsoLoss: every start reaches the stable point (1, 1); cosine standard: s1 + s2 is conserved (the
    standard cosine gradient is orthogonal to W), and the caption states the measured changes; cosine IsoLoss runs
    end near the isotropic line."""
    for e in result.numbers["euclidean/iso"]["trajectory_ends"]:
        assert e == pytest.approx([1.0, 1.0], rel=1e-6)
    change = {v: max(abs(e / s - 1) for s, e in result.numbers[f"cosine/{v}"]["trajectory_sum_start_end"])
              for v in ("standard", "iso")}
    assert change["standard"] < 1e-5
    assert f"at most {change['standard']:.1e} (standard) and {change['iso']:.1e} (IsoLoss)" in result.caption
    ends = np.array(result.numbers["cosine/iso"]["trajectory_ends"])
    assert np.all(ends.min(1) / ends.max(1) > 0.5)
    assert not any(d for k in result.numbers if "/" in k for d in result.numbers[k]["diverged"])


def test_field_rule_is_the_figures():
    """The figure's panels use the paper's alpha = 1 rules (P.rule), the rules the tests above evaluate."""
    assert P.rule("cosine", "iso") == Rule("cosine", "iso", alpha=1.0)
