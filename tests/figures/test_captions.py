"""Captions state only what their run measured (issue 11 item 5): every caption is made of facts (figures.base),
and each fact, rendered again from numbers.json, is in the caption; no digit is left outside them; the outcome
words, vanished counts and shrink factors the facts show agree with the raw numbers by the thresholds of
isodyn.dynamics.measures and the criteria of isodyn.dynamics.claims; report.html shows the mathematics offline.

Time: no run of its own for the paper figures (the session's quick run, conftest) nor for the figures beyond the
paper (made once a session, shared with test_figures_beyond, test_phase_portraits and test_probe_animation); the
checks themselves take well under a second.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from isodyn.dynamics import claims as C
from isodyn.dynamics import measures as ms
from isodyn.dynamics.modes import portrait as PP
from isodyn.figures import fig_phase_portraits, report, reproduce
from isodyn.figures.base import ClaimResult, Fact, FigureResult, lookup, show, stray_digits

PAPER = ["eigenvalue_dynamics", "eigenvalue_dynamics_relu", "probe_trajectories", "probe_trajectories_relu",
         "fixed_points", "fixed_points_relu"]
BEYOND = ["fig_recruitment", "fig_isotropy_time", "fig_weight_decay", "fig_robustness", "fig_validation",
          "fig_trained_predictor", "fig_predictor_comparison", "fig_phase_portraits", "fig_probe_animation"]


def _facts(entry) -> list[Fact]:
    return [Fact(f["template"], {k: (tuple(v) if isinstance(v, list) else v) for k, v in f["keys"].items()})
            for f in entry["caption_facts"]]


def check_caption(name: str, entry: dict) -> None:
    """Every fact of a numbers.json figure entry renders from its numbers into its caption; no stray digit;
    the derived words agree with the raw numbers."""
    caption, nums, facts = entry["caption"], entry["numbers"], _facts(entry)
    assert facts, f"{name}: a caption without facts"
    for f in facts:
        assert f.render(nums) in caption, (name, f.template, f.render(nums))
    assert stray_digits(caption, facts, nums) == [], (name, stray_digits(caption, facts, nums))
    keys = [k for f in facts for k in f.keys.values()]
    for k in keys:
        _consistent(name, nums, k)


def _prefix(key) -> str | None:
    return key.rsplit("/", 1)[0] if isinstance(key, str) and "/" in key else None


def _consistent(name: str, nums: dict, key) -> None:
    """A derived value a fact shows, recomputed from the raw numbers next to it (measures' thresholds)."""
    p = _prefix(key)
    leaf = key.rsplit("/", 1)[-1] if isinstance(key, str) else None
    if leaf == "outcome":  # probe figures: the run's end by measures' dead / vanished / diverged
        s0, s1 = np.array(nums[f"{p}/s_start"]), np.array(nums[f"{p}/s_final"])
        word = nums[key]
        if nums[f"{p}/diverged_step"] is not None:
            assert word == "diverged", (name, key, word)
        elif np.all(ms.dead_modes(s1, s0)):
            assert word == "collapsed", (name, key, word)
        else:
            nd, nv = int(ms.dead_modes(s1, s0).sum()), int(ms.vanished(s1).sum())
            assert word.startswith(f"lost {nd} of" if nd else "kept every mode"), (name, key, word)
            if not nd:
                assert (f"{nv} of {len(s0)} vanished" in word) == (nv > 0), (name, key, word)
        if word != "diverged":
            assert nums[f"{p}/frame_over_start"] >= 1.0  # the frame holds every point of the paths
    if leaf == "frame_over_start" and nums[f"{p}/diverged_step"] is not None:
        assert nums[key] == pytest.approx(3.0)
    if leaf in ("n_vanished", "n_dead") and f"{p}/s_final" in nums:  # eigenvalue figures
        s1 = np.array(nums[f"{p}/s_final"])
        want = ms.vanished(s1).sum() if leaf == "n_vanished" else ms.dead_modes(s1, np.array(nums["s0"])).sum()
        assert nums[key] == int(want), (name, key)
    if leaf == "at_one_text":  # fixed points: 'ends at λ = 1 from every start' from each start's deviation
        devs = [v for k, v in nums.items() if k.startswith("euclidean/") and k.endswith("/max_abs_s_minus_1")]
        n_ok = sum(d <= nums["tolerances"]["lambda"] for d in devs)
        assert nums[key].endswith("every start" if n_ok == len(devs) else "no start" if n_ok == 0 else
                                  f"{n_ok} of {len(devs)} starts"), (name, nums[key])
    if leaf == "isotropic_text":
        isos = [v for k, v in nums.items() if k.startswith("cosine/") and k.endswith("/isotropy")]
        n_ok = sum(q >= nums["tolerances"]["isotropic"] for q in isos)
        assert nums[key].endswith("every start" if n_ok == len(isos) else "no start" if n_ok == 0 else
                                  f"{n_ok} of {len(isos)} starts"), (name, nums[key])
    _consistent_lecture(name, nums, key)
    if isinstance(key, tuple) and key[0] == "failing_cases":  # claim 7: the criterion of dynamics.claims
        case = nums["failing_cases"][key[1]]
        t = C.shrink_test(case["ratio_n"], case["ratio_4n"], nums["explain_factor"])
        assert case["shrink"] == pytest.approx(t.factor) and case["explained"] == t.explained, case


def _consistent_lecture(name: str, nums: dict, key) -> None:
    """The lecture figures' derived values: phase portraits' stability words (from the Jacobian eigenvalues
    recorded next to them, dynamics.modes.portrait.stability_word), marker key, marked count and s1 + s2 change;
    the animation's frame count and spacing, files written and MP4 note."""
    if isinstance(key, tuple) and len(key) == 4 and key[1] in ("marked_fixed_points", "off_axis_fixed_points") \
            and key[3] == 2:
        panel, i = nums[key[0]], key[2]
        eig = panel.get(key[1].replace("fixed_points", "eigenvalues"))
        want = PP.stability_word(eig[i]) if eig is not None else PP.LINE
        assert lookup(nums, key) == want, (name, key, want)
    if isinstance(key, tuple) and key[-1] == "n_marked":
        assert nums[key[0]]["n_marked"] == len(nums[key[0]]["marked_fixed_points"]), (name, key)
    if isinstance(key, tuple) and key[-1] == "sum_change":  # from the starts and ends the caption shows
        nb = nums[key[0]]
        want = max(abs(sum(e) / sum(s) - 1) for s, e in zip(nb["trajectory_starts"], nb["trajectory_ends"]))
        assert nb["sum_change"] == pytest.approx(want, rel=1e-6, abs=1e-12), (name, key, want)
    if key == "marker_key":
        drawn = {w for nb in nums.values() if isinstance(nb, dict) and "marked_fixed_points" in nb
                 for *_, w in nb["marked_fixed_points"]}
        listed = {w for w, marker in fig_phase_portraits.MARKER_WORDS.items() if f"{marker}: {w}" in nums[key]}
        assert listed == drawn - {PP.LINE}, (name, nums[key], drawn)
        assert (nums[key] == "none isolated") == (not listed), (name, nums[key])
    if key == "frames":  # 'evenly spaced over steps 0 to ...'
        st = np.array(nums["frame_steps"])
        assert nums["frames"] == len(st) and st[0] == 0 and st[-1] <= nums["steps"], (name, st)
        assert np.ptp(np.diff(st)) <= 1, (name, st)
    if key == "files_written":
        assert nums[key] == " and ".join(nums["files"]), (name, nums[key])
        assert any(f.endswith(".mp4") for f in nums["files"]) is nums["mp4_written"], (name, nums["files"])
        assert any(f.endswith(".gif") for f in nums["files"]), (name, nums["files"])
    if key == "mp4_note":  # stated only when no MP4 was written
        assert nums["mp4_written"] is False and "no MP4" in nums[key], (name, nums[key])


def _entry_of(res: FigureResult, tmp_path) -> dict:
    """The figure's entry of numbers.json as reproduce writes it (a JSON round trip)."""
    info = report.RunInfo(command="test", quick=True, seed=0, jobs=1, seconds=0.0)
    reproduce._write_numbers(tmp_path, [res], info)
    return json.loads((tmp_path / "numbers.json").read_text(encoding="utf-8"))["figures"][res.name]


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER)
def test_paper_caption_matches_numbers(name, quick_run):
    out, r, _ = quick_run
    assert r.returncode == 0, r.stderr[-2000:]
    entry = json.loads((out / "numbers.json").read_text(encoding="utf-8"))["figures"][name]
    check_caption(name, entry)


