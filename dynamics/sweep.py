"""Sweep execution: chunk planning, local or Dask execution, resumable storage, the merged Dataset.

Flow: a checked :class:`~dynamics.sweep_spec.SweepSpec` -> :func:`plan_chunks` (points that share
a compiled call's structure -- rule, M, normalisation -- grouped, then cut into chunks of
``chunk_size`` points) -> each chunk runs as ONE call of the batched integrator
(:func:`compute_chunk`), in this process (the integrator is parallel over points, so this uses
every core) or as a Dask task -> the collecting process writes each finished chunk atomically
(:mod:`dynamics.sweep_store`) -> :func:`assemble` merges the chunks into an ``xarray.Dataset``
with one dimension per axis (+ ``mode``, + ``step`` with trajectories).

Determinism: a point's result depends only on its parameters and (for random initial spectra) on
a seed derived from its flat index, never on its chunk or worker, so local and Dask runs and
runs with other chunk sizes give identical datasets.
"""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import dataclass

import numpy as np

from .sweep_spec import SweepSpec
from .sweep_store import PartStore

#: outcome codes of the ``outcome`` variable (figures/style.OUTCOME_COLORS names them)
OUTCOMES = ("converged", "collapsed", "diverged", "other", "partial")
CHUNK_BYTES = 64 * 2**20  # cap on one chunk's trajectory memory


class SchedulerError(Exception):
    """The scheduler address is malformed or unreachable (message: one line, names --scheduler)."""


# --- planning ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    """``id`` and the flat indices (int64, ascending) of the points it runs in one call."""

    id: int
    index: np.ndarray

    def __len__(self):
        return len(self.index)


def frame_stride(spec: SweepSpec) -> int:
    """Steps between the frames simulate_batch saves: ``run.recruit_stride`` (default steps / 1000,
    rounded up), or its gcd with ``keep.stride`` when trajectories are kept.  The recruitment steps
    have this resolution (dataset attribute ``recruit_resolution``)."""
    from .sweep_spec import RECRUIT_FRAMES

    f = spec.run["recruit_stride"] or max(1, math.ceil(spec.run["steps"] / RECRUIT_FRAMES))
    if spec.keep["trajectories"]:
        f = math.gcd(f, spec.keep["stride"])
    return f


