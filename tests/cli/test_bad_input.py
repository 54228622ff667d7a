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

    from isodyn.dynamics.modes import integrators, simulation
    from isodyn.dynamics.network import trainer, validation
    from isodyn.dynamics.sweep import run as sweep_run
    from isodyn.figures import phase_diagram, reproduce

    monkeypatch.setattr(integrators, "run", boom)  # integrating
    monkeypatch.setattr(integrators, "compiled", boom)  # generating and compiling kernels
    log_spaced = simulation.log_spaced
    monkeypatch.setattr(simulation, "log_spaced",  # making a spectrum of --modes 10**8 modes
                        lambda n, *a: boom() if n > 10**6 else log_spaced(n, *a))
    monkeypatch.setattr(sweep_run, "run_sweep", boom)
    monkeypatch.setattr(trainer, "NetworkTrainer", boom)  # sampled training
    monkeypatch.setattr(trainer, "init_weights", boom)  # drawing W0 of --out-dim x --in-dim
    monkeypatch.setattr(validation, "run_matrix", boom)
    monkeypatch.setattr(reproduce, "run", boom)
    monkeypatch.setattr(phase_diagram, "phase_diagram", boom)


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


# --- one test per class of case (issue 11, item 1): exit 2, one line naming the flag, nothing on stdout, no file
# written, under 10 s.  OUT in an argv is a path in the test's own folder that must not exist afterwards.


def _refused(capsys, tmp_path, argv, flag):
    import time

    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [a.replace("OUT", str(tmp_path)) for a in argv]
    t0 = time.perf_counter()
    rc = main(argv)
    seconds = time.perf_counter() - t0
    out, err = capsys.readouterr()
    assert rc == 2, (argv, err)
    assert err.startswith("isodyn: error: ") and err.count("\n") == 1 and err.endswith("\n"), err
    assert flag in err and "Traceback" not in err, err
    assert out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "an output was written"
    assert seconds < 10, seconds
    return err


@pytest.fixture
def sweep_file(tmp_path):
    """A small dataset in the shape plot-sweep reads (an outcome over two axes)."""
    import numpy as np
    import xarray as xr

    ds = xr.Dataset({"outcome": (("lr", "alpha"), np.zeros((2, 2), dtype=np.int8))},
                    coords={"lr": [0.01, 0.1], "alpha": [0.5, 1.0]})
    path = tmp_path / "sw.nc"
    ds.to_netcdf(path)
    return path


UNWRITABLE = [
    (["simulate", "--out", "/proc/x.nc"], "--out"),
    (["simulate", "--out", "OUT"], "--out"),  # an existing folder where a file is expected
    (["simulate", "--out", "OUT/x.txt"], "--out"),
    (["simulate", "--plot", "/proc/x.png"], "--plot"),
    (["simulate", "--plot", "OUT/x.svg"], "--plot"),
    (["train", "--out", "/proc/t.nc"], "--out"),
    (["train", "--out", "OUT"], "--out"),
    (["train", "--plot", "/proc/t.pdf"], "--plot"),
    (["train", "--plot", "OUT/t.jpg"], "--plot"),
    (["validate", "--out", "/proc/v.md"], "--out"),
    (["validate", "--out", "OUT"], "--out"),
    (["validate", "--figure", "/proc/f"], "--figure"),
    (["reproduce", "--out", "/proc/x"], "--out"),
    (["plot-sweep", "SWEEP", "--x", "lr", "--y", "alpha", "--out", "/proc/x.png"], "--out"),
    (["plot-sweep", "SWEEP", "--x", "lr", "--y", "alpha", "--out", "OUT"], "--out"),
    (["sweep", "SPEC", "--out", "/proc/a.nc"], "--out"),
    (["sweep", "SPEC", "--out", "OUT"], "--out"),
]


@pytest.mark.parametrize("argv,flag", UNWRITABLE)
def test_unwritable_outputs(capsys, no_work, tmp_path, sweep_file, argv, flag):
    spec = tmp_path / "s.toml"
    spec.write_text("[axes]\nlr = [0.01, 0.1]\n")
    argv = [str(sweep_file) if a == "SWEEP" else str(spec) if a == "SPEC" else a for a in argv]
    _refused(capsys, tmp_path, argv, flag)


def test_reproduce_out_a_file(capsys, no_work, tmp_path):
    (tmp_path / "f").write_text("x")
    _refused(capsys, tmp_path, ["reproduce", "--out", "OUT/f"], "--out")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "figures").write_text("x")
    _refused(capsys, tmp_path, ["reproduce", "--out", "OUT/d"], "--out")


