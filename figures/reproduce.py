"""Orchestrator of ``isodyn reproduce``: run every figure module, then write the report (issue 5).

Writes out/figures/NAME.png and .pdf, out/report.md, out/report.html and out/numbers.json (every
figure's measured numbers and claims, machine-readable).

``FIGURES`` lists the figure modules in the order they run.  A module follows the contract of
:mod:`figures.base` (``NAME``, ``TITLE``, ``make(ctx)``) or, when it makes several figures, exposes
``ENTRIES = {name: (title, make)}``.  Modules are imported lazily; one that cannot be imported is
skipped with an error line on stderr (and listed in the report), never silently.

    run(out, quick=False, only=None, seed=0, jobs=1) -> exit status (0, or 1 if a figure failed)

Deterministic: every figure derives its seeds from ``seed`` (printed with each figure).  ``jobs > 1``
runs groups of figures in that many worker processes (spawned; figures that share runs stay in one
group); the numbers do not depend on ``jobs``.  Files are written atomically (figures by
:func:`figures.style.save`, the report by :func:`dynamics.codegen.atomic_write`), so an interrupted run
leaves no half-written file; temporary files of killed workers are removed.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from isodyn.dynamics.interrupts import checkpoint

from .base import Context, FigureResult

#: figure modules, in the order they run (the paper's figures, then the ones beyond the paper)
FIGURES = [
    "isodyn.figures.fig_eigenvalue_dynamics",
    "isodyn.figures.fig_probe_trajectories",
    "isodyn.figures.fig_fixed_points",
    "isodyn.figures.fig_recruitment",
    "isodyn.figures.fig_isotropy_time",
    "isodyn.figures.fig_weight_decay",
    "isodyn.figures.fig_robustness",
    "isodyn.figures.fig_validation",
    "isodyn.figures.fig_trained_predictor",
    "isodyn.figures.fig_predictor_comparison",
    "isodyn.figures.fig_phase_portraits",
    "isodyn.figures.fig_probe_animation",
    "isodyn.figures.fig_reference_notebook",
]

#: figures that share runs (memoised within a process): kept in one worker, in this order
SHARED = [("probe_trajectories", "fixed_points", "probe_animation"), ("probe_trajectories_relu", "fixed_points_relu")]

DEFAULT_OUT = "isodyn-output"


@dataclass
class Entry:
    """One figure: its --only name, report title, module and maker ``make(ctx) -> FigureResult``."""

    name: str
    title: str
    module: str
    make: Callable[[Context], FigureResult]


def entries_of(module) -> list[Entry]:
    """The figures a module makes (``ENTRIES`` or ``NAME``/``TITLE``/``make``)."""
    if hasattr(module, "ENTRIES"):
        return [Entry(n, t, module.__name__, f) for n, (t, f) in module.ENTRIES.items()]
    return [Entry(module.NAME, module.TITLE, module.__name__, module.make)]


def discover(modules=None) -> tuple[list[Entry], list[str]]:
    """Import the figure modules: (entries in order, one message per module that could not be imported)."""
    entries, skipped = [], []
    for path in FIGURES if modules is None else modules:
        try:
            mod = import_module(path)
            entries += entries_of(mod)
        except ModuleNotFoundError as e:
            why = "module not present" if e.name == path else f"{type(e).__name__}: {e}"
            skipped.append(f"{path}: skipped ({why})")
        except Exception as e:  # a broken module is reported, the others still run
            skipped.append(f"{path}: skipped ({type(e).__name__}: {e})")
    names = [e.name for e in entries]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValueError(f"figure names defined twice: {sorted(dup)}")
    return entries, skipped


def select(entries: list[Entry], only) -> list[Entry]:
    """The entries named in ``only`` (in FIGURES order); ValueError naming the unknown ones."""
    if not only:
        return entries
    known = {e.name for e in entries}
    unknown = [n for n in only if n not in known]
    if unknown:
        raise ValueError(f"unknown figure name(s) {', '.join(unknown)}; accepted: {','.join(e.name for e in entries)}")
    return [e for e in entries if e.name in set(only)]


def check_out(out) -> Path:
    """Create ``out`` and out/figures and prove they are writable; OSError otherwise."""
    out = Path(out)
    for d in (out, out / "figures"):
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".isodyn-write-check.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    return out


def _groups(entries: list[Entry]) -> list[list[Entry]]:
    """Tasks for the workers: shared-run figures together, the rest one each, in FIGURES order."""
    by_name = {e.name: e for e in entries}
    taken, groups = set(), []
    for e in entries:
        if e.name in taken:
            continue
        group = [e]
        for share in SHARED:
            if e.name in share:
                group = [by_name[n] for n in share if n in by_name and n not in taken]
        taken.update(g.name for g in group)
        groups.append(group)
    return groups


def _run_entry(entry: Entry, ctx: Context) -> tuple[FigureResult | None, float, float, str]:
    """(result or None, wall seconds, CPU seconds of this process, error line)."""
    from contextlib import nullcontext

    from .style import pdf_fonttype

    t0, c0 = time.perf_counter(), time.process_time()
    try:
        # a quick look writes its PDFs with Type 3 fonts (the same picture, half the time; figures.style)
        with pdf_fonttype(3) if ctx.quick else nullcontext():
            res = entry.make(ctx)
        if not isinstance(res, FigureResult):
            raise TypeError(f"make() returned {type(res).__name__}, not FigureResult")
        return res, time.perf_counter() - t0, time.process_time() - c0, ""
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)
        where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
        return None, time.perf_counter() - t0, time.process_time() - c0, f"{type(e).__name__}: {e}{where}"


def _worker(task):
    """Run one group of figures in a worker process -> [(name, FigureResult | None, seconds, error)]; the figures'
    progress messages go to ``queue`` (a Manager queue the parent's bar reads), when there is one."""
    modules, names, out, quick, seed, queue = task
    entries, _ = discover(modules)
    pid = os.getpid()
    say = (lambda msg: queue.put((pid, msg))) if queue is not None else (lambda msg: None)
    ctx = Context(Path(out), quick=quick, seed=seed, progress=lambda msg: say(str(msg)))
    todo = [e for n in names for e in entries if e.name == n]
    results = []
    for e in todo:
        results.append((e.name, *_run_entry(e, ctx)))
        say(None)  # this figure ended
    return results


def _clean_tmp(out: Path) -> None:
    """Remove temporary files left by a killed worker (finished files are never temporary)."""
    for d in (out, out / "figures"):
        if d.is_dir():
            for p in d.glob(".*.tmp"):
                try:
                    p.unlink()
                except OSError:
                    pass


def _write_numbers(out: Path, results: list[FigureResult], info) -> Path:
    """out/numbers.json: every figure's measured numbers and claims, and the run facts (atomically)."""
    import json
    from dataclasses import asdict

    import numpy as np

    from isodyn.dynamics.files import atomic_write

    def plain(x):
        if isinstance(x, (np.generic,)):
            return x.item()
        if isinstance(x, np.ndarray):
            return x.tolist()
        if isinstance(x, Path):
            return str(x)
        raise TypeError(type(x).__name__)

    data = {"run": asdict(info),
            "figures": {r.name: {"title": r.title, "files": [Path(f).name for f in r.files], "numbers": r.numbers,
                                 "claims": [asdict(c) for c in r.claims], "caption": r.caption,
                                 "caption_facts": [f.as_dict() for f in r.facts]} for r in results}}
    path = out / "numbers.json"
    atomic_write(path, json.dumps(data, indent=1, default=plain, allow_nan=True).encode("utf-8"))
    return path


def _seeds_text(res: FigureResult | None) -> str:
    seeds = res.numbers.get("seeds") if res is not None else None
    if isinstance(seeds, dict):
        return "seeds " + ", ".join(f"{k}={v}" for k, v in seeds.items())
    return f"seeds {seeds}" if seeds is not None else "seeds: derived from the base seed"


def run(out=DEFAULT_OUT, quick: bool = False, only=None, seed: int = 0, jobs: int = 1, stream=None,
        command: str | None = None, entries: list[Entry] | None = None, skipped: list[str] | None = None) -> int:
    """Make the selected figures into out/figures and write out/report.md and out/report.html.

    ``entries``/``skipped`` may come from an earlier :func:`discover` (the CLI checks its input first).
    Returns 0, or 1 when a figure failed (the report still lists every claim and the failure).
    """
    from tqdm import tqdm

    from . import report

    stream = sys.stderr if stream is None else stream
    out = check_out(out)
    if entries is None:
        entries, skipped = discover()
    entries = select(entries, only)
    for s in skipped or []:
        stream.write(f"isodyn: error: figure module {s}\n")
    jobs = max(1, min(int(jobs), len(_groups(entries)) or 1))
    stream.write(f"isodyn reproduce: {len(entries)} figure(s) into {out} ({'quick' if quick else 'full'} run, "
                 f"base seed {seed}, {jobs} at a time)\n")
    results: dict[str, FigureResult] = {}
    timings: dict[str, report.FigureTiming] = {}
    t0 = time.perf_counter()
    bar = _Progress(tqdm, len(entries), stream)

    def done(name, res, secs, cpu, err, key="main"):
        timings[name] = report.FigureTiming(name, secs, res is not None, err, cpu)
        if res is not None:
            results[name] = res
            bar.write(f"  {name}: {secs:.1f} s ({cpu:.1f} s CPU); {_seeds_text(res)}")
        else:
            bar.write(f"isodyn: error: figure {name} failed: {err}")
        bar.figure_done(name, key)

    try:
        if jobs == 1:
            def progress(msg):
                checkpoint()  # an interrupt a library swallowed is honoured here (dynamics.interrupts)
                bar.step(msg)

            ctx = Context(out, quick=quick, seed=seed, progress=progress)
            for e in entries:
                checkpoint()
                bar.begin(e.name)
                done(e.name, *_run_entry(e, ctx))
            checkpoint()
        else:
            _run_parallel(entries, out, quick, seed, jobs, bar, done)
            checkpoint()
    except KeyboardInterrupt:
        bar.close()
        _clean_tmp(out)
        raise
    bar.close()
    from . import _paper

    _paper.clear_memo()
    order = [e.name for e in entries]
    info = report.RunInfo(command=command or "isodyn reproduce " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
                          quick=quick, seed=seed, jobs=jobs, seconds=time.perf_counter() - t0,
                          timings=[timings[n] for n in order if n in timings], skipped=list(skipped or []))
    done_results = [results[n] for n in order if n in results]
    md, ht = report.write(out, done_results, info)
    _write_numbers(out, done_results, info)
    stream.write(f"isodyn reproduce: {len(results)}/{len(entries)} figures in {info.seconds:.1f} s; report: {md} "
                 f"and {ht.name}\n")
    return 0 if len(results) == len(entries) else 1


class _Progress:
    """The bar of ``isodyn reproduce``: it counts the runs done inside the figures, not only finished figures.

    A figure reports each run or stage as it begins through ``Context.progress(msg)`` (figures that run several
    simulations or trainings report each).  A report closes the figure's previous stage (one run done) and shows
    what runs now; a finished figure closes its last stage (or counts once, when it reported nothing).  So
    "runs done" is the number of completed stages.  How many runs a figure has is not known before it runs, so
    the bar counts up without a total; its description says how many figures are done of how many.  Each update
    is drawn at once (a reader of the stream sees it advance).  ``key`` tells apart figures running at the same
    time (the worker processes of ``jobs > 1``).
    """

    def __init__(self, tqdm, figures: int, stream):
        import threading

        self.lock = threading.Lock()  # the parallel run's listener thread updates it too
        self.figures, self.finished, self.stream = figures, 0, stream
        self.open: dict = {}  # key -> a stage is running
        self.bar = tqdm(total=None, file=stream, unit="run", dynamic_ncols=True, leave=True, mininterval=0,
                        desc=self._desc(), bar_format="{desc} | runs done: {n} | {elapsed}{postfix}")

    def _desc(self) -> str:
        return f"{self.finished}/{self.figures} figures"

    def begin(self, name: str) -> None:
        with self.lock:
            self.bar.set_postfix_str(name, refresh=True)

    def step(self, msg: str, key="main") -> None:
        """A figure's progress message: its previous stage (if any) is done, ``msg`` runs now."""
        with self.lock:
            self.bar.set_postfix_str(str(msg), refresh=False)
            self.bar.update(1 if self.open.get(key) else 0)
            self.open[key] = True
            self.bar.refresh()

    def end_figure(self, key="main") -> None:
        """A figure ended: its last stage is done (or the figure, if it reported no stage)."""
        with self.lock:
            self.open[key] = False
            self.bar.update(1)
            self.bar.refresh()

    def figure_done(self, name: str, key="main") -> None:
        """``name`` is finished (key None: its stages were closed by :meth:`end_figure` already)."""
        if key is not None:
            self.end_figure(key)
        with self.lock:
            self.finished += 1
            self.bar.set_description_str(self._desc(), refresh=False)
            self.bar.set_postfix_str(f"{name} done", refresh=False)
            self.bar.refresh()

    def write(self, line: str) -> None:
        with self.lock:
            self.bar.write(line, file=self.stream)

    def close(self) -> None:
        self.bar.close()


def _run_parallel(entries, out, quick, seed, jobs, bar, done):
    """Groups of figures in ``jobs`` spawned workers; their progress messages come back on a Manager queue, read
    by a thread that advances the bar while the figures run."""
    import multiprocessing as mp
    import queue as queue_mod
    import threading

    groups = _groups(entries)
    modules = list(dict.fromkeys(e.module for e in entries))
    ctx = mp.get_context("spawn")
    manager = ctx.Manager()
    messages = manager.Queue()
    stop = threading.Event()

    def listen():
        while not stop.is_set():
            try:
                msg = messages.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):  # the manager went away
                return
            pid, text = msg
            if text is None:
                bar.end_figure(pid)
            else:
                bar.step(text, pid)

    tasks = [(modules, [e.name for e in g], str(out), quick, seed, messages) for g in groups]
    bar.begin(f"{jobs} workers")
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    pool = ctx.Pool(jobs)
    try:
        for batch in pool.imap_unordered(_worker, tasks):
            for item in batch:
                done(*item, key=None)  # the workers' messages closed its stages
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        stop.set()
        listener.join()
        manager.shutdown()
