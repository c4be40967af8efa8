"""A plugin package whose import never finishes (tests/test_plugins.py): it must not stop the CLI or the app."""

import threading

threading.Event().wait()  # sleeps for ever, as a plugin waiting on a network share or a lock would

PLUGIN = None
