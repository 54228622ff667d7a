"""Sweep execution: chunk planning, local or Dask execution, resumable storage, the merged Dataset.

Flow: a checked :class:`~isodyn.dynamics.sweep.spec.SweepSpec` -> :func:`plan_chunks` (points that share
a compiled call's structure -- rule, M, normalisation -- grouped, then cut into chunks of
``chunk_size`` points) -> each chunk runs as ONE call of the batched integrator
(:func:`compute_chunk`), in this process (the integrator is parallel over points, so this uses
every core) or as a Dask task -> the collecting process writes each finished chunk atomically
(:mod:`isodyn.dynamics.sweep.store`) -> :func:`assemble` merges the chunks into an ``xarray.Dataset``
with one dimension per axis (+ ``mode``, + ``step`` with trajectories).

Determinism: a point's result depends only on its parameters and (for random initial spectra) on
a seed derived from its flat index, never on its chunk or worker, so local and Dask runs and
runs with other chunk sizes give identical datasets.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from isodyn.dynamics import quantities
from isodyn.dynamics.files import atomic_write
from isodyn.dynamics.interrupts import checkpoint
from isodyn.dynamics.sweep.executors import LocalExecutor
from isodyn.dynamics.sweep.plan import default_chunk_size, frame_stride, plan_chunks, saved_steps
from isodyn.dynamics.sweep.points import OUTCOMES, variables
from isodyn.dynamics.sweep.spec import SweepSpec
from isodyn.dynamics.sweep.store import PartStore


def _progress(total: int, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="pt", unit_scale=True, file=sys.stderr, disable=not enabled,
                smoothing=0.1, mininterval=0.5, desc="sweep", dynamic_ncols=True)


# --- the whole sweep --------------------------------------------------------------------------


def run_sweep(spec: SweepSpec, out, *, executor=None, resume: bool = False, chunk_size: int | None = None,
              progress: bool = True, keep_parts: bool = False, after_chunk=None, stats: dict | None = None):
    """Run every point of ``spec`` not yet on disk, then merge and write ``out`` (.nc) atomically.

    ``after_chunk(chunk)`` is called after each chunk is stored (tests use it to interrupt);
    ``stats``, if given, receives chunks/points found on disk and run now.  Returns the Dataset.
    """
    executor = executor or LocalExecutor()
    chunks = plan_chunks(spec, chunk_size)
    store = PartStore(out, {"digest": spec.digest, "n_points": spec.n_points, "n_chunks": len(chunks),
                            "chunk_size": chunk_size or spec.run["chunk_size"] or default_chunk_size(spec)})
    done = store.open(resume)
    todo = [c for c in chunks if c.id not in done]
    if stats is not None:
        stats.update(chunks=len(chunks), chunks_found=len(chunks) - len(todo), chunks_run=len(todo),
                     points_run=sum(len(c) for c in todo))
    bar = _progress(spec.n_points, sum(len(c) for c in chunks if c.id in done), progress)
    try:
        for c, result in executor.run(spec, todo):
            store.write(c.id, c.index, result)
            bar.update(len(c))
            checkpoint()  # the stored chunks stay; --resume runs the rest
            if after_chunk is not None:
                after_chunk(c)
    finally:
        bar.close()
    ds = assemble(spec, store, chunks)
    atomic_write(Path(out), bytes(ds.to_netcdf()))
    if not keep_parts:
        store.remove()
    return ds


def assemble(spec: SweepSpec, store: PartStore, chunks) -> xr.Dataset:  # noqa: F821
    """Merge every chunk file into one Dataset; every point must appear exactly once."""
    import json

    import xarray as xr

    import isodyn

    n, M = spec.n_points, spec.max_modes
    steps = saved_steps(spec)
    sizes = {"mode": M, "step": len(steps)}
    vars_ = variables(spec)
    full = {k: np.full((n, *[sizes[d] for d in dims]), fill, dtype=dt) for k, (dims, dt, fill, _) in vars_.items()}
    seen = np.zeros(n, dtype=np.int64)
    missing = [c.id for c in chunks if not store.path(c.id).exists()]
    if missing:
        raise RuntimeError(f"{len(missing)} chunks never arrived (first: {missing[0]}); rerun with --resume")
    for c in chunks:
        part = store.read(c.id)
        idx = part["index"]
        if not np.array_equal(idx, c.index):
            raise RuntimeError(f"chunk {c.id} on disk holds other points than the plan (store corrupted)")
        np.add.at(seen, idx, 1)
        for k in vars_:
            full[k][idx] = part[k]
    if not np.all(seen == 1):
        raise RuntimeError(f"sweep points missing or duplicated: {np.sum(seen == 0)} missing, {np.sum(seen > 1)} twice")

    dims = spec.axis_names
    data = {}
    for k, (tdims, _, _, long) in vars_.items():
        arr = full[k].reshape(*spec.shape, *full[k].shape[1:])
        data[k] = xr.Variable(dims + tdims, arr, attrs={**quantities.attributes(k), "long_name": long})
    coords = {a.name: np.asarray(a.values) for a in spec.axes}
    coords["mode"] = np.arange(M, dtype=np.int32)
    if spec.keep["trajectories"]:
        coords["step"] = steps.astype(np.int32)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(spec.attributes())
    for name in ds.coords:  # an axis is a parameter (or a rule option): say which
        ds[name].attrs.setdefault("long_name", quantities.PARAMETERS.get(name, name.replace("_", " ")))
        ds[name].attrs.setdefault("units", "1")
    quantities.stamp(ds, "isodyn parameter sweep")
    ds.attrs.update({"isodyn_version": isodyn.__version__, "spec_digest": spec.digest,
                     "spec_json": json.dumps(spec.canonical(), sort_keys=True), "outcomes": ",".join(OUTCOMES),
                     "recruit_resolution": frame_stride(spec)})
    return ds
