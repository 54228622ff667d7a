"""Issue 11, item 7: the quick look (``simulate``/``train --plot``), reproduce's progress inside figures, and
recruitment reported only for modes that rose."""

from __future__ import annotations

import io
import json

import pytest

from isodyn.dynamics.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


def _run(capsys, argv):
    rc = main(argv)
    out, err = capsys.readouterr()
    assert rc == 0, err
    return out


@pytest.mark.parametrize("suffix,magic", [(".png", PNG), (".pdf", b"%PDF-")])
def test_simulate_plot(capsys, tmp_path, suffix, magic):
    path = tmp_path / f"q{suffix}"
    out = _run(capsys, ["simulate", "--steps", "60", "--modes", "4", "--plot", str(path)])
    assert path.read_bytes().startswith(magic) and path.stat().st_size > 2000
    assert f"wrote {path}" in out
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # atomic: no temporary file left


def test_train_plot_and_json(capsys, tmp_path):
    path = tmp_path / "t.pdf"
    out = _run(capsys, ["train", "--steps", "3", "--samples", "200", "--no-progress", "--json", "--plot", str(path)])
    assert path.read_bytes().startswith(b"%PDF-")
    assert json.loads(out)["steps"] == 3  # --json: stdout is the JSON object only


def test_train_plot_png(capsys, tmp_path):
    path = tmp_path / "t.png"
    _run(capsys, ["train", "--steps", "2", "--samples", "100", "--no-progress", "--plot", str(path)])
    assert path.read_bytes().startswith(PNG)


@pytest.mark.parametrize("cmd", ["simulate", "train"])
def test_plot_bad_suffix(capsys, tmp_path, cmd):
    rc = main([cmd, "--plot", str(tmp_path / "x.svg")])
    out, err = capsys.readouterr()
    assert rc == 2 and out == "" and err.startswith("isodyn: error: argument --plot:") and err.count("\n") == 1
    assert ".png, .pdf" in err and not any(tmp_path.iterdir())


def test_quicklook_draws_what_it_is_given(tmp_path):
    """figures.quicklook plots given arrays: a diverged run's NaN tail and non-positive values are gaps."""
    import numpy as np

    from isodyn.figures.quicklook import eigenvalue_plot

    s = np.array([[1e-3, 1.0], [2e-3, 1.5], [np.nan, np.nan]])
    p = eigenvalue_plot(np.arange(3), s, tmp_path / "d.png", lam=np.zeros_like(s), diverged_step=2)
    assert p.read_bytes().startswith(PNG)
    with pytest.raises(ValueError):
        eigenvalue_plot(np.arange(3), s, tmp_path / "d.jpg")


# --- reproduce's progress advances inside a figure ---------------------------------------------------------


def _fake_entry(name, stages, seen):
    from isodyn.figures.base import FigureResult
    from isodyn.figures.reproduce import Entry

    def make(ctx):
        for i in range(stages):
            ctx.progress(f"{name}: run {i + 1} of {stages}")
            seen.append(ctx)
        return FigureResult(name, name, [], "caption", {"seeds": 0})

    return Entry(name, name, "fake", make)


def test_reproduce_bar_counts_runs_inside_figures(tmp_path, monkeypatch):
    from isodyn.figures import report, reproduce

    monkeypatch.setattr(report, "write", lambda out, results, info: (out / "report.md", out / "report.html"))
    stream, seen = io.StringIO(), []
    entries = [_fake_entry("first", 3, seen), _fake_entry("second", 2, seen)]
    assert reproduce.run(tmp_path, entries=entries, skipped=[], stream=stream, jobs=1) == 0
    text = stream.getvalue().replace("\r", "\n")
    # the runs inside the first figure show on the bar before that figure is done: its 1st and 2nd run done
    for k in (0, 1, 2):
        assert f"0/2 figures | runs done: {k} " in text, text
    assert "first: run 3 of 3" in text and "second: run 2 of 2" in text
    assert "1/2 figures | runs done: 3 " in text and "1/2 figures | runs done: 4 " in text
    assert "2/2 figures | runs done: 5 " in text  # five runs in all
    assert len(seen) == 5


# --- recruitment only for modes that rose (one implementation: dynamics.measures.recruit_steps) ------------


def _sim(capsys, *argv):
    return json.loads(_run(capsys, ["simulate", "--json", *argv]))


def test_no_recruitment_for_a_mode_that_barely_moved(capsys):
    d = _sim(capsys, "--s0", "0.001,0.3", "--steps", "1500")
    assert 1.0 < d["s_final"][0] / 0.001 < 1.1  # 0.001 -> 0.00103: it barely moved
    assert d["recruit_steps"][0] is None
    assert d["s_final"][1] > 0.9 and d["recruit_steps"][1] is not None  # 0.3 -> 1 rose: recruited


def test_no_recruitment_for_dying_or_shrinking_modes(capsys):
    d = _sim(capsys, "--s0", "0.001,0.01,0.1,1", "--weight-decay", "0.2", "--steps", "3000")
    assert d["dead_modes"] and all(f < s for f, s in zip(d["s_final"], d["s0"]))  # every mode shrank, some died
    assert d["recruit_steps"] == [None] * 4
    r = _sim(capsys, "--s0", "0.001,0.01,0.1,1", "--weight-decay", "0.02", "--steps", "3000")
    assert r["recruit_steps"][2] is not None and r["s_final"][2] > 2 * 0.1  # the one that rose, and only it
    assert [x is None for x in r["recruit_steps"]] == [True, True, False, True]


@pytest.mark.parametrize("cmd", ["simulate", "train"])
def test_help_documents_recruitment(capsys, cmd):
    with pytest.raises(SystemExit):
        main([cmd, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "recruit_steps" in text and "rose" in text and "null" in text


FAKE_MODULE = '''
from isodyn.figures.base import FigureResult


def _make(name, stages):
    def make(ctx):
        for i in range(stages):
            ctx.progress(f"{name}: run {i + 1} of {stages}")
        return FigureResult(name, name, [], "caption", {"seeds": 0})
    return make


ENTRIES = {"fake_a": ("A", _make("fake_a", 3)), "fake_b": ("B", _make("fake_b", 2))}
'''


def test_reproduce_bar_counts_runs_in_worker_processes(tmp_path, monkeypatch):
    """jobs > 1: the figures' messages come back from the spawned workers while they run."""
    import sys

    from isodyn.figures import report, reproduce

    (tmp_path / "isodyn_fake_figs.py").write_text(FAKE_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(report, "write", lambda out, results, info: (out / "report.md", out / "report.html"))
    entries, skipped = reproduce.discover(["isodyn_fake_figs"])
    assert not skipped
    stream = io.StringIO()
    assert reproduce.run(tmp_path / "o", entries=entries, skipped=[], stream=stream, jobs=2) == 0
    text = stream.getvalue().replace("\r", "\n")
    assert "fake_a: run 3 of 3" in text and "fake_b: run 2 of 2" in text, text
    assert "| runs done: 5 " in text, text
    assert "2/2 figures" in text
    sys.modules.pop("isodyn_fake_figs", None)
