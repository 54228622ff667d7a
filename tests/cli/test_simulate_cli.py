"""`isodyn simulate` (issue 3): SPEC §6 claims 1-5 visible in the JSON, outputs, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from isodyn.dynamics.cli.common import main


def sim(capsys, *argv):
    rc = main(["simulate", "--json", *argv])
    out, err = capsys.readouterr()
    assert rc == 0, err
    return json.loads(out)


def test_claim1_euclidean_converges_to_one(capsys):
    d = sim(capsys, "--s0", "0.1,0.3,1.5", "--lr", "0.1", "--steps", "3000", "--stride", "10")
    assert not d["collapsed"] and not d["diverged"] and d["converged"]
    assert np.allclose(d["lam_final"], 1.0, atol=1e-6)


def test_claim1_cosine_isotropic_scale_depends_on_start(capsys):
    a = sim(capsys, "--metric", "cosine", "--s0", "0.01,0.1,0.5", "--steps", "1500")
    b = sim(capsys, "--metric", "cosine", "--s0", "0.02,0.2,1.0", "--steps", "1500")
    for d in (a, b):
        assert d["converged"] and not d["collapsed"] and d["isotropy"] > 1 - 1e-6
        assert d["closure_rel_error"] <= 1e-8 and d["parameters"]["closure"] == "exact"
    assert b["s_final"][0] / a["s_final"][0] > 1.5  # a line of fixed points: the scale follows the start


def test_claim2_no_stopgrad_collapses(capsys):
    d = sim(capsys, "--variant", "no-stopgrad", "--s0", "0.1,0.5,1", "--steps", "20000", "--stride", "100")
    assert d["collapsed"] and d["n_dead"] == 3
    c = sim(capsys, "--metric", "cosine", "--variant", "no-stopgrad", "--s0", "0.1,0.3,0.6,1", "--steps", "3000",
            "--stride", "10")
    assert not c["collapsed"] and 1 <= c["n_dead"] < 4  # dimensional collapse under the scale-free cosine loss


def test_claim2_wrong_stopgrad_splits(capsys):
    """The strong mode blows up in finite time (t* = ln(s0 / (s0 - 1 - sigma2^2)) / (2 (1 + sigma2^2)) = 2.3);
    by then the weak ones have shrunk by e^{-2 (1 + sigma2^2) t*} ~ 1e-2 on their way to zero (ds/dt ~ -2.02 s)."""
    d = sim(capsys, "--variant", "wrong-stopgrad", "--s0", "0.01,0.05,1.02", "--steps", "5000")
    assert d["diverged"] and isinstance(d["diverged_step"], int) and 150 < d["diverged_step"] < 300
    s = d["s_final_by_mode"]
    assert s[0] < 0.02 * 0.01 and s[1] < 0.02 * 0.05 and s[2] > 1e3
    assert all(np.isfinite(d["s_final"]))


def test_claim3_no_predictor_does_not_move(capsys):
    d = sim(capsys, "--variant", "no-predictor", "--s0", "0.01,0.1,1", "--sigma-online", "0")
    assert np.allclose(d["s_final_by_mode"], [0.01, 0.1, 1.0], rtol=1e-14)
    assert d["parameters"]["lr"] == 0.1


def test_claim4_multiplier(capsys):
    """Recruitment of a weak mode: ~1/lambda0 under the standard loss, ~log(1/lambda0) under IsoLoss."""
    args = ("--s0", "0.01,0.001,1", "--lr", "0.1", "--steps", "8000")
    std = sim(capsys, *args)["recruit_steps"]
    iso = sim(capsys, "--variant", "iso", *args)["recruit_steps"]
    assert 7 < std[1] / std[0] < 13  # lambda0 ratio 10
    assert 1.0 < iso[1] / iso[0] < 1.8  # log ratio ln(1000)/ln(100) = 1.5
    assert iso[0] < std[0] / 5 and iso[1] < std[1] / 50


def test_claim5_iso_isotropic_sooner(capsys):
    for metric in ("euclidean", "cosine"):
        a = ("--metric", metric, "--s0", "0.01,0.1,0.5", "--lr", "0.1", "--steps", "4000", "--stride", "5")
        if metric == "cosine":
            a += ("--closure", "mean-field")
        std = sim(capsys, *a)
        iso = sim(capsys, "--variant", "iso", *a)
        assert iso["isotropy"] > 0.99 and std["isotropy"] > 0.99
        assert iso["recruit_steps"][0] < std["recruit_steps"][0]  # the weak mode (0.01) rises under both


def test_out_files(capsys, tmp_path):
    import xarray as xr

    nc, npz = tmp_path / "r.nc", tmp_path / "r.npz"
    for p in (nc, npz):
        sim(capsys, "--s0", "0.1,1", "--steps", "50", "--ema", "0.5", "--out", str(p))
    ds = xr.open_dataset(nc, engine="scipy")
    assert ds.s.shape == (51, 2) and ds.attrs["ema"] == 0.5 and ds.attrs["scheme"] == "map"
    z = np.load(npz)
    np.testing.assert_array_equal(z["s"], ds.s.values)
    assert json.loads(str(z["parameters"]))["ema"] == 0.5


def test_modes_and_schemes(capsys):
    d = sim(capsys, "--modes", "4", "--s0-range", "0.01,1", "--scheme", "dopri5", "--steps", "100")
    np.testing.assert_allclose(d["s0"], np.logspace(-2, 0, 4))
    assert d["parameters"]["scheme"] == "dopri5" and d["parameters"]["rtol"] == 1e-8
    r = sim(capsys, "--modes", "4", "--s0-range", "0.01,1", "--scheme", "rk4", "--steps", "100")
    np.testing.assert_allclose(r["s_final"], d["s_final"], rtol=1e-7)


@pytest.mark.parametrize("argv", [
    ["--s0", "0.1,abc"], ["--s0", "0.1,-1"], ["--s0", ""], ["--lr", "0"], ["--ema", "1"], ["--alpha", "-1"],
    ["--scheme", "euler"], ["--closure", "exact"], ["--closure", "mean-field"], ["--exact-tol", "1e-9"],
    ["--s0-range", "1,0.1"], ["--modes", "0"], ["--s0", "0.1", "--modes", "2"], ["--out", "x.txt"],
    ["--variant", "no-stopgrad", "--ema", "0.5"], ["--steps", "nan"], ["--sigma-target", "inf"],
    ["--metric", "cosine", "--closure", "exact-ish"], ["--map-resync", "0"], ["--map-resync", "2.5"],
    ["--scheme", "dopri5", "--map-resync", "4"],
])
def test_bad_input_exit_2_one_line(capsys, argv):
    rc = main(["simulate", *argv])
    out, err = capsys.readouterr()
    assert rc == 2 and out == ""
    assert err.startswith("isodyn: error: argument --") and err.count("\n") == 1, err


def test_json_has_no_nan_when_diverged(capsys):
    rc = main(["simulate", "--json", "--variant", "wrong-stopgrad", "--s0", "3", "--steps", "2000"])
    out, _ = capsys.readouterr()
    assert rc == 0 and "NaN" not in out and "Infinity" not in out
    d = json.loads(out)
    assert d["diverged"] and d["recruit_steps"] == [None]


def test_map_resync_flag(capsys):
    """--map-resync 1 (predictor eigenvalues in full every step) and the default agree to rounding level;
    the value is recorded with the parameters."""
    argv = ("--s0", "0.001,0.01,0.1,0.5", "--alpha", "0.7", "--steps", "2000", "--lr", "0.02")
    full = sim(capsys, *argv, "--map-resync", "1")
    ratio = sim(capsys, *argv)
    assert full["parameters"]["map_resync"] == 1 and ratio["parameters"]["map_resync"] == 32
    a, b = np.array(full["s_final"]), np.array(ratio["s_final"])
    assert np.max(np.abs(a - b) / a) < 1e-12


def test_one_name_per_quantity_in_json_files_and_python(capsys, tmp_path):
    """s_final, lam_final, final_step, rhs_evaluations, diverged_step, recruit_steps: the JSON summary's names in
    the Trajectory, the .nc and the .npz; the names before (s_last, lam_last, last_step, nrhs) stay readable as
    properties."""
    import xarray as xr

    from isodyn.derivations import Rule
    from isodyn.dynamics.modes.simulation import simulate

    nc, npz = tmp_path / "r.nc", tmp_path / "r.npz"
    d = {p: sim(capsys, "--s0", "0.1,1", "--steps", "40", "--out", str(p)) for p in (nc, npz)}[nc]
    ds = xr.open_dataset(nc, engine="scipy")
    z = np.load(npz)
    for name in ("s_final", "lam_final", "final_step", "rhs_evaluations", "diverged_step", "recruit_steps"):
        assert name in ds and (name in z or "measure_" + name in z), name
    for old in ("s_last", "lam_last", "last_step", "nrhs"):
        assert old not in ds and old not in z
    np.testing.assert_array_equal(ds["s_final"].values, d["s_final_by_mode"])
    assert int(ds["final_step"]) == d["final_step"] and int(ds["rhs_evaluations"]) == d["rhs_evaluations"]
    tr = simulate(Rule(), [0.1, 1.0], steps=40)
    assert tr.s_last is tr.s_final and tr.lam_last is tr.lam_final
    assert tr.last_step is tr.final_step and tr.nrhs is tr.rhs_evaluations
