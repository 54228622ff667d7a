"""`isodyn derive`: every rule renders from a cold cache in well under 10 s, a second process
does no symbolic work (sympy is not even imported), and bad input gives exit 2 and one line."""

import os
import subprocess
import sys
import time

import pytest

from isodyn.derivations import METRICS, VARIANTS, Rule
from isodyn.derivations.render import derivation

PY = sys.executable


def _run(args, env):
    return subprocess.run([PY, "-m", "isodyn", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture()
def cold_env(tmp_path):
    env = dict(os.environ)
    env["ISODYN_CACHE"] = str(tmp_path / "cache")
    return env


def test_second_process_does_no_symbolic_work(cold_env):
    args = ["derive", "--metric", "cosine", "--variant", "iso"]
    t0 = time.perf_counter()
    first = _run(args, cold_env)
    cold = time.perf_counter() - t0
    assert first.returncode == 0, first.stderr
    probe = (
        "import sys, io, contextlib; from isodyn.dynamics.cli import main; buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf): rc = main(" + repr(args) + ")\n"
        "print(rc, 'sympy' in sys.modules, len(buf.getvalue()))"
    )
    t0 = time.perf_counter()
    second = subprocess.run([PY, "-c", probe], capture_output=True, text=True, env=cold_env, timeout=60)
    warm = time.perf_counter() - t0
    rc, sympy_loaded, n = second.stdout.split()
    assert rc == "0" and sympy_loaded == "False" and int(n) == len(first.stdout)
    print(f"\nisodyn derive cosine/iso: cold {cold:.2f} s, warm {warm:.2f} s (no sympy import)")
    assert cold < 10


@pytest.mark.parametrize("metric", METRICS)
def test_trainable_predictor_renders(metric, cold_env):
    """--predictor trainable adds section 8: the predictor's loss and gradient, H_m, the ODE with lambda a state;
    for the Euclidean standard loss Tian's invariant, lambda*+- and the collapse threshold."""
    r = _run(["derive", "--metric", metric, "--predictor", "trainable"], cold_env)
    assert r.returncode == 0, r.stderr
    assert "8. Trainable predictor" in r.stdout and "H_m" in r.stdout and r"\frac{d\lambda_{m}}{dt}" in r.stdout
    assert ("gamma_c" in r.stdout) == (metric == "euclidean")
    plain = _run(["derive", "--metric", metric], cold_env)
    assert "8. Trainable predictor" not in plain.stdout


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_every_rule_renders(metric, variant):
    for closure in ("exact", "mean-field") if metric == "cosine" else ("exact",):
        for fmt in ("markdown", "latex"):
            text = derivation(Rule(metric, variant), closure, fmt)
            for section in (
                "loss",
                "Gradients",
                "eigenbasis",
                "Expected mode map",
                "Continuous-time",
                "Fixed points",
            ):
                assert section in text
            assert ("$$" in text) == (fmt == "markdown") and ("equation*" in text) == (fmt == "latex")


def test_family_renders_with_symbolic_beta():
    text = derivation(Rule("euclidean", "standard", beta=0.5), "exact", "markdown")
    assert r"\lambda_{0}^{- \beta}}{2 \alpha \beta}" in text  # T ~ 1/(2 alpha beta lambda0^beta)


@pytest.mark.parametrize(
    "args,flag",
    [
        (["--metric", "cosin"], "--metric"),
        (["--beta", "nan"], "--beta"),
        (["--beta", "inf"], "--beta"),
        (["--format", "pdf"], "--format"),
        (["--alpha", "-1"], "--alpha"),
        (["--eps", "x"], "--eps"),
        (["--variant", "wrong-stopgrad", "--beta", "0.5"], "--beta"),
        (["--variant", "iso", "--closure", "exact"], "--closure"),
        (["--closure", "meanfield", "--metric", "cosine"], "--closure"),
    ],
)
def test_bad_input_exit_2_one_line(args, flag, cold_env):
    r = _run(["derive", *args], cold_env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("isodyn: error:") and flag in lines[0]
    assert r.stdout == ""
