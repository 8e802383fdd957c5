# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship only production dependencies on Debian bookworm slim
# (the uWebSockets.js binary needs glibc). NODE_IMAGE is only overridden where Docker Hub is unreachable
# (e2e-docker/run-image.sh builds a stand-in of the same Debian and Node).
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# uWebSockets.js ships binaries for every platform and Node ABI (≈ 90 MB): keep the one this image loads.
RUN npx tsc -p tsconfig.json && npm prune --omit=dev \
 && keep="uws_linux_$(node -p process.arch)_$(node -p process.versions.modules).node" \
 && test -f "node_modules/uWebSockets.js/binaries/$keep" \
 && find node_modules/uWebSockets.js/binaries -name 'uws_*.node' ! -name "$keep" -delete

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    ARTIFACTAPI_DATA_DIR=/data \
    PORT=8080
# Where the network allows, the official uWebSockets.js release (no 1e9 Content-Length limit) can replace the
# registry build:  --build-arg UWS_OFFICIAL=v20.52.0
ARG UWS_OFFICIAL=
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
RUN if [ -n "$UWS_OFFICIAL" ]; then \
      apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && \
      rm -rf node_modules/uWebSockets.js && mkdir -p node_modules/uWebSockets.js && \
      curl -fsSL "https://github.com/uNetworking/uWebSockets.js/archive/refs/tags/${UWS_OFFICIAL}.tar.gz" \
        | tar -xz --strip-components=1 -C node_modules/uWebSockets.js && \
      apt-get purge -y curl && rm -rf /var/lib/apt/lists/*; \
    fi \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
