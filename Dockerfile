# syntax=docker/dockerfile:1
# The harness image: the `harness` binary on Debian bookworm, run as a non-root user.
# What deploy/k8s/ runs (deploy/k8s/README.md); also `docker run --rm IMAGE --help`.
#
#   docker build -t harness:dev .
#   docker run --rm harness:dev validate /usr/share/harness/scenarios/demo.toml
#
# RUST_VERSION: the toolchain CI builds with (the workspace's rust-version, 1.88, is the
# oldest it supports). The builder and the runtime share Debian bookworm, so the binary
# links against the glibc it finds at run time.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS build
WORKDIR /src
# The whole workspace's manifests are read even for -p harness (ci/dagger is a member).
COPY Cargo.toml Cargo.lock ./
COPY harness ./harness
COPY ci/dagger ./ci/dagger
# Cache mounts keep the registry and the build between builds (BuildKit); the binary is
# copied out of the cached target folder, which is not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release -p harness --locked \
    && install -D -m 755 target/release/harness /out/harness

FROM debian:bookworm-slim
# ca-certificates: HTTPS paths trust the system roots (rustls-native-certs). /bin/sh
# stays: the merge Job of deploy/k8s runs a short script. Not pinned to a version
# (DL3008): Debian's security updates replace the old one, and a pin would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 harness \
    && useradd --uid 10001 --gid 10001 --home-dir /home/harness --create-home --shell /usr/sbin/nologin harness
COPY --from=build /out/harness /usr/local/bin/harness
COPY scenarios /usr/share/harness/scenarios
# Numeric, so that Kubernetes' runAsNonRoot can check it without a passwd lookup.
USER 10001:10001
WORKDIR /home/harness
# SIGTERM (docker stop, Kubernetes) ends a run cleanly: records kept, exit 143.
STOPSIGNAL SIGTERM
ENTRYPOINT ["harness"]
CMD ["--help"]
