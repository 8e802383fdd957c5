#!/usr/bin/env bash
# Installs what the test suite needs beyond npm: real peers and clients from Debian's packages
# (nginx as a static upstream, skopeo and podman as OCI clients, CNCF distribution as the peer registry).
# Safe to run repeatedly; installs only what is missing. Needs root (CI runs as root).
set -euo pipefail
need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# tinyproxy-bin: the forward proxy of the outgoing-proxy tests, without the package that runs it as a service.
[ -x /usr/bin/tinyproxy ] || need+=(tinyproxy-bin)
# Real OCI client and peer registry for the docker tests.
[ -x /usr/bin/skopeo ] || need+=(skopeo)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ -x /usr/bin/podman ] || need+=(podman)
# make image-e2e runs containers with runc where cgroup hybrid mode keeps crun from starting them.
[ -x /usr/sbin/runc ] || need+=(runc)
# Real package clients: pip (in a venv) and twine for PyPI, setuptools + build to make test packages offline,
# the go command for Go modules.
[ -x /usr/bin/twine ] || need+=(twine)
/usr/bin/python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
/usr/bin/python3 -c 'import build, wheel, setuptools' 2>/dev/null || need+=(python3-build python3-wheel python3-setuptools)
[ -x /usr/bin/go ] || need+=(golang-go)
command -v zip >/dev/null 2>&1 || need+=(zip)
[ -x /usr/bin/puppet ] || need+=(puppet)
# RPM: rpmbuild makes test packages, createrepo_c is the reference for generated repodata, dnf is the client.
[ -x /usr/bin/rpmbuild ] || need+=(rpm)
# gpg verifies signed repodata and Terraform SHA256SUMS signatures in the tests.
[ -x /usr/bin/gpg ] || need+=(gpg)
# strace shows that an embedded database commit fsyncs its WAL (test/pglite-durable.test.ts).
[ -x /usr/bin/strace ] || need+=(strace)
[ -x /usr/bin/createrepo_c ] || need+=(createrepo-c)
[ -x /usr/bin/dnf ] || need+=(dnf)
[ -d /usr/lib/python3/dist-packages/dnf-plugins ] || need+=(dnf-plugins-core)
# Compose v1 validates the compose files against the compose schema without a Docker engine.
[ -x /usr/bin/docker-compose ] || need+=(docker-compose)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "test-deps: missing ${need[*]} and not root; install them with apt-get (tests that need them will fail)" >&2
    exit 0
  fi
  echo "test-deps: installing ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Wait for another apt run (an unattended upgrade, a second checkout installing) instead of failing on its lock.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
