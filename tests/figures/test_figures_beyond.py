"""Issue 5, beyond the paper: each figure's make() in quick mode writes PNG + PDF and returns claims with
computed verdicts; breaking the IsoLoss rule (iso -> the standard multiplier) flips claims 4 and 5."""

from __future__ import annotations

import importlib

import pytest

from isodyn import derivations
from isodyn.figures.base import VERDICTS, Context

MODULES = ["fig_recruitment", "fig_isotropy_time", "fig_weight_decay", "fig_robustness", "fig_validation"]
CLAIMS = {"fig_recruitment": {4}, "fig_isotropy_time": {5}, "fig_weight_decay": {6}, "fig_robustness": {6},
          "fig_validation": {7}}


@pytest.mark.parametrize("name", MODULES)
def test_make_quick_writes_files_and_claims(name, tmp_path):
    mod = importlib.import_module(f"isodyn.figures.{name}")
    res = mod.make(Context(out=tmp_path, quick=True))
    assert res.name == mod.NAME and res.title == mod.TITLE
    for suffix in (".png", ".pdf"):
        f = tmp_path / "figures" / (mod.NAME + suffix)
        assert f in res.files and f.stat().st_size > 5000
    assert {c.claim for c in res.claims} == CLAIMS[name]
    for c in res.claims:
        assert c.verdict in VERDICTS and c.criterion and c.measured
    if name != "fig_validation":  # its verdict depends on sampled training at quick sizes
        assert all(c.verdict == "reproduced" for c in res.claims), [c.measured for c in res.claims]


@pytest.mark.parametrize("name", ["fig_recruitment", "fig_isotropy_time"])
def test_breaking_iso_flips_the_verdict(name, tmp_path, monkeypatch):
    real = derivations.Rule

    def broken(metric, variant, *a, **kw):  # IsoLoss given the standard loss's multiplier
        return real(metric, "standard" if variant == "iso" else variant, *a, **kw)

    monkeypatch.setattr(derivations, "Rule", broken)
    mod = importlib.import_module(f"isodyn.figures.{name}")
    res = mod.make(Context(out=tmp_path, quick=True))
    assert all(c.verdict != "reproduced" for c in res.claims), [c.measured for c in res.claims]
