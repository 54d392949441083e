"""Moving changes between tenants: download this tenant's changes as a package (a zip of
the same YAML `metacrm metadata export` writes), and import such a package into another
tenant. An import merges into the target's changes; a declaration the target already has
differently is listed as a conflict and nothing is applied."""

from __future__ import annotations

import io
import zipfile

from flask import flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from metacrm.form_engine.designer import bp
from metacrm.metadata.errors import MetadataInvalid
from metacrm.metadata.packages import KIND_FOLDERS
from metacrm.platform.api.common import runtime
from metacrm.platform.db.migrations import MigrationFailed, MigrationRefused
from metacrm.platform.tenancy.overlay_package import merge, overlay_from_files, package_files

MAX_FILES = 500


@bp.get("/export")
def export_package():
    state, tenant = g.metacrm_state, g.metacrm_context.tenant
    files = package_files(tenant, [name for name, _v in state.model.packages], state.overlay)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(f"{tenant}_overlay/{path}", text)
    buffer.seek(0)
    return send_file(
        buffer,
        mimetype="application/zip",
        as_attachment=True,
        download_name=f"{tenant}_overlay.zip",
    )


def _read_zip(data: bytes) -> tuple[dict[str, str], list[str]]:
    """path inside the package -> text (the top folder, if any, taken off)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return {}, [_("This is not a zip file.")]
    names = [n for n in archive.namelist() if not n.endswith("/")][:MAX_FILES]
    files: dict[str, str] = {}
    problems: list[str] = []
    for name in names:
        parts = name.split("/")
        top_folder = len(parts) > 1 and parts[1] in ("package.yaml", *KIND_FOLDERS)
        inner = "/".join(parts[1:]) if top_folder else name
        try:
            files[inner] = archive.read(name).decode("utf-8")
        except UnicodeDecodeError:
            problems.append(_("%(file)s is not UTF-8 text.", file=name))
    return files, problems


@bp.route("/import", methods=["GET", "POST"])
def import_package():
    problems: list[str] = []
    conflicts: list[str] = []
    if request.method == "POST":
        upload = request.files.get("package")
        if upload is None or not upload.filename:
            problems.append(_("Choose a package (.zip) to import."))
        else:
            files, problems = _read_zip(upload.read())
            incoming, unreadable = overlay_from_files(files)
            problems += unreadable
            if not problems and not incoming:
                problems.append(_("The package declares no entities or fields."))
        if not problems:
            found: list[str] = []

            def mutate(current: dict) -> dict:
                merged, clashes = merge(current, incoming)
                found.extend(clashes)
                if clashes:  # nothing applied: the conflicts are listed instead
                    raise _Conflicts()
                return merged

            try:
                state, _plan = runtime().tenants.update_overlay(
                    g.metacrm_context.tenant, mutate, actor_id=g.metacrm_context.user_id
                )
            except _Conflicts:
                conflicts = found
            except MetadataInvalid as exc:
                problems = [str(e) for e in exc.errors]
            except (MigrationRefused, MigrationFailed) as exc:
                problems = [str(exc)]
            else:
                g.metacrm_state = state
                flash(_("Imported. The changes are live, as a new version."), "success")
                return redirect(url_for("setup.history"))
    status = 422 if problems or conflicts else 200
    return render_template("setup/import.html", problems=problems, conflicts=conflicts), status


class _Conflicts(Exception):
    """Raised inside the overlay update so nothing is written."""
