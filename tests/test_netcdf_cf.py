"""The netCDF files describe themselves (CF conventions, dynamics/quantities.py): every data variable and
coordinate of a simulate file and of a sweep file has units and a long name, flags have their values and
meanings (outcome, status, the booleans), and the files say their conventions, the isodyn version and the
rule and parameters."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from isodyn import Rule, simulate_batch
from isodyn.dynamics.measures import OUTCOMES
from isodyn.dynamics.quantities import attributes
from isodyn.dynamics.sweep.run import run_sweep
from isodyn.dynamics.sweep.spec import parse_spec


def _described(ds):
    for name in list(ds.data_vars) + list(ds.coords):
        a = ds[name].attrs
        assert a.get("units") and a.get("long_name"), name
    assert ds.attrs["Conventions"].startswith("CF-")
    assert ds.attrs["source"].startswith("isodyn ")


def test_a_simulate_file_describes_itself(tmp_path):
    tr = simulate_batch(Rule("euclidean", "iso", predictor="trainable"), [[0.1, 0.5], [0.2, 0.3]], steps=10,
                        lr=[0.01, 0.02])
    tr.write(tmp_path / "r.nc")
    ds = xr.open_dataset(tmp_path / "r.nc")
    _described(ds)
    assert list(ds["status"].attrs["flag_values"]) == [0, 1, 2, 3]
    assert ds["collapsed"].attrs["flag_meanings"] == "false true"
    assert "param_lr" in ds and ds.attrs["variant"] == "iso" and '"trainable"' in ds.attrs["rule"]


def test_a_sweep_file_describes_itself(tmp_path):
    spec = parse_spec("[run]\nsteps = 20\n[fixed]\nmodes = 3\n[axes]\nvariant = ['standard', 'iso']\n"
                      "weight_decay = [0.0, 0.3]\n")
    run_sweep(spec, tmp_path / "s.nc", progress=False)
    ds = xr.open_dataset(tmp_path / "s.nc")
    _described(ds)
    assert ds["outcome"].attrs["flag_meanings"].split() == list(OUTCOMES)
    assert list(ds["outcome"].attrs["flag_values"]) == list(range(len(OUTCOMES)))
    assert np.isin(ds["outcome"].values, ds["outcome"].attrs["flag_values"]).all()


def test_an_undescribed_quantity_is_an_error():
    with pytest.raises(KeyError, match="quantities.py"):
        attributes("no_such_quantity")


@pytest.mark.parametrize("predictor", ["closed-form", "trainable"])
def test_a_train_file_describes_itself(tmp_path, capsys, predictor):
    from isodyn.dynamics.cli.common import main

    path, probes = tmp_path / "t.nc", tmp_path / "probes.npy"
    np.save(probes, np.random.default_rng(0).standard_normal((2, 6)))
    assert main(["train", "--in-dim", "6", "--out-dim", "3", "--samples", "200", "--steps", "5",
                 "--probes", str(probes), "--predictor", predictor, "--out", str(path)]) == 0
    capsys.readouterr()
    ds = xr.open_dataset(path)
    _described(ds)
    assert ds.attrs["history"].startswith("isodyn ") and ds.attrs["metric"] == "euclidean"
    assert ("Wp" in ds) == (predictor == "trainable")
