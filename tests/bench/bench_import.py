"""Import of a large bundle (default about 45 MB: 1,000 posts x 20 sections) into SQLite and PostgreSQL, side by
side in the same run. Prints both times and their ratio; exits 1 when PostgreSQL takes more than 2x SQLite.

    WFDESK_TEST_POSTGRES_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/test \\
        .venv/bin/python tests/bench/bench_import.py [--posts 1000] [--sections 20] [--twice]

--twice imports the same file a second time (every row exists: the update path).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TARGET = 2.0


def make_bundle(posts: int, sections: int) -> dict:
    reference = json.loads((ROOT / "resources" / "reference-steps.json").read_text())
    paragraph = ("The glen opens towards the loch, pine forest on both sides and the hills beyond. " * 24)[:2000]
    reference["posts"] = [
        {"id": 1000 + p, "title": f"Post {p}", "status": "draft", "fields": {"intro": f"Intro of post {p}."},
         "sections": [{"id": 100_000 + p * sections + i, "position": i, "title": f"Section {i}",
                       "fields": {"draft": f"{p}.{i} {paragraph}", "image_prompts": f"landscape {p} {i}",
                                  "raw_data": json.dumps({"p": p, "i": i})}}
                      for i in range(sections)]}
        for p in range(posts)]
    reference["post_step_overrides"] = []
    return reference


def timed_import(url: str, data_dir: Path, bundle: dict, twice: bool) -> list[float]:
    from wfdesk.services.transfer import import_bundle
    from wfdesk.workspace import open_workspace

    ws = open_workspace(database_url=url, data_dir=data_dir)
    try:
        times = []
        for _ in range(2 if twice else 1):
            started = time.perf_counter()
            with ws.db.session() as s:
                import_bundle(s, bundle)
            times.append(time.perf_counter() - started)
        return times
    finally:
        ws.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--sections", type=int, default=20)
    parser.add_argument("--twice", action="store_true")
    args = parser.parse_args()
    pg = os.environ.get("WFDESK_TEST_POSTGRES_URL")
    if not pg:
        print("set WFDESK_TEST_POSTGRES_URL to a PostgreSQL server to compare with", file=sys.stderr)
        return 2
    from sqlalchemy import create_engine, text

    bundle = make_bundle(args.posts, args.sections)
    size_mb = len(json.dumps(bundle)) / 1e6
    print(f"bundle: {args.posts} posts x {args.sections} sections, {size_mb:.1f} MB of JSON")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = timed_import(f"sqlite:///{tmp}/bench.db", Path(tmp) / "data", bundle, args.twice)
            sep = "&" if "?" in pg else "?"
            postgres = timed_import(f"{pg}{sep}options=-csearch_path%3D{schema}", Path(tmp) / "data", bundle,
                                    args.twice)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    ok = True
    for label, s, p in zip(["first import", "second import (all rows exist)"], sqlite, postgres, strict=False):
        ratio = p / s
        ok &= ratio <= TARGET
        print(f"{label}: SQLite {s:.1f} s, PostgreSQL {p:.1f} s, PostgreSQL / SQLite = {ratio:.2f} "
              f"(target <= {TARGET:g}) {'ok' if ratio <= TARGET else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
