"""/api/v1/import/{entity} (at once, or `background=true`: a job, followed at
/api/v1/imports/{id}) and /api/v1/export/{entity}: CSV and XLSX in and out."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from metacrm.platform import import_jobs, transfer
from metacrm.platform.api.common import service
from metacrm.platform.errors import BadQuery

MAX_UPLOAD = 50 * 2**20


def import_route(entity: str):
    upload = request.files.get("file")
    if upload is not None:
        data, filename = upload.read(MAX_UPLOAD + 1), upload.filename or "upload.csv"
    else:
        data, filename = (
            request.get_data()[: MAX_UPLOAD + 1],
            "upload.xlsx" if "spreadsheetml" in (request.content_type or "") else "upload.csv",
        )
    if len(data) > MAX_UPLOAD:
        raise BadQuery(f"the file is larger than {MAX_UPLOAD // 2**20} MiB")
    if not data:
        raise BadQuery(
            "send a CSV or XLSX file (multipart field `file`, or the body with Content-Type text/csv)"
        )
    mode = request.args.get("mode", "all_or_nothing")
    if mode not in ("all_or_nothing", "skip_bad_rows"):
        raise BadQuery(
            "mode is all_or_nothing or skip_bad_rows",
            [{"field": None, "message": "unknown mode", "param": "mode"}],
        )
    if request.args.get("background", "").lower() in ("1", "true"):
        options = {
            "mode": mode,
            "key": request.args.get("key") or None,
            "dry_run": request.args.get("dry_run", "").lower() in ("1", "true"),
        }
        queued = import_jobs.submit(service(), entity, data, filename, options)
        response = jsonify(queued)
        response.status_code = 202
        response.headers["Location"] = f"/api/v1/imports/{queued['id']}"
        return response
    try:
        rows = list(transfer.read_table(data, filename))
    except (ValueError, KeyError, OSError) as exc:
        raise BadQuery(f"cannot read the file: {exc}") from exc
    report = transfer.import_rows(
        service(),
        entity,
        rows,
        key=request.args.get("key") or None,
        skip_bad_rows=mode == "skip_bad_rows",
        dry_run=request.args.get("dry_run", "").lower() in ("1", "true"),
    )
    return jsonify(report.as_dict())


def import_status_route(import_id: int):
    return jsonify(import_jobs.status(service(), import_id))


def export_route(entity: str):
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        raise BadQuery(
            "format is csv or xlsx",
            [{"field": None, "message": "unknown format", "param": "format"}],
        )
    params = {k: request.args.getlist(k) for k in request.args if k != "format"}
    columns, rows = transfer.export_rows(service(), entity, params)
    if fmt == "xlsx":
        body = transfer.write_xlsx(columns, rows)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="{entity}.xlsx"'},
        )
    rows = list(rows)  # read every page before answering, so a bad query is a problem document
    return Response(
        "".join(transfer.write_csv(columns, rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{entity}.csv"'},
    )


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/import/<entity>", "import_records", import_route, methods=["POST"])
    bp.add_url_rule("/export/<entity>", "export_records", export_route, methods=["GET"])
    bp.add_url_rule(
        "/imports/<int(max=9223372036854775807):import_id>",
        "import_status",
        import_status_route,
        methods=["GET"],
    )
