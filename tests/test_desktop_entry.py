"""`wfdesk --install-desktop-entry` installs the menu entry, metainfo and icons into $XDG_DATA_HOME, and the files
pass the freedesktop validators (desktop-file-validate, appstreamcli) where the distribution has them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image

from wfdesk.desktop_entry import APP_ID, ICON_SIZES, desktop_file_text, exec_quote, resource
from wfdesk.diagnostics import app_version

PACKAGED = ROOT / "wfdesk" / "resources" / "desktop"


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wfdesk", *args], capture_output=True, text=True, timeout=120,
                          env=env)


def _validate_desktop(path: Path) -> None:
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        pytest.skip("desktop-file-validate is not installed (Debian: desktop-file-utils)")
    proc = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not proc.stdout.strip(), proc.stdout + proc.stderr


def _validate_metainfo(path: Path) -> None:
    tool = shutil.which("appstreamcli")
    if tool is None:
        pytest.skip("appstreamcli is not installed (Debian: appstream)")
    proc = subprocess.run([tool, "validate", "--no-net", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "E:" not in proc.stdout, proc.stdout
    assert "W:" not in proc.stdout, proc.stdout


def test_install_desktop_entry_writes_entry_metainfo_and_every_icon_size(tmp_path):
    data_home = tmp_path / "xdg data"  # a space: the Exec line must stay one argument
    env = {**os.environ, "XDG_DATA_HOME": str(data_home)}
    proc = _cli("--install-desktop-entry", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""

    desktop = data_home / "applications" / f"{APP_ID}.desktop"
    metainfo = data_home / "metainfo" / f"{APP_ID}.metainfo.xml"
    icons = {size: data_home / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
             for size in ICON_SIZES}
    svg = data_home / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"
    for path in (desktop, metainfo, svg, *icons.values()):
        assert str(path) in proc.stdout
        assert path.is_file()
    for size, path in icons.items():
        with Image.open(path) as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"

    entry = desktop.read_text(encoding="utf-8")
    launcher = Path(sys.executable).parent / "wfdesk-gui"  # this venv's gui script, by its full path
    assert f"Exec={launcher}\n" in entry
    assert f"TryExec={launcher}\n" in entry
    assert f"Icon={APP_ID}\n" in entry
    _validate_desktop(desktop)
    _validate_metainfo(metainfo)

    # Again: the same files, replaced in place (a moved installation gets its new path).
    again = _cli("--install-desktop-entry", env=env)
    assert again.returncode == 0
    assert again.stdout == proc.stdout


def test_exec_line_quotes_a_path_with_spaces_and_reserved_characters(tmp_path):
    odd = "/opt/My Apps/wf$desk \"x\"/100%/wfdesk-gui"
    text = desktop_file_text([odd])
    exec_line = next(line for line in text.splitlines() if line.startswith("Exec="))
    assert exec_line == 'Exec="/opt/My Apps/wf\\\\$desk \\\\"x\\\\"/100%%/wfdesk-gui"'
    assert exec_quote("/usr/bin/wfdesk-gui") == "/usr/bin/wfdesk-gui"
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(text, encoding="utf-8")
    _validate_desktop(path)


def test_packaged_files_validate_and_name_the_current_version():
    _validate_desktop(PACKAGED / f"{APP_ID}.desktop")
    metainfo = PACKAGED / f"{APP_ID}.metainfo.xml"
    root = ET.parse(metainfo).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == f"{APP_ID}.desktop"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert root.findtext("project_license") == project["license"]
    releases = [r.get("version") for r in root.iter("release")]
    assert releases[0] == project["version"] == app_version()  # the newest release first: this one
    _validate_metainfo(metainfo)


def test_icons_are_rendered_from_the_svg_at_every_size():
    assert resource("icons", "wfdesk.svg").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    for size in ICON_SIZES:
        with Image.open(ROOT / "wfdesk" / "resources" / "icons" / "png" / f"{size}.png") as image:
            assert image.size == (size, size)
            assert image.getpixel((size // 2, size // 2))[3] == 255  # drawn, not an empty canvas
            assert image.getpixel((0, 0))[3] == 0  # rounded corners: transparent


def test_the_window_uses_the_same_app_id():
    from wfdesk.ui.icons import APP_ID as UI_APP_ID

    assert UI_APP_ID == APP_ID


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktops only")
def test_a_data_home_that_cannot_be_written_is_said_in_words(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = _cli("--install-desktop-entry", env={**os.environ, "XDG_DATA_HOME": str(blocker)})
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"wfdesk: Cannot install the desktop entry into {blocker}")
    assert "Traceback" not in proc.stderr


def test_a_frozen_bundle_is_started_as_itself(monkeypatch, tmp_path):
    from wfdesk import desktop_entry

    bundle = tmp_path / "wfdesk bundle" / "wfdesk"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", str(bundle))
    assert desktop_entry.launcher_command() == [str(bundle)]
    assert f'Exec="{bundle}"\n' in desktop_file_text()
