"""The distribution is one package, isodyn: pyproject's package list names every source folder, and a wheel
holds nothing top-level but isodyn (ARCHITECTURE.md, "Layout")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _installed_name(folder: Path) -> str:
    """The dotted name a source folder is installed under, by pyproject's package-dir mapping."""
    rel = folder.relative_to(ROOT).parts
    for pkg, src in CONFIG["package-dir"].items():
        if rel[: len(Path(src).parts)] == Path(src).parts:
            return ".".join([pkg, *rel[len(Path(src).parts):]])
    raise AssertionError(f"{folder} is not under a mapped folder")


def test_every_source_folder_is_a_listed_package():
    folders = sorted({p.parent for src in CONFIG["package-dir"].values() for p in (ROOT / src).rglob("__init__.py")})
    assert sorted(_installed_name(f) for f in folders) == sorted(CONFIG["packages"])


def test_an_install_holds_only_isodyn_top_level(installed_package):
    top = {p.name for p in installed_package.iterdir()}
    assert top - {"bin"} == {"isodyn", next(n for n in top if n.endswith(".dist-info"))}
    for must in ("isodyn/__init__.py", "isodyn/derivations/rules.py", "isodyn/dynamics/modes/simulation.py",
                 "isodyn/figures/reproduce.py"):
        assert (installed_package / must).is_file(), must


def test_an_install_imports_from_anywhere(installed_package, tmp_path):
    code = ("import isodyn, sys; isodyn.simulate; isodyn.Rule; print(isodyn.__version__); "
            "print('dynamics' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(installed_package)}).stdout.split()
    assert out[1] == "False"


def test_version_flag(installed_package, tmp_path):
    """``isodyn --version`` prints the installed distribution's version and exits 0."""
    from importlib.metadata import version

    from isodyn.dynamics.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    out = subprocess.run([sys.executable, "-m", "isodyn", "--version"], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(installed_package)})
    assert out.returncode == 0 and out.stdout.strip() == f"isodyn {version('isodyn')}"
