"""``preexec_fn`` for a child process a test interrupts with SIGINT.

A shell starts a background job (``cmd &``) with SIGINT ignored, and a child inherits that: Python then
installs no KeyboardInterrupt handler and the test's SIGINT does nothing.  The child gets the default back.
"""

import signal


def restore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
