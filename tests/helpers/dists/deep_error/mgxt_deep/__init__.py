"""A plugin package whose helper module fails while the plugin module imports it."""
