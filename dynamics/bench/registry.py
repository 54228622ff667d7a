"""``isodyn bench`` registry.

A benchmark group is a function ``rows(quick: bool) -> list[dict]``; modules add theirs with
``register(name, "module:function")`` (a string, so nothing is imported until the group runs).
Every row is a dict with at least ``name``, ``value``, ``unit``, ``baseline`` (what it is compared
against), ``baseline_value``, ``ratio`` (median over ``runs`` side-by-side runs of ours against the
baseline, > 1 = ours better), ``goal`` and ``note``; ``goal_ratio``, where the goal is a ratio to reach
(:func:`meets_goal`; ``isodyn bench --check`` exits 1 when a row misses it).  Groups: ``simulator``
(bench/simulator.py), ``network``, ``network-cupy`` (bench/network.py), ``sweep`` (bench/sweep.py), ``explore``
(isodyn/explore/bench.py, named by its string only: the explorer sits above dynamics).
"""

from __future__ import annotations

import re
from importlib import import_module

REGISTRY: dict = {}


def register(name: str, target: str) -> None:
    """Add a group: ``target`` is "module:function" with function(quick: bool) -> list[dict]."""
    REGISTRY[name] = target


def groups() -> list[str]:
    return list(REGISTRY)


def run_group(name: str, quick: bool = False) -> list[dict]:
    mod, fn = REGISTRY[name].split(":")
    rows = getattr(import_module(mod), fn)(quick)
    for r in rows:
        r.setdefault("group", name)
    return rows


def meets_goal(row: dict) -> bool | None:
    """Does a row meet its goal?  ``goal_ratio`` (the median ratio must reach it), else a goal written ">= Nx";
    None: a skipped row, or a goal that is not a ratio (e.g. "cost linear in M")."""
    if row.get("skipped") or row.get("ratio") is None:
        return None
    target = row.get("goal_ratio")
    if target is None:
        m = re.match(r"\s*>=\s*([0-9.eE+-]+)\s*x", str(row.get("goal", "")))
        target = float(m.group(1)) if m else None
    return None if target is None else bool(row["ratio"] >= target)


register("simulator", "isodyn.dynamics.bench.simulator:rows_simulator")
register("network", "isodyn.dynamics.bench.network:bench_rows")
register("network-cupy", "isodyn.dynamics.bench.network:bench_rows_cupy")  # a skipped row without CuPy
register("sweep", "isodyn.dynamics.bench.sweep:bench_rows")
register("explore", "isodyn.explore.bench:bench_rows")  # the explorer's redraw (a skipped row without Panel)
