#!/usr/bin/env bash
# `make image-e2e`: the shipped image without a Docker engine. podman builds the Dockerfile (docker format, which keeps
# HEALTHCHECK), the image runs as the two replicas of `make e2e` (host network, PostgreSQL and Redis of this machine,
# the S3 server, the fixture upstream), the black-box suite runs against them, then image-checks.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v podman >/dev/null || { echo "image-e2e: podman is missing (apt-get install podman)" >&2; exit 2; }
# crun, podman's default runtime, refuses cgroup "hybrid mode" when the v2 hierarchy holds a controller (this machine
# mounts hugetlb there); runc runs containers there. The setting reaches every podman call below (build, run, exec).
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  command -v runc >/dev/null || { echo "image-e2e: cgroup hybrid mode needs runc (apt-get install runc)" >&2; exit 2; }
  CONTAINERS_CONF=$(mktemp)
  printf '[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
  export CONTAINERS_CONF
  echo "image-e2e: cgroup hybrid mode with v2 controllers: containers run with runc" >&2
fi
base=${NODE_IMAGE:-}
if [ -z "$base" ]; then
  if timeout 60 podman pull -q docker.io/library/node:20-bookworm-slim >/dev/null 2>&1; then
    base=docker.io/library/node:20-bookworm-slim
  else
    base=localhost/node-standin:20-bookworm-slim
    echo "image-e2e: Docker Hub unreachable: the base is a stand-in ($base, e2e-docker/standin-node-image.sh)" >&2
    ./e2e-docker/standin-node-image.sh "$base"
  fi
fi
image=localhost/artifactapi:e2e
podman build -q --format docker --network host --ulimit nofile=20000:20000 --build-arg NODE_IMAGE="$base" -t "$image" . >/dev/null
echo "image-e2e: built $image on $base ($(podman image inspect -f '{{.Size}}' "$image") bytes)" >&2
E2E_IMAGE=$image E2E_AFTER=./e2e-docker/image-checks.sh ./e2e-docker/run-native.sh
