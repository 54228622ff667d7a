"""Arrays a sampled run reuses from step to step (issue 11 item 8).

A large-n step makes a dozen (n, M) and (n, N) temporaries.  Allocated afresh each step they cost
about as much as the arithmetic on them: glibc hands blocks this large back to the system when they
are freed, so every step page-faults its memory in again.  A :class:`Workspace` keeps one array per
name and the step writes into it (``out=``); the values are the same, bit for bit.
"""

from __future__ import annotations


class Workspace:
    """Named arrays on a backend, allocated on first use (or when the shape or dtype changes).

    An array handed out is overwritten by the next request of its name: only a step's own
    temporaries live here, never what it returns.
    """

    def __init__(self, xp, dtype):
        self.xp, self.dtype = xp, dtype
        self._arrays: dict[str, object] = {}

    def __call__(self, name: str, shape: tuple[int, ...], dtype=None):
        dtype = self.dtype if dtype is None else dtype
        a = self._arrays.get(name)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self._arrays[name] = self.xp.empty(shape, dtype=dtype)
        return a


def out(ws: Workspace | None, name: str, shape: tuple[int, ...], dtype=None):
    """``ws(name, shape)``, or None (let the operation allocate) without a workspace."""
    return None if ws is None else ws(name, shape, dtype)
