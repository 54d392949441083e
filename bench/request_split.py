"""Where a request's time goes, in-process (no HTTP): the metadata version check every
request makes, a single-record GET, and a 50-row list split into database time (the
same SQL replayed on a raw DB-API cursor, fetched whole) and platform time (the rest).

Used by bench/api_crud.py on the data it just wrote; runs alone too:
  .venv/bin/python bench/request_split.py --data-dir DIR [--database-url URL --schema-prefix P]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from sqlalchemy import event


def _p50(fn, n: int) -> float:
    for _ in range(min(50, n)):
        fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def measure(env: dict, entity: str = "opportunity", list_query: str | None = None) -> dict:
    from metacrm.platform.access import auth
    from metacrm.platform.app import create_app
    from metacrm.platform.settings import settings_from_env

    app = create_app(settings_from_env(env))
    runtime = app.extensions["metacrm"]
    state = runtime.tenant()
    admin = auth.find_user(state, "admin")
    token = auth.create_token(state, admin.id, name="bench")
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    list_url = f"/api/v1/records/{entity}?" + (list_query or "sort=-amount&limit=50")
    first = client.get(list_url, headers=headers).json["data"]
    one_url = f"/api/v1/records/{entity}/{first[0]['id']}"

    out = {
        "version_check_ms": round(_p50(lambda: runtime.tenants.state("default"), 3000), 4),
        "get_one_ms": round(_p50(lambda: client.get(one_url, headers=headers), 1000), 3),
        "list_50_ms": round(_p50(lambda: client.get(list_url, headers=headers), 300), 3),
    }
    out["version_check_share_of_get"] = round(out["version_check_ms"] / out["get_one_ms"], 4)

    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append((statement, parameters))

    event.listen(state.engine, "before_cursor_execute", capture)
    client.get(list_url, headers=headers)
    event.remove(state.engine, "before_cursor_execute", capture)
    raw = state.engine.raw_connection()
    try:

        def replay():
            cursor = raw.cursor()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                if cursor.description:
                    cursor.fetchall()
            cursor.close()

        out["list_50_database_ms"] = round(_p50(replay, 300), 3)
    finally:
        raw.close()
    out["list_50_platform_ms"] = round(out["list_50_ms"] - out["list_50_database_ms"], 3)
    out["list_50_statements"] = len(statements)
    runtime.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--schema-prefix", default=None)
    args = parser.parse_args()
    env = {"METACRM_DATA_DIR": args.data_dir}
    if args.database_url:
        env["METACRM_DATABASE_URL"] = args.database_url
    if args.schema_prefix:
        env["METACRM_SCHEMA_PREFIX"] = args.schema_prefix
    print(json.dumps(measure(env), indent=2))


if __name__ == "__main__":
    main()
