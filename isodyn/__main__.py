"""``python -m isodyn`` = the ``isodyn`` command."""

import sys

from isodyn.dynamics.cli import main

sys.exit(main())
