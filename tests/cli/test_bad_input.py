"""Bad input ends with exit status 2 and one line naming the flag, before any work (issue 11, item 1): outputs
that cannot be written, sizes this machine cannot hold, values that would overflow, flags that do not apply to
the chosen scheme, TOML errors with their line and column.  Work is made impossible here (the entry points
raise), so a case that computed first would fail."""

from __future__ import annotations

import pytest

from isodyn.dynamics.cli import main


@pytest.fixture
def no_work(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("work started before the input was checked")

    from isodyn.dynamics.modes import integrators
    from isodyn.dynamics.sweep import run as sweep_run

    monkeypatch.setattr(integrators, "run", boom)  # integrating
    monkeypatch.setattr(integrators, "compiled", boom)  # generating and compiling kernels
    monkeypatch.setattr(sweep_run, "run_sweep", boom)


def _one_line(capsys, argv, flag):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 2, (argv, err)
    assert err.startswith(f"isodyn: error: argument {flag}") or err.startswith("isodyn: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert flag in err
    assert out == ""
    return err


SIM = ["simulate", "--json"]


@pytest.mark.parametrize("argv,flag", [
    (SIM + ["--out", "/proc/x.nc"], "--out"),
    (SIM + ["--out", "."], "--out"),
    (SIM + ["--out", "x.txt"], "--out"),
    (SIM + ["--steps", "100000000000"], "--steps"),
    (SIM + ["--modes", "100000000"], "--modes"),
    (SIM + ["--s0", "1e308,1"], "--s0"),
    (SIM + ["--substeps", "2"], "--substeps"),
    (SIM + ["--rtol", "1e-6"], "--rtol"),
    (SIM + ["--scheme", "rk4", "--atol", "1e-9"], "--atol"),
    (SIM + ["--scheme", "dopri5", "--map-resync", "2"], "--map-resync"),
    (SIM + ["--lam0", "0.1,0.2"], "--lam0"),
    (SIM + ["--predictor-lr-ratio", "2"], "--predictor-lr-ratio"),
])
def test_simulate_refuses_before_any_work(capsys, no_work, argv, flag):
    _one_line(capsys, argv, flag)


def test_sweep_and_plot_sweep_outputs(capsys, no_work, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text("[axes]\nlr = [0.01, 0.1]\n")
    _one_line(capsys, ["sweep", str(spec), "--out", "/proc/a.nc"], "--out")
    _one_line(capsys, ["sweep", str(spec), "--out", str(tmp_path)], "--out")
    _one_line(capsys, ["reproduce", "--out", "/proc/r"], "--out")


def test_a_toml_error_keeps_its_line_and_column(capsys, no_work, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text("[run]\nsteps = 10\n[axes]\nlr = [0.1,, 0.2]\n")
    err = _one_line(capsys, ["sweep", str(spec), "--out", str(tmp_path / "o.nc")], "toml")
    assert "line 4, column 11" in err


def test_repeated_only_accumulates(monkeypatch, tmp_path):
    from isodyn.figures import reproduce

    seen = {}

    def fake_run(out, quick, only, **kw):
        seen["only"] = only
        return 0

    monkeypatch.setattr(reproduce, "run", fake_run)
    argv = ["reproduce", "--out", str(tmp_path), "--only", "recruitment", "--only", "weight_decay,recruitment"]
    assert main(argv) == 0
    assert seen["only"] == ["recruitment", "weight_decay"]
