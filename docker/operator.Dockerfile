# syntax=docker/dockerfile:1.7
# metal-operator in a distroless, non-root image. Build from the repository root:
#   docker build -f docker/operator.Dockerfile -t localhost/metal-operator:dev .
# Builder and runtime are both Debian 12 (bookworm), so the binary's glibc matches.
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p metal-operator --bin metal-operator \
 && install -D -m 0755 target/release/metal-operator /out/metal-operator

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/metal-operator /usr/local/bin/metal-operator
# distroless' "nonroot" user; kind/operator/deployment.yaml asks for the same uid.
USER 65532:65532
# 8080: /metrics (METRICS_ADDR), 9440: /healthz and /readyz (HEALTH_ADDR).
EXPOSE 8080 9440
ENTRYPOINT ["/usr/local/bin/metal-operator"]
CMD ["run"]
