import sys

from wfdesk.cli import main

sys.exit(main())
