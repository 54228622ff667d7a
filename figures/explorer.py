"""The explorer's export: its current data as one matplotlib figure (PNG or SVG bytes; no mathematics here).

``render(data, fmt)`` takes the plain arrays the explorer plots (:class:`isodyn.explore.state.Result` fields):
``step`` (T,), ``s`` (T, M), ``s_grid`` / ``rate`` (the growth-rate curve), ``s_final`` / ``rate_final`` (the
spectrum on it), ``gamma`` (weight decay) and ``title``.
"""

from __future__ import annotations

import io

import numpy as np

from .style import mode_colors, plt, style

FORMATS = ("png", "svg")


def render(data: dict, fmt: str = "png") -> bytes:
    """The two panels (eigenvalues against steps; growth rate against s) as ``fmt`` bytes."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}; accepted: {', '.join(FORMATS)}")
    with style():
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.0, 2.8), constrained_layout=True)
        s = np.asarray(data["s"], dtype=float)
        for m, c in zip(range(s.shape[1]), mode_colors(s.shape[1])):
            a.plot(data["step"], s[:, m], color=c, lw=1.0)
        a.set(yscale="log", xlabel="step", ylabel="eigenvalue $s_m$", title=data["title"])
        b.plot(data["s_grid"], data["rate"], color="0.3", lw=1.0)
        b.scatter(data["s_final"], data["rate_final"], c=mode_colors(len(data["s_final"])), s=14, zorder=3)
        b.axhline(data["gamma"], color="#D55E00", lw=0.8, ls="--", label=r"weight decay $\gamma$")
        b.set(xscale="log", xlabel="$s$", ylabel="growth rate $G/S$", title="learning-rate multiplier")
        b.legend(loc="best")
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=150)
        plt.close(fig)
    return buf.getvalue()
