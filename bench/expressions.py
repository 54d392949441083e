"""Expression language speed. Prints JSON.

1. parse + type-check 10,000 expressions;
2. a compiled condition over 1,000,000 records vs the hand-written lambda (target: within 3x);
3. a filtered list through `filter=` vs the same filter written with SQLAlchemy by hand
   (target: within 1.2x), on SQLite, through the record service.
Usage: .venv/bin/python bench/expressions.py [--records 1000000] [--rows 50000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from decimal import Decimal

from metacrm.expressions import DictScope, EvalContext, check, compile_python

TEMPLATES = [
    "amount > {n} and stage in ['proposal', 'negotiation']",
    "days_between(today(), close_date) <= {n}",
    "if(discount > 0.{n}, 'needs approval', 'ok')",
    "account.industry = 'Manufacturing' and probability >= {n}",
    "coalesce(amount, 0) * (1 - discount) > {n} or is_blank(next_step)",
    "year(close_date) = 2026 and month(close_date) in [1, 2, {n}]",
]
SCOPE = DictScope(
    {
        "amount": "decimal",
        "stage": "text",
        "close_date": "date",
        "discount": "decimal",
        "account.industry": "text",
        "probability": "decimal",
        "next_step": "text",
    }
)


def bench_parse(count: int) -> dict:
    sources = [TEMPLATES[i % len(TEMPLATES)].format(n=i % 97 + 1) for i in range(count)]
    t = time.perf_counter()
    for source in sources:
        check(source, SCOPE)
    elapsed = time.perf_counter() - t
    return {
        "expressions": count,
        "seconds": round(elapsed, 3),
        "per_second": round(count / elapsed),
    }


def bench_eval(count: int) -> dict:
    rnd = random.Random(3)
    stages = ["prospecting", "qualification", "proposal", "negotiation", "closed_won"]
    records = [
        {"amount": Decimal(rnd.randrange(0, 50000)), "stage": rnd.choice(stages)}
        for _ in range(count)
    ]
    compiled = compile_python("amount > 10000 and stage in ['proposal', 'negotiation']", SCOPE)
    fn, ctx = compiled.function, EvalContext()
    wanted = {"proposal", "negotiation"}
    limit = Decimal(10000)
    hand = lambda r: r["amount"] > limit and r["stage"] in wanted  # noqa: E731

    def run(f) -> tuple[float, int]:
        t = time.perf_counter()
        hits = sum(1 for r in records if f(r))
        return time.perf_counter() - t, hits

    hand_s, hand_hits = min(run(hand) for _ in range(3))
    ours_s, our_hits = min(run(lambda r: fn(r, ctx) is True) for _ in range(3))
    assert hand_hits == our_hits
    return {
        "records": count,
        "hand_lambda_s": round(hand_s, 3),
        "compiled_s": round(ours_s, 3),
        "ratio": round(ours_s / hand_s, 2),
        "target_within_3x": ours_s / hand_s <= 3,
    }


def bench_filter(rows: int) -> dict:
    os.environ["METACRM_DATA_DIR"] = tempfile.mkdtemp(prefix="metacrm-expr-bench-")
    os.environ.pop("METACRM_DATABASE_URL", None)
    from sqlalchemy import select

    from metacrm.platform.access.context import Context
    from metacrm.platform.app import create_app
    from metacrm.platform.query.lists import list_records
    from metacrm.platform.records.service import RecordService

    app = create_app()
    runtime = app.extensions["metacrm"]
    state = runtime.tenants.create("default")
    service = RecordService(state, Context.system("default"), runtime.pm, runtime.registry)
    account = service.create("account", {"name": "Bench"})["id"]
    rnd = random.Random(5)
    stages = ["prospecting", "qualification", "proposal", "negotiation", "closed_won"]
    for start in range(0, rows, 1000):
        service.create_many(
            "opportunity",
            [
                {
                    "name": f"D{i}",
                    "account": account,
                    "stage": rnd.choice(stages),
                    "amount": rnd.randrange(0, 50000),
                }
                for i in range(start, start + 1000)
            ],
        )
    flt = "amount > 10000 and stage in ['proposal', 'negotiation']"
    params = {"filter": [flt], "sort": ["-amount"], "limit": ["50"]}
    table = state.tables["opportunity"]
    columns = service.columns(state.model.entities["opportunity"])
    serialize = service.serializer(state.model.entities["opportunity"], columns)

    def hand():
        query = (
            select(*[table.c[c] for c in columns])
            .where(
                table.c.deleted_at.is_(None),
                table.c.amount > 10000,
                table.c.stage.in_(["proposal", "negotiation"]),
            )
            .order_by(table.c.amount.desc(), table.c.id)
            .limit(51)
        )
        with state.engine.connect() as conn:
            return [serialize(r) for r in conn.execute(query).all()[:50]]

    def ours():
        return list_records(service, "opportunity", params)["data"]

    assert [r["id"] for r in hand()] == [r["id"] for r in ours()]

    def timing(f, n=200):
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            f()
            samples.append((time.perf_counter() - t) * 1000)
        return statistics.median(samples)

    for f in (hand, ours):
        timing(f, 20)
    hand_ms, ours_ms = timing(hand), timing(ours)
    runtime.close()
    return {
        "rows": rows,
        "hand_sqlalchemy_ms": round(hand_ms, 3),
        "filter_param_ms": round(ours_ms, 3),
        "ratio": round(ours_ms / hand_ms, 2),
        "target_within_1.2x": ours_ms / hand_ms <= 1.2,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--expressions", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    out = {
        "parse_and_check": bench_parse(args.expressions),
        "evaluate": bench_eval(args.records),
        "filtered_list": bench_filter(args.rows),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
