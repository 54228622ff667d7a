"""Ctrl-C is honoured at once, or at the next checkpoint when it arrives in a frame that would swallow it."""

import signal
import subprocess
import sys
import weakref

import pytest

from isodyn.dynamics import interrupts


def _frame_in(filename):
    """A live frame whose code claims to come from ``filename``, and the handler called from it."""
    code = compile("def f(h):\n    return h(signal.SIGINT, sys._getframe())\n", filename, "exec")
    ns = {"signal": signal, "sys": sys}
    exec(code, ns)
    return ns["f"]


@pytest.fixture
def fresh():
    interrupts._requested.clear()
    yield
    interrupts._requested.clear()


def test_an_ordinary_frame_raises_at_once(fresh):
    with pytest.raises(KeyboardInterrupt):
        _frame_in("/some/where/model.py")(interrupts.handler)


@pytest.mark.parametrize("where", ["/usr/lib/python3.11/weakref.py",
                                   "/venv/site-packages/llvmlite/binding/ffi.py",
                                   "/venv/site-packages/numba/core/event.py"])
def test_a_fragile_frame_defers_to_the_next_checkpoint(fresh, where):
    _frame_in(where)(interrupts.handler)  # does not raise there
    with pytest.raises(KeyboardInterrupt):
        interrupts.checkpoint()


def test_no_request_no_raise(fresh):
    interrupts.checkpoint()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_in_a_weakref_callback_is_not_lost(fresh):
    """What Python's own handler loses: the exception raised inside a weakref callback is 'ignored'."""
    class Thing:
        pass

    def callback(_ref):
        interrupts.handler(signal.SIGINT, sys._getframe())

    t = Thing()
    ref = weakref.ref(t, callback)
    del t  # the callback runs; its exception would be printed and dropped
    assert ref() is None
    with pytest.raises(KeyboardInterrupt):
        interrupts.checkpoint()


def test_install_keeps_an_ignored_sigint_ignored():
    code = ("import signal; from isodyn.dynamics import interrupts; "
            "a = interrupts.install(); b = signal.getsignal(signal.SIGINT) is interrupts.handler; "
            "signal.signal(signal.SIGINT, signal.SIG_IGN); c = interrupts.install(); "
            "print(a, b, c, signal.getsignal(signal.SIGINT) == signal.SIG_IGN)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)).stdout.split()
    assert out == ["True", "True", "False", "True"]
