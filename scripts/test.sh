#!/usr/bin/env bash
# Set up and run the whole test suite (the README's second command).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PYTHON" -m venv .venv; fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e '.[test]'
npm ci --no-audit --no-fund --loglevel=error  # htmx, SortableJS, ECharts (package-lock.json)
PG_URL=$(bash scripts/services.sh || true)
if [ -n "$PG_URL" ]; then export METACRM_TEST_DATABASE_URL="${METACRM_TEST_DATABASE_URL:-$PG_URL}"; fi
.venv/bin/ruff check metacrm tests bench
.venv/bin/ruff format --check metacrm tests bench
.venv/bin/lint-imports --no-cache  # the layers of pyproject.toml [tool.importlinter]
.venv/bin/mypy  # pyproject.toml [tool.mypy]
exec .venv/bin/pytest -n "${PYTEST_WORKERS:-auto}" "$@"
