#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis answer on 127.0.0.1 (the machine's own services); starts them if they are
# installed but stopped. The suite skips a driver loudly when its service cannot be reached.
set -uo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start 2>/dev/null || true
  fi
fi
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null 2>&1 || true
  fi
fi
for i in $(seq 1 50); do
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0
  sleep 0.2
done
echo "services: PostgreSQL or Redis not reachable on 127.0.0.1; their test drivers will be skipped (loudly)" >&2
