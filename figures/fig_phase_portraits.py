"""Two-mode phase portraits for a lecture (issue 12 item 4): Euclidean and cosine, standard against IsoLoss.

Each panel is the plane of the two eigenvalues (s1, s2) on log axes: streamlines of the reduced two-mode
flow (:func:`isodyn.dynamics.modes.portrait.two_mode_field`, S_t = S, no weight decay, SPEC §5 settings,
cosine with the mean-field closure), its nullclines, the fixed points that derivations.analysis gives
(:func:`~isodyn.dynamics.modes.portrait.portrait_fixed_points`; filled: stable, open: unstable, half-filled:
saddle, the cosine line of fixed points as a line), and trajectories of the mode ODE from a few starts run by
``isodyn.simulate`` (dopri5, t = eta * step).  No claim is decided here; the numbers record what was drawn.
"""

from __future__ import annotations

import time

import numpy as np
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.lines import Line2D

from isodyn.dynamics.modes import portrait as PP
from isodyn.dynamics.modes.simulation import simulate_batch

from . import _paper as P
from .base import Context, FigureResult
from .style import RULE_COLORS, plt, save, style

NAME = "phase_portraits"
TITLE = "Two-mode phase portraits: Euclidean and cosine, standard vs IsoLoss (lecture)"
S_RANGE = (1e-3, 10.0)
PARAMS = {"sigma1": P.SIGMA1, "sigma2": P.SIGMA2, "alpha": P.ALPHA}
#: starts (s1, s2) of the drawn trajectories, and the ODE time they run (t = eta * step)
STARTS = {"euclidean": ((2e-3, 0.05), (0.02, 6.0), (6.0, 0.3), (0.3, 2e-3)),
          "cosine": ((0.01, 3.0), (0.08, 0.4), (4.0, 0.3), (2.0, 0.01))}
HORIZON = {"euclidean": 100.0, "cosine": 200.0}
MARKERS = {"stable": dict(marker="o", mfc="k", mec="k"), "unstable": dict(marker="o", mfc="white", mec="k"),
           "saddle": dict(marker="o", mfc="white", mec="k", fillstyle="left", markerfacecoloralt="white"),
           "marginal": dict(marker="s", mfc="white", mec="k")}
MARKER_WORDS = {"stable": "filled circle", "saddle": "half-filled circle", "unstable": "open circle",
                "marginal": "open square"}
PANELS = {"euclidean/standard": "Euclidean standard", "euclidean/iso": "Euclidean IsoLoss",
          "cosine/standard": "cosine standard", "cosine/iso": "cosine IsoLoss"}
NULL_COLORS = {"s1": "#E69F00", "s2": "#009E73"}
STREAM_CMAP = LinearSegmentedColormap.from_list("streams", ["0.8", "0.2"])


