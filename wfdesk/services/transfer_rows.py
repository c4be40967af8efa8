"""Reading and writing rows in bulk for an import: a few statements per table, never one per row (a round trip per
row made a 45 MB import take minutes on a PostgreSQL server); on PostgreSQL new rows go in with COPY."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, insert, select
from sqlalchemy.orm import Session

from wfdesk.db.models import LLMAction, Post, PostSection, WorkflowStepEntity

CHUNK = 500  # ids per IN (...) list


def chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


def select_in(session: Session, stmt: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """Rows of `stmt` whose `column` is one of `values`, a chunk of ids per query."""
    rows: list[Any] = []
    for chunk in chunks(sorted(set(values))):
        rows.extend(session.execute(stmt.where(column.in_(chunk))).all())
    return rows


def upsert_all(session: Session, table: type[LLMAction | WorkflowStepEntity | Post | PostSection],
               rows: list[tuple[int, dict[str, Any]]]) -> None:
    """Existing rows (read in bulk) are updated where a value differs; new rows are inserted in one statement."""
    if not rows:
        return
    existing = {obj.id: obj for (obj,) in select_in(session, select(table), table.id, [i for i, _ in rows])}
    new = []
    for row_id, values in rows:
        obj = existing.get(row_id)
        if obj is None:
            new.append({"id": row_id, **values})
            continue
        for key, value in values.items():
            if getattr(obj, key) != value:
                setattr(obj, key, value)
    if new:
        bulk_insert(session, table.__table__, new)


def bulk_insert(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """Thousands of rows: PostgreSQL's COPY, several times faster there than batched INSERTs; elsewhere one
    executemany. Every row gets the same keys, the columns' Python-side defaults filled in (COPY applies none)."""
    rows = _with_defaults(table, rows)
    if session.get_bind().dialect.name != "postgresql":
        session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    # CSV with every value quoted; NULL is "\N", honoured (FORCE_NULL) only in the columns that are not text.
    nullable = [c for c in columns if not isinstance(table.c[c].type, (String, Text))]
    encode = {c: (json.dumps if isinstance(rows[0][c], (dict, list)) else
                  (lambda v: v.isoformat()) if isinstance(rows[0][c], datetime) else None) for c in columns}
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([NULL if (v := row[c]) is None else enc(v) if (enc := encode[c]) else v for c in columns]
                     for row in rows)
    buffer.seek(0)
    force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '{NULL}'{force_null})"
    cursor = session.connection().connection.cursor()
    try:
        if hasattr(cursor, "copy_expert"):  # psycopg2
            cursor.copy_expert(statement, buffer)
        else:  # psycopg 3
            with cursor.copy(statement) as copy:
                copy.write(buffer.getvalue())
    finally:
        cursor.close()


NULL = "\\N"


def _with_defaults(table: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the columns' Python-side defaults where a row lacks the key (computed once: one import, one
    timestamp)."""
    keys = set().union(*rows)
    defaults = {}
    for column in table.columns:
        default = column.default
        if column.name in keys or default is None:
            continue
        if getattr(default, "is_scalar", False):
            defaults[column.name] = default.arg
        elif getattr(default, "is_callable", False):
            defaults[column.name] = default.arg(None)
    return [{**row, **defaults} for row in rows] if defaults else rows
