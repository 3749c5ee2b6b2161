"""``python -m bridge`` is the ``cortex-bridge`` command."""

import sys

from bridge.cli import main

sys.exit(main())
