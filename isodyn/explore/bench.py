"""``isodyn bench`` group ``explore``: the explorer's redraw, server-side, against issue 12's goals.

A redraw is :meth:`isodyn.explore.views.Explorer.update` after a change of a control (the weight decay): the
check of the controls, the run, the growth rates, the portrait and the derivation (from its cache), with the
kernels compiled.  M = 10 modes, 1,500 map steps; goals 0.3 s (Euclidean, cosine mean-field) and 2 s (cosine
exact closure).  Median over ``runs`` redraws; the note gives the run alone (``simulate``) beside it.
"""

from __future__ import annotations

import importlib.util
import statistics
import time

CASES = (("Euclidean standard", dict(metric="euclidean"), 0.3),
         ("cosine standard, mean-field", dict(metric="cosine", closure="mean-field"), 0.3),
         ("cosine standard, exact closure", dict(metric="cosine", closure="exact"), 2.0))


def bench_rows(quick: bool = False) -> list[dict]:
    if importlib.util.find_spec("panel") is None:
        return [{"name": "explorer redraw", "skipped": True, "value": None, "unit": "s", "baseline": "goal",
                 "baseline_value": None, "ratio": None, "goal": "< 0.3 s", "runs": 0,
                 "note": 'skipped: needs Panel and Bokeh (pip install "isodyn[explore]")'}]
    from isodyn.dynamics.modes import simulate

    from . import state as st
    from .views import Explorer

    runs = 3 if quick else 9
    rows = []
    for label, values, goal in CASES:
        ex = Explorer(modes=10, steps=1500, scheme="map", **values)
        ex.update()  # kernels, lambdified theory and the derivation's cache entry, once
        times, bare = [], []
        for i in range(runs):
            drawn = ex._gen
            t = time.perf_counter()
            ex.controls.weight_decay = 0.001 * (1 + i % 2)  # a change every time: the watcher redraws
            times.append(time.perf_counter() - t)
            if ex.error or ex._gen != drawn + 1:
                raise RuntimeError(ex.error or "the change did not redraw")
            req = st.request(ex.controls.values())
            t = time.perf_counter()
            simulate(req.rule, req.s0, **req.kw)
            bare.append(time.perf_counter() - t)
        med = statistics.median(times)
        rows.append({"name": f"explorer redraw, {label}, M=10, 1500 map steps", "value": med, "unit": "s",
                     "baseline": f"goal {goal:g} s", "baseline_value": goal, "ratio": goal / med,
                     "goal": f"< {goal:g} s", "goal_ratio": 1.0, "runs": runs,
                     "note": "Explorer.update (check, run, growth rates, portrait, derivation) after a change of "
                             f"the weight decay; max {max(times):.3g} s; the run alone (simulate) "
                             f"{statistics.median(bare):.3g} s"})
    return rows
