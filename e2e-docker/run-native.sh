#!/usr/bin/env bash
# `make e2e`: the black-box suite against a natively started stack — PostgreSQL and Redis as found on this machine,
# an S3 server (s3rver) and nginx serving fixtures/ as the upstream, and artifactapi built from this tree.
# Everything binds to 127.0.0.1 and is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
containers=()
cleanup() {
  local status=$?
  # A failed run shows what the containers logged (a native replica's log is already in this output).
  if [ "$status" -ne 0 ]; then
    for c in "${containers[@]}"; do echo "e2e: last lines of $c's log:" >&2; podman logs --tail 80 "$c" >&2 2>&1 || true; done
  fi
  for c in "${containers[@]}"; do podman rm -f -t 5 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"
}
trap cleanup EXIT
# A free port below the ephemeral range (32768+ here), so no outgoing connection can take it between this check and
# the server's bind (that race once failed CI); distinct from the ports given as arguments.
free_port() {
  node -e "
    const net = require('net');
    const taken = new Set(process.argv.slice(1).map(Number));
    const tryOne = () => {
      const p = 20000 + Math.floor(Math.random() * 12000);
      if (taken.has(p)) return tryOne();
      const s = net.createServer().once('error', tryOne).listen(p, '127.0.0.1', () => { console.log(p); s.close(); });
    };
    tryOne();" "$@"
}
wait_http() { for _ in $(seq 1 150); do curl -sf -o /dev/null "$1" && return 0; sleep 0.2; done; echo "e2e: $1 did not come up" >&2; return 1; }

up_port=$(free_port); s3_port=$(free_port "$up_port"); app_port=$(free_port "$up_port" "$s3_port")
app2_port=$(free_port "$up_port" "$s3_port" "$app_port")
chmod 755 "$work"
cp -r e2e-docker/fixtures "$work/www" && chmod -R a+rX "$work/www"
cat > "$work/nginx.conf" <<CONF
daemon off; master_process off; pid $work/nginx.pid; error_log $work/nginx.err warn;
events {} http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f;
uwsgi_temp_path $work/u; scgi_temp_path $work/s; server { listen 127.0.0.1:$up_port; root $work/www; } }
CONF
/usr/sbin/nginx -c "$work/nginx.conf" -p "$work" & pids+=($!)

node e2e-docker/s3-server.mjs "$s3_port" "$work/s3" & pids+=($!)
wait_http "http://127.0.0.1:$s3_port/" || true

schema="e2e_$(date +%s)_$$"
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} DATABASE_SCHEMA=$schema
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} REDIS_PREFIX="e2e:$schema:"
export S3_ENDPOINT="http://127.0.0.1:$s3_port" S3_BUCKET=artifactapi S3_ACCESS_KEY_ID=S3RVER S3_SECRET_ACCESS_KEY=S3RVER S3_FORCE_PATH_STYLE=true
export ARTIFACTAPI_ADMIN_TOKEN="e2e-$(openssl rand -hex 16)" HOST=127.0.0.1 LOG_LEVEL=warn
# One replica: from this tree, or (E2E_IMAGE set, by run-image.sh) the shipped image under podman on the host network.
start_app() { # name port engine
  if [ -n "${E2E_IMAGE:-}" ]; then
    mkdir -p "$work/$1" && chown 1000:1000 "$work/$1"
    podman run -d --name "e2e-$1-$$" --network host --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 -v "$work/$1:/data" \
      -e DATABASE_URL -e DATABASE_SCHEMA -e REDIS_URL -e REDIS_PREFIX -e S3_ENDPOINT -e S3_BUCKET -e S3_ACCESS_KEY_ID \
      -e S3_SECRET_ACCESS_KEY -e S3_FORCE_PATH_STYLE -e ARTIFACTAPI_ADMIN_TOKEN -e HOST -e LOG_LEVEL \
      -e PORT="$2" -e ARTIFACTAPI_HTTP_ENGINE="$3" "$E2E_IMAGE" >/dev/null 2> >(grep -v "systemd connection" >&2)
    containers+=("e2e-$1-$$")
  else
    ARTIFACTAPI_DATA_DIR="$work/$1" PORT=$2 ARTIFACTAPI_HTTP_ENGINE=$3 node dist/main.js serve & pids+=($!)
  fi
}
# Two replicas (one per HTTP engine) sharing PostgreSQL, Redis and S3: the suite splits work between them.
start_app data-a "$app_port" uws
start_app data-b "$app2_port" node
wait_http "http://127.0.0.1:$app_port/health"
wait_http "http://127.0.0.1:$app2_port/health"

ARTIFACTAPI_URL="http://127.0.0.1:$app_port" ARTIFACTAPI_URL_B="http://127.0.0.1:$app2_port" ARTIFACTAPI_TOKEN="$ARTIFACTAPI_ADMIN_TOKEN" \
  E2E_UPSTREAM_URL="http://127.0.0.1:$up_port" E2E_SELF_URL="http://127.0.0.1:$app_port" npx vitest run --config e2e-docker/vitest.config.ts
# run-image.sh: what the image itself promises, on the first replica's container.
[ -z "${E2E_AFTER:-}" ] || "$E2E_AFTER" "${containers[0]}"
psql -q -h 127.0.0.1 -U postgres -d test -c "DROP SCHEMA IF EXISTS \"$schema\" CASCADE" >/dev/null 2>&1 || true
