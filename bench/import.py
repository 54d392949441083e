"""Import 100,000 leads from CSV on SQLite through metacrm's import (all-or-nothing, one
transaction, every rule applied) vs a raw sqlite3 executemany of the same rows. Prints JSON.
Usage: .venv/bin/python bench/import.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

FIELDS = [
    "first_name",
    "last_name",
    "company",
    "email",
    "phone",
    "source",
    "status",
    "rating",
    "industry",
    "estimated_budget",
]


def make_csv(rows: int) -> str:
    rnd = random.Random(11)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for i in range(rows):
        writer.writerow(
            [
                f"First{i}",
                f"Last{i}",
                f"Company {i % 5000}",
                f"lead{i}@example.com",
                f"+1 555 {i:07d}",
                rnd.choice(["web", "referral", "partner"]),
                rnd.choice(["new", "working", "qualified"]),
                rnd.choice(["hot", "warm", "cold"]),
                rnd.choice(["retail", "energy", "finance"]),
                rnd.randrange(1000, 500000),
            ]
        )
    return out.getvalue()


def metacrm_import(text: str) -> tuple[float, dict]:
    os.environ["METACRM_DATA_DIR"] = tempfile.mkdtemp(prefix="metacrm-import-bench-")
    os.environ.pop("METACRM_DATABASE_URL", None)
    from metacrm.platform.access.context import Context
    from metacrm.platform.app import create_app
    from metacrm.platform.records.service import RecordService
    from metacrm.platform.transfer import files as transfer

    app = create_app()
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    service = RecordService(state, Context.system("default"), runtime.pm, runtime.registry)
    t = time.perf_counter()
    rows = list(transfer.read_table(text.encode(), "leads.csv"))
    report = transfer.import_rows(service, "lead", rows)
    elapsed = time.perf_counter() - t
    runtime.close()
    return elapsed, report.as_dict()


def raw_executemany(text: str) -> float:
    path = Path(tempfile.mkdtemp()) / "raw.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"CREATE TABLE lead (id INTEGER PRIMARY KEY, {', '.join(FIELDS)})")
    t = time.perf_counter()
    reader = csv.reader(io.StringIO(text))
    next(reader)
    with db:
        db.executemany(
            f"INSERT INTO lead ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
            reader,
        )
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    text = make_csv(args.rows)
    ours, report = metacrm_import(text)
    raw = raw_executemany(text)
    assert report["created"] == args.rows and not report["errors"], report["errors"][:3]
    print(
        json.dumps(
            {
                "rows": args.rows,
                "metacrm_seconds": round(ours, 2),
                "metacrm_rows_per_s": round(args.rows / ours),
                "raw_executemany_seconds": round(raw, 3),
                "raw_rows_per_s": round(args.rows / raw),
                "ratio_raw_to_metacrm": round(ours / raw, 1),
                "target_10k_rows_per_s": args.rows / ours >= 10_000,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
