"""Sweep points -> one :func:`isodyn.dynamics.modes.simulation.simulate_batch` call a chunk -> dataset fields.

``run_points(spec, index)`` translates the points of one chunk (they share rule structure, M and
normalisation; see :func:`isodyn.dynamics.sweep.plan.plan_chunks`) into simulate_batch arguments -- every
parameter a per-point array, the scheme / closure / tolerances from ``[run]`` -- and the returned
:class:`~isodyn.dynamics.modes.trajectory.Trajectory` (its measures come from :mod:`isodyn.dynamics.measures`) into the
sweep's variables (:func:`isodyn.dynamics.sweep.points.variables`), modes padded to ``spec.max_modes``.

Chunking independence: simulate_batch integrates every point by the same serial compiled code
whatever batch it is in, so a point's result depends only on its parameters.  The one batch-wide
decision simulate_batch makes -- the exact cosine closure's quadrature grid, calibrated on a few
points of the batch and refined when a check fails -- is taken here instead, once per structural
group of the sweep (:func:`group_grid`: calibrated on a sample of the group determined by the spec
alone) and passed with ``fixed_grid=True``; simulate_batch then checks the quadrature at the initial
and final state of every point and the sweep stores that error per point (``closure_error``).

Differences from simulate_batch's own conventions, kept from the sweep's dataset format:

* a diverged point has NaN final spectrum, effective rank and isotropy, ``collapsed = 0``,
  ``n_dead = 0``, ``converged = 0`` (simulate_batch reports its last finite state);
* ``ema`` is ignored (0) for rules without a target network (W_t = W), as the rule says.

The outcome of a point is :func:`isodyn.dynamics.measures.outcome` (codes :data:`isodyn.dynamics.measures.OUTCOMES`).

Recruitment steps have the resolution of the saved frames, ``frame_stride(spec)`` steps (dataset
attribute ``recruit_resolution``; 1 = every step).
"""

from __future__ import annotations

import numpy as np

from isodyn.dynamics import measures as ms
from isodyn.dynamics.modes.exact import ExactGrid
from isodyn.dynamics.modes.simulation import simulate_batch
from isodyn.dynamics.sweep.plan import frame_stride, saved_steps

#: outcome codes of the ``outcome`` variable (isodyn.dynamics.measures; figures/style.OUTCOME_COLORS names them)
OUTCOMES = ms.OUTCOMES

#: result variables renamed in this release (old -> new: the JSON summary's names); datasets written before are
#: read under the new names (:func:`current_names`: plot-sweep, figures.phase_diagram) for one release
RENAMED = {"recruit_step": "recruit_steps", "diverge_step": "diverged_step"}

_GRIDS: dict = {}  # (spec digest, structural key) -> ExactGrid
GRID_SAMPLE = 8  # points of a structural group on which its exact-closure grid is calibrated


def _rule_and_closure(spec, point):
    rule = spec.rule(point)
    closure = (spec.run["closure"] or "exact") if rule.metric == "cosine" else "mean-field"
    return rule, closure


def arguments(spec, index: np.ndarray) -> tuple:
    """(rule, s0 (n, M), keyword arguments of simulate_batch) for the points ``index`` of one group."""
    index = np.asarray(index, dtype=np.int64)
    points = [spec.point(i) for i in index]
    if len({spec.structural_key(p) for p in points}) != 1:
        raise ValueError("a chunk must hold points of one rule structure, M and normalisation")
    rule, closure = _rule_and_closure(spec, points[0])
    M = int(points[0]["modes"])
    rules = [spec.rule(p) for p in points]

    def col(name):
        return np.array([float(p[name]) for p in points])

    s0 = np.array([spec.initial_spectrum(int(i), p) for i, p in zip(index, points)]).reshape(len(index), M)
    has_target = np.array([r.has_target_network for r in rules])
    run = spec.run
    kw = dict(
        lr=np.array([spec.lr(p) for p in points]), steps=run["steps"], sigma1=col("sigma_online"),
        sigma2=col("sigma_target"), weight_decay=col("weight_decay"), ema=np.where(has_target, col("ema"), 0.0),
        rho=col("rho"), alpha=col("alpha"), eps=col("eps"),
        beta=np.array([r.beta for r in rules]) if rule.beta is not None else None,
        scheme=run["scheme"], closure=closure, stride=frame_stride(spec), substeps=run["substeps"],
        rtol=run["rtol"], atol=run["atol"], exact_tol=run["exact_tol"], threads=None,
    )
    if rule.trainable:  # a trained predictor (SPEC §7): alpha_p default 1, gamma_p default the weight decay
        kw["predictor_lr_ratio"] = np.array([1.0 if p["predictor_lr_ratio"] is None else p["predictor_lr_ratio"]
                                             for p in points])
        kw["predictor_weight_decay"] = np.array([p["weight_decay"] if p["predictor_weight_decay"] is None
                                                 else p["predictor_weight_decay"] for p in points])
    return rule, s0, kw