@pytest.mark.slow
def test_paper_captions_agree_with_the_claim_table(quick_run):
    """The issue's contradictions: the probe figure's wrong-stopgrad outcome is what the run did; the ReLU
    eigenvalue panel's vanished count is the one the claim table states."""
    out, _, _ = quick_run
    figs = json.loads((out / "numbers.json").read_text(encoding="utf-8"))["figures"]
    for name in ("probe_trajectories", "probe_trajectories_relu"):
        e = figs[name]
        n, k = e["numbers"], "euclidean/wrong-stopgrad"
        if n[f"{k}/diverged_step"] is None:
            assert "diverge" not in e["caption"].split("Euclidean wrong-stopgrad", 1)[1].split(";")[0]
            assert "frame shows" not in e["caption"]
        c2 = next(c for c in e["claims"] if c["claim"] == 2)["measured"]
        assert ("diverged at step" in c2) == (n[f"{k}/diverged_step"] is not None)
    for name in ("eigenvalue_dynamics", "eigenvalue_dynamics_relu"):
        n = figs[name]["numbers"]
        c2 = next(c for c in figs[name]["claims"] if c["claim"] == 2)["measured"]
        M = n["M"]
        assert f"{n['euclidean/no-stopgrad/n_vanished']}/{M} vanished" in c2
        assert f"{n['euclidean/no-stopgrad/n_dead']}/{M} dead" in c2
        for v in ("no-stopgrad", "wrong-stopgrad"):
            assert f"cosine {v}: {n[f'cosine/{v}/n_vanished']}/{M} vanished" in c2
    relu = figs["fixed_points_relu"]["caption"]
    assert "mode equation" not in relu  # none is drawn for ReLU


