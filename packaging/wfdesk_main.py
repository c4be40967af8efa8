"""The bundle's entry script (packaging/wfdesk.spec): one executable for the window, the CLI and the run process.

No arguments start the window, wfdesk.frozen.RUN_PROCESS_ARG the app's run process, anything else is the `wfdesk`
command line. Outside the wfdesk package, so that the one place that reaches both the window and the engine is not a
module of theirs (the import contracts in .importlinter).
"""

from __future__ import annotations

import os
import sys

from wfdesk.frozen import RUN_PROCESS_ARG, add_plugins_to_path, bundle_plugins_dir, is_frozen, restore_library_path


def main(argv: list[str]) -> int:
    """`argv` without the program name."""
    if is_frozen():
        if sys.platform.startswith("linux"):
            restore_library_path(os.environ)
        add_plugins_to_path(bundle_plugins_dir())
    if argv[:1] == [RUN_PROCESS_ARG]:
        from wfdesk.runs.child import main as run_process

        return run_process()
    # macOS's Finder may pass a process serial number (-psn_…) to an app it starts: that is still "the window".
    if not [arg for arg in argv if not arg.startswith("-psn_")]:
        from wfdesk.ui.app import main as window

        return window(sys.argv[:1])
    from wfdesk.cli import main as command_line

    return command_line(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