def _trajectories(rule, quick: bool):
    """simulate_batch from the STARTS (dopri5, mean-field closure): (Trajectory, stride)."""
    lr = P.lr(rule)
    steps = int(round(HORIZON[rule.metric] / lr))
    stride = max(1, steps // (400 if quick else 1000))
    tr = simulate_batch(rule, np.array(STARTS[rule.metric]), lr=lr, steps=steps, stride=stride, scheme="dopri5",
                        closure="mean-field", rtol=1e-8, atol=1e-12, **PARAMS)
    return tr, steps


def _panel(ax, rule, quick: bool) -> dict:
    """Draw one portrait; returns its numbers (marker coordinates read back from the drawn artists)."""
    n = 40 if quick else 60
    u = np.linspace(np.log10(S_RANGE[0]), np.log10(S_RANGE[1]), n)
    U1, U2 = np.meshgrid(u, u)
    d1, d2 = PP.two_mode_field(rule, PARAMS, 10.0**U1, 10.0**U2)
    du1, du2 = d1 / (10.0**U1 * np.log(10)), d2 / (10.0**U2 * np.log(10))  # d log10 s / dt
    speed = np.log10(np.hypot(du1, du2) + 1e-300)
    norm = Normalize(*np.percentile(speed, [5, 95]), clip=True)
    ax.streamplot(U1, U2, du1, du2, color=speed, cmap=STREAM_CMAP, norm=norm, density=0.9 if quick else 1.1,
                  linewidth=0.6, arrowsize=0.7, zorder=1)
    for name, curves in PP.nullclines(rule, PARAMS, S_RANGE, S_RANGE, n=80 if quick else 160).items():
        for c in curves:
            ax.plot(np.log10(c[:, 0]), np.log10(c[:, 1]), color=NULL_COLORS[name], lw=1.6, ls="--", zorder=2,
                    gid=f"nullcline:{name}")
    fps = PP.portrait_fixed_points(rule, PARAMS, s_range=S_RANGE)
    off_axis = [(q.s1, q.s2, q.stability) for q in fps if not (q.s1 > 0 and q.s2 > 0)]
    shown = [q for q in fps if q.s1 > 0 and q.s2 > 0]
    if rule.metric == "cosine" and shown:
        ax.plot(np.log10([q.s1 for q in shown]), np.log10([q.s2 for q in shown]), color="k", lw=2.6, alpha=0.55,
                zorder=3, solid_capstyle="butt", gid="fixed-line")
        ax.plot(np.log10([q.s1 for q in shown]), np.log10([q.s2 for q in shown]), ls="none", ms=4.5, zorder=4,
                gid=f"fixed-point:{PP.LINE}", **MARKERS["marginal"])
    else:
        for q in shown:
            ax.plot([np.log10(q.s1)], [np.log10(q.s2)], ls="none", ms=7, mew=1.2, zorder=5,
                    gid=f"fixed-point:{q.stability}", **MARKERS[q.stability])
    tr, steps = _trajectories(rule, quick)
    color = RULE_COLORS[rule.variant]
    ends = []
    for b in range(tr.s.shape[0]):
        path = tr.s[b]
        path = path[np.all(np.isfinite(path), axis=1)]
        ax.plot(np.log10(path[:, 0]), np.log10(path[:, 1]), color=color, lw=1.5, zorder=6)
        ax.plot(np.log10(path[0, 0]), np.log10(path[0, 1]), "o", ms=4, mfc="white", mec=color, zorder=7)
        ax.plot(np.log10(path[-1, 0]), np.log10(path[-1, 1]), "D", ms=4, color=color, mec="k", mew=0.4, zorder=7)
        ends.append(tr.s_final[b].tolist())
    lo, hi = np.log10(S_RANGE)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ticks = np.arange(np.ceil(lo), np.floor(hi) + 1)
    for setter in (ax.set_xticks, ax.set_yticks):
        setter(ticks, [f"$10^{{{int(t)}}}$" for t in ticks])
    marked = []
    for ln in ax.lines:
        gid = ln.get_gid() or ""
        if gid.startswith("fixed-point:"):
            word = gid.split(":", 1)[1]
            marked += [[float(10.0**x), float(10.0**y), word] for x, y in zip(ln.get_xdata(), ln.get_ydata())]
    return {"marked_fixed_points": marked, "off_axis_fixed_points": [list(p) for p in off_axis],
            "trajectory_starts": [list(s) for s in STARTS[rule.metric]], "trajectory_ends": ends,
            "trajectory_sum_start_end": [[float(sum(s)), float(sum(e))] for s, e in zip(STARTS[rule.metric], ends)],
            "lr": P.lr(rule), "steps": steps, "ode_time": HORIZON[rule.metric],
            "nullcline_curves": {k: sum(ln.get_gid() == f"nullcline:{k}" for ln in ax.lines) for k in ("s1", "s2")},
            "diverged": [bool(x) for x in np.ravel(tr.measures["diverged"])]}


def _pair(p) -> str:
    return f"({P.fmt(p[0])}, {P.fmt(p[1])})"


def caption_from(numbers: dict) -> str:
    """The caption, every number taken from ``numbers`` (the figure's)."""
    parts = []
    for key, label in PANELS.items():
        nb = numbers[key]
        fp = nb["marked_fixed_points"]
        if key.startswith("euclidean"):
            pts = "; ".join(f"{w} at {_pair(p)}" for *p, w in fp)
            off = ", ".join(f"{w} at {_pair(p)}" for *p, w in nb["off_axis_fixed_points"])
            fixed = f"fixed points {pts} (off the log axes, with a mode at 0: {off})"
        else:
            fixed = f"the line of fixed points s1 = s2 (marked at {len(fp)} points)"
        ends = ", ".join(f"{_pair(s)} → {_pair(e)}" for s, e in zip(nb["trajectory_starts"], nb["trajectory_ends"]))
        parts.append(f"{label}: {fixed}; trajectories over t = {P.fmt(nb['ode_time'])} ({nb['steps']:,} steps at "
                     f"η = {P.fmt(nb['lr'])}) {ends}")
    drawn = {w for k in PANELS for *_, w in numbers[k]["marked_fixed_points"]}
    key = ", ".join(f"{MARKER_WORDS[w]}: {w}" for w in MARKER_WORDS if w in drawn) or "none isolated"
    drift = {v: max(abs(e / s - 1) for s, e in numbers[f"cosine/{v}"]["trajectory_sum_start_end"])
             for v in ("standard", "iso")}
    return ("Phase portraits of the two-mode flow (s1, s2 eigenvalues of the online correlation; S_t = S, no weight "
            "decay, α = 1, σ1 = 0, σ2 = 0.1; cosine with the mean-field closure): grey streamlines of the flow "
            "(darker: faster, in log s per unit time), dashed nullclines (orange ds1/dt = 0, green ds2/dt = 0), "
            f"fixed points from derivations.analysis ({key}; grey line with squares: a line of fixed points, "
            "marginal along it), and mode-ODE trajectories run by "
            "isodyn.simulate (dopri5; open circle: start, diamond: end). "
            + ". ".join(parts) + f". Along the cosine trajectories s1 + s2 changed by at most {drift['standard']:.1e} "
            f"(standard) and {drift['iso']:.1e} (IsoLoss), relative to its start.")


def make(ctx: Context) -> FigureResult:
    t0 = time.perf_counter()
    numbers: dict = {}
    with style():
        fig, axes = plt.subplots(2, 2, figsize=(7.4, 7.4), constrained_layout=True)
        for i, metric in enumerate(P.METRICS):
            for j, variant in enumerate(("standard", "iso")):
                ctx.progress(f"{NAME}: {metric} {variant}")
                ax = axes[i, j]
                numbers[f"{metric}/{variant}"] = _panel(ax, P.rule(metric, variant), ctx.quick)
                ax.set_title(f"{P.METRIC_LABELS[metric]}, {P.VARIANT_LABELS[variant]}")
                if i == 1:
                    ax.set_xlabel("$s_1$")
                if j == 0:
                    ax.set_ylabel("$s_2$")
        words = sorted({w for k, nb in numbers.items() for *_, w in nb["marked_fixed_points"]} - {PP.LINE})
        handles = [Line2D([], [], color=NULL_COLORS["s1"], ls="--", label="$ds_1/dt = 0$"),
                   Line2D([], [], color=NULL_COLORS["s2"], ls="--", label="$ds_2/dt = 0$"),
                   *(Line2D([], [], ls="none", ms=6, label=f"{w} fixed point", **MARKERS[w]) for w in words),
                   Line2D([], [], color="k", lw=2.6, alpha=0.55, marker="s", mfc="white", mec="k", ms=4.5,
                          label="line of fixed points"),
                   Line2D([], [], ls="none", marker="o", ms=4, mfc="white", mec="0.3", label="trajectory start"),
                   Line2D([], [], ls="none", marker="D", ms=4, color="0.3", mec="k", label="end (isodyn.simulate)")]
        fig.legend(handles=handles, loc="outside lower center", ncol=3)
        files = save(fig, ctx.figdir / NAME)
    numbers["seconds"] = time.perf_counter() - t0
    numbers["seeds"] = "none (deterministic)"
    return FigureResult(NAME, TITLE, files, caption_from(numbers), numbers, [])
