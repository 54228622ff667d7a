"""The ``isodyn bench`` group ``explore``: registered, rows with the registry's fields, the redraw timed."""

from __future__ import annotations

import math

import pytest

from isodyn.dynamics.bench.registry import REGISTRY, meets_goal, run_group

pytest.importorskip("panel", reason="the explorer needs the explore extra (panel, bokeh)")


def test_the_redraw_row(monkeypatch):
    from isodyn.explore import bench

    assert REGISTRY["explore"] == "isodyn.explore.bench:bench_rows"
    monkeypatch.setattr(bench, "CASES", bench.CASES[:1])  # the Euclidean row only (cheap)
    (row,) = run_group("explore", quick=True)
    assert row["group"] == "explore" and row["unit"] == "s" and row["runs"] == 3
    assert math.isfinite(row["value"]) and row["value"] > 0 and row["ratio"] == pytest.approx(0.3 / row["value"])
    assert meets_goal(row) is (row["value"] < 0.3)
    assert "simulate" in row["note"]


def test_every_timed_change_redraws(monkeypatch):
    from isodyn.explore import bench, views

    calls = []
    real = views.Explorer.update
    monkeypatch.setattr(views.Explorer, "update", lambda self: (calls.append(1), real(self))[1])
    monkeypatch.setattr(bench, "CASES", bench.CASES[:1])
    bench.bench_rows(quick=True)
    assert len(calls) == 1 + 3  # the untimed first draw, then one redraw per timed run
