"""``python -m wsframework``: see :mod:`wsframework.apps.cli`."""

import sys

from .apps.cli import main

sys.exit(main())
