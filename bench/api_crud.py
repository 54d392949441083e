"""CRUD throughput of metacrm vs a hand-written Flask + SQLAlchemy baseline.

Both run as real gunicorn servers on SQLite over loopback (what `metacrm serve`
runs in production mode), driven by the same client code. Prints JSON.
Also the in-process split of bench/request_split.py (version check cost, list time
split into database and platform). Usage:
.venv/bin/python bench/api_crud.py [--creates 2000] [--bulk 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import request_split  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["prospecting", "proposal", "negotiation", "closed_won", "closed_lost"]  # entry rules met


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RssSampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.stop = False

    def current(self) -> int:
        procs = [self.proc, *self.proc.children(recursive=True)]
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, self.current())
            time.sleep(0.05)


def start(cmd: list[str], env: dict, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                time.sleep(1.0)  # let every worker finish booting before measuring RSS
                return proc
        except requests.RequestException:  # not listening yet, or still booting
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"server did not start: {proc.stderr.read().decode()[-2000:]}")


def body(rnd: random.Random, account: int, i: int, contact: int = 1) -> dict:
    stage = rnd.choice(STAGES)
    return {
        "name": f"Deal {i}",
        "account": account,
        "primary_contact": contact,  # stages past qualification need one
        "stage": stage,
        "lost_reason": "price" if stage == "closed_lost" else None,
        "amount": rnd.randrange(1000, 1_000_000, 10),
        "probability": rnd.randrange(0, 100),
        "close_date": f"2026-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
        "lead_source": rnd.choice(["web", "referral", "partner"]),
        "next_step": "Call back",
    }


def workload(
    base: str,
    token: str,
    create_path: str,
    list_path: str,
    account_path: str,
    args,
    meta_field: bool,
) -> dict:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    rnd = random.Random(1)
    account = session.post(base + account_path, json={"name": "Bench account"}).json()["id"]
    contact = 1  # the baseline stores any integer; metacrm checks the reference
    if meta_field:
        contact_url = base + "/api/v1/records/contact"
        contact = session.post(contact_url, json={"last_name": "Bench"}).json()["id"]
    out: dict = {}
    t0 = time.perf_counter()
    for i in range(args.creates):
        r = session.post(base + create_path, json=body(rnd, account, i, contact))
        assert r.status_code == 201, r.text
    out["creates_per_s"] = round(args.creates / (time.perf_counter() - t0), 1)
    t0 = time.perf_counter()
    for start_ in range(0, args.bulk, 500):
        r = session.post(
            base + create_path,
            json=[body(rnd, account, i, contact) for i in range(start_, start_ + 500)],
        )
        assert r.status_code == 201, r.text[:500]
    out["bulk_records_per_s"] = round(args.bulk / (time.perf_counter() - t0), 1)
    for start_ in range(0, args.extra, 500):  # untimed: bring the table to ~24,000 rows
        session.post(
            base + create_path,
            json=[body(rnd, account, i, contact) for i in range(start_, start_ + 500)],
        )
    url = base + list_path
    for _ in range(5):
        session.get(url)
    times = []
    for _ in range(50):
        t = time.perf_counter()
        r = session.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200 and len(r.json()["data"]) == 50
    times.sort()
    out["list_p50_ms"] = round(statistics.median(times), 2)
    out["list_p95_ms"] = round(times[int(len(times) * 0.95) - 1], 2)

    def worker(n):
        s = requests.Session()
        s.headers["Authorization"] = f"Bearer {token}"
        for _ in range(n):
            assert s.get(url).status_code == 200

    per_thread = 50
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(worker, [per_thread] * 8))
    out["list_8_threads_req_per_s"] = round(8 * per_thread / (time.perf_counter() - t0), 1)
    if meta_field:
        # The first schema change in a worker process also imports alembic (kept out of
        # serving processes until needed): the first and the later ones are reported apart.
        times = []
        for i in range(6):
            t = time.perf_counter()
            r = session.post(
                base + "/api/v1/meta/entities/opportunity/fields",
                json={"name": f"bench_region_{i}", "type": "select", "options": ["north", "south"]},
            )
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 201, r.text
            first = session.get(base + "/api/v1/records/opportunity?limit=1").json()["data"][0]
            assert f"bench_region_{i}" in first
        out["add_field_first_ms"] = round(times[0], 1)
        out["add_field_ms"] = round(statistics.median(times[1:]), 1)
    return out


def run_metacrm(tmp: Path, args) -> dict:
    env = {"METACRM_DATA_DIR": str(tmp / "metacrm"), "METACRM_ADMIN_PASSWORD": "bench-password"}
    if args.database_url:  # PostgreSQL: a fresh schema prefix per run
        env["METACRM_DATABASE_URL"] = args.database_url
        env["METACRM_SCHEMA_PREFIX"] = f"b{random.randrange(16**8):08x}_"
    full_env = {**os.environ, **env}
    if not args.database_url:
        full_env.pop("METACRM_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "metacrm", "init"], env=full_env, check=True, capture_output=True
    )
    token = subprocess.run(
        [sys.executable, "-m", "metacrm", "token", "create", "--user", "admin"],
        env=full_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    proc = start(
        [
            sys.executable,
            "-m",
            "metacrm",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--threads",
            "4",
        ],
        env,
        port,
    )
    out = measure(
        proc,
        f"http://127.0.0.1:{port}",
        token,
        "/api/v1/records/opportunity",
        "/api/v1/records/opportunity?stage=proposal&sort=-amount&limit=50",
        "/api/v1/records/account",
        args,
        True,
    )
    out["in_process"] = request_split.measure(
        env, list_query="stage=proposal&sort=-amount&limit=50"
    )
    return out


def run_baseline(tmp: Path, args) -> dict:
    port = free_port()
    env = {"BASELINE_DB": str(tmp / "baseline.sqlite3"), "BASELINE_TOKEN": "baseline-token"}
    # create the tables once, before two workers race to do it
    setup = "from bench.baseline.app import create_app; create_app()"
    subprocess.run([sys.executable, "-c", setup], env={**os.environ, **env}, cwd=ROOT, check=True)
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-b",
        f"127.0.0.1:{port}",
        "-w",
        str(args.workers),
        "--threads",
        "4",
        "-k",
        "gthread",
        "bench.baseline.app:create_app()",
    ]
    proc = start(cmd, env, port)
    return measure(
        proc,
        f"http://127.0.0.1:{port}",
        "baseline-token",
        "/opportunities",
        "/opportunities?stage=proposal&limit=50",
        "/accounts",
        args,
        False,
    )


def measure(proc, base, token, create_path, list_path, account_path, args, meta_field) -> dict:
    sampler = RssSampler(proc.pid)
    start_rss = sampler.current()
    sampler.start()
    try:
        out = workload(base, token, create_path, list_path, account_path, args, meta_field)
    finally:
        sampler.stop = True
        proc.terminate()
        proc.wait(10)
    out["rss_start_mib"] = round(start_rss / 2**20, 1)
    out["rss_peak_mib"] = round(max(sampler.peak, start_rss) / 2**20, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--creates", type=int, default=2000)
    parser.add_argument("--bulk", type=int, default=20000)
    parser.add_argument("--extra", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument(
        "--database-url", default=None, help="run metacrm on this PostgreSQL (baseline: SQLite)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="metacrm-bench-"))
    try:
        metacrm = run_metacrm(tmp, args)
        baseline = run_baseline(tmp, args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    higher_better = ["creates_per_s", "bulk_records_per_s", "list_8_threads_req_per_s"]
    lower_better = ["list_p50_ms", "list_p95_ms", "rss_start_mib", "rss_peak_mib"]
    ratios = {k: round(metacrm[k] / baseline[k], 2) for k in higher_better}
    ratios.update({k: round(baseline[k] / metacrm[k], 2) for k in lower_better})
    targets = {
        "creates_per_s": metacrm["creates_per_s"] >= 250,
        "bulk_records_per_s": metacrm["bulk_records_per_s"] >= 4000,
        "list_p50_ms": metacrm["list_p50_ms"] <= 2.8,
        "add_field_ms": metacrm["add_field_ms"] <= 25,
        "rss_start_mib": metacrm["rss_start_mib"] <= 150,
        "ratios_at_least_0.8": all(v >= 0.8 for k, v in ratios.items() if not k.startswith("rss")),
    }
    print(
        json.dumps(
            {
                "workload": vars(args),
                "metacrm": metacrm,
                "baseline": baseline,
                "ratio_metacrm_to_baseline": ratios,
                "targets_met": targets,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
