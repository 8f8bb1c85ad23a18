"""A plugin that fails at import time."""

raise RuntimeError("mgxt_broken_import explodes at import")
