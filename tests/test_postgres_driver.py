"""PostgreSQL URLs and the driver they are opened with: psycopg 3 (the `postgres` extra) for `postgresql://`,
`+psycopg` and the `+psycopg2` URLs editors and CI already have; psycopg2 where it is the only one installed; and an
editor's message, naming the fix, where none is (the lean base install; tests/test_wheel_install.py runs that one for
real)."""

from __future__ import annotations

import pytest

from wfdesk import database_url
from wfdesk.database_url import MISSING_DRIVER, MissingDriverError, engine_url
from wfdesk.db.engine import Database
from wfdesk.providers.connection_test import check_database


def _only(monkeypatch, *modules: str) -> None:
    monkeypatch.setattr(database_url, "_installed", lambda module: module in modules)


@pytest.mark.parametrize("url", ["postgresql://bob:pw@h:5432/db", "postgresql+psycopg2://bob:pw@h:5432/db",
                                 "postgresql+psycopg://bob:pw@h:5432/db"])
def test_postgres_urls_open_with_psycopg3_when_installed(url, monkeypatch):
    _only(monkeypatch, "psycopg", "psycopg2")
    mapped = engine_url(url)
    assert mapped.drivername == "postgresql+psycopg"
    assert (mapped.username, mapped.password, mapped.host, mapped.port, mapped.database) == ("bob", "pw", "h", 5432,
                                                                                             "db")


def test_psycopg2_is_used_where_it_is_the_only_driver(monkeypatch):
    _only(monkeypatch, "psycopg2")
    assert engine_url("postgresql://h/db").drivername == "postgresql+psycopg2"
    assert engine_url("postgresql+psycopg://h/db").drivername == "postgresql+psycopg2"


def test_other_urls_are_left_as_they_are(monkeypatch):
    _only(monkeypatch)
    assert engine_url("postgresql+pg8000://h/db").drivername == "postgresql+pg8000"
    assert str(engine_url("sqlite:///x.db")) == "sqlite:///x.db"


def test_without_a_driver_the_editor_is_told_what_to_install(monkeypatch):
    _only(monkeypatch)
    url = "postgresql+psycopg2://bob:secret-pw@127.0.0.1:5432/team"
    with pytest.raises(MissingDriverError) as raised:
        Database(url)
    assert str(raised.value) == MISSING_DRIVER
    assert "pipx install 'wfdesk[postgres]'" in MISSING_DRIVER
    ok, message = check_database(url)  # Settings → Test connection
    assert not ok
    assert message == MISSING_DRIVER
    assert "secret-pw" not in message


def test_the_command_line_says_it_in_words(monkeypatch, capsys, tmp_path):
    from wfdesk.cli import EXIT_FAILED, main

    _only(monkeypatch)
    code = main(["--database", "postgresql://bob:secret-pw@127.0.0.1:5432/team", "--data-dir", str(tmp_path),
                 "init"])
    err = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert err == f"wfdesk: {MISSING_DRIVER}\n"


def test_the_window_says_it_without_a_class_name(monkeypatch):
    from wfdesk.ui.app import one_line

    _only(monkeypatch)
    with pytest.raises(MissingDriverError) as raised:
        Database("postgresql://h/db")
    assert one_line(raised.value) == MISSING_DRIVER  # the "Cannot open the database" box's line
