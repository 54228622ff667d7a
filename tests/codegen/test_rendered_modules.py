"""The generated modules are readable, lintable source: every rule's kernel and integrator module parses, and
ruff finds nothing in it; templates take every name by argument (StrictUndefined); the values passed to the
integrator template are the ones it renders; parameter columns and state rows are named, never numbered."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
from scenarios import RULES, rule_id

from isodyn.dynamics.codegen import eigenvalues_source, generate_source, templating
from isodyn.dynamics.codegen.integrators import PARAM_NAMES, integrator_source, state_rows
from isodyn.dynamics.codegen.kernels import kernels
from isodyn.dynamics.modes.schemes import MAP_BLOCK, MAP_FAST_BLOCK, PI_CONTROLLER

OPTIONS = dict(controller=PI_CONTROLLER, map_block=MAP_BLOCK, map_fast_block=MAP_FAST_BLOCK)
#: ruff's checks on generated code: errors, pyflakes (unused and undefined names), warnings, bugbear; long
#: lines are allowed (printed expressions)
RUFF = ["--isolated", "--select", "E,F,W,B", "--ignore", "E501", "--output-format", "concise"]


def _ruff():
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        pytest.fail("ruff is missing: install the dev extra (pip install -e '.[dev]')")
    return exe


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every rule's eigenvalues, kernel and integrator modules, written to a folder: name -> path."""
    folder = tmp_path_factory.mktemp("rendered")
    out = {}
    for rule in RULES:
        stem = re.sub(r"\W", "_", rule.name)
        for kind, src in (("e", eigenvalues_source(rule)), ("k", generate_source(rule)),
                          ("i", integrator_source(rule, **OPTIONS))):
            path = folder / f"{kind}_{stem}.py"
            path.write_text(src)
            out[f"{kind}/{rule.name}"] = path
    return out


def test_every_generated_module_parses(rendered):
    for path in rendered.values():
        ast.parse(path.read_text(), filename=str(path))


def test_ruff_finds_nothing_in_the_generated_modules(rendered):
    folder = next(iter(rendered.values())).parent
    r = subprocess.run([_ruff(), "check", *RUFF, str(folder)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]


def test_ruff_would_catch_an_unused_variable(tmp_path):
    """The lint check above can fail: the same ruff call flags a generated-looking module with a dead local."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f(S):\n    St = S[0]\n    return S\n")
    r = subprocess.run([_ruff(), "check", *RUFF, str(bad)], capture_output=True, text=True)
    assert r.returncode == 1 and "F841" in r.stdout


@pytest.mark.parametrize("rule", RULES[:3], ids=rule_id)
def test_the_block_sizes_and_controller_passed_are_the_ones_rendered(rule):
    src = integrator_source(rule, controller={**PI_CONTROLLER, "PI_SAFETY": 0.85}, map_block=5, map_fast_block=17)
    assert re.search(r"^MAP_FAST_BLOCK = 17$", src, re.M)
    assert re.search(r"^MAP_BLOCK = 5$", src, re.M)
    assert re.search(r"^PI_SAFETY = 0\.85$", src, re.M)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_parameter_columns_and_rows_are_named(rule):
    src = integrator_source(rule, **OPTIONS)
    consts = re.findall(r"^([A-Z_0-9]+) = (\d+)(?:  #.*)?$", src, re.M)
    cols = [name for name, _ in consts if name.lower() in PARAM_NAMES]
    assert cols == [n.upper() for n in PARAM_NAMES]
    assert [int(v) for name, v in consts if name.lower() in PARAM_NAMES] == list(range(len(PARAM_NAMES)))
    rows = [r.const for r in state_rows(kernels(rule), rule.has_predictor)]
    assert [name for name, _ in consts if name.startswith("ROW_")] == rows
    # no parameter or row addressed by a bare number
    assert not re.search(r"\bp\[\d+\]|P\[i, \d+\]|Y\w*\[\d+\]", src)


def test_a_name_the_caller_did_not_pass_is_an_error():
    with pytest.raises(jinja2.UndefinedError):
        templating.render("integrators.py.j2", kname="k_x")


def test_a_macro_using_an_undeclared_driver_local_is_an_error():
    """Macros see the driver's locals only through ``d``: a driver that did not declare Sc cannot use forces."""
    env = templating.environment()
    rows = state_rows(kernels(RULES[0]))
    d = dict(p="p", M="M", ema="ema", lag="lag", exact="exact", qx="qx", qwx="qwx", qy="qy", qwy="qwy", G="G",
             lam="lam", s="s", aux="aux", Xl="Xl")
    ctx = dict(rows=rows, has_exact=True, has_trainable=False,
               drift_kernels=[{"kernel": "_drift", "exact": "exact_drift", "out": "G"}])
    tpl = env.from_string('{% import "integrator_macros.j2" as m with context %}'
                          '{{ m.forces(dict(S="S", St="St", C="C"), "0", False, d) }}')
    with pytest.raises(jinja2.UndefinedError):
        tpl.render(d=d, **ctx)
    assert "amplitude(C[k], p[SIGMA1])" in tpl.render(d={**d, "Sc": "Sc"}, **ctx)
