"""Serving the explorer: the address check, one page per session (its controls in the URL), the server loop.

The page's controls are synchronised with the query string (``pn.state.location.sync``), so a link or a reload
restores them; each session compiles (or loads from the disk cache) its rule's kernels on load, on a worker
thread, with a progress bar, before the first draw.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys

import param

from isodyn.derivations import InputError


def check_address(host: str, port: int) -> None:
    """InputError (flag ``host`` or ``port``) unless ``host`` is an IP address or a name that resolves, and
    ``port`` can be bound there now."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, OSError):
            raise InputError("host", host, "an IP address (e.g. 127.0.0.1) or a host name that resolves") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind((host, port))
        except OSError as e:
            raise InputError("port", port, f"a free port on {host} (this one: {e.strerror or e})",
                             what="cannot listen on") from None


def page():
    """One session: the explorer with its controls synchronised to the URL, kernels compiled on load."""
    import panel as pn

    from .views import LABELS, Explorer

    values, bad = url_values(pn.state.session_args or {})
    ex = Explorer(**values)
    if bad:
        ex._fail(f"isodyn: error: the link's {', '.join(bad)}: not understood; the defaults are used")
    ex.document = pn.state.curdoc
    if pn.state.location is not None:
        pn.state.location.sync(ex.controls, {name: name for name in LABELS})
    pn.state.onload(ex.warm_up, threaded=True)
    pn.state.cache.setdefault("explorers", []).append(ex)
    return pn.Column(pn.pane.Markdown("# isodyn explore\nThe eigenmode dynamics of non-contrastive SSL, live: "
                                      "change a control and every view redraws."), ex.layout,
                     sizing_mode="stretch_width")


def url_values(args: dict) -> tuple[dict, list]:
    """The controls a link sets ({name: value}) from the request's query arguments ({name: [bytes]}, as
    ``pn.state.location.sync`` writes them), and the names whose values do not fit their control."""
    import json

    from .views import LABELS, PortraitControls

    values, bad = {}, []
    for name in LABELS:
        if name not in args or not args[name]:
            continue
        raw = args[name][0].decode("utf-8", "replace")
        p = PortraitControls.param[name]
        try:
            v = raw if isinstance(p, param.String | param.Selector) else json.loads(raw)
            p._validate(v)
            values[name] = v
        except (ValueError, TypeError):
            bad.append(name)
    return values, bad


def url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def serve(host: str, port: int, open_browser: bool) -> int:
    """Serve until interrupted; prints the URL; returns 130 after Ctrl-C (the server stopped)."""
    import panel as pn

    pn.extension("mathjax", notifications=False)
    pn.config.nthreads = 2  # callbacks (a redraw, the warm-up) on worker threads: the page stays responsive
    origins = [f"{host}:{port}"] + ([f"localhost:{port}", f"127.0.0.1:{port}"] if host in ("127.0.0.1", "::1",
                                                                                           "localhost") else [])
    server = pn.serve({"/": page}, port=port, address=host, websocket_origin=origins, show=False, start=False,
                      title="isodyn explore", verbose=False)
    server.start()
    link = url(host, port)
    print(f"isodyn explore: serving on {link} (Ctrl-C stops it)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(link)
    stopped = []

    def interrupted(signum, frame):  # Ctrl-C: stop the loop from its own thread, then the server
        stopped.append(signum)
        server.io_loop.add_callback_from_signal(server.io_loop.stop)

    signal.signal(signal.SIGINT, interrupted)
    server.io_loop.start()
    server.stop()
    sys.stderr.write("isodyn explore: stopped\n")
    return 130 if stopped else 0
