#!/usr/bin/env bash
# Start the services the test suite needs (PostgreSQL on 127.0.0.1, redis-server), installing
# them first when this machine lacks them and we may (root). Prints the URL to use.
set -euo pipefail
PG_URL_DEFAULT="postgresql://metacrm:metacrm@127.0.0.1:5432/metacrm_test"

have_pg() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; }

if ! have_pg; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing postgresql..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
  else
    echo "PostgreSQL is not installed and cannot be installed here (not root); PostgreSQL tests will skip" >&2
    exit 0
  fi
fi

# Redis: the job tests start their own redis-server processes (they stop and restart
# them), so installing the binary is all they need from here.
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing redis-server..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq redis-server >&2
  else
    echo "redis-server is not installed and cannot be installed here; Redis tests will skip" >&2
  fi
fi

# Chromium (and CJK fonts, so zh-CN screenshots are legible) for the browser tests.
if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "noto sans cjk"; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing chromium and CJK fonts..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq chromium fonts-noto-cjk >&2
  else
    echo "chromium is not installed and cannot be installed here; browser tests will skip" >&2
  fi
fi

if command -v pg_lsclusters >/dev/null; then
  read -r ver cluster _ < <(pg_lsclusters -h | head -n1) || true
  if [ -z "${ver:-}" ]; then
    ver=$(ls /usr/lib/postgresql | sort -n | tail -n1)
    pg_createcluster "$ver" main >&2
    cluster=main
  fi
  if ! pg_lsclusters -h | awk -v v="$ver" -v c="$cluster" '$1==v && $2==c {print $4}' | grep -q online; then
    pg_ctlcluster "$ver" "$cluster" start >&2
  fi
fi

for _ in $(seq 1 30); do
  if su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1; then break; fi
  sleep 0.5
done
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='metacrm'\"" | grep -q 1 || \
  su postgres -c "psql -qc \"CREATE ROLE metacrm LOGIN PASSWORD 'metacrm' CREATEDB\"" >&2
su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname='metacrm_test'\"" | grep -q 1 || \
  su postgres -c "psql -qc 'CREATE DATABASE metacrm_test OWNER metacrm'" >&2
echo "$PG_URL_DEFAULT"
