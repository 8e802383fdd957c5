#!/usr/bin/env bash
# `make docker-e2e`: build the image, start the compose stack (PostgreSQL, Redis, MinIO, two artifactapi replicas,
# the fixture upstream), run the black-box suite against it, tear everything down (volumes included).
# Needs a Docker engine with the compose plugin; `make e2e` runs the same suite against a native stack.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info >/dev/null 2>&1; then
  echo "docker-e2e: no Docker engine reachable (docker info failed); use 'make e2e' for the native stack" >&2
  exit 2
fi
if ! docker compose version >/dev/null 2>&1; then
  echo "docker-e2e: the docker compose plugin is missing" >&2
  exit 2
fi
export ARTIFACTAPI_ADMIN_TOKEN="e2e-$(openssl rand -hex 16)"
export ARTIFACTAPI_PORT=${ARTIFACTAPI_PORT:-18080} ARTIFACTAPI_PORT_B=${ARTIFACTAPI_PORT_B:-18081}
compose=(docker compose -p "artifactapi-e2e-$$" -f docker-compose.yml -f e2e-docker/docker-compose.e2e.yml)
trap '"${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true' EXIT
"${compose[@]}" up -d --build --wait --wait-timeout 180
# The suite runs on the host; the upstream URL is what the *server* sees (the compose service name).
ARTIFACTAPI_URL="http://127.0.0.1:$ARTIFACTAPI_PORT" ARTIFACTAPI_URL_B="http://127.0.0.1:$ARTIFACTAPI_PORT_B" \
  ARTIFACTAPI_TOKEN="$ARTIFACTAPI_ADMIN_TOKEN" E2E_UPSTREAM_URL="http://upstream" E2E_SELF_URL="http://artifactapi:8080" \
  npx vitest run --config e2e-docker/vitest.config.ts
