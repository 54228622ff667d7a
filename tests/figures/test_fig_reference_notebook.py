"""The reference_notebook figure: registered in reproduce, and every number of its caption is one of numbers.json's."""

from __future__ import annotations

import json
import re

import pytest

from isodyn.figures import fig_reference_notebook as F
from isodyn.figures.reproduce import FIGURES


def test_registered():
    assert "isodyn.figures.fig_reference_notebook" in FIGURES


def _numbers():
    return {"samples": 2000, "steps": 1499, "w0": "torch.manual_seed(2); torch.randn(10, 15) / 4", "cases": {
        label: {"metric": m, "variant": v, "net": n, "lr": 0.01 if m == "euclidean" else 0.1,
                "what_the_notebook_does": "x", "s_final_notebook": [0.1, 1.9], "s_final_gradient": [0.2, 1.04],
                "strongest_notebook": 1.9 + i, "strongest_gradient": 1.04 + i, "weakest_notebook": 0.0123 * (i + 1),
                "weakest_gradient": 0.0456, "max_abs_difference_final": 0.86 + i, "diverged": {},
                "modes": 10, "vanished_notebook": 0, "vanished_gradient": 8 - i}
        for i, (label, m, v, n) in enumerate(F.CASES)}}


def _caption_numbers(caption: str) -> list[float]:
    text = caption.replace("10, 15", "").replace("/ 4", "").replace("seed(2)", "")
    text = re.sub(r"sigma1 = 0|sigma2 = 0\.1|alpha = 1|50,000", "", text)
    text = re.sub(r"\([^)]*isodyn train[^)]*\)", "", text)
    return [float(x.replace(",", "")) for x in re.findall(r"(?<![\w^'])\d[\d,]*\.?\d*(?:e-?\d+)?", text)]


def test_caption_numbers_come_from_the_numbers():
    nums = _numbers()
    cap = F.caption_of(nums)
    found = _caption_numbers(cap)
    from isodyn.dynamics import measures as ms

    allowed = [nums["samples"], nums["steps"], ms.DEAD]
    for c in nums["cases"].values():
        allowed += [c["modes"], c["vanished_notebook"], c["vanished_gradient"], c["lr"], c["strongest_notebook"],
                    c["strongest_gradient"], c["weakest_notebook"],
                    c["weakest_gradient"], c["max_abs_difference_final"]]
    assert found, cap
    for x in found:
        assert any(abs(x - a) <= 5e-4 * max(1.0, abs(a)) for a in allowed), (x, cap)
    for c in nums["cases"].values():  # and each measured number is stated
        for key, fmt in (("strongest_notebook", ".3f"), ("strongest_gradient", ".3f"),
                         ("max_abs_difference_final", ".3f")):
            assert format(c[key], fmt) in cap


@pytest.mark.slow
def test_quick_run_caption_matches_numbers_json(tmp_path):
    import io

    from isodyn.figures.reproduce import run

    run(out=tmp_path, quick=True, only=[F.NAME], stream=io.StringIO())
    fig = json.loads((tmp_path / "numbers.json").read_text())["figures"][F.NAME]
    res_caption = F.caption_of(fig["numbers"])
    report = (tmp_path / "report.md").read_text()
    assert res_caption in report
    for c in fig["numbers"]["cases"].values():
        assert format(c["strongest_notebook"], ".3f") in res_caption
