"""Import and export: CSV and XLSX, through the record service (so every rule applies).

Import reads rows, turns cells into typed values per field, and writes in
batches with the same validation, references, uniqueness and duplicate rules as
the API. Modes: all-or-nothing (one transaction: any bad row and nothing is
written) or skip-bad-rows (good rows are written, bad ones reported). A dry run
checks everything and writes nothing. `key=` upserts: rows whose key field
matches an existing record update it. Every problem names its row number
(1 = the first data row under the header) and field. Export writes what the
user may read (field permissions and record scope), and needs `export`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import decimal
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, select

from metacrm.platform.errors import BadQuery, ServiceError
from metacrm.platform.query import list_records

BATCH = 1000  # the record service's bulk limit
LIST_TYPES = ("multi_select", "tags", "many_to_many")


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "errors": self.errors,
            "dry_run": self.dry_run,
        }


def read_table(data: bytes | Path, filename: str) -> Iterator[dict]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as {header: cell}."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        sheet = load_workbook(io.BytesIO(raw), read_only=True, data_only=True).active
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for row in rows:
            if row is None or all(c is None or c == "" for c in row):
                continue
            yield {h: c for h, c in zip(header, row, strict=False) if h}
        return
    text = raw.decode("utf-8-sig")
    for row in csv.DictReader(io.StringIO(text)):
        yield {k.strip(): v for k, v in row.items() if k is not None}


def convert(f, value):
    """A cell -> the JSON-ish value the API would accept for this field ('' = empty)."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    t = f.type
    if isinstance(value, str):
        value = value.strip()
    if t in ("integer", "reference", "user"):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(value)
        except (TypeError, ValueError):
            return value  # marshmallow names the problem
    if t in ("decimal", "currency", "percent"):
        return str(value) if not isinstance(value, (int, float, decimal.Decimal)) else str(value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        lowered = str(value).lower()
        return {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}.get(
            lowered, value
        )
    if t == "date" and isinstance(value, dt.datetime):
        return value.date().isoformat()
    if t in ("date", "datetime") and isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if t in LIST_TYPES:
        parts = [p.strip() for p in str(value).split(";") if p.strip()]
        return [int(p) if t == "many_to_many" and p.isdigit() else p for p in parts]
    return value if isinstance(value, str) else str(value)


def import_rows(
    service,
    entity_name: str,
    rows: Iterable[dict],
    *,
    key: str | None = None,
    skip_bad_rows: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    start_after: int = 0,
    on_batch: Callable[[Connection, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import `rows` through the record service.

    `start_after` skips rows up to that number (a resumed background import);
    `on_batch(conn, last_row, report)` runs inside each batch's transaction, so what
    it records commits exactly with the batch.
    """
    entity = service.entity(entity_name)
    service.require(entity, "create")
    if key is not None:
        service.require(entity, "update")
        f = entity.fields.get(key)
        if f is None or not f.stored or f.type in LIST_TYPES:
            raise BadQuery(
                f"cannot upsert by '{key}'",
                [{"field": key, "message": "not a stored scalar field", "param": "key"}],
            )
    report = ImportReport(dry_run=dry_run)
    writable = service.schema(entity).writable_keys
    table = service.state.tables[entity.name]
    one_transaction = not skip_bad_rows  # all-or-nothing (and every dry run) share one transaction

    def note(number: int, exc: ServiceError) -> None:
        for e in exc.errors or [{"field": None, "message": exc.detail}]:
            report.errors.append({"row": number, "field": e.get("field"), "message": e["message"]})

    def body_of(row: dict, number: int) -> dict | None:
        body, ok = {}, True
        for name, value in row.items():
            if name not in entity.fields:
                report.errors.append(
                    {
                        "row": number,
                        "field": name,
                        "message": f"unknown column '{name}' (not a field of {entity.name})",
                    }
                )
                ok = False
            elif (
                name in writable
            ):  # computed or read-only columns (say, from an export) are ignored
                body[name] = convert(entity.fields[name], value)
        return body if ok else None

    def attempt(conn):
        """Skip-bad-rows: a savepoint per attempt, so a row the database refuses (say, a
        unique index) leaves the rest of its batch writable. All-or-nothing needs none."""
        return contextlib.nullcontext() if one_transaction else conn.begin_nested()

    def create(conn, batch: list[tuple[int, dict]]) -> None:
        pending = batch
        while pending:
            check_only = dry_run or (one_transaction and bool(report.errors))
            try:
                with attempt(conn):
                    service._create(
                        entity.name,
                        [b for _, b in pending],
                        bulk=True,
                        conn=conn,
                        dry_run=check_only,
                        returning=False,
                    )
                if not check_only:
                    report.created += len(pending)
                return
            except ServiceError as exc:
                failed = set()
                for e in exc.errors or [{"field": None, "message": exc.detail}]:
                    index = e.get("index")
                    failed.add(index)
                    number = pending[index][0] if index is not None else pending[0][0]
                    report.errors.append(
                        {"row": number, "field": e.get("field"), "message": e["message"]}
                    )
                if one_transaction or None in failed:
                    if not one_transaction:
                        report.skipped += len(pending)
                    return
                report.skipped += len(failed)
                pending = [p for i, p in enumerate(pending) if i not in failed]

    def upsert(conn, batch: list[tuple[int, dict]]) -> None:
        values = [b[key] for _, b in batch if b.get(key) is not None]
        found = {}
        if values:
            query = select(table.c[key], table.c.id).where(
                table.c[key].in_(values), table.c.deleted_at.is_(None)
            )
            found = dict(conn.execute(query).all()) if conn is not None else _lookup(service, query)
        create(conn, [(n, b) for n, b in batch if b.get(key) not in found])
        for number, body in batch:
            if body.get(key) not in found:
                continue
            if dry_run or (one_transaction and report.errors):
                continue
            try:
                with attempt(conn):
                    service.update(entity.name, found[body[key]], body, conn=conn)
                report.updated += 1
            except ServiceError as exc:
                note(number, exc)
                if not one_transaction:
                    report.skipped += 1

    def write(conn, batch) -> None:
        (upsert if key else create)(conn, batch)
        if on_batch is not None and not dry_run:
            on_batch(conn, batch[-1][0], report)

    def run(conn) -> None:
        batch: list[tuple[int, dict]] = []

        def flush():
            if conn is not None:
                write(conn, batch)
            else:  # skip-bad-rows: each batch commits on its own
                with service.state.write.begin() as own:
                    write(own, batch)
            if progress:
                progress(len(batch))

        for number, row in enumerate(rows, start=1):
            report.total += 1
            if number <= start_after:
                continue
            body = body_of(row, number)
            if body is None:
                report.skipped += 0 if one_transaction else 1
                continue
            batch.append((number, body))
            if len(batch) >= BATCH:
                flush()
                batch = []
        if batch:
            flush()

    if one_transaction:
        with service.state.write.connect() as conn:
            transaction = conn.begin()
            try:
                run(conn)
            except BaseException:
                transaction.rollback()  # a crash half way writes nothing either
                raise
            if dry_run or report.errors:
                transaction.rollback()
            else:
                transaction.commit()
        if report.errors and not dry_run:  # all or nothing: nothing was written
            report.created = report.updated = 0
            report.skipped = report.total
    else:
        run(None)
    report.errors.sort(key=lambda e: (e["row"], str(e.get("field"))))
    return report


def _lookup(service, query) -> dict:
    with service.state.engine.connect() as conn:
        return dict(conn.execute(query).all())


def export_rows(
    service, entity_name: str, params: dict[str, list[str]]
) -> tuple[list[str], Iterator[dict]]:
    """Columns and rows of a filtered list, every page, as the user may read them."""
    entity = service.entity(entity_name)
    service.require(entity, "export")
    params = {
        k: v for k, v in params.items() if k not in ("cursor", "limit", "fields", "with_total")
    }
    columns = service.readable(entity)

    def pages():
        cursor = None
        while True:
            page = list_records(
                service,
                entity.name,
                {**params, "limit": ["500"], **({"cursor": [cursor]} if cursor else {})},
            )
            yield from page["data"]
            cursor = page["next_cursor"]
            if not cursor:
                return

    return columns, pages()


def write_csv(columns: list[str], rows: Iterable[dict]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            {k: (";".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()}
        )
        yield buffer.getvalue()


def write_xlsx(columns: list[str], rows: Iterable[dict]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet()
    sheet.append(columns)
    for row in rows:
        sheet.append(
            [
                ";".join(map(str, v))
                if isinstance(v, list)
                else (str(v) if isinstance(v, dict) else v)
                for v in (row.get(c) for c in columns)
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
