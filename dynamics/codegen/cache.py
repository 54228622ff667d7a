"""The kernel cache: generated modules on disk, named by a hash of their source and the tool versions.

Layout under :func:`cache_dir` (``$ISODYN_CACHE``, default ``~/.cache/isodyn``)::

    kernels/k_<hash>.py      a rule's kernel module (codegen.kernels)
    kernels/e_<hash>.py      s and the closed-form predictor's lambda from S, shared by the kernel modules that
                             print the same predictor (compiled once for all of them)
    kernels/i_<hash>.py      a rule's integrator module (codegen.integrators)
    kernels/__pycache__/     numba's machine code for them (``njit(cache=True)``)
    index/<hash>.json        rule structure + :func:`generator_hash` -> its kernel module's file name and the
                             modules it imports

A module is written once, atomically, and imported from its file (numba's ``cache=True`` needs a real
file).  The index lets a second process find a rule's kernels without importing sympy; it is keyed by
:func:`generator_hash`, which changes whenever derivations/, the generator or its templates change.

The cache heals: a module's file name is the hash of its content, so a truncated or corrupt module is
recognised on load and generated again; numba's cache files of a module are checked for a whole pickle
stream before numba reads them, and removed (numba then compiles afresh) when they are not; a corrupt
index entry is generated again.  Each repair is said once on stderr.  Writes are atomic (a temporary file
and ``os.replace``), so two processes filling the same cache both succeed.  A cache location that cannot be
written is replaced, for the run, by a temporary one, with one warning.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import pickletools
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from isodyn.dynamics.files import atomic_write

#: bump to invalidate every cached module (a change of the generated code's interface not visible in its text)
CODEGEN_VERSION = "2"
HERE = Path(__file__).resolve().parent
_USABLE: dict = {}  # configured root -> the folder used (itself, or the fallback)
_SAID: set = set()


def say_once(message: str) -> None:
    """One line on stderr, once per process and message."""
    if message not in _SAID:
        _SAID.add(message)
        sys.stderr.write(message + "\n")


def configured_cache_dir() -> Path:
    """The configured kernel cache: $ISODYN_CACHE, else $XDG_CACHE_HOME/isodyn, else ~/.cache/isodyn."""
    root = os.environ.get("ISODYN_CACHE")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "isodyn"


def _writable(root: Path) -> str | None:
    """None if ``root`` can hold the cache (created if missing), else the reason it cannot."""
    try:
        (root / "kernels").mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root / "kernels", prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
        return None
    except OSError as e:
        return e.strerror or type(e).__name__


def cache_dir() -> Path:
    """The kernel cache in use: the configured one (:func:`configured_cache_dir`), or, when it cannot be
    written, a temporary folder for this process (one warning on stderr)."""
    root = configured_cache_dir()
    if root not in _USABLE:
        reason = _writable(root)
        if reason is None:
            _USABLE[root] = root
        else:
            fallback = Path(tempfile.mkdtemp(prefix="isodyn-cache-"))
            say_once(f"isodyn: warning: the kernel cache {root} cannot be written ({reason}); using {fallback} for "
                     "this run (set ISODYN_CACHE to a writable folder to keep compiled kernels)")
            _USABLE[root] = fallback
    return _USABLE[root]


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


def _digest(src: str) -> str:
    return hashlib.sha256((src + tool_versions()).encode()).hexdigest()[:24]


def intact(path: Path) -> bool:
    """Does the cached module at ``path`` hold the source its name is the hash of?"""
    try:
        src = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    return path.stem.endswith(_digest(src))


def module_file(src: str, prefix: str) -> str:
    """The file name generated source ``src`` is stored under (a hash of it and the tool versions)."""
    return f"{prefix}{_digest(src)}.py"


def store_source(src: str, prefix: str) -> Path:
    """Write generated source into the kernel cache under a hash of it and the tool versions (again, if the file
    there is corrupt)."""
    path = cache_dir() / "kernels" / module_file(src, prefix)
    if path.exists():
        try:
            if path.read_text() == src:
                return path
        except (OSError, UnicodeDecodeError):
            pass
        say_once(f"isodyn: note: the cached module {path.name} was corrupt; generated it again")
        _remove_compiled(path)
    atomic_write(path, src)
    return path


def _compiled_files(path: Path) -> list[Path]:
    return sorted((path.parent / "__pycache__").glob(path.stem + ".*.nb[ic]"))


def _remove_compiled(path: Path) -> None:
    for f in _compiled_files(path):
        try:
            f.unlink()
        except OSError:
            pass


def _whole_pickles(path: Path) -> bool:
    """Is the file a sequence of complete pickle streams (not truncated, no garbage)?  Parsed, not loaded."""
    try:
        raw = path.read_bytes()
        buf = io.BytesIO(raw)
        while buf.tell() < len(raw):
            for _ in pickletools.genops(buf):
                pass
        return len(raw) > 0
    except Exception:  # noqa: BLE001 - any parse failure means a damaged file
        return False


def heal_compiled(path: Path) -> None:
    """Remove numba's cache files of the module ``path`` if any is damaged (numba then compiles afresh)."""
    files = _compiled_files(path)
    if files and not all(_whole_pickles(f) for f in files):
        say_once(f"isodyn: note: numba's cache of {path.name} was damaged; compiling it again")
        _remove_compiled(path)


