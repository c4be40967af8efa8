"""Use cases the window, the CLI and the HTTP API share: reading a post's state, editing, reviewing, importing and
exporting, step configs. Below them: the database layer (wfdesk.db), the engine (wfdesk.runs) and the handlers."""
