"""The plugin's own panel, as the desktop app builds it for a video_generation step: the generic parameters form
plus a playing preview of each section's clip."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtGui import QMovie  # noqa: E402
from wfdesk_video_generation.panel import PREVIEW_BOX, VideoGenerationPanel  # noqa: E402

from wfdesk.ui.panels import create_panel  # noqa: E402
from wfdesk.ui.run_controller import RunController  # noqa: E402

TIMEOUT = 10_000


@pytest.fixture
def panel(qtbot, ws):
    runs = RunController(ws)
    widget = create_panel("video_generation", ws, runs)
    qtbot.addWidget(widget)
    widget.resize(1100, 700)
    widget.show()
    with qtbot.waitSignal(widget.loaded, timeout=TIMEOUT):
        widget.show_step(1, 1)
    yield widget
    assert runs.shutdown(5000)


def test_the_app_builds_the_plugins_own_panel(panel):
    assert type(panel) is VideoGenerationPanel
    assert not panel.panel_error_label.isVisible()
    assert panel.hint_label.text().startswith("Animates each section's accepted and candidate images")
    assert panel.title_label.text() == "section_clips"
    # Its parameters form comes from the plugin's schema, as for any plugin type.
    assert {"param_fps", "param_duration", "param_model"} <= {f.widget.objectName() for f in panel._fields}


def test_a_run_shows_the_clip_playing_scaled_to_the_preview(qtbot, panel):
    panel.picker.set_current(10)
    with qtbot.waitSignal(panel.runs.run_finished, timeout=TIMEOUT) as finished:
        assert panel.run(section_ids=[10]) is not None
    assert finished.args[1]["status"] == "succeeded"
    qtbot.waitUntil(lambda: panel.clip_path is not None, timeout=TIMEOUT)
    assert panel.clip_path == finished.args[1]["results"][0]["image_url"]
    movie = panel.clip_label.movie()
    assert isinstance(movie, QMovie) and movie.isValid() and movie.frameCount() == 8
    assert movie.state() == QMovie.MovieState.Running
    size = movie.scaledSize()
    assert 0 < size.width() <= PREVIEW_BOX.width() and 0 < size.height() <= PREVIEW_BOX.height()
    assert panel.clip_caption.text().startswith(f"Run #{finished.args[0]}: 8 frames")
