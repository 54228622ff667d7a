"""The kernel cache: generated modules on disk, named by a hash of their source and the tool versions.

Layout under :func:`cache_dir` (``$ISODYN_CACHE``, default ``~/.cache/isodyn``)::

    kernels/k_<hash>.py      a rule's kernel module (codegen.kernels)
    kernels/i_<hash>.py      a rule's integrator module (codegen.integrators)
    kernels/__pycache__/     numba's machine code for them (``njit(cache=True)``)
    index/<hash>.json        rule structure + :func:`generator_hash` -> its kernel module's file name

A module is written once, atomically, and imported from its file (numba's ``cache=True`` needs a real
file).  The index lets a second process find a rule's kernels without importing sympy; it is keyed by
:func:`generator_hash`, which changes whenever derivations/, the generator or its templates change.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from importlib.metadata import version
from pathlib import Path

from isodyn.dynamics.files import atomic_write

#: bump to invalidate every cached module (a change of the generated code's interface not visible in its text)
CODEGEN_VERSION = "2"
HERE = Path(__file__).resolve().parent


def cache_dir() -> Path:
    """Kernel cache: $ISODYN_CACHE, else $XDG_CACHE_HOME/isodyn, else ~/.cache/isodyn."""
    root = os.environ.get("ISODYN_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isodyn"


def tool_versions() -> str:
    """The versions the generated code depends on (part of every cached file's hash)."""
    parts = [f"{p}={version(p)}" for p in ("sympy", "numba", "numpy")]
    return ";".join(parts + [f"codegen={CODEGEN_VERSION}", f"py={sys.version_info[:2]}"])


def _files_hash(files) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def fastmath_hash() -> str:
    """Hash of fastmath.py (the generated modules import it: a change must give them new file names)."""
    return _files_hash([HERE / "fastmath.py"])


def generator_hash() -> str:
    """Hash of derivations/, this generator (codegen/*.py), its templates and the tool versions: the index
    is invalid when any of them changes."""
    import isodyn.derivations

    derivations = sorted(Path(isodyn.derivations.__file__).resolve().parent.glob("*.py"))
    generator = sorted(HERE.glob("*.py")) + sorted((HERE / "templates").glob("*.j2"))
    return _files_hash(derivations + generator) + tool_versions()


def store_source(src: str, prefix: str) -> Path:
    """Write generated source into the kernel cache under a hash of it and the tool versions."""
    digest = hashlib.sha256((src + tool_versions()).encode()).hexdigest()[:24]
    path = cache_dir() / "kernels" / f"{prefix}{digest}.py"
    if not path.exists():
        atomic_write(path, src)
    return path


def load_module(path: Path, prefix: str):
    """Import a generated module from its file (numba's cache=True needs a real file) as prefix + stem."""
    name = prefix + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _index_path(key) -> Path:
    text = json.dumps([list(key), generator_hash()])
    return cache_dir() / "index" / (hashlib.sha256(text.encode()).hexdigest()[:24] + ".json")


def indexed_module(key) -> Path | None:
    """The cached module file recorded for ``key`` (a rule's structural key), or None."""
    idx = _index_path(key)
    if not idx.exists():
        return None
    try:
        path = cache_dir() / "kernels" / json.loads(idx.read_text())["module"]
    except (ValueError, KeyError, OSError):
        return None
    return path if path.exists() else None


def record_module(key, path: Path) -> None:
    """Record in the index that ``key``'s module is ``path``."""
    atomic_write(_index_path(key), json.dumps({"module": path.name, "rule": list(key)}))
