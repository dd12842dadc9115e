# Gatehouse: one binary and its web app on Debian slim. Build: docker build -t gatehouse .
FROM rust:1.95-bookworm AS build
# libpq for the PostgreSQL backend; node/npm for npm's binaryen (wasm-opt), which makes
# the web app's bundle smaller (Debian's binaryen is too old for current wasm-bindgen).
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev nodejs npm \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add wasm32-unknown-unknown
WORKDIR /src
COPY . .
RUN (cd tests && npm ci --no-audit --no-fund) \
    && cargo xtask build-web \
    && cargo build --release --locked --package gatehouse-server --bin gatehouse

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /var/lib/gatehouse gatehouse
COPY --from=build /src/target/release/gatehouse /usr/local/bin/gatehouse
COPY --from=build /src/frontend/dist /usr/share/gatehouse/web
USER gatehouse
WORKDIR /var/lib/gatehouse
ENV GATEHOUSE_LISTEN=0.0.0.0:8080 \
    GATEHOUSE_WEB_DIR=/usr/share/gatehouse/web \
    GATEHOUSE_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["gatehouse"]
CMD ["serve"]