@pytest.mark.parametrize("name", BEYOND)
def test_beyond_caption_matches_numbers(name, quick_result, tmp_path):
    _, res, _ = quick_result(name)
    check_caption(name, _entry_of(res, tmp_path))


def test_validation_caption_prints_claim7_shrink(quick_result, tmp_path):
    """Claim 7: every failing case's deviation in tolerance units at n and 4 n and the shrink factor are in the
    numbers, the caption and the claim's measured text; 'explained' follows dynamics.claims.shrink_test."""
    _, res, _ = quick_result("fig_validation")
    nums = _entry_of(res, tmp_path)["numbers"]
    measured = res.claims[0].measured
    for f in nums["failing_cases"]:
        t = C.shrink_test(f["ratio_n"], f["ratio_4n"])
        assert f["explained"] == t.explained
        assert f"{f['case']}: {f['ratio_n']:.2f} -> {f['ratio_4n']:.2f} tol, shrink {t.factor:.2f}" in measured
        assert f"{f['case']}: {show(f['ratio_n'])} → {show(f['ratio_4n'])} tol, shrink {show(f['shrink'])}" \
            in res.caption
    assert nums["explained"] == sum(f["explained"] for f in nums["failing_cases"])


# --- the structure itself, on constructed numbers ---------------------------------------------------------------


def test_a_caption_fact_that_disagrees_is_caught():
    nums = {"steps": 1500, "run": {"outcome": "collapsed"}}
    f = [Fact("over {t} steps", {"t": "steps"}), Fact("it {o}", {"o": ("run", "outcome")})]
    good = "Paths over 1,500 steps; it collapsed."
    assert all(x.render(nums) in good for x in f) and stray_digits(good, f, nums) == []
    bad = "Paths over 1,500 steps; it diverged within 3 steps."
    assert f[1].render(nums) not in bad and stray_digits(bad, f, nums) == ["3"]
    assert stray_digits("SPEC §5, the 6→2 network, σ1 and W_1", [], nums) == []
    assert lookup({"a": [{"b": 2}]}, ("a", 0, "b")) == 2
    assert [show(x) for x in (1500, 0.123456, 4.08e-7, 1.0, [0.03, 3.0], "w")] == \
        ["1,500", "0.123", "4.08e-07", "1", "[0.03, 3]", "w"]
    assert not stray_digits("at 1e-08", [Fact("{d}", {"d": "d"})], {"d": 1e-8})


# --- report.html: mathematics offline ----------------------------------------------------------------------------


def test_report_html_renders_math_offline(tmp_path):
    cap = r"Recruitment time (times $\eta$) at $\lambda_0$, $\sigma_1 = 0$; cost in \$ stays text."
    res = FigureResult("fig", "A figure", [], cap, {}, [ClaimResult(4, "(the report states the paper)", r"slope $-1$",
                                                                    "reproduced", r"$|s| \leq 1$", "fig")])
    info = report.RunInfo(command="test", quick=True, seed=0, jobs=1, seconds=0.0)
    page = report.html_report([res], info)
    body = re.sub(r"<code>.*?</code>", "", page, flags=re.S)
    assert not re.search(r"\$\\?[A-Za-z|0-9-]", body.replace("\\$", "")), "raw TeX left in report.html"
    assert "$\\eta$" not in body and "\\lambda" not in body and "\\sigma" not in body
    assert page.count("<math") == 5 and "<mi>&#x003B7;</mi>" in page  # η as MathML
    assert not re.search(r"<(script|link|iframe|img)[^>]*(src|href)\s*=\s*[\"']?(https?:)?//", page, flags=re.I)
    assert "<script" not in page.lower()
    md = report.markdown([res], info)
    assert "$\\eta$" in md  # the Markdown keeps TeX (GitHub renders it)
