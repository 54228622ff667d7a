"""isodyn.explore - the live explorer of the mode dynamics (``isodyn explore``; issue 12).

    import isodyn.explore
    isodyn.explore.app()          # the Panel layout, for a Jupyter notebook (after ``pn.extension()``)

Needs the ``explore`` extra (``pip install "isodyn[explore]"``: Panel on a Bokeh server).  Modules:
:mod:`.state` (controls, their check, the run and its command line), :mod:`.views` (the page and its linked
views), :mod:`.server` (serving it), :mod:`.bench` (the ``isodyn bench`` group ``explore``).
"""

from __future__ import annotations


def app(**values):
    """The explorer's Panel layout, kernels compiled and drawn; ``values`` set controls (e.g. metric="cosine")."""
    from .views import Explorer

    ex = Explorer(**values)
    ex.warm_up()
    return ex.layout


__all__ = ["app"]
