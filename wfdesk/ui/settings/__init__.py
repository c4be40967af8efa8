"""The Settings dialog's pages, one per tab, each checking and applying its own fields (wfdesk.ui.settings.page)."""
