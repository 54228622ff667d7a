"""Phase diagrams of a sweep dataset: outcome maps and measure heat maps, theory boundaries overlaid.

Input: the Dataset written by ``isodyn sweep`` (one dimension per axis, plus ``mode``), already
reduced to the axes plotted (``x``, ``y`` and optionally ``facet``).  The weight-decay survival
threshold (SPEC §4) is drawn where ``weight_decay`` is the x or y axis and the rule has one; its
values come from :mod:`isodyn.dynamics.modes.survival` (derivations/), never from a formula written here.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, Normalize
from matplotlib.patches import Patch

from .style import OKABE_ITO, OUTCOME_COLORS, plt, style

#: outcome colours: the style's, plus dimensional collapse ("partial") in the collapse hue's light twin
COLORS = {**OUTCOME_COLORS, "partial": OKABE_ITO[5]}

LABELS = {
    "lr": r"learning rate $\eta$",
    "weight_decay": r"weight decay $\gamma$",
    "alpha": r"predictor exponent $\alpha$",
    "beta": r"IsoLoss exponent $\beta$",
    "eps": r"predictor offset $\epsilon$",
    "ema": r"EMA momentum $\tau$",
    "sigma_online": r"online noise $\sigma_1$",
    "sigma_target": r"target noise $\sigma_2$",
    "modes": "modes M",
    "s0_lo": r"smallest initial eigenvalue $s_0$",
    "s0_hi": r"largest initial eigenvalue $s_0$",
}
RULE_KEYS = ("metric", "variant", "beta", "alpha", "eps", "normalize")


def cell_edges(v: np.ndarray, log: bool) -> np.ndarray:
    """Cell edges around coordinate values (midpoints; geometric midpoints on a log axis)."""
    v = np.asarray(v, dtype=np.float64)
    if len(v) == 1:
        return v * np.array([0.5, 2.0]) if log else v + np.array([-0.5, 0.5])
    w = np.log(v) if log else v
    mid = (w[1:] + w[:-1]) / 2
    e = np.concatenate([[2 * w[0] - mid[0]], mid, [2 * w[-1] - mid[-1]]])
    return np.exp(e) if log else e


def _is_log(v) -> bool:
    """A numeric axis of >= 3 positive, geometrically spaced values is drawn on a log scale."""
    v = np.asarray(v)
    if v.dtype.kind not in "fi" or len(v) < 3 or np.any(v <= 0):
        return False
    r = np.diff(np.log(v.astype(np.float64)))
    return bool(np.allclose(r, r[0], rtol=1e-6)) and not np.allclose(np.diff(v), np.diff(v)[0], rtol=1e-6)


def _coord(v):
    """Numeric coordinates as they are; strings/bools as positions 0..n-1 (ticks carry the labels)."""
    v = np.asarray(v)
    if v.dtype.kind in "fiu":
        return v.astype(np.float64), None
    return np.arange(len(v), dtype=np.float64), [str(x) for x in v]


def _point_params(panel, attrs: dict, xname: str, i: int) -> dict:
    """Parameters of column ``i`` along ``xname`` of a panel: fixed attrs, then scalar coords, then x."""
    p = {k: attrs[k] for k in (*RULE_KEYS, "sigma_online", "sigma_target") if k in attrs}
    for k, c in panel.coords.items():
        if c.ndim == 0:
            p[k] = c.item()
    if xname in panel.coords:
        v = panel.coords[xname].values[i]
        p[xname] = v.item() if hasattr(v, "item") else v
    return p


def _theory_curve(panel, attrs, along: str):
    """gamma_c of the weakest and strongest initial mode along axis ``along`` (None: no boundary)."""
    from isodyn.derivations import InputError, Rule
    from isodyn.dynamics.modes.survival import survival_threshold

    n = panel.sizes.get(along, 1)
    weak, strong = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        p = _point_params(panel, attrs, along, i)
        beta = p.get("beta")
        beta = None if beta in (None, "none") or (isinstance(beta, float) and np.isnan(beta)) else float(beta)
        try:
            rule = Rule(str(p.get("metric", "euclidean")), str(p.get("variant", "standard")), beta=beta,
                        alpha=float(p.get("alpha", 1.0)), eps=float(p.get("eps", 0.0)),
                        normalize=bool(int(p.get("normalize", 0))))
        except InputError:
            return None
        s0 = panel["s0"].isel({along: i}) if along in panel["s0"].dims else panel["s0"]
        s0 = np.asarray(s0.values, dtype=np.float64)
        s0 = s0[np.isfinite(s0)]
        if s0.size == 0:
            return None
        g = survival_threshold(rule, np.array([s0.min(), s0.max()]), float(p.get("sigma_online", 0.0)),
                               float(p.get("sigma_target", 0.0)))
        if g is None:
            return None
        weak[i], strong[i] = g
    return weak, strong


def _overlay(ax, panel, attrs, x, y, edges, categorical):
    """Draw the weight-decay survival thresholds on a panel; returns legend handles.

    ``edges``/``categorical``: {axis: cell edges}, {axis: bool}.  The threshold is constant over each
    cell of the other axis: a staircase on a numeric axis, separate segments on a categorical one.
    """
    if "weight_decay" not in (x, y):
        return []
    along = y if x == "weight_decay" else x
    curves = _theory_curve(panel, attrs, along)
    if curves is None:
        return []
    e = edges[along]
    handles = []
    for vals, ls, label in ((curves[0], "--", "weakest mode dies above"), (curves[1], "-", "every mode dies above")):
        if not np.any(np.isfinite(vals) & (vals >= 0)):
            continue
        if categorical[along]:
            pos = np.ravel([[e[i], e[i + 1], np.nan] for i in range(len(vals))])
            val = np.ravel([[v, v, np.nan] for v in vals])
            style = "default"
        else:
            pos, val, style = e, np.append(vals, vals[-1]), "steps-post"
        xs, ys = (val, pos) if x == "weight_decay" else (pos, val)
        if x == "weight_decay" and style == "steps-post":
            style = "steps-pre"
            xs, ys = np.insert(vals, 0, vals[0]), e
        (h,) = ax.plot(xs, ys, ls, color="k", lw=1.3, label=label, drawstyle=style)
        handles.append(h)
    return handles


def phase_diagram(ds, x: str, y: str, color: str = "outcome", facet: str | None = None, mode: int = 0,
                  theory: bool = True):
    """Figure with one panel per ``facet`` value: ``color`` over the (``x``, ``y``) plane.

    ``ds`` must have exactly the dims x, y (and facet, and mode for per-mode measures);
    ``mode`` picks the mode of a per-mode measure (0 = weakest initial mode).  Datasets and ``color`` names
    from before the variables were renamed (``recruit_step``, ``diverge_step``) are read under the new names.
    """
    from isodyn.dynamics.sweep.points import RENAMED, current_names

    ds = current_names(ds)
    color = RENAMED.get(color, color)
    da = ds[color]
    if "mode" in da.dims:
        da = da.isel(mode=mode)
    facets = list(ds[facet].values) if facet else [None]
    with style():
        fig, axes = plt.subplots(1, len(facets), figsize=(3.1 * len(facets) + 0.9, 2.8), squeeze=False,
                                 sharey=True, constrained_layout=True)
        outcome = color == "outcome"
        if outcome:
            names = ds.attrs.get("outcomes", "converged,collapsed,diverged,other").split(",")
            cmap = ListedColormap([COLORS[n] for n in names])
            norm = BoundaryNorm(np.arange(len(names) + 1) - 0.5, len(names))
        else:
            vals = np.asarray(da.values, dtype=np.float64)
            fin = vals[np.isfinite(vals)]
            if da.dtype.kind in "iu":
                fin = fin[fin >= 0]
            if fin.size and fin.min() > 0 and fin.max() / fin.min() > 100:
                norm = LogNorm(fin.min(), fin.max())
            else:
                norm = Normalize(fin.min() if fin.size else 0, fin.max() if fin.size else 1)
            cmap = plt.get_cmap("viridis").with_extremes(bad="#DDDDDD")
        xv, xt = _coord(ds[x].values)
        yv, yt = _coord(ds[y].values)
        xlog, ylog = xt is None and _is_log(xv), yt is None and _is_log(yv)
        mesh, handles = None, []
        for ax, fv in zip(axes[0], facets):
            panel_ds = ds.sel({facet: fv}) if facet else ds
            z = da.sel({facet: fv}) if facet else da
            z = np.asarray(z.transpose(y, x).values, dtype=np.float64)
            if not outcome and da.dtype.kind in "iu":
                z = np.where(z < 0, np.nan, z)
            mesh = ax.pcolormesh(cell_edges(xv, xlog), cell_edges(yv, ylog), np.ma.masked_invalid(z), cmap=cmap,
                                 norm=norm, shading="flat", rasterized=True)
            if theory:
                handles = _overlay(ax, panel_ds, ds.attrs, x, y, {x: cell_edges(xv, xlog), y: cell_edges(yv, ylog)},
                                   {x: xt is not None, y: yt is not None}) or handles
            if xlog:
                ax.set_xscale("log")
            if ylog:
                ax.set_yscale("log")
            if xt is not None:
                ax.set_xticks(xv, xt)
            if yt is not None:
                ax.set_yticks(yv, yt)
            ax.set_xlim(cell_edges(xv, xlog)[[0, -1]])
            ax.set_ylim(cell_edges(yv, ylog)[[0, -1]])
            ax.set_xlabel(LABELS.get(x, x))
            if fv is not None:
                ax.set_title(f"{facet} = {fv}")
        axes[0][0].set_ylabel(LABELS.get(y, y))
        legend = []
        if outcome:
            present = set(np.unique(np.asarray(da.values)).tolist())
            legend = [Patch(color=COLORS[n], label=n) for i, n in enumerate(names) if i in present]
        else:
            cb = fig.colorbar(mesh, ax=axes[0].tolist(), shrink=0.9)
            cb.set_label(f"{color}" + (f" (mode {mode})" if "mode" in ds[color].dims else ""))
        legend += handles
        if legend:
            fig.legend(handles=legend, loc="outside lower center", ncol=min(len(legend), 5))
    return fig
