"""``python -m mrmc.stats``: see :mod:`mrmc.stats.cli`."""

import sys

from .cli import main

sys.exit(main())
