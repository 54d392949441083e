"""Chinese search at scale: 100,000 accounts with Chinese company names, `q=` p50 for
substrings of two to four characters, a Latin prefix and mixed text, through the API
(in-process test client, so the figure is the platform's, not HTTP's). Prints JSON.

SQLite by default; PostgreSQL with --database-url (or METACRM_BENCH_DATABASE_URL).
Usage: .venv/bin/python bench/search_cjk.py [--rows 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time

from bench_instance import bench_app

CITIES = ["深圳", "北京", "上海", "广州", "杭州", "成都", "武汉", "南京", "苏州", "西安"]
WORDS = list("星河云杉华信达远泰安瑞祥恒通宏博盛鼎新锐智联创优嘉德利丰源")
TRADES = ["科技", "贸易", "电子", "物流", "传媒", "医药", "能源", "建设", "咨询", "软件"]
FORMS = ["有限公司", "股份有限公司", "集团有限公司", "有限责任公司"]
QUERIES = ["星河", "星河科技", "深圳星河", "科技有限", "Acme", "星河acme"]


def company(rnd: random.Random, i: int) -> str:
    name = rnd.choice(CITIES) + "".join(rnd.sample(WORDS, 2)) + rnd.choice(TRADES)
    if i % 50 == 0:
        name = f"Acme {name}"
    return name + rnd.choice(FORMS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--database-url", default=os.environ.get("METACRM_BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from metacrm.platform.access import auth
    from metacrm.platform.access.context import Context
    from metacrm.platform.records.service import RecordService

    with bench_app(args.database_url, "cjk") as app:
        runtime = app.extensions["metacrm"]
        state = runtime.tenants.create("default")
        admin = auth.create_user(state, "admin", "bench-password", is_admin=True)
        service = RecordService(state, Context.system("default", admin), runtime.pm)
        rnd = random.Random(7)
        t0 = time.perf_counter()
        for start in range(0, args.rows, 1000):
            bodies = [{"name": company(rnd, i)} for i in range(start, min(start + 1000, args.rows))]
            service.create_many("account", bodies)
        load_s = time.perf_counter() - t0
        client = app.test_client()
        headers = {"Authorization": f"Bearer {auth.create_token(state, admin)}"}
        results = {}
        for q in QUERIES:
            url = f"/api/v1/records/account?q={q}&limit=50"
            found = len(client.get(url, headers=headers).json["data"])
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                client.get(url, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
            results[q] = {"p50_ms": round(statistics.median(times), 2), "first_page": found}
        print(
            json.dumps(
                {
                    "backend": "postgresql" if args.database_url else "sqlite",
                    "rows": args.rows,
                    "load_rows_per_s": round(args.rows / load_s),
                    "queries": results,
                    "worst_p50_ms": max(r["p50_ms"] for r in results.values()),
                },
                ensure_ascii=False,
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
