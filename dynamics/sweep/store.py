"""Resumable storage of sweep results: one atomically written .npz per finished chunk.

Layout, next to the requested output ``OUT.nc``::

    OUT.nc.parts/manifest.json      spec digest, chunk plan (size, count), number of points
    OUT.nc.parts/chunk-000042.npz   'index' (n,) flat point indices + one array per variable

Why files per chunk rather than appending to one Zarr store: a chunk is written by the process
that collects results (never by a Dask worker, which may sit on a machine without the output
folder), each file appears whole or not at all (temporary file + ``os.replace``), nothing has to
coordinate region writes or consolidate metadata after a crash, and resuming is "skip the chunks
whose file exists".  The merge into the final ``.nc`` happens once, at the end, and checks that
every point is present exactly once.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import numpy as np

from isodyn.dynamics.files import atomic_write

_CHUNK = re.compile(r"^chunk-(\d{6,})\.npz$")


class StoreError(Exception):
    """The parts folder cannot be used for this run (message names the flag to change)."""


def parts_dir(out) -> Path:
    out = Path(out)
    return out.with_name(out.name + ".parts")


class PartStore:
    """Chunk results of one sweep on disk.

    ``manifest``: what identifies the run (spec digest and the chunk plan); a resume must match it.
    """

    def __init__(self, out, manifest: dict):
        self.dir = parts_dir(out)
        self.manifest = dict(manifest)

    # --- opening ----------------------------------------------------------------------
    def open(self, resume: bool) -> set:
        """Create (or, with ``resume``, reopen) the folder; returns the finished chunk ids."""
        path = self.dir / "manifest.json"
        if self.dir.exists() and any(self.dir.iterdir()):
            if not resume:
                raise StoreError(
                    f"argument --resume: unfinished sweep parts in {self.dir}; accepted: --resume to continue "
                    "them, or remove the folder"
                )
            try:
                old = json.loads(path.read_text())
            except (OSError, ValueError):
                raise StoreError(f"argument --resume: {self.dir} has no readable manifest.json; accepted: a parts "
                                 "folder written by isodyn sweep (remove it to start afresh)") from None
            for k in ("digest", "n_points", "chunk_size", "n_chunks"):
                if old.get(k) != self.manifest.get(k):
                    raise StoreError(f"argument --resume: {self.dir} holds a sweep with another {k} "
                                     f"({old.get(k)!r} != {self.manifest.get(k)!r}); accepted: the same spec and "
                                     "--chunk-size as the interrupted run")
            self._clean_temporaries()
            return self.finished()
        atomic_write(path, json.dumps(self.manifest, indent=1, sort_keys=True))
        return set()

    def _clean_temporaries(self):
        for f in self.dir.glob(".*.tmp"):
            f.unlink(missing_ok=True)

    # --- chunks -------------------------------------------------------------------------
    def path(self, chunk_id: int) -> Path:
        return self.dir / f"chunk-{chunk_id:06d}.npz"

    def finished(self) -> set:
        ids = set()
        for f in self.dir.iterdir():
            m = _CHUNK.match(f.name)
            if m:
                ids.add(int(m.group(1)))
        return ids

    def write(self, chunk_id: int, index: np.ndarray, arrays: dict) -> None:
        """Write one chunk's results atomically: ``index`` (n,) and arrays with leading axis n."""
        buf = io.BytesIO()
        np.savez(buf, index=np.asarray(index, dtype=np.int64), **arrays)
        atomic_write(self.path(chunk_id), buf.getvalue())

    def read(self, chunk_id: int) -> dict:
        with np.load(self.path(chunk_id), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
