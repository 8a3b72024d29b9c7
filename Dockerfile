# kvs as a container image:
#   docker build -t key-value-server .
#   docker run -p 8080:8080 key-value-server
# Why it is built this way (base image, tini, protected mode off, /data, what CI
# checks without a Docker engine): docs/adr/0008-container-image.md.
# test/integration/container.test.ts parses this file, checks these rules and runs
# the final stage's start command; keep the two in step.

# Node.js 24 (LTS, supported until April 2028) on Debian 12 "bookworm", slim: glibc,
# so lmdb's prebuilt binaries load and nothing is compiled. The same pinned tag in
# both stages; move it deliberately (to a newer 24.x, or the next LTS).
FROM node:24.19.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no dependency needs its install script here (see the runtime stage),
# and the TypeScript compiler has none.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.src.json ./
COPY scripts/ ./scripts/
COPY src/ ./src/
# The server and SDK only: tests and bench are not in the build context.
RUN npm run build:src

FROM node:24.19.0-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM/SIGINT to kvs and reaps zombies, however the
# container is started (docker run without --init, compose, Kubernetes).
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
# Production dependencies only. --ignore-scripts: lmdb's and
# msgpackr-extract's install scripts only compile from source when none of their
# prebuilt binaries (installed as optional packages) fits (on glibc x64/arm64 one
# does), and protobufjs's only prints a version notice.
RUN npm ci --omit=dev --ignore-scripts \
    && npm cache clean --force
COPY --from=build /app/dist ./dist
# etcd's API definitions, read at run time by the etcd engine
# (dist/src/engine/etcd/etcd-api.js loads ../../../../proto/etcd-v3.proto).
COPY proto/ ./proto/
# The kvs command on PATH, as npm would link its bin: `docker exec CONTAINER kvs token
# create ...` (what the no-token warning tells users to run), `kvs get ...`.
RUN chmod 755 /app/dist/src/cli/index.js \
    && ln -s /app/dist/src/cli/index.js /usr/local/bin/kvs

# The data directory: a volume, owned by the unprivileged `node` user (uid 1000) of
# the base image, so a new named volume starts out writable by it.
RUN mkdir -p /data && chown node:node /data
USER node
ENV DATA_DIRECTORY=/data
# Listen on every interface of the container: it is reachable only where it is published.
# The port is kvs's default, 8080; PORT is not set here, so that either variable kvs reads
# (PORT, or the original server's KV_STORE_PORT) can move it: docker run -e KV_STORE_PORT=9000.
ENV HOST=0.0.0.0
# Host → container traffic never comes from loopback, so protected mode (no token:
# loopback clients only) would refuse everyone. Off, as in the official Redis image;
# kvs logs a warning at start while no token is configured. Set KV_ADMIN_TOKEN or
# KV_TOKENS_FILE whenever the port is published beyond your machine.
ENV KV_PROTECTED_MODE=off
VOLUME /data
EXPOSE 8080

# Liveness, with node's global fetch (the image has no curl), on the port kvs takes (PORT,
# else KV_STORE_PORT, else 8080, as src/config.ts reads them). /healthz needs no token;
# with KV_TLS_CERT set, kvs serves HTTPS with a certificate that need not name
# 127.0.0.1, so the probe does not verify it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["node", "--no-warnings", "-e", "const tls = Boolean(process.env.KV_TLS_CERT); if (tls) process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'; fetch((tls ? 'https' : 'http') + '://127.0.0.1:' + (process.env.PORT || process.env.KV_STORE_PORT || 8080) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]

# No org.opencontainers.image.source: the repository has no public address yet, and an
# empty label would only mislead. Whoever publishes the image adds it at build time:
#   docker build --label org.opencontainers.image.source=https://... -t key-value-server .
LABEL org.opencontainers.image.title="kvs" \
      org.opencontainers.image.description="A durable key-value store server with an HTTP API: embedded LMDB by default, etcd to scale out." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0"

# Node itself, in exec form: SIGTERM from `docker stop` reaches kvs (through tini),
# which finishes in-flight requests, closes the store and exits 0 within 10 s.
# Not `npm start`: it would run the `prestart` build first (no compiler here), and
# npm would stand between the signal and kvs.
ENTRYPOINT ["tini", "--"]
CMD ["node", "dist/src/cli/index.js", "serve"]
