# The two commands a new user needs:  make run   and   make test
SHELL := /bin/bash
NODE_MODULES_STAMP := node_modules/.package-lock.json

.PHONY: run test e2e docker-e2e build install deps lint bench bench-quick bench-hashing bench-memory clean

$(NODE_MODULES_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NODE_MODULES_STAMP)

build: install
	npx tsc -p tsconfig.json

## run: install and start the server on the embedded default (no PostgreSQL/Redis/S3 needed; data in ./data)
run: build
	node dist/main.js serve

deps:
	./scripts/test-deps.sh
	./scripts/services.sh

## test: install what is needed and run the whole suite (every server-level test runs on both HTTP engines)
test: build deps
	npx tsc -p tsconfig.test.json
	npx vitest run

## e2e: the black-box suite (e2e-docker/) against a natively started server-mode stack
e2e: build deps
	./e2e-docker/run-native.sh

## docker-e2e: the same suite against the shipped image in docker compose (needs a Docker engine)
docker-e2e: install
	./e2e-docker/run-docker.sh

## image-e2e: the same suite against the image built from the Dockerfile, run by podman (no Docker engine needed)
.PHONY: image-e2e
image-e2e: install deps
	./e2e-docker/run-image.sh

lint: install
	npx tsc -p tsconfig.json --noEmit
	npx tsc -p tsconfig.test.json

## bench: artifactapi side by side with CNCF distribution and the machine's limits (native-bench/results/latest.md)
bench: build deps
	node native-bench/run.mjs

## bench-quick: the same at small sizes, one repetition (about two minutes), for development
bench-quick: build deps
	node native-bench/run.mjs --quick

## bench-hashing: SHA-256 engines and the worker-pool stream, with event-loop load
bench-hashing: build
	node native-bench/hash-bench.mjs
	node native-bench/oci-push-memory.mjs

## bench-memory: RSS growth and throughput of a 2 GiB upload and download through a generic repository
bench-memory: build
	node native-bench/generic-memory.mjs

## bench-rpm: RPM local repository, 2,000 packages then 100 more: last upload to new repodata vs createrepo_c --update
.PHONY: bench-rpm
bench-rpm: build
	node native-bench/rpm.mjs

## bench-helm: a Helm virtual over two members of 10,000 entries each: merged index.yaml cold and warm, RSS, vs nginx
.PHONY: bench-helm
bench-helm: build deps
	node native-bench/helm.mjs

## bench-clients: package clients through remotes (npm vs Verdaccio's proxy, pip and go vs nginx) and small-file latency
.PHONY: bench-clients
bench-clients: build deps
	node native-bench/npm.mjs
	node native-bench/formats.mjs
	node native-bench/small-files.mjs

clean:
	rm -rf dist