SIZES = [
    (["simulate", "--steps", "100000000000"], "--steps"),
    (["simulate", "--modes", "100000000"], "--modes"),
    (["train", "--samples", "100000000000"], "--samples"),
    (["train", "--in-dim", "100000", "--out-dim", "100000"], "-dim"),
    (["train", "--steps", "10000000000"], "--steps"),
]


@pytest.mark.parametrize("argv,flag", SIZES)
def test_sizes_this_machine_cannot_hold(capsys, no_work, tmp_path, argv, flag):
    err = _refused(capsys, tmp_path, argv + ["--out", "OUT/r.nc"], flag)
    assert "more than this machine can give" in err


def test_memory_estimate_scales_with_the_arrays():
    """The train estimator: the batch grows with n (N + M), the histories with steps x M."""
    from isodyn.derivations import Rule
    from isodyn.dynamics.cli.train import memory_estimate
    from isodyn.dynamics.network.trainer import NetworkConfig

    small = memory_estimate(NetworkConfig(Rule("euclidean", "standard"), samples=1000), 100)
    big = memory_estimate(NetworkConfig(Rule("euclidean", "standard"), samples=2000), 1000)
    assert big["batch"] == 2 * small["batch"] > 0
    assert big["histories"] == pytest.approx(1001 / 101 * small["histories"])


def test_cupy_runs_are_checked_against_the_gpu_memory(monkeypatch):
    """On CuPy the batch and the weights must fit the GPU's free memory too (a stand-in backend: no GPU here)."""
    from types import SimpleNamespace

    from isodyn.derivations import Rule
    from isodyn.dynamics.cli import train as train_cli
    from isodyn.dynamics.cli.common import UsageError
    from isodyn.dynamics.network.trainer import NetworkConfig

    gpu = SimpleNamespace(name="cupy", xp=SimpleNamespace(cuda=SimpleNamespace(runtime=SimpleNamespace(
        memGetInfo=lambda: (10**6, 10**9)))))
    args = SimpleNamespace(steps=10)
    cfg = NetworkConfig(Rule("euclidean", "standard"), samples=50_000)
    train_cli.check_size(args, cfg, 0, None)  # fits this machine
    with pytest.raises(UsageError, match="more than the GPU can give"):
        train_cli.check_size(args, cfg, 0, gpu)


VALUES = [  # values that would overflow a run or are out of their flag's range
    (["train", "--init-scale", "1e300"], "--init-scale"),
    (["simulate", "--s0", "1e308,1"], "--s0"),
    (["simulate", "--lr", "0"], "--lr"),
    (["train", "--lr", "inf"], "--lr"),
    (["simulate", "--ema", "1"], "--ema"),
    (["train", "--ema", "-0.1"], "--ema"),
    (["simulate", "--weight-decay", "-1"], "--weight-decay"),
    (["simulate", "--sigma-target", "nan"], "--sigma-target"),
    (["simulate", "--seed", "99999999999999999999999"], "--seed"),
    (["train", "--seed", "-1"], "--seed"),
    (["reproduce", "--seed", "4294967296"], "--seed"),
    (["reproduce", "--jobs", "0"], "--jobs"),
    (["reproduce", "--jobs", "100000"], "--jobs"),
    (["reproduce", "--only", "nosuch"], "--only"),  # after --out was checked: the probe's folder is gone again
    (["validate", "--jobs", "0"], "--jobs"),
    (["validate", "--seed", "1e3"], "--seed"),
    (["train", "--samples", "0"], "--samples"),
    (["train", "--in-dim", "5", "--out-dim", "6"], "--out-dim"),
    (["simulate", "--stride", "0"], "--stride"),
    (["simulate", "--scheme", "dopri5", "--rtol", "1"], "--rtol"),
]


@pytest.mark.parametrize("argv,flag", VALUES)
def test_values_out_of_range(capsys, no_work, tmp_path, argv, flag):
    out = ["--out", "OUT/r.md"] if argv[0] in ("validate",) else ["--out", "OUT/r"] if argv[0] == "reproduce" \
        else ["--out", "OUT/r.nc"]
    err = _refused(capsys, tmp_path, argv + out, flag)
    assert "accepted:" in err


def test_a_w0_beyond_the_bound(capsys, no_work, tmp_path):
    import numpy as np

    w0 = tmp_path / "w0.npy"
    np.save(w0, np.full((10, 15), 1e200))
    _refused(capsys, tmp_path, ["train", "--w0", str(w0), "--out", "OUT/r.nc"], "--w0")


