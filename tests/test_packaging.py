"""The distribution is one package, isodyn: pyproject's package list names every source folder, and a wheel
holds nothing top-level but isodyn (ARCHITECTURE.md, "Layout")."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

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


def test_the_wheel_holds_only_isodyn_top_level(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("isodyn-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"isodyn", next(t for t in top if t.endswith(".dist-info"))}
    for must in ("isodyn/__init__.py", "isodyn/derivations/rules.py", "isodyn/dynamics/modes/simulation.py",
                 "isodyn/figures/reproduce.py"):
        assert must in names