def load_module(path: Path, prefix: str):
    """Import a generated module from its file (numba's cache=True needs a real file) as prefix + stem, its
    numba cache checked first (:func:`heal_compiled`)."""
    heal_compiled(path)
    name = prefix + path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def _index_path(key) -> Path:
    text = json.dumps([list(key), generator_hash()])
    return cache_dir() / "index" / (hashlib.sha256(text.encode()).hexdigest()[:24] + ".json")


def _intact_file(name: str) -> Path | None:
    """The cached module ``kernels/<name>`` if it is there and intact; a corrupt one is said once and removed
    with its compiled code (the caller generates it again)."""
    path = cache_dir() / "kernels" / name
    if not path.exists():
        return None
    if not intact(path):
        say_once(f"isodyn: note: the cached module {path.name} was corrupt; generating it again")
        _remove_compiled(path)
        return None
    return path


def indexed_modules(key) -> list[Path] | None:
    """The intact cached module files recorded for ``key`` (a rule's structural key), the modules it imports
    first and its own last; None when any is missing or corrupt (said once; the caller generates them again)."""
    idx = _index_path(key)
    if not idx.exists():
        return None
    try:
        entry = json.loads(idx.read_text())
        names = [*entry.get("needs", []), entry["module"]]
        if not all(isinstance(n, str) for n in names):
            raise TypeError
    except (ValueError, KeyError, TypeError, OSError, AttributeError):
        say_once(f"isodyn: note: the kernel index entry {idx.name} was corrupt; generating the kernels again")
        return None
    paths = [_intact_file(n) for n in names]
    return None if any(p is None for p in paths) else paths


def record_module(key, path: Path, needs=()) -> None:
    """Record in the index that ``key``'s module is ``path``, importing the cached modules ``needs``."""
    atomic_write(_index_path(key), json.dumps({"module": path.name, "needs": [n.name for n in needs],
                                               "rule": list(key)}))


def derivation_text(rule, closure: str, fmt: str, use_cache: bool = True, numbers: dict | None = None,
                    given=(), fragment: bool = False) -> str:
    """The rendered derivation of ``rule`` (:func:`isodyn.derivations.render.derivation`), from the cache when
    possible: ``derive/<hash>.json`` under :func:`cache_dir`, keyed on everything that changes the text (the rule
    with its options, the closure, the format, ``fragment``, the numbers and which were given, and
    :func:`generator_hash`), holding the text with its sha256 (a damaged entry is derived again, said once)."""
    key = json.dumps([list(rule.structural_key), rule.as_dict(), closure, fmt, bool(fragment),
                      None if numbers is None else sorted(numbers.items()), sorted(given), generator_hash()])
    path = cache_dir() / "derive" / (hashlib.sha256(key.encode()).hexdigest()[:24] + ".json")
    if use_cache and path.exists():
        try:  # the text with its hash: a damaged entry is derived again
            entry = json.loads(path.read_text())
            if hashlib.sha256(entry["text"].encode()).hexdigest() == entry["sha256"]:
                return entry["text"]
        except (ValueError, KeyError, TypeError, OSError, UnicodeDecodeError):
            pass
        say_once(f"isodyn: note: the cached derivation {path.name} was corrupt; derived it again")
    from isodyn.derivations.render import derivation

    text = derivation(rule, closure, fmt, numbers=numbers, given=tuple(given), fragment=fragment)
    atomic_write(path, json.dumps({"sha256": hashlib.sha256(text.encode()).hexdigest(), "text": text}))
    return text
