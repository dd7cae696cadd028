"""``python -m wsframework``: see :mod:`wsframework.cli`."""

import sys

from .cli import main

sys.exit(main())
