"""The import screen: upload a CSV/XLSX file, see how its columns map and what a dry run
finds (a background job), then import it for real with a live progress bar, then the
row errors. The jobs are the platform's background imports, the same as the API's."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for

from metacrm.form_engine.screens import _entity, bp
from metacrm.platform.api.common import service
from metacrm.platform.api.transfer import MAX_UPLOAD  # the API's limit, for the same files
from metacrm.platform.errors import BadQuery, ServiceError
from metacrm.platform.transfer import background


@bp.route("/<entity_name>/import", methods=["GET", "POST"])
def import_page(entity_name: str):
    entity = _entity(entity_name)
    svc = service()
    svc.require(entity, "create")
    if request.method == "GET":
        return render_template("screens/import.html", entity=entity, error=None)
    upload = request.files.get("file")
    data = upload.read(MAX_UPLOAD + 1) if upload else b""
    try:
        if not data:
            raise BadQuery("choose a CSV or XLSX file")
        if len(data) > MAX_UPLOAD:
            raise BadQuery(f"the file is larger than {MAX_UPLOAD // 2**20} MiB")
        mode = request.form.get("mode", "skip_bad_rows")
        if mode not in ("all_or_nothing", "skip_bad_rows"):
            raise BadQuery("unknown mode")
        options = {"mode": mode, "key": None, "dry_run": True, "mapping": None, "match": None}
        filename = (upload.filename if upload else None) or "upload.csv"
        queued = background.submit(svc, entity.name, data, filename, options)
    except ServiceError as exc:
        return render_template("screens/import.html", entity=entity, error=exc.detail), exc.status
    return redirect(url_for("screens.import_status", import_id=queued["id"]))


@bp.get("/imports/<id:import_id>")
def import_status(import_id: int):
    svc = service()
    job = background.status(svc, import_id)
    template = "screens/import_progress.html" if request.headers.get("HX-Request") else None
    return render_template(
        template or "screens/import_status.html", job=job, entity=svc.entity(job["entity"])
    )


@bp.post("/imports/<id:import_id>/run")
def import_for_real(import_id: int):
    queued = background.run_for_real(service(), import_id)
    return redirect(url_for("screens.import_status", import_id=queued["id"]))
