"""The reference's HTTP API (`POST /api/workflow/execute-step` and the run ledger around it), for scripts, a CMS
and other apps. Served by `wfdesk serve` and, while it is open, by the desktop app.

No Qt here: the app plugs in its own runner (its run process) through wfdesk.api.runner.StepRunner.
"""
