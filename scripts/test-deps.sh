#!/usr/bin/env bash
# Installs what the test suite needs beyond npm: real peers and clients from Debian's packages
# (nginx as a static upstream, skopeo and podman as OCI clients, CNCF distribution as the peer registry).
# Safe to run repeatedly; installs only what is missing. Needs root (CI runs as root).
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# Real OCI client and peer registry for the docker tests.
[ -x /usr/bin/skopeo ] || need+=(skopeo)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/bin/podman ] || need+=(podman)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]} and not root; install them with apt-get (tests that need them will fail)" >&2
    exit 0
  fi
  echo "test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
