"""The explorer without a browser: the shown command line reproduces the app's data, bad input shows one line
in the page and keeps the views, the export writes PNG and SVG, a click on the portrait runs from there."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("panel", reason="the explorer needs the explore extra (panel, bokeh)")

from isodyn.explore import state as st  # noqa: E402
from isodyn.explore.views import Explorer  # noqa: E402


@pytest.fixture(scope="module")
def explorer():
    ex = Explorer(weight_decay=0.02, steps=600, modes=6)
    ex.update()
    assert ex.error is None, ex.error
    return ex


@pytest.mark.parametrize("values", [
    dict(weight_decay=0.02, steps=600, modes=6),
    dict(variant="iso", spectrum="values", s0_values="0.002, 0.05,0.4", sigma1=0.1, lr="0.02", steps=300,
         scheme="rk4", ema=0.5),
    dict(metric="cosine", closure="exact", weight_decay=0.01, steps=200, modes=4),
])
def test_the_shown_command_line_gives_the_apps_s_final(values):
    v = st.Controls(**values).values()
    app = st.compute(st.request(v))
    argv = shlex.split(st.command_line(v))
    assert argv[:2] == ["isodyn", "simulate"]
    out = subprocess.run([sys.executable, "-m", "isodyn", *argv[1:], "--json"], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    cli = json.loads(out.stdout)
    np.testing.assert_allclose(sorted(app.s_final), cli["s_final"], rtol=1e-12)
    assert cli["steps"] == values["steps"]
    assert ("--exact-tol" in argv) == (values.get("closure") == "exact")  # the explorer's plot accuracy, stated


def test_a_control_redraws_the_views(explorer):
    before = [np.array(y) for y in explorer.sources["trajectories"].data["ys"]]
    explorer.controls.weight_decay = 0.2
    after = [np.array(y) for y in explorer.sources["trajectories"].data["ys"]]
    assert explorer.error is None
    assert not np.allclose(np.nan_to_num(before[-1]), np.nan_to_num(after[-1]))
    assert explorer.gamma_line.location == 0.2
    assert "weight-decay 0.2" in explorer.command.value
    explorer.controls.weight_decay = 0.02


@pytest.mark.parametrize("name,value,flag", [("s0_range", "0.1,abc", "--s0-range"), ("s0_range", "1,0.1", "--s0-range"),
                                             ("sigma2", -1.0, "--sigma-target"), ("lr", "0", "--lr"),
                                             ("steps", 10**6, "--steps"), ("beta", "x", "--beta")])
def test_bad_input_shows_one_line_and_keeps_the_views(explorer, name, value, flag):
    data, old = explorer.sources["trajectories"].data, getattr(explorer.controls, name)
    setattr(explorer.controls, name, value)
    try:
        assert explorer.error is not None and explorer.error.startswith(f"isodyn: error: {flag}: ")
        assert "accepted" in explorer.error and "\n" not in explorer.error
        assert explorer.message.visible and explorer.message.object == explorer.error
        assert explorer.sources["trajectories"].data is data  # the last good views stay
    finally:
        setattr(explorer.controls, name, old)
    assert explorer.error is None and not explorer.message.visible


@pytest.mark.parametrize("fmt,magic", [("png", b"\x89PNG"), ("svg", b"<?xml")])
def test_export(explorer, fmt, magic):
    explorer.export_format.value = fmt
    assert explorer.export.filename.endswith("." + fmt)
    assert explorer._export().getvalue().startswith(magic)


def test_a_click_on_the_portrait_runs_from_there(explorer):
    explorer.click(0.01, 0.3)
    d = explorer.sources["portrait_click"].data
    assert d["s1"][0] == pytest.approx(0.01) and d["s2"][0] == pytest.approx(0.3)
    assert len(d["s1"]) == 601 and d["s2"][-1] != pytest.approx(0.3)


def test_the_portrait_marks_the_fixed_points_of_the_analysis(explorer):
    from isodyn.dynamics.modes.portrait import portrait_fixed_points

    fp = explorer.sources["portrait_fixed_points"].data
    params = explorer._portrait_params(explorer.result.request)
    want = {(round(p.s1, 9), round(p.s2, 9), p.stability) for p in portrait_fixed_points(explorer.result.request.rule,
                                                                                         params) if p.s1 > 0 < p.s2}
    got = {(round(a, 9), round(b, 9), w) for a, b, w in zip(fp["s1"], fp["s2"], fp["stability"])}
    assert got and got <= want


def test_a_link_sets_the_controls_and_a_bad_one_is_named():
    from isodyn.explore.server import url_values

    args = {"metric": [b"cosine"], "steps": [b"700"], "weight_decay": [b"0.15"], "normalize": [b"true"],
            "s0_range": [b"0.01,1"], "modes": [b"abc"], "scheme": [b"euler"]}
    values, bad = url_values(args)
    assert values == {"metric": "cosine", "steps": 700, "weight_decay": 0.15, "normalize": True,
                      "s0_range": "0.01,1"}
    assert sorted(bad) == ["modes", "scheme"]


def test_app_is_a_drawn_panel_layout_for_a_notebook():
    import panel as pn

    import isodyn.explore

    layout = isodyn.explore.app(steps=200, modes=3)
    assert isinstance(layout, pn.layout.Panel)
    sources = [m for m in layout.get_root().references() if getattr(m, "name", None) == "trajectories"]
    assert len(sources) == 1 and len(sources[0].data["ys"]) == 3 and len(sources[0].data["ys"][0]) == 201
