"""``isodyn explore [--port P] [--host H] [--no-browser]``: the live explorer (issue 12; :mod:`isodyn.explore`).

Checked before anything starts: Panel and Bokeh are installed (the ``explore`` extra), ``--host`` is an address
and ``--port`` can be bound on it.  Prints the URL, opens the browser unless ``--no-browser``; Ctrl-C stops the
server (exit status 130).
"""

from __future__ import annotations

import importlib.util

from isodyn.derivations.checks import InputError
from isodyn.dynamics.cli.common import UsageError, integer, usage_error

EXTRA = 'pip install "isodyn[explore]"'


def add_parser(sub):
    p = sub.add_parser("explore", help="the live explorer in the browser (Panel)",
                       description="Serve the interactive explorer of the mode dynamics: controls, linked views, "
                                   "the derivation; the state is in the URL.")
    p.add_argument("--port", type=integer("an integer port in [1, 65535]", lo=1, hi=65535), default=5006)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser")
    return p


def run(args) -> int:
    missing = [m for m in ("panel", "bokeh") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"explore needs {' and '.join(missing)}, which are not installed; accepted: {EXTRA}")
    from isodyn.explore.server import check_address, serve

    try:
        check_address(args.host, args.port)
    except InputError as e:
        raise usage_error(e) from None
    return serve(args.host, args.port, open_browser=not args.no_browser)