def group_grid(spec, index0: int) -> ExactGrid:
    """The exact-closure grid of the structural group of point ``index0``: the first grid meeting
    ``run.exact_tol`` on a sample of the group's initial states (a diagonal through the other axes,
    fixed by the spec, so every chunk of the group -- on any worker -- finds the same grid)."""
    key = (spec.digest, spec.structural_key(spec.point(index0)))
    if key in _GRIDS:
        return _GRIDS[key]

    k0 = np.unravel_index(int(index0), spec.shape)
    n = GRID_SAMPLE
    sample = set()
    for j in range(n):
        ks = [k if fixed else int(round(j * (len(a) - 1) / (n - 1)))
              for a, k, fixed in zip(spec.axes, k0, spec.structural)]
        sample.add(int(np.ravel_multi_index(ks, spec.shape)))
    rule, s0, kw = arguments(spec, np.array(sorted(sample)))
    kw.update(steps=1, stride=1, scheme="map", threads=1)
    tr = simulate_batch(rule, s0, **kw)
    g = tr.extra["closure_grid"]
    _GRIDS[key] = grid = ExactGrid(hx=g["hx"], lo=g["lo"], hi=g["hi"], w=g["w"])
    return grid


def current_names(ds):
    """A sweep Dataset whose variables carry the current names (RENAMED: a file written before this release)."""
    old = {k: v for k, v in RENAMED.items() if k in ds.variables and v not in ds.variables}
    return ds.rename(old) if old else ds


def variables(spec) -> dict:
    """name -> (trailing dims, dtype, fill, long name) of every result variable."""
    out = {
        "s0": (("mode",), np.float64, np.nan, "initial eigenvalues s_m (ascending)"),
        "s_final": (("mode",), np.float64, np.nan, "final eigenvalues s_m = (1+sigma1^2) S_m^2 (ascending)"),
        "lam_final": (("mode",), np.float64, np.nan, "final predictor eigenvalues lambda_m"),
        "recruit_steps": (("mode",), np.int32, -1, "first saved step (every recruit_resolution steps) within 1% of the "
                         "mode's final value (-1: never, dead or diverged)"),
        "collapsed": ((), np.int8, -1, "every mode below the collapse threshold (1/0)"),
        "n_dead": ((), np.int32, -1, "modes that died (dimensional collapse)"),
        "diverged": ((), np.int8, -1, "non-finite or beyond the bound (1/0)"),
        "diverged_step": ((), np.int32, -1, "step of divergence (-1: none)"),
        "converged": ((), np.int8, -1, "reached a fixed point (1/0)"),
        "effective_rank": ((), np.float64, np.nan, "participation ratio (sum s)^2 / sum s^2 at the end"),
        "isotropy": ((), np.float64, np.nan, "min/max predictor eigenvalue at the end"),
        "outcome": ((), np.int8, -1, ms.OUTCOME_TEXT),
    }
    if "cosine" in spec.values_of("metric") and (spec.run["closure"] or "exact") == "exact":
        out["closure_error"] = ((), np.float64, np.nan, "exact closure: relative quadrature error at the initial "
                                "and final state (NaN: Euclidean, or the run did not end ok)")
    if spec.keep["trajectories"]:
        out["s"] = (("step", "mode"), np.float64, np.nan, "eigenvalues s_m every keep.stride steps")
    return out


def run_points(spec, index: np.ndarray, threads: int | None = None) -> dict:
    """Integrate the points ``index`` of ``spec`` (one structural group) in one simulate_batch call on
    ``threads`` threads (default: all cores); name -> (n, ...) arrays following :func:`variables`."""
    index = np.asarray(index, dtype=np.int64)
    rule, s0, kw = arguments(spec, index)
    kw["threads"] = threads
    n, M = s0.shape
    exact = rule.metric == "cosine" and kw["closure"] == "exact"
    if exact:
        kw.update(grid=group_grid(spec, int(index[0])), fixed_grid=True)
    tr = simulate_batch(rule, s0, **kw)

    m = tr.measures
    div = np.asarray(m["diverged"], dtype=bool)
    live = ~div[:, None]
    s_fin = np.where(live, tr.s_final, np.nan)
    lam_fin = np.where(live, tr.lam_final, np.nan)
    collapsed = np.asarray(m["collapsed"]) & ~div
    n_dead = np.where(div, 0, m["n_dead"])
    converged = np.asarray(m["converged"]) & ~div
    eff_rank = np.where(div, np.nan, m["effective_rank"])
    isotropy = np.where(div, np.nan, m["isotropy"])
    outcome = ms.outcome(div, collapsed, converged, n_dead)

    spec_vars = variables(spec)

    def pad(a, name):
        dims, dt, fill, _ = spec_vars[name]
        full = np.full((n, *[spec.max_modes if d == "mode" else a.shape[1] for d in dims]), fill, dtype=dt)
        full[..., :M] = a
        return full

    out = {
        "s0": pad(s0, "s0"),
        "s_final": pad(s_fin, "s_final"),
        "lam_final": pad(lam_fin, "lam_final"),
        "recruit_steps": pad(m["recruit_steps"], "recruit_steps"),
        "collapsed": collapsed.astype(np.int8),
        "n_dead": n_dead.astype(np.int32),
        "diverged": div.astype(np.int8),
        "diverged_step": np.asarray(tr.diverged_step, dtype=np.int32),
        "converged": converged.astype(np.int8),
        "effective_rank": eff_rank.astype(np.float64),
        "isotropy": isotropy.astype(np.float64),
        "outcome": outcome,
    }
    if "closure_error" in spec_vars:
        out["closure_error"] = np.asarray(m["closure_error"], dtype=np.float64) if exact else np.full(n, np.nan)
    if spec.keep["trajectories"]:
        keep = np.isin(tr.step, saved_steps(spec))
        out["s"] = pad(tr.s[:, keep, :], "s")
    return out
