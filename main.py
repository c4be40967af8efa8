"""Starts the wfdesk desktop app."""

import sys

from wfdesk.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
