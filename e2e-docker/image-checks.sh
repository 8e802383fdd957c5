#!/usr/bin/env bash
# What the image promises beyond the black-box suite, checked on a running container of it (run-image.sh):
# it runs as non-root, ships no dev dependencies, its HEALTHCHECK passes, and SIGTERM ends it cleanly (exit 0)
# well within the stop timeout instead of being killed.
set -euo pipefail
c=$1
fail() { echo "image-checks: $*" >&2; exit 1; }
uid=$(podman exec "$c" id -u)
[ "$uid" != 0 ] || fail "the server runs as root"
podman exec "$c" test ! -e /app/node_modules/vitest || fail "dev dependencies in the final image (vitest)"
podman exec "$c" test ! -e /app/src || fail "TypeScript sources in the final image"
image=$(podman inspect -f '{{.ImageName}}' "$c")
podman image inspect -f '{{.HealthCheck}}' "$image" | grep -q '/health' || fail "the image lost its HEALTHCHECK"
podman healthcheck run "$c" >/dev/null 2>&1 || fail "HEALTHCHECK failed on a healthy server"
t0=$(date +%s%N)
podman stop -t 20 "$c" >/dev/null 2> >(grep -v "systemd connection" >&2)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
# Exit 0 only comes from the SIGTERM handler (drain, then close): node as PID 1 without one is killed (137).
[ "$code" = 0 ] || fail "exit code $code after SIGTERM (137 = killed after the timeout)"
echo "image-checks: uid $uid, no dev dependencies, HEALTHCHECK ok, SIGTERM -> exit 0 in ${ms} ms" >&2
