"""The banner logic of a step panel: what the RunNotice says about the latest run, and the "looks offline" question.

Before a run it asks when the provider is known to be offline ("Run anyway" starts it all the same); after a run
that was interrupted, cancelled or failed it offers to resume the sections left. The editor can close it; a closed
run's banner stays closed. The words are `run_notice`'s; this decides when they show and what the buttons do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from wfdesk.services import connections
from wfdesk.ui.panels.run_notice import RunNotice, describe_latest_run, offline_warning
from wfdesk.ui.run_controller import RunController
from wfdesk.workspace import Workspace

if TYPE_CHECKING:
    from wfdesk.ui.panels.base import StepPanel


def known_offline_reason(ws: Workspace, runs: RunController, step: dict[str, Any], address: str) -> str | None:
    """Why the provider at address is known to be offline, or None: the window's ProviderStatus (the status bar's
    checks and every run's sections report to it), or this process's circuit breaker for runs kept in the app.
    Never touches the network."""
    reason = runs.providers.offline_reason(address)
    if reason is None:
        profile_name = ((step["config"].get("script_config") or {}).get("parameters") or {}).get("provider")
        reason = connections.offline_reason(ws, profile_name)
    return reason


class RunBanner:
    def __init__(self, panel: StepPanel) -> None:
        self.panel = panel
        self.notice = RunNotice()
        self.dismissed: set[int] = set()  # runs whose notice the editor closed
        self.offline_ask: list[int] | None = None  # sections of a run waiting for "Run anyway"
        self.notice.action_clicked.connect(self._on_action)
        self.notice.dismissed.connect(self._on_dismissed)

    def clear(self) -> None:
        """A run starts, or another step or post shows: no banner, no pending question."""
        self.offline_ask = None
        self.notice.clear()

    def ask_offline(self, section_ids: list[int], offline: tuple[str, str]) -> None:
        self.offline_ask = list(section_ids)
        self.notice.show_notice(offline_warning(*offline))

    def update(self) -> None:
        """The banner about the latest run of this step on this post; hidden while a run is in flight."""
        if self.offline_ask is not None:
            return  # the "looks offline" question stays until answered
        panel = self.panel
        latest = (panel.data or {}).get("latest_run")
        notice = None
        if not panel.is_running() and latest and latest["run_id"] not in self.dismissed:
            offline = latest.get("offline")
            online_now = panel.runs.providers.state(offline.get("address") or panel.provider_address())[0] \
                if offline else None
            notice = describe_latest_run(latest, provider_online=online_now)
        if notice is None:
            self.notice.clear()
        else:
            self.notice.show_notice(notice)

    def provider_changed(self) -> None:
        """The provider answers again (or stopped): the banner's words follow; a pending "Run anyway" question
        about a provider that answers now is moot."""
        if self.offline_ask is not None and self.panel.provider_offline() is None:
            self.offline_ask = None
            self.panel._set_status("The provider answers again: press Run.")
        self.update()

    def _on_action(self) -> None:
        if self.offline_ask is not None:
            ids, self.offline_ask = self.offline_ask, None
            self.notice.clear()
            self.panel.run(section_ids=ids if (self.panel.data or {}).get("sections") else None, offline_ok=True)
        else:
            self.panel.resume()

    def _on_dismissed(self) -> None:
        if self.offline_ask is not None:
            self.offline_ask = None
            self.panel._set_status("Not started.")
            self.update()
            return
        latest = (self.panel.data or {}).get("latest_run")
        if latest:
            self.dismissed.add(latest["run_id"])
