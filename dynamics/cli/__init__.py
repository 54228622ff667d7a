"""isodyn.dynamics.cli - the ``isodyn`` command line: one module per subcommand (ARCHITECTURE.md)."""

from .common import main

__all__ = ["main"]
