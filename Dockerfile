# relevo-server in a container: built from source in a Node stage (npm ci brings the pinned Bun), run alone
# from a slim Debian base as a non-root user, data on a volume. See README, "Container image", for what was
# and was not checked (no Docker engine ran this file where it was written).
#
#   docker build -t relevo-server .
#   docker run --rm -v relevo-data:/data relevo-server token create --role ingest --data /data
#   docker run --rm -v relevo-data:/data relevo-server token create --role read --data /data
#   docker run -d --name relevo -p 5000:5000 -v relevo-data:/data relevo-server

FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
# amd64 -> linux-x64 (Bun's baseline build), arm64 -> linux-arm64.
ARG TARGETARCH=amd64
RUN target=$([ "$TARGETARCH" = arm64 ] && echo linux-arm64 || echo linux-x64) && \
    node_modules/.bin/bun scripts/build.ts --target "$target" --app server --outdir /out --no-sums && \
    cp "/out/relevo-server-$target" /relevo-server

FROM debian:bookworm-slim
# The executable needs only glibc; the data directory belongs to an unprivileged user.
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin relevo && \
    mkdir -p /data && chown relevo /data && chmod 0700 /data
COPY --from=build /relevo-server /usr/local/bin/relevo-server
USER 10001
VOLUME ["/data"]
EXPOSE 5000
# Off loopback the server refuses to start without a token: create them first (see above).
ENTRYPOINT ["/usr/local/bin/relevo-server"]
CMD ["serve", "--host", "0.0.0.0", "--port", "5000", "--data", "/data"]
# The server is PID 1: it handles SIGTERM itself (drains uploads, checkpoints, exits 0) and starts no
# children, so it needs no init to reap them.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/relevo-server", "health", "--url", "http://127.0.0.1:5000"]
