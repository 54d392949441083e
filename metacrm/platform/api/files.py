"""Files: POST /api/v1/files (multipart, part `file`; optional `entity` and `field` to
check the upload against that attachment field now) and GET /api/v1/files/{id}.

What may be read is the record service's rule (records.attachments). A file is served
with its server-decided type, `nosniff`, and in a sandbox: an uploaded HTML or SVG
file can never run as this site. Only images, PDF and plain text show inline.
"""

from __future__ import annotations

import io

from flask import Blueprint, jsonify, request, send_file, url_for

from metacrm.platform.api.common import service
from metacrm.platform.errors import ServiceError
from metacrm.platform.records.attachments import INLINE_TYPES


def upload_route():
    upload = request.files.get("file")
    if upload is None:
        raise ServiceError("send the file as multipart/form-data, in a part named 'file'")
    descriptor = service().upload_file(
        upload.filename or "",
        upload.read(),
        request.form.get("entity") or None,
        request.form.get("field") or None,
    )
    location = url_for("api.file", file_id=descriptor["id"])
    return jsonify(descriptor), 201, {"Location": location}


def file_route(file_id: int):
    descriptor, sha256, content = service().read_file(file_id)
    kind = descriptor["content_type"]
    inline = kind in INLINE_TYPES and request.args.get("download") is None
    response = send_file(
        io.BytesIO(content),
        mimetype=kind,
        as_attachment=not inline,
        download_name=descriptor["name"],
        etag=sha256,
        max_age=0,
        conditional=True,
    )
    response.cache_control.private = True
    response.headers["X-Content-Type-Options"] = "nosniff"
    if kind != "application/pdf":  # the browser's PDF viewer does not run in a sandbox
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'"
    return response


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/files", "upload_file", upload_route, methods=["POST"])
    bp.add_url_rule("/files/<id:file_id>", "file", file_route, methods=["GET"])
