#!/usr/bin/env bash
# Set up and run the app on the embedded default: SQLite in ./instance, demo data,
# http://127.0.0.1:5000 (the README's first command).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e .
npm ci --no-audit --no-fund --loglevel=error  # htmx, SortableJS, ECharts (package-lock.json)
.venv/bin/metacrm init --demo
exec .venv/bin/metacrm serve --host 127.0.0.1 --port 5000
