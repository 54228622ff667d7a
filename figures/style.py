"""One style for every isodyn figure: colour-blind-safe palette, print-size fonts, atomic saving."""

from __future__ import annotations

import io
import os
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# Okabe & Ito (2008): distinguishable under the common colour-vision deficiencies
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
RULE_COLORS = {"standard": "#0072B2", "iso": "#D55E00", "no-stopgrad": "#009E73", "wrong-stopgrad": "#CC79A7",
               "no-predictor": "#E69F00"}
OUTCOME_COLORS = {"converged": "#009E73", "collapsed": "#0072B2", "diverged": "#D55E00", "other": "#BBBBBB"}

RC = {
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 7.5,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
    "figure.dpi": 150,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "lines.linewidth": 1.2,
}

#: how save() embeds fonts in a PDF: 42, TrueType (Type 42; text stays text, what journals ask for), the
#: default; ``isodyn reproduce --quick`` sets 3 (Type 3: glyphs as drawing procedures, the same picture, written
#: in about half the time, because no TrueType subset is built per file and font)
PDF_FONTTYPE: ContextVar[int] = ContextVar("pdf_fonttype", default=42)


@contextmanager
def pdf_fonttype(kind: int):
    """Context in which save() embeds PDF fonts as ``kind`` (3 or 42; :data:`PDF_FONTTYPE`)."""
    if kind not in (3, 42):
        raise ValueError(f"pdf font type {kind!r}; accepted: 3, 42")
    token = PDF_FONTTYPE.set(kind)
    try:
        yield
    finally:
        PDF_FONTTYPE.reset(token)


@contextmanager
def style():
    """Context in which figures are drawn with the isodyn style."""
    with plt.rc_context(RC):
        yield


def mode_colors(n: int):
    """n colours from weak (light) to strong (dark) modes, readable in grey scale too."""
    cmap = plt.get_cmap("viridis")
    return [cmap(0.1 + 0.8 * i / max(n - 1, 1)) for i in range(n)]


def save(fig, path_stem: str | os.PathLike, formats=("png", "pdf")) -> list[Path]:
    """Save ``fig`` as path_stem.png and .pdf atomically (codegen.atomic_write; PDF fonts as
    :data:`PDF_FONTTYPE`); close it."""
    from isodyn.dynamics.files import atomic_write

    stem = Path(path_stem)
    written = []
    try:
        # lay the figure out once, at its own size, and keep that layout for every format: savefig would run the
        # layout engine again per file, and a tight bounding box taken before the layout crops the laid-out figure
        engine = fig.get_layout_engine()
        if engine is not None:
            engine.execute(fig)
            fig.set_layout_engine("none")
        bbox = matplotlib.rcParams["savefig.bbox"]
        if bbox == "tight":
            bbox = fig.get_tightbbox(fig.canvas.get_renderer()).padded(matplotlib.rcParams["savefig.pad_inches"])
        for fmt in formats:
            target = stem.with_suffix("." + fmt)
            buf = io.BytesIO()
            with matplotlib.rc_context({"pdf.fonttype": PDF_FONTTYPE.get()}):
                fig.savefig(buf, format=fmt, bbox_inches=bbox)
            atomic_write(target, buf.getvalue())
            written.append(target)
    finally:
        plt.close(fig)
    return written
