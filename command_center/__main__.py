"""``python -m command_center`` is the ``command-center`` console script."""

import sys

from command_center.cli import main

sys.exit(main())