def default_chunk_size(spec: SweepSpec) -> int:
    """Points per chunk: about 64 chunks a sweep, 16..1024 points each, frame memory capped.

    Depends on the spec only (not on the number of workers), so a resumed run -- local or on Dask
    -- finds the same plan.  simulate_batch holds s and lambda frames (and the recruitment search
    about as much again), so a point costs about 4 M (steps / frame_stride + 2) doubles.
    """
    size = min(1024, max(16, math.ceil(spec.n_points / 64)))
    per_point = spec.max_modes * (spec.run["steps"] // frame_stride(spec) + 2) * 8 * 4
    return min(size, max(1, CHUNK_BYTES // per_point))


def _structural_codes(spec: SweepSpec) -> np.ndarray:
    """(n_points,) group code: points with equal codes share rule structure, M and normalisation."""
    n = spec.n_points
    dims = [i for i, fixed in enumerate(spec.structural) if fixed]
    if not dims:
        return np.zeros(n, dtype=np.int64)
    ks = np.unravel_index(np.arange(n, dtype=np.int64), spec.shape)
    return np.ravel_multi_index([ks[i] for i in dims], [spec.shape[i] for i in dims]).astype(np.int64)


def plan_chunks(spec: SweepSpec, chunk_size: int | None = None) -> list[Chunk]:
    """Deterministic chunk plan: groups in order of first appearance, each cut into runs of
    ``chunk_size`` points (ascending flat indices)."""
    size = chunk_size or spec.run["chunk_size"] or default_chunk_size(spec)
    codes = _structural_codes(spec)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    chunks = []
    for group in np.split(order, bounds):
        for start in range(0, len(group), size):
            chunks.append(Chunk(len(chunks), np.sort(group[start:start + size])))
    return chunks


# --- one chunk --------------------------------------------------------------------------------


def variables(spec: SweepSpec) -> dict:
    """name -> (trailing dims, dtype, fill, long name) of every result variable."""
    out = {
        "s0": (("mode",), np.float64, np.nan, "initial eigenvalues s_m (ascending)"),
        "s_final": (("mode",), np.float64, np.nan, "final eigenvalues s_m = (1+sigma1^2) S_m^2 (ascending)"),
        "lam_final": (("mode",), np.float64, np.nan, "final predictor eigenvalues lambda_m"),
        "recruit_step": (("mode",), np.int32, -1, "first saved step (every recruit_resolution steps) within 1% of the "
                         "mode's final value (-1: never, dead or diverged)"),
        "collapsed": ((), np.int8, -1, "every mode below the collapse threshold (1/0)"),
        "n_dead": ((), np.int32, -1, "modes that died (dimensional collapse)"),
        "diverged": ((), np.int8, -1, "non-finite or beyond the bound (1/0)"),
        "diverge_step": ((), np.int32, -1, "step of divergence (-1: none)"),
        "converged": ((), np.int8, -1, "reached a fixed point (1/0)"),
        "effective_rank": ((), np.float64, np.nan, "participation ratio (sum s)^2 / sum s^2 at the end"),
        "isotropy": ((), np.float64, np.nan, "min/max predictor eigenvalue at the end"),
        "outcome": ((), np.int8, -1, "0 converged, 1 collapsed, 2 diverged, 3 other, "
                    "4 partial (converged with some modes dead: dimensional collapse)"),
    }
    if "cosine" in spec.values_of("metric") and (spec.run["closure"] or "exact") == "exact":
        out["closure_error"] = ((), np.float64, np.nan, "exact closure: relative quadrature error at the initial "
                                "and final state (NaN: Euclidean, or the run did not end ok)")
    if spec.keep["trajectories"]:
        out["s"] = (("step", "mode"), np.float64, np.nan, "eigenvalues s_m every keep.stride steps")
    return out


def saved_steps(spec: SweepSpec) -> np.ndarray:
    return np.arange(0, spec.run["steps"] + 1, spec.keep["stride"], dtype=np.int64)


def compute_chunk(spec: SweepSpec, index: np.ndarray, threads: int | None = None) -> dict:
    """Run the points ``index`` (one structural group) in one batched call; name -> (n, ...) arrays."""
    from .sweep_points import run_points

    if threads is not None:
        import numba

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    return run_points(spec, np.asarray(index, dtype=np.int64), threads=threads)


def _dask_task(spec: SweepSpec, index: np.ndarray) -> dict:
    """Dask task: one chunk, numba limited to the worker's threads (no oversubscription)."""
    from distributed import get_worker

    w = get_worker()
    nthreads = getattr(getattr(w, "state", w), "nthreads", 1)
    return compute_chunk(spec, index, threads=nthreads)


def _probe_worker() -> str:
    from . import sweep_points  # noqa: F401

    return isodyn_version()


# --- executors --------------------------------------------------------------------------------


class LocalExecutor:
    """Chunks one after another in this process; each call is parallel over points (all cores)."""

    name = "local"

    def run(self, spec: SweepSpec, chunks):
        for c in chunks:
            yield c, compute_chunk(spec, c.index)

    def close(self):
        pass


class DaskExecutor:
    """Chunks as Dask tasks on ``tcp://HOST:PORT`` or a ``local:N`` LocalCluster of N worker processes.

    Results travel back to this process, which writes them; workers need no shared file system.
    """

    def __init__(self, address: str, timeout: float = 10.0):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise SchedulerError("argument --scheduler: needs dask.distributed; accepted: install the 'dist' "
                                 "extra (pip install 'isodyn[dist]')") from None
        self.cluster = None
        self.name = address
        accepted = "tcp://HOST:PORT of a running Dask scheduler, or local:N (N >= 1 local worker processes)"
        if address.startswith("local:"):
            try:
                n = int(address[6:])
            except ValueError:
                n = 0
            if n < 1:
                raise SchedulerError(f"argument --scheduler: invalid value {address!r}; accepted: {accepted}")
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                        dashboard_address=None, silence_logs=40)
            self.client = Client(self.cluster)
        elif address.startswith("tcp://") and address.count(":") == 2:
            try:
                self.client = Client(address, timeout=f"{timeout}s")
            except (OSError, TimeoutError) as e:
                raise SchedulerError(f"argument --scheduler: cannot reach {address!r} within {timeout:g} s "
                                     f"({e.__class__.__name__}); accepted: {accepted}") from None
        else:
            raise SchedulerError(f"argument --scheduler: invalid value {address!r}; accepted: {accepted}")
        self._check_workers(address, timeout)

    def _check_workers(self, address, timeout):
        """At least one worker, and every worker can import isodyn's sweep code (else exit 2, no work)."""
        try:
            self.client.wait_for_workers(1, timeout=timeout)
        except (TimeoutError, OSError):
            self.close()
            raise SchedulerError(f"argument --scheduler: no worker joined {address!r} within {timeout:g} s; accepted: "
                                 "a scheduler with at least one worker") from None
        try:
            self.client.run(_probe_worker)
        except Exception as e:  # noqa: BLE001 - any failure on a worker is a usage problem here
            self.close()
            raise SchedulerError(f"argument --scheduler: a worker of {address!r} cannot run isodyn sweeps "
                                 f"({e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}); accepted: "
                                 "workers with isodyn installed") from None

    @property
    def threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def run(self, spec: SweepSpec, chunks):
        from distributed import as_completed

        chunks = list(chunks)
        by_key, queue = {}, iter(chunks)
        window = 4 * self.threads + 2  # bounded number of chunks in flight

        def submit(c):
            f = self.client.submit(_dask_task, spec, c.index, key=f"isodyn-sweep-{spec.digest}-{c.id}", pure=False)
            by_key[f.key] = c
            return f

        futures = [submit(c) for c in itertools.islice(queue, window)]
        ac = as_completed(futures)
        try:
            for f in ac:
                c = by_key.pop(f.key)
                result = f.result()
                f.release()
                nxt = next(queue, None)
                if nxt is not None:
                    ac.add(submit(nxt))
                yield c, result
        finally:
            for f in futures:
                f.cancel()

    def close(self):
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def executor_for(scheduler: str | None, timeout: float = 10.0):
    return LocalExecutor() if scheduler is None else DaskExecutor(scheduler, timeout)


# --- progress ---------------------------------------------------------------------------------


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
    from .codegen import atomic_write

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
            if after_chunk is not None:
                after_chunk(c)
    finally:
        bar.close()
    ds = assemble(spec, store, chunks)
    atomic_write(_path(out), bytes(ds.to_netcdf()))
    if not keep_parts:
        store.remove()
    return ds


def _path(p):
    from pathlib import Path

    return Path(p)


def isodyn_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("isodyn")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def assemble(spec: SweepSpec, store: PartStore, chunks) -> xr.Dataset:  # noqa: F821
    """Merge every chunk file into one Dataset; every point must appear exactly once."""
    import json

    import xarray as xr

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
        data[k] = xr.Variable(dims + tdims, arr, attrs={"long_name": long})
    coords = {a.name: np.asarray(a.values) for a in spec.axes}
    coords["mode"] = np.arange(M, dtype=np.int32)
    if spec.keep["trajectories"]:
        coords["step"] = steps.astype(np.int32)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs.update(spec.attributes())
    ds.attrs.update({"isodyn_version": isodyn_version(), "spec_digest": spec.digest,
                     "spec_json": json.dumps(spec.canonical(), sort_keys=True), "outcomes": ",".join(OUTCOMES),
                     "recruit_resolution": frame_stride(spec)})
    return ds
