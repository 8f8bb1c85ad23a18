"""``python -m microgradx.cli ...``: the same as the ``microgradx`` command."""

import sys

from microgradx.cli import main

sys.exit(main())
