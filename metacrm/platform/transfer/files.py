"""Import and export: CSV and XLSX, through the record service (so every rule applies).

Import reads rows, maps columns to fields and turns cells into values
(`import_mapping`: headers by name or label, select labels, reference names),
and writes in batches with the same validation, references, uniqueness and duplicate rules as
the API. Modes: all-or-nothing (one transaction: any bad row and nothing is
written) or skip-bad-rows (good rows are written, bad ones reported). A dry run
checks everything and writes nothing. `key=` upserts: rows whose key field
matches an existing record update it, with only the fields that differ (a row
equal to its record is `unchanged`: re-importing an export changes nothing).
Every problem names its row number (1 = the first data row under the header)
and field. Export writes what the
user may read (field permissions and record scope), and needs `export`.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy import Connection, select

from metacrm.metadata.field_types import FieldType
from metacrm.metadata.model import label_text
from metacrm.platform.errors import BadQuery, ServiceError
from metacrm.platform.query.lists import list_records
from metacrm.platform.records.service import RecordService
from metacrm.platform.transfer.mapping import (
    ColumnMapping,
    convert,
    map_columns,
    resolve_references,
)

BATCH = 1000  # the record service's bulk limit
PREVIEW_ROWS = 10
# A text cell starting with one of these is a live formula to spreadsheet programs
# (OWASP "CSV injection"): exports write it as text, CSV behind a `'`.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass
class ImportReport:
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    errors: list[dict] = field(default_factory=list)
    dry_run: bool = False
    mapping: ColumnMapping | None = None
    preview: list[dict] = field(default_factory=list)  # a dry run's first rows, as written

    @property
    def refused(self) -> bool:
        """An all-or-nothing import that wrote nothing because of bad rows."""
        return bool(self.errors) and not self.dry_run and self.created + self.updated == 0

    def as_dict(self) -> dict:
        out = {
            "total": self.total,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "errors": self.errors,
            "dry_run": self.dry_run,
            "mapping": self.mapping.as_dict() if self.mapping else None,
        }
        if self.dry_run:
            out["preview"] = self.preview
        return out


def read_table(data: bytes | Path, filename: str) -> Iterator[dict]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file as {header: cell}."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    if filename.lower().endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(raw), read_only=True, data_only=True).active
        except Exception as exc:  # noqa: BLE001 - whatever openpyxl trips on, the file is unreadable
            raise BadQuery(f"not a readable XLSX file ({type(exc).__name__}: {exc})") from None
        if sheet is None or not hasattr(sheet, "iter_rows"):
            raise BadQuery("the workbook's first sheet is not a worksheet: nothing to import")
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        for row in rows:
            if row is None or all(c is None or c == "" for c in row):
                continue
            yield {h: c for h, c in zip(header, row, strict=False) if h}
        return
    text = raw.decode("utf-8-sig")
    for line in csv.DictReader(io.StringIO(text)):
        yield {
            k.strip(): undo_csv_safe(v) if isinstance(v, str) else v
            for k, v in line.items()
            if k is not None
        }


def import_rows(
    service: RecordService,
    entity_name: str,
    rows: Iterable[dict],
    *,
    key: str | None = None,
    mapping: dict[str, str] | None = None,
    match: dict[str, str] | None = None,
    skip_bad_rows: bool = False,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    start_after: int = 0,
    on_batch: Callable[[Connection, int, ImportReport], None] | None = None,
) -> ImportReport:
    """Import `rows` through the record service.

    `mapping` maps columns to fields explicitly (the rest map by name or label), `match`
    chooses what reference cells are matched on (see import_mapping.map_columns).
    `start_after` skips rows up to that number (a resumed background import);
    `on_batch(conn, last_row, report)` runs inside each batch's transaction, so what
    it records commits exactly with the batch.
    """
    entity = service.entity(entity_name)
    service.require(entity, "create")
    if key is not None:
        service.require(entity, "update")
        f = entity.fields.get(key)
        if f is None or not f.stored or f.kind.is_list:
            raise BadQuery(
                f"cannot upsert by '{key}'",
                [{"field": key, "message": "not a stored scalar field", "param": "key"}],
            )
    report = ImportReport(dry_run=dry_run)
    writable = set(service.schema(entity).writable_keys)
    targets = {
        target: service.entity(target)
        for f in entity.fields.values()
        if (target := f.kind.target(f)) is not None
    }
    table = service.state.tables[entity.name]
    one_transaction = not skip_bad_rows  # all-or-nothing (and every dry run) share one transaction

    def note(number: int, exc: ServiceError) -> None:
        for e in exc.errors or [{"field": None, "message": exc.detail}]:
            report.errors.append({"row": number, "field": e.get("field"), "message": e["message"]})

    def body_of(row: dict) -> dict:
        if report.mapping is None:
            report.mapping = map_columns(entity, targets, list(row), writable, mapping, match, key)
        columns, options = report.mapping.fields, report.mapping.options
        return {
            name: convert(entity.fields[name], row.get(column), options.get(name))
            for column, name in columns.items()
        }

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
                    service.create_records(
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
        assert key is not None  # upserts run only with a key
        values = [b[key] for _, b in batch if b.get(key) is not None]
        found = {}
        if values:
            query = select(table.c[key], table.c.id).where(
                table.c[key].in_(values), table.c.deleted_at.is_(None)
            )
            found = dict(conn.execute(query).all())
        lookup_only = key not in writable  # say, an auto number: matched on, never written
        create(
            conn,
            [
                (n, {k: v for k, v in b.items() if k != key or not lookup_only})
                for n, b in batch
                if b.get(key) not in found
            ],
        )
        matched = [(n, b) for n, b in batch if b.get(key) in found]
        current = service.get_many(entity.name, [found[b[key]] for _, b in matched], conn)
        schema = service.schema(entity)
        for number, body in matched:
            rid = found[body[key]]
            changes = _changes(schema, body, current[rid], skip=key if lookup_only else None)
            if changes is None:
                report.unchanged += 1
                continue
            if dry_run or (one_transaction and report.errors):
                continue
            try:
                with attempt(conn):
                    service.update(entity.name, rid, changes, conn=conn)
                report.updated += 1
            except ServiceError as exc:
                note(number, exc)
                if not one_transaction:
                    report.skipped += 1

    def write(conn, batch) -> None:
        last_row = batch[-1][0]
        assert report.mapping is not None  # made from the header row, before any batch
        bad = resolve_references(conn, service, entity, report.mapping, batch)
        if bad:
            report.errors.extend(bad)
            rows_with_errors = {e["row"] for e in bad}
            batch = [(n, b) for n, b in batch if n not in rows_with_errors]
            if not one_transaction:
                report.skipped += len(rows_with_errors)
        if dry_run and len(report.preview) < PREVIEW_ROWS:
            report.preview.extend(
                {"row": n, "values": b} for n, b in batch[: PREVIEW_ROWS - len(report.preview)]
            )
        if batch:
            (upsert if key else create)(conn, batch)
        if on_batch is not None and not dry_run:
            on_batch(conn, last_row, report)

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
            batch.append((number, body_of(row)))
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
            report.created = report.updated = report.unchanged = 0
            report.skipped = report.total
    else:
        run(None)
    report.errors.sort(key=lambda e: (e["row"], str(e.get("field"))))
    return report


def _changes(schema, body: dict, record: dict, skip: str | None) -> dict | None:
    """The fields of `body` whose values differ from `record` (compared as loaded), or None."""
    names = [k for k in body if k != skip]
    try:
        wanted = schema.load({k: body[k] for k in names}, partial=True)
    except ValidationError:  # invalid: let the update name the problem
        return {k: body[k] for k in names}
    try:
        have = schema.load({k: record.get(k) for k in names}, partial=True)
    except ValidationError:  # the stored value no longer validates: write the row
        have = {}
    changed = {k: body[k] for k in names if k not in have or wanted.get(k) != have.get(k)}
    return changed or None


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
    formatted = [  # only the types that write cells their own way cost a call per cell
        (name, f)
        for name in columns
        if (f := entity.fields.get(name)) is not None
        and type(f.value_kind).export_value is not FieldType.export_value
    ]

    def pages():
        cursor = None
        while True:
            page = list_records(
                service,
                entity.name,
                {**params, "limit": ["500"], **({"cursor": [cursor]} if cursor else {})},
            )
            for row in page["data"]:
                for name, f in formatted:
                    if row.get(name) is not None:
                        row[name] = f.value_kind.export_value(f, row[name])
                yield row
            cursor = page["next_cursor"]
            if not cursor:
                return

    return columns, pages()


def _cell_text(value) -> str:
    return ";".join(map(str, value)) if isinstance(value, list) else str(value)


def csv_safe(text: str) -> str:
    """`=1+2` -> `'=1+2`; a text that starts with `'` gets one more, so import can undo it."""
    return "'" + text if text.startswith((*FORMULA_START, "'")) else text


def undo_csv_safe(text: str) -> str:
    """The inverse of csv_safe, applied on import (`'+86 ...` as Excel users type it, too)."""
    if text.startswith("'") and text[1:].startswith((*FORMULA_START, "'")):
        return text[1:]
    return text


def header_labels(
    service: RecordService, entity_name: str, columns: list[str], locale: str
) -> list[str]:
    """Column headers as field labels in `locale` (system columns keep their names); import
    maps them back, so an export with labels re-imports as it is."""
    fields = service.entity(entity_name).fields
    return [label_text(fields[c].label, locale) if c in fields else c for c in columns]


def write_csv(
    columns: list[str], rows: Iterable[dict], headers: list[str] | None = None
) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writerow(dict(zip(columns, map(csv_safe, headers or columns), strict=True)))
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(
            {
                k: csv_safe(_cell_text(v)) if isinstance(v, (str, list, dict)) else v
                for k, v in row.items()
            }
        )
        yield buffer.getvalue()


def write_xlsx(columns: list[str], rows: Iterable[dict], headers: list[str] | None = None) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet()

    def cell(value):
        if not isinstance(value, (str, list, dict)):
            return value
        text = _cell_text(value)
        if not text.startswith(FORMULA_START):
            return text
        safe = WriteOnlyCell(sheet, value=text)
        safe.data_type, safe.quotePrefix = "s", True  # text, and stays text when edited
        return safe

    sheet.append([cell(c) for c in headers or columns])
    for row in rows:
        sheet.append([cell(row.get(c)) for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