INAPPLICABLE = [  # a flag the user gave that does not apply is an error (the rule in common.py)
    (["simulate", "--substeps", "2"], "--substeps"),
    (["simulate", "--rtol", "1e-6"], "--rtol"),
    (["simulate", "--scheme", "rk4", "--rtol", "1e-6"], "--rtol"),
    (["simulate", "--predictor", "trainable", "--rho", "0.5"], "--rho"),
    (["simulate", "--closure", "exact"], "--closure"),
    (["train", "--rho", "0.5"], "--rho"),
    (["train", "--predictor-source", "weights", "--rho", "0"], "--rho"),
    (["train", "--predictor-init", "identity"], "--predictor-init"),
]


@pytest.mark.parametrize("argv,flag", INAPPLICABLE)
def test_inapplicable_flags(capsys, no_work, tmp_path, argv, flag):
    err = _refused(capsys, tmp_path, argv + ["--out", "OUT/r.nc"], flag)
    assert "only with" in err


def test_defaults_are_not_choices(capsys, monkeypatch, tmp_path):
    """The flags above are refused only when given: their defaults pass (train's --rho under the weights source)."""
    from isodyn.dynamics.cli import train as train_cli

    seen = {}

    def stop(args, cfg, probes, backend):  # the last check before the work: record the config, end the run
        seen["rho"] = cfg.rho
        raise train_cli.UsageError("stopped")

    monkeypatch.setattr(train_cli, "check_size", stop)
    main(["train"])
    assert seen["rho"] == 0.3
    main(["train", "--predictor-source", "representations", "--rho", "0.5"])
    assert seen["rho"] == 0.5
    capsys.readouterr()


SPECS = [  # sweep specs: TOML errors keep their line and column whole; bad values name their key
    ("[run]\nsteps = 10\n[axes]\nlr = [0.1,, 0.2]\n", "line 4, column 11"),
    ("this line is not TOML at all, and it is long enough that a cut at 57 characters would show = =\n",
     "line 1, column"),
    ("[axes]\nlr = [-1, 0.1]\n", "axes.lr[0]"),
    ("[axes]\nema = [0.5, 1.0]\n", "axes.ema[1]"),
    ("[run]\nsteps = \"abc\"\n[axes]\nlr = [0.01]\n", "run.steps"),
    ("[fixed]\nseed = 99999999999999999999\n[axes]\nlr = [0.01]\n", "fixed.seed"),
    ("[fixed]\nmodes = 100000000\n[axes]\nlr = [0.01]\n", "fixed.modes"),
    ("[axes]\nlr = [0.01]\nnosuch = [1]\n", "nosuch"),
]


@pytest.mark.parametrize("text,where", SPECS)
def test_sweep_spec_errors(capsys, no_work, tmp_path, text, where):
    spec = tmp_path / "bad.toml"
    spec.write_text(text)
    err = _refused(capsys, tmp_path, ["sweep", str(spec), "--out", "OUT/o.nc"], where)
    assert "..." not in err  # not cut


# --- the issue's own command lines, as a person types them (a fresh interpreter: imports and all, < 10 s) ------

ISSUE_CASES = [
    ("simulate --out /proc/x.nc", "--out"),
    ("train --out /proc/t.nc", "--out"),
    ("validate --out /proc/v.md", "--out"),
    ("sweep SPEC --out /proc/a.nc", "--out"),
    ("reproduce --out /proc/x", "--out"),
    ("simulate --out DIR", "--out"),
    ("simulate --steps 100000000000", "--steps"),
    ("simulate --modes 100000000", "--modes"),
    ("train --samples 100000000000", "--samples"),
    ("train --in-dim 100000 --out-dim 100000", "-dim"),
    ("train --init-scale 1e300", "--init-scale"),
    ("simulate --s0 1e308,1", "--s0"),
    ("simulate --substeps 4", "--substeps"),
    ("simulate --rtol 1e-6", "--rtol"),
    ("train --rho 0.5", "--rho"),
]


@pytest.mark.parametrize("line,flag", ISSUE_CASES)
def test_the_issue_cases_from_a_shell(tmp_path, line, flag):
    import subprocess
    import sys
    import time

    spec = tmp_path / "s.toml"
    spec.write_text("[axes]\nlr = [0.01, 0.1]\n")
    argv = [str(spec) if a == "SPEC" else str(tmp_path) if a == "DIR" else a for a in line.split()]
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "isodyn", *argv], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    seconds = time.perf_counter() - t0
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith("isodyn: error: ") and p.stderr.count("\n") == 1 and flag in p.stderr, p.stderr
    assert seconds < 10, seconds
