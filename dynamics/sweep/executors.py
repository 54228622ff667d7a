"""Sweep executors: chunks one after another in this process (each call parallel over points), or as Dask
tasks on a scheduler / a LocalCluster.  Both yield (chunk, result) as chunks finish."""

from __future__ import annotations

import itertools

import numpy as np

from isodyn.dynamics.sweep.spec import SweepSpec


class SchedulerError(Exception):
    """The scheduler address is malformed or unreachable (message: one line, names --scheduler)."""


def compute_chunk(spec: SweepSpec, index: np.ndarray, threads: int | None = None) -> dict:
    """Run the points ``index`` (one structural group) in one batched call; name -> (n, ...) arrays."""
    from isodyn.dynamics.sweep.points import run_points

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
    import isodyn
    from isodyn.dynamics.sweep import points  # noqa: F401

    return isodyn.__version__



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
