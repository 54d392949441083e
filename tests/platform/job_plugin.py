"""A plugin for the job tests: an event handler with effects the tests can count.

On account record.created it appends "stamped;" to the description (so effects
that happen twice show), sleeping first for names starting "slow" and failing
for names starting "fail"; on account record.updated of a "loop" account it
changes the description again, which would go on for ever without the loop guard.
"""

import time

from metacrm.platform.jobs.handlers import EventHandler
from metacrm.plugins.hookspecs import hookimpl


def _stamp(run):
    service = run.service()
    record = service.get("account", run.event["record_id"], run.conn)
    name = record["name"]
    if name.startswith("slow"):
        time.sleep(float(name.split()[-1]))
    if name.startswith("fail"):
        raise RuntimeError(f"told to fail ({name})")
    if run.event["topic"] == "record.updated" and not name.startswith("loop"):
        return
    description = (record.get("description") or "") + "stamped;"
    service.update("account", record["id"], {"description": description}, run.conn)
    run.note(f"description is now {description!r}")


def _wants(model, entity, topic):
    return entity == "account" and topic in ("record.created", "record.updated")


@hookimpl
def metacrm_event_handlers():
    return [EventHandler("stamp", _stamp, _wants)]
