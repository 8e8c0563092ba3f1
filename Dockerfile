# syntax=docker/dockerfile:1
#
# docker build -t signup-otp .
# docker run -p 8080:8080 -e DATABASE_URL=postgres://... -e OTP_SECRET=... -e MAIL_TRANSPORT=smtp ... signup-otp
#
# The base images are build arguments, so that the same file builds against
# local stand-ins where no registry is reachable (see .ci/container/). The
# binary comes from the `build` stage by default; BINARY_FROM=prebuilt takes
# target/release/signup-otp from the build context instead (CI, which has just
# built it). Either way the runtime stage, the image users get, is the same.
ARG BUILD_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
ARG BINARY_FROM=build

# Build: the pinned toolchain. Dependencies are compiled in their own layer, so a
# source change does not rebuild them. SQLite, libpq and OpenSSL are compiled in
# (bundled and vendored): the binary needs only libc.
FROM ${BUILD_IMAGE} AS build
# Refuses a build with the benchmark-only `deterministic-codes` feature.
ENV SIGNUP_OTP_RELEASE_IMAGE=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends make perl \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY build.rs build.rs
COPY src src
COPY migrations migrations
COPY templates templates
COPY static static
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked \
    && strip target/release/signup-otp

# A binary built outside the image (CI), at the same path.
FROM scratch AS prebuilt
COPY target/release/signup-otp /app/target/release/signup-otp

FROM ${BINARY_FROM} AS binary

# The runtime base's empty home of `nonroot`: copied as /data, an empty folder
# the service can write its SQLite file into (no shell to mkdir with).
FROM ${RUNTIME_IMAGE} AS home

# Run: distroless (libc and CA certificates, no shell), as a non-root user.
FROM ${RUNTIME_IMAGE}
COPY --from=binary /app/target/release/signup-otp /usr/local/bin/signup-otp
COPY --from=home --chown=65532:65532 /home/nonroot /data
WORKDIR /data
USER 65532:65532
ENV BIND_ADDR=0.0.0.0:8080 \
    LOG_FORMAT=json \
    RUST_LOG=info
EXPOSE 8080
# /metrics is served on METRICS_ADDR, loopback by default and never on the API's
# port (its counters would tell outsiders which addresses have accounts). For
# Prometheus, set METRICS_ADDR=0.0.0.0:9464 and publish 9464 to the monitoring
# network only, e.g. `-e METRICS_ADDR=0.0.0.0:9464 -p 127.0.0.1:9464:9464`.
# Healthy means serving and reaching the database (/health/ready).
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/signup-otp", "healthcheck"]
# `serve` applies pending migrations before it listens; SIGTERM drains requests
# in flight and deliveries started, within SHUTDOWN_GRACE_SECS.
ENTRYPOINT ["/usr/local/bin/signup-otp"]
CMD ["serve"]
