"""figures.style.save: one layout for every format, and nothing of the laid-out figure cropped."""

from __future__ import annotations

import struct

import pytest

from isodyn.figures.style import plt, save, style


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def _figure(layout: str):
    with style():
        fig, axes = plt.subplots(2, 3, figsize=(6, 4), layout=layout, sharex=True, sharey=True)
        for ax in axes.flat:
            ax.loglog([1e-3, 1e2], [1e-4, 1e2])
            ax.set_title("a title\nof two lines")
        fig.supylabel("a long label on the left")
        fig.legend(["line"], loc="outside lower center" if layout == "constrained" else "lower center")
    return fig


@pytest.mark.parametrize("layout", ["constrained", "tight"])
def test_save_matches_matplotlibs_own_tight_bounding_box(tmp_path, layout):
    """The PNG save() writes has the size of matplotlib's own savefig(bbox_inches='tight') of the same figure
    (which lays the figure out before measuring it); a bounding box taken before the layout crops the figure."""
    with style():
        ref = _figure(layout)
        ref.savefig(tmp_path / "ref.png", bbox_inches="tight")
        plt.close(ref)
        files = save(_figure(layout), tmp_path / "ours")
    assert [f.suffix for f in files] == [".png", ".pdf"]
    (w, h), (rw, rh) = _png_size(tmp_path / "ours.png"), _png_size(tmp_path / "ref.png")
    assert abs(w - rw) <= 2 and abs(h - rh) <= 2, ((w, h), (rw, rh))
    assert (tmp_path / "ours.pdf").read_bytes()[:5] == b"%PDF-"


def _simple_figure():
    with style():
        fig, ax = plt.subplots(figsize=(2, 2))
        ax.plot([0, 1], [0, 1])
        ax.set_title(r"a title, $\eta$")
    return fig


def test_pdf_fonts_truetype_by_default_type3_when_asked(tmp_path):
    """save() embeds TrueType (Type 42) fonts unless told otherwise; pdf_fonttype(3) (what a quick reproduce
    uses) embeds Type 3 fonts; the setting ends with its context."""
    from isodyn.figures.style import pdf_fonttype

    save(_simple_figure(), tmp_path / "default")
    with pdf_fonttype(3):
        save(_simple_figure(), tmp_path / "quick")
    save(_simple_figure(), tmp_path / "after")
    default, quick, after = ((tmp_path / f"{n}.pdf").read_bytes() for n in ("default", "quick", "after"))
    assert b"/FontFile2" in default and b"/Type3" not in default
    assert b"/Type3" in quick and b"/FontFile2" not in quick
    assert b"/FontFile2" in after
    with pytest.raises(ValueError):
        with pdf_fonttype(1):
            pass
