"""Settings → Database: a SQLite file on this computer or a team's PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)
from sqlalchemy.engine import make_url

from wfdesk.db.engine import sqlite_url_for
from wfdesk.services import connections
from wfdesk.settings import Settings, default_data_dir, environment
from wfdesk.ui.config_editor.parameters_form import ProblemLabel, hint_label
from wfdesk.ui.settings.page import Problem, SettingsPage, run_connection_test, show_result


class DatabasePage(SettingsPage):
    checked = Signal(bool, str)  # the Test connection verdict

    def __init__(self, settings: Settings, open_now: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        col = QVBoxLayout(self)
        col.addWidget(QLabel(f"Open now: <b>{open_now}</b>"))
        self.sqlite_radio = QRadioButton("SQLite file on this computer (one editor, works offline)")
        self.pg_radio = QRadioButton("PostgreSQL server (a team shares one database)")
        group = QButtonGroup(self)
        group.addButton(self.sqlite_radio)
        group.addButton(self.pg_radio)
        self.sqlite_path = QLineEdit()
        self.sqlite_path.setObjectName("sqlite_path")
        self.default_file = Path(settings.data_dir or default_data_dir()) / "wfdesk.db"
        self.sqlite_path.setPlaceholderText(f"default: {self.default_file}")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        sqlite_row = QHBoxLayout()
        sqlite_row.setContentsMargins(24, 0, 0, 0)
        sqlite_row.addWidget(self.sqlite_path, 1)
        sqlite_row.addWidget(browse)
        self.pg_url = QLineEdit()
        self.pg_url.setObjectName("pg_url")
        self.pg_url.setPlaceholderText("postgresql://user@host:5432/wfdesk")
        self.pg_url.textEdited.connect(self._check_password_in_url)
        pg_col = QVBoxLayout()
        pg_col.setContentsMargins(24, 0, 0, 0)
        pg_col.addWidget(self.pg_url)
        pg_col.addWidget(hint_label("Keep the password out of the URL: use ~/.pgpass or the PGPASSWORD environment "
                                    "variable (the URL is stored in the settings file in plain text)."))
        self.pg_warning = ProblemLabel()
        pg_col.addWidget(self.pg_warning)
        url = settings.database_url
        if url and make_url(url).get_backend_name() != "sqlite":
            self.pg_radio.setChecked(True)
            self.pg_url.setText(url)
        else:
            self.sqlite_radio.setChecked(True)
            self.sqlite_path.setText(make_url(url).database or "" if url else "")
        for radio in (self.sqlite_radio, self.pg_radio):
            radio.toggled.connect(self._mode_changed)
        test = QPushButton("Test connection")
        test.setObjectName("test_database")
        test.clicked.connect(self.test_connection)
        self.db_result = QLabel()
        self.db_result.setObjectName("database_result")
        self.db_result.setWordWrap(True)
        self.db_problem = ProblemLabel()
        test_row = QHBoxLayout()
        test_row.addWidget(test)
        test_row.addWidget(self.db_result, 1)
        col.addSpacing(8)
        col.addWidget(self.sqlite_radio)
        col.addLayout(sqlite_row)
        col.addSpacing(8)
        col.addWidget(self.pg_radio)
        col.addLayout(pg_col)
        col.addWidget(self.db_problem)
        col.addLayout(test_row)
        col.addWidget(hint_label("After a change of database, wfdesk reopens on the new one. Nothing is copied "
                                 "between databases: use File → Export / Import for that."))
        if environment().database_url:
            col.addWidget(hint_label("WFDESK_DATABASE_URL is set in the environment: it wins over this setting."))
        col.addStretch(1)
        self._mode_changed()

    def _mode_changed(self, *_args: object) -> None:
        sqlite = self.sqlite_radio.isChecked()
        self.sqlite_path.setEnabled(sqlite)
        self.pg_url.setEnabled(not sqlite)
        self.db_result.clear()

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "SQLite database file", self.sqlite_path.text()
                                              or str(default_data_dir()), "SQLite database (*.db *.sqlite);;All (*)",
                                              options=QFileDialog.Option.DontConfirmOverwrite)
        if path:
            self.sqlite_path.setText(path)

    def _check_password_in_url(self, text: str) -> None:
        try:
            has_password = bool(make_url(text.strip()).password) if text.strip() else False
        except Exception:  # noqa: BLE001 - a half-typed URL
            has_password = False
        self.pg_warning.set_problem("this URL contains a password, which would be saved in plain text"
                                    if has_password else None)

    def database_url(self) -> str | None:
        """The URL the form describes; None = the default SQLite file."""
        if self.sqlite_radio.isChecked():
            path = self.sqlite_path.text().strip()
            return sqlite_url_for(str(Path(path).expanduser())) if path else None
        return self.pg_url.text().strip() or None

    def test_connection(self) -> None:
        url = self.database_url()
        if url is None and not self.default_file.exists():
            # wfdesk creates its data folder and default file on start, so their absence is fine.
            show_result(self.db_result, True, f"The default database {self.default_file} will be created when "
                                              "wfdesk opens it")
            self.checked.emit(True, self.db_result.text())
            return
        url = url or sqlite_url_for(str(self.default_file))
        run_connection_test(self, self.db_result, "Connecting…", lambda: connections.check_database(url), self.checked)

    # -- the page protocol ----------------------------------------------------------------------------------

    def problem_labels(self) -> list[ProblemLabel]:
        return [self.db_problem]

    def problems(self) -> list[Problem]:
        if not self.pg_radio.isChecked():
            return []
        url = self.pg_url.text().strip()
        try:
            ok = bool(url) and make_url(url).get_backend_name() == "postgresql"
        except Exception:  # noqa: BLE001 - anything make_url refuses is not a PostgreSQL URL
            ok = False
        return [] if ok else [(self.db_problem, "enter a PostgreSQL URL such as postgresql://user@host:5432/wfdesk")]

    def apply_to(self, new: Settings) -> None:
        new.database_url = self.database_url()
