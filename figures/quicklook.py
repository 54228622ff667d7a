"""A quick look at one run: its eigenvalues against steps, in the report's style (``simulate``/``train --plot``).

The command line calls :func:`eigenvalue_plot` with the run's arrays; nothing here computes dynamics (figures/
plots what it is given).  The format follows the file's suffix (.png or .pdf); the file is written atomically
(:func:`figures.style.save`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from isodyn.figures.style import mode_colors, plt, save, style

#: the suffixes eigenvalue_plot writes
FORMATS = (".png", ".pdf")


def eigenvalue_plot(step, s, path, lam=None, title: str = "", diverged_step=None) -> Path:
    """Draw s_m (and, dashed, lambda_m) against steps on a log scale, one colour per mode from weak (light) to
    strong (dark) by the initial eigenvalue, and write ``path`` (.png or .pdf).

    step (T,) the saved steps; s, lam (T, M) the eigenvalues at them (NaN after a divergence is left out);
    diverged_step: marked by a vertical line when not None.  Returns the path written.
    """
    path = Path(path)
    if path.suffix not in FORMATS:
        raise ValueError(f"a quick-look figure is .png or .pdf, not {path.suffix!r}")
    step = np.asarray(step, dtype=float)
    s = np.asarray(s, dtype=float)
    order = np.argsort(np.nan_to_num(s[0], nan=np.inf))  # colours by the initial eigenvalue
    colors = mode_colors(s.shape[1])
    with style():
        fig, ax = plt.subplots(figsize=(4.2, 3.0))
        for rank, m in enumerate(order):
            ax.plot(step, _positive(s[:, m]), color=colors[rank], lw=1.2)
            if lam is not None:
                ax.plot(step, _positive(np.asarray(lam, dtype=float)[:, m]), color=colors[rank], lw=0.8, ls="--")
        if diverged_step is not None:
            ax.axvline(diverged_step, color="#D55E00", lw=0.8, ls=":", label=f"diverged (step {diverged_step})")
        if np.any(np.isfinite(_positive(s))):
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(r"eigenvalue $s_m$" + (r" (dashed: $\lambda_m$)" if lam is not None else ""))
        if title:
            ax.set_title(title)
        if diverged_step is not None:
            ax.legend(loc="best")
        written = save(fig, path.with_suffix(""), formats=(path.suffix[1:],))
    return written[0]


def _positive(v):
    """v with non-positive and non-finite values as NaN (a log axis cannot show them; a gap says so)."""
    v = np.array(v, dtype=float)
    v[~(np.isfinite(v) & (v > 0))] = np.nan
    return v
