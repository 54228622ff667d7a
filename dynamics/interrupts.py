"""Ctrl-C that is never lost: the command line's SIGINT handler and the checkpoints that honour it.

Python's own handler raises KeyboardInterrupt in whatever frame runs when the signal arrives.  Two places in the
libraries a run goes through make that unreliable: a weakref callback (fontTools' glyph caches, while
matplotlib writes a PDF) turns the exception into an "Exception ignored" message and the run goes on as if
nothing had happened; and an exception raised inside llvmlite's FFI lock release (numba loading a cached
kernel) leaves LLVM in a state that aborts the process at exit ("double free").  :func:`install` replaces the
handler with one that records the request and raises at once, except in such a frame, where it only records;
:func:`checkpoint`, called at the points where a long job reports progress (each stage of a figure, each sweep
chunk), raises a recorded request.  So an interrupt is honoured at once, or at the next checkpoint, and never
silently dropped.
"""

from __future__ import annotations

import os
import signal
import threading

#: frames in which raising KeyboardInterrupt is swallowed or unsafe (path fragments of their source files)
FRAGILE_FILES = (os.sep + "weakref.py", os.sep + "llvmlite" + os.sep, os.sep + "numba" + os.sep + "core" + os.sep)

_requested = threading.Event()


def _fragile(frame) -> bool:
    return frame is not None and any(f in frame.f_code.co_filename for f in FRAGILE_FILES)


def handler(signum, frame) -> None:
    """The SIGINT handler: record the request; raise KeyboardInterrupt unless ``frame`` is fragile."""
    _requested.set()
    if not _fragile(frame):
        raise KeyboardInterrupt


def install() -> bool:
    """Use :func:`handler` for SIGINT when Python's default handler is in place (an ignored SIGINT, as in a
    background job, stays ignored).  Only from the main thread; returns whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    _requested.clear()
    signal.signal(signal.SIGINT, handler)
    return True


def checkpoint() -> None:
    """Raise KeyboardInterrupt if an interrupt was requested (and possibly swallowed) since :func:`install`."""
    if _requested.is_set():
        raise KeyboardInterrupt
