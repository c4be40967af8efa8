"""The bundle's entry script (packaging/wfdesk.spec): one executable for the window, the CLI and the run process."""

import sys

from wfdesk.frozen import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
