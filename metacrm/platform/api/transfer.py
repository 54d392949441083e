"""/api/v1/import/{entity} (at once, or `background=true`: a job, followed at
/api/v1/imports/{id}) and /api/v1/export/{entity}: CSV and XLSX in and out."""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, jsonify, request

from metacrm.platform.api.common import service
from metacrm.platform.errors import BadQuery
from metacrm.platform.query.lists import parse_flag
from metacrm.platform.transfer import background as import_jobs
from metacrm.platform.transfer import files as transfer

MAX_UPLOAD = 50 * 2**20


def _object_param(name: str) -> dict[str, str] | None:
    """`mapping` / `match`: a JSON object of strings, as a form field or query parameter."""
    raw = request.form.get(name) or request.args.get(name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        message = f'{name} is a JSON object of strings, e.g. {{"Company": "name"}}'
        raise BadQuery(message, [{"field": None, "message": message, "param": name}])
    return value


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
    mapping, match = _object_param("mapping"), _object_param("match")
    if parse_flag(request.args, "background"):
        options = {
            "mode": mode,
            "key": request.args.get("key") or None,
            "dry_run": request.args.get("dry_run", "").lower() in ("1", "true"),
            "mapping": mapping,
            "match": match,
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
        mapping=mapping,
        match=match,
        skip_bad_rows=mode == "skip_bad_rows",
        dry_run=request.args.get("dry_run", "").lower() in ("1", "true"),
    )
    response = jsonify(report.as_dict())
    if report.refused:  # all or nothing, and something was bad: nothing was written
        response.status_code = 422
    return response


def import_status_route(import_id: int):
    return jsonify(import_jobs.status(service(), import_id))


def export_route(entity: str):
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        raise BadQuery(
            "format is csv or xlsx",
            [{"field": None, "message": "unknown format", "param": "format"}],
        )
    headers_param = request.args.get("headers", "names")
    if headers_param not in ("names", "labels"):
        raise BadQuery(
            "headers is names or labels",
            [{"field": None, "message": "unknown headers", "param": "headers"}],
        )
    params = {
        k: request.args.getlist(k) for k in request.args if k not in ("format", "headers", "lang")
    }
    columns, rows = transfer.export_rows(service(), entity, params)
    headers = None
    if headers_param == "labels":
        locale = request.args.get("lang") or g.metacrm_context.locale
        headers = transfer.header_labels(service(), entity, columns, locale)
    if fmt == "xlsx":
        body = transfer.write_xlsx(columns, rows, headers)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return Response(
            body,
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="{entity}.xlsx"'},
        )
    every = list(rows)  # read every page before answering: a bad query is a problem document
    return Response(
        "".join(transfer.write_csv(columns, every, headers)),
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
