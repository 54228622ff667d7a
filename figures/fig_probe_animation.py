"""The moving version of the probe-trajectory figure, for a lecture (issue 12 item 4; SPEC §5).

The 20 probe inputs' representations W p in the linear 6->2 network over 1,500 steps of sampled training,
under the four rules Euclidean / cosine x standard / IsoLoss: the same runs as
:mod:`figures.fig_probe_trajectories` (its seeds, W0, probes and ``_paper.sampled``, memoised within a process).
Written with matplotlib.animation: a GIF (PillowWriter; Pillow comes with matplotlib) always, an MP4 only
when matplotlib finds an ffmpeg writer (no dependency is added for it; numbers and caption say which files
were written).  No claim is decided here.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from matplotlib import animation

from isodyn.dynamics.files import atomic_write

from . import _paper as P
from .base import Context, FigureResult
from .fig_probe_trajectories import seeds_for
from .style import RULE_COLORS, plt, style

NAME = "probe_animation"
TITLE = "Animation: representations of 20 probes under four rules, linear 6→2 network (lecture)"
RULES = (("euclidean", "standard"), ("euclidean", "iso"), ("cosine", "standard"), ("cosine", "iso"))
FRAMES = {False: 31, True: 9}  # frames of the full and the quick run (first and last step included; ~0.3 CPU s each)
FPS = 6
TRAIL = 6  # frames of fading trail behind each probe


def frame_steps(steps: int, n: int) -> np.ndarray:
    """n state indices 0 .. steps, evenly spaced (both ends included)."""
    return np.unique(np.linspace(0, steps, n).round().astype(int))


def _runs(ctx: Context) -> tuple[dict, int, int]:
    sz = P.sizes(ctx.quick)
    seeds = seeds_for(ctx)
    W0 = P.weights(P.TWO_DIMS, P.INIT_SCALE, seeds["W0"])
    probes = P.probe_inputs(P.TWO_DIMS[0], seeds["probes"])
    runs = {}
    for metric, variant in RULES:
        ctx.progress(f"{NAME}: {metric} {variant}")
        r = P.rule(metric, variant)
        runs[(metric, variant)] = P.sampled(r, "linear", W0, sz.steps, sz.two_samples, seeds[f"{metric}/{variant}"],
                                            probes)
    return runs, sz.steps, sz.two_samples


def _animation(runs: dict, steps_at: np.ndarray):
    fig, axes = plt.subplots(2, 2, figsize=(6.0, 6.2), constrained_layout=True)
    artists = []
    for ax, key in zip(axes.ravel(), RULES):
        Z = runs[key].probes
        lim = 1.1 * float(np.nanmax(np.abs(Z[steps_at])))
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5, zorder=0)
        ax.axvline(0, color="0.85", lw=0.5, zorder=0)
        ax.locator_params(nbins=3)
        ax.set_title(f"{P.METRIC_LABELS[key[0]]}, {P.VARIANT_LABELS[key[1]]}")
        color = RULE_COLORS[key[1]]
        ax.plot(Z[0, :, 0], Z[0, :, 1], "o", ms=3, mfc="white", mec="0.6", lw=0, zorder=1)
        trails = [ax.plot([], [], color=color, lw=0.8, alpha=0.5)[0] for _ in range(Z.shape[1])]
        dots = ax.plot([], [], "o", ms=4, color=color, mec="k", mew=0.4, lw=0, zorder=3)[0]
        artists.append((Z, trails, dots))
    label = fig.suptitle("step 0")
    fig.canvas.draw()  # lay the axes out once; every frame then only redraws (no layout pass a frame)
    fig.set_layout_engine("none")

    def draw(i):
        t = steps_at[i]
        out = [label]
        label.set_text(f"step {t:,} of {steps_at[-1]:,} (open circles: start)")
        for Z, trails, dots in artists:
            past = steps_at[max(0, i - TRAIL):i + 1]
            for j, ln in enumerate(trails):
                ln.set_data(Z[past, j, 0], Z[past, j, 1])
            dots.set_data(Z[t, :, 0], Z[t, :, 1])
            out += [*trails, dots]
        return out

    return fig, animation.FuncAnimation(fig, draw, frames=len(steps_at), blit=False)


def _write(anim, fig, target: Path, writer) -> Path:
    """Save the animation with ``writer`` to a temporary file, then into place atomically."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / target.name
        anim.save(path, writer=writer, dpi=80)
        atomic_write(target, path.read_bytes())
    return target


def make(ctx: Context) -> FigureResult:
    t0 = time.perf_counter()
    runs, steps, samples = _runs(ctx)
    steps_at = frame_steps(steps, FRAMES[ctx.quick])
    ctx.figdir.mkdir(parents=True, exist_ok=True)
    mp4 = animation.writers.is_available("ffmpeg")
    ctx.progress(f"{NAME}: writing {len(steps_at)} frames")
    with style():
        fig, anim = _animation(runs, steps_at)
        try:
            files = [_write(anim, fig, ctx.figdir / f"{NAME}.gif", animation.PillowWriter(fps=FPS))]
            if mp4:
                files.append(_write(anim, fig, ctx.figdir / f"{NAME}.mp4", animation.FFMpegWriter(fps=FPS)))
        finally:
            plt.close(fig)
    numbers = {"frames": len(steps_at), "frame_steps": steps_at.tolist(), "fps": FPS, "steps": steps,
               "files": [f.name for f in files], "mp4_written": mp4,
               "samples_cosine": P.samples_used(P.rule("cosine", "standard"), "linear", samples),
               "seeds": {k: v for k, v in seeds_for(ctx).items()
                         if k in ("W0", "probes") or tuple(k.split("/")) in RULES}}
    for key in RULES:
        run = runs[key]
        numbers["/".join(key) + "/rms_start_end"] = [float(np.sqrt(np.mean(np.sum(run.probes[t] ** 2, -1))))
                                                     for t in (0, run.last_index)]
        numbers["/".join(key) + "/diverged"] = bool(run.diverged)
    numbers["seconds"] = time.perf_counter() - t0
    return FigureResult(NAME, TITLE, files, caption_from(numbers), numbers, [])


def caption_from(numbers: dict) -> str:
    """The caption, every number taken from ``numbers``."""
    rms = "; ".join(f"{P.METRIC_LABELS[m]} {P.VARIANT_LABELS[v]} {P.fmt(numbers[f'{m}/{v}/rms_start_end'][0])} → "
                    f"{P.fmt(numbers[f'{m}/{v}/rms_start_end'][1])}" for m, v in RULES)
    files = " and ".join(numbers["files"])
    why = "" if numbers["mp4_written"] else " (no MP4: matplotlib found no ffmpeg writer on this machine)"
    return (f"Animation ({numbers['frames']} frames at {numbers['fps']} frames/s, evenly spaced over steps 0 to "
            f"{numbers['frame_steps'][-1]:,} of {numbers['steps']:,}) of the "
            f"representations W p of the 20 probe inputs in the linear 6→2 network under sampled training, the runs of "
            f"the probe-trajectory figure (W0 entries N(0, 1/16), α = 1, σ1 = 0, σ2 = 0.1, the paper's learning rates; "
            f"cosine: n = {numbers['samples_cosine']:,} inputs a step); dots: now, lines: the last {TRAIL} frames. RMS "
            f"norm of the probes' representations, start → end: {rms}. Files written: {files}{why}.")
