"""``python -m microgradx ...``: the same as the ``microgradx`` command."""

import sys

from microgradx.cli import main

sys.exit(main())
