"""Theory boundaries from derivations/, a sweep that reproduces them, and `isodyn plot-sweep` (issue 6)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from isodyn.derivations import Rule
from isodyn.dynamics.cli.common import main
from isodyn.dynamics.modes.survival import survival_threshold
from isodyn.dynamics.sweep.run import run_sweep
from isodyn.dynamics.sweep.spec import parse_spec

LAM0 = np.array([1e-3, 0.1, 0.3, 0.5, 0.7, 1.0, 2.0])


def test_survival_threshold_matches_spec_closed_forms():
    # SPEC §4: standard (sigma1 = 0): lambda0 (1 - lambda0) up to the peak at 1/2, then 1/4; iso: 1 - lambda -> 1
    std = survival_threshold(Rule("euclidean", "standard"), LAM0)
    np.testing.assert_allclose(std, np.where(LAM0 < 0.5, LAM0 * (1 - LAM0), 0.25), rtol=1e-9)
    np.testing.assert_allclose(survival_threshold(Rule("euclidean", "iso"), LAM0), 1.0, rtol=1e-9)
    # alpha = 1/2: lambda0 = sqrt(s0)
    s0 = LAM0**2
    np.testing.assert_allclose(survival_threshold(Rule("euclidean", "standard", alpha=0.5), s0), std, rtol=1e-9)
    # sigma1 moves the peak to lambda = 1/(2(1+sigma1^2)), value 1/(4(1+sigma1^2))
    assert survival_threshold(Rule("euclidean", "standard"), 1.0, sigma1=1.0) == pytest.approx(1 / 8, rel=1e-9)
    assert survival_threshold(Rule("cosine", "standard"), LAM0) is None
    assert survival_threshold(Rule("euclidean", "standard", normalize=True), LAM0) is None


SWEEP = """
[run]
steps = 20000
[fixed]
modes = 6
s0_lo = 0.01
s0_hi = 1.0
lr = 0.1
[axes]
variant = ["standard", "iso"]
weight_decay = [0.005, 0.04, 0.1, 0.18, 0.3, 0.9]
"""


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "wd.nc"
    run_sweep(parse_spec(SWEEP), path, progress=False)
    return path


def test_sweep_dimensional_collapse_follows_the_theory_boundary(swept):
    """Dead modes = modes whose survival threshold gamma_c(lambda0) lies below gamma (thresholds >= 0.016 away)."""
    ds = xr.load_dataset(swept)
    for variant in ("standard", "iso"):
        rule = Rule("euclidean", variant)
        for wd in ds.weight_decay.values:
            p = ds.sel(variant=variant, weight_decay=wd)
            expected = int(np.sum(survival_threshold(rule, p["s0"].values) < wd))
            assert int(p["n_dead"]) == expected, (variant, wd)
            assert int(p["diverged"]) == 0
    assert int(ds["collapsed"].sel(variant="standard", weight_decay=0.3)) == 1
    assert int(ds["collapsed"].sel(variant="iso", weight_decay=0.9)) == 0


def test_plot_sweep_writes_figures(swept, tmp_path, capsys):
    out = tmp_path / "map.png"
    assert main(["plot-sweep", str(swept), "--x", "weight_decay", "--y", "variant", "--out", str(out)]) == 0
    assert out.stat().st_size > 5000 and out.read_bytes()[:4] == b"\x89PNG"
    out2 = tmp_path / "heat.pdf"
    assert main(["plot-sweep", str(swept), "--x", "weight_decay", "--y", "variant", "--color", "s_final",
                 "--mode", "5", "--out", str(out2)]) == 0
    assert out2.read_bytes()[:4] == b"%PDF"


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--x", "nope", "--y", "variant"], "--x"),
        (["--x", "weight_decay", "--y", "weight_decay"], "--y"),
        (["--x", "weight_decay", "--y", "variant", "--color", "nope"], "--color"),
        (["--x", "weight_decay", "--y", "variant", "--color", "s_final", "--mode", "6"], "--mode"),
        (["--x", "weight_decay", "--y", "variant", "--sel", "lr=1"], "--sel"),
        (["--x", "weight_decay", "--y", "variant", "--out", "x.txt"], "--out"),
    ],
)
def test_plot_sweep_bad_input_exit_2_one_line(swept, capsys, args, flag):
    assert main(["plot-sweep", str(swept), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "accepted" in err


def test_plot_sweep_asks_for_sel_on_extra_axes(tmp_path, capsys):
    spec = parse_spec(SWEEP.replace("lr = 0.1\n", "").replace("[axes]\n", "[axes]\nlr = [0.05, 0.1]\n")
                      .replace("steps = 20000", "steps = 10"))
    path = tmp_path / "three.nc"
    run_sweep(spec, path, progress=False)
    args = ["plot-sweep", str(path), "--x", "weight_decay", "--y", "variant", "--out", str(tmp_path / "a.png")]
    assert main(args) == 2
    assert "--sel lr=VALUE" in capsys.readouterr().err
    assert main(["plot-sweep", str(path), "--x", "weight_decay", "--y", "variant", "--sel", "lr=0.1",
                 "--out", str(tmp_path / "a.png")]) == 0


def test_files_with_the_old_variable_names_are_read(swept, tmp_path, capsys):
    """recruit_step / diverge_step (before this release) are read as recruit_steps / diverged_step, and plot-sweep
    accepts either name for --color."""
    from isodyn.dynamics.sweep.points import RENAMED, current_names

    new = xr.load_dataset(swept)
    assert set(RENAMED.values()) <= set(new.data_vars) and not set(RENAMED) & set(new.data_vars)
    old_path = tmp_path / "old.nc"
    new.rename({v: k for k, v in RENAMED.items()}).to_netcdf(old_path)
    back = current_names(xr.load_dataset(old_path))
    for v in RENAMED.values():
        np.testing.assert_array_equal(back[v].values, new[v].values)
    for color in ("recruit_step", "recruit_steps", "diverged_step"):
        out = tmp_path / f"{color}.png"
        assert main(["plot-sweep", str(old_path), "--x", "weight_decay", "--y", "variant", "--color", color,
                     "--out", str(out)]) == 0, capsys.readouterr().err
        assert out.read_bytes()[:4] == b"\x89PNG"
