"""The layers of ARCHITECTURE.md hold: ``lint-imports`` with the contracts in pyproject.toml passes on an
installed copy of the package (import-linter reads the package from the folder it is installed in; the
editable install maps the three source folders into isodyn, which import-linter cannot follow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _lint(target: Path, tmp: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install the dev extra (pip install -e '.[dev]')")
    return subprocess.run([exe, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tmp,
                          env={**os.environ, "PYTHONPATH": str(target)}, capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept(installed_package, tmp_path):
    r = _lint(installed_package, tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_a_circle_breaks_the_contracts(installed_package, tmp_path):
    """The check can fail: a copy with plan.py importing run.py (run imports plan) is reported."""
    copy = tmp_path / "copy"
    shutil.copytree(installed_package / "isodyn", copy / "isodyn")
    with open(copy / "isodyn" / "dynamics" / "sweep" / "plan.py", "a") as f:
        f.write("\nfrom isodyn.dynamics.sweep import run  # noqa: E402,F401\n")
    r = _lint(copy, tmp_path)
    assert r.returncode == 1 and ".plan -> .run" in r.stdout
