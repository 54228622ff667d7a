"""The probe animation (issue 12 item 4): the GIF has the frames the numbers state, an MP4 exactly when
matplotlib has an ffmpeg writer, and the report shows the GIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib import animation
from PIL import Image

from isodyn.figures import fig_probe_animation as F
from isodyn.figures import report
from isodyn.figures.base import Context


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return F.make(Context(tmp_path_factory.mktemp("animation"), quick=True))


def test_gif_has_the_expected_frames(result):
    gif = next(f for f in result.files if f.suffix == ".gif")
    with Image.open(gif) as im:
        assert im.format == "GIF"
        assert im.n_frames == result.numbers["frames"] == F.FRAMES[True]
        first = np.asarray(im.convert("RGB"))
        im.seek(im.n_frames - 1)
        last = np.asarray(im.convert("RGB"))
    assert not np.array_equal(first, last)  # the probes moved
    assert result.numbers["frame_steps"] == F.frame_steps(result.numbers["steps"], F.FRAMES[True]).tolist()
    assert result.numbers["frame_steps"][0] == 0 and result.numbers["frame_steps"][-1] == 1500


def test_mp4_only_when_a_writer_is_available(result):
    has = animation.writers.is_available("ffmpeg")
    mp4 = [f for f in result.files if f.suffix == ".mp4"]
    assert result.numbers["mp4_written"] is has
    assert [f.name for f in result.files] == result.numbers["files"]
    if has:
        (m,) = mp4
        assert m.read_bytes()[4:8] == b"ftyp"  # an MP4 container
    else:
        assert mp4 == [] and not (Path(result.files[0]).parent / "probe_animation.mp4").exists()
        assert "no MP4" in result.caption


def test_full_run_frames():
    steps = F.frame_steps(1500, F.FRAMES[False])
    assert len(steps) == F.FRAMES[False] and steps[0] == 0 and steps[-1] == 1500 and np.all(np.diff(steps) > 0)


def test_caption_states_the_numbers(result):
    nb, cap = result.numbers, result.caption
    assert cap == F.caption_from(nb)
    assert f"{nb['frames']} frames at {nb['fps']} frames/s" in cap
    for m, v in F.RULES:
        r0, r1 = nb[f"{m}/{v}/rms_start_end"]
        assert r0 > 0 and r1 > 0 and not nb[f"{m}/{v}/diverged"]
    assert "Files written: " + " and ".join(nb["files"]) in cap


def test_report_shows_the_gif(result):
    info = report.RunInfo(command="test", quick=True, seed=0, jobs=1, seconds=1.0)
    md = report.markdown([result], info)
    assert "![probe_animation](figures/probe_animation.gif)" in md
    assert "[GIF](figures/probe_animation.gif)" in md
    ht = report.html_report([result], info)
    assert "data:image/gif;base64," in ht and 'href="figures/probe_animation.gif"' in ht
