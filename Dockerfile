# syntax=docker/dockerfile:1
# Build: the pinned toolchain; dependencies are built in their own layer so that
# a source change does not rebuild them.
FROM rust:1.95-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends make perl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY src src
COPY migrations migrations
COPY templates templates
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

# Run: SQLite, libpq and OpenSSL are compiled in; the binary needs only libc.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home signup-otp
COPY --from=build /app/target/release/signup-otp /usr/local/bin/signup-otp
USER signup-otp
WORKDIR /data
ENV BIND_ADDR=0.0.0.0:8080 \
    RUST_LOG=info
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/signup-otp"]
CMD ["serve"]
