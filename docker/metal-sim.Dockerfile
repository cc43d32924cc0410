# syntax=docker/dockerfile:1.7
# metal-sim (fake BMCs, mock Ironic, embedded control plane) in a slim, non-root image, with the
# fleet files and CRDs it serves and socat for the pod's loopback-to-pod-IP forwarders
# (kind/simulator/deployment.yaml). Build from the repository root:
#   docker build -f docker/metal-sim.Dockerfile -t localhost/metal-sim:dev .
ARG RUST_IMAGE=rust:1.95-bookworm

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p metal-sim --bin metal-sim \
 && install -D -m 0755 target/release/metal-sim /out/metal-sim

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends socat \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --no-create-home --shell /usr/sbin/nologin metal-sim
COPY --from=builder /out/metal-sim /usr/local/bin/metal-sim
COPY fleets/ /etc/metal-sim/fleets/
COPY kind/crds/metal3.io.yaml /etc/metal-sim/crds/metal3.io.yaml
USER 65532:65532
WORKDIR /tmp
# Redfish (single-address layout) 8000/tcp, IPMI 6230+/udp, mock Ironic 6385, control API 9100:
# all on loopback inside the pod; the forwarders publish 16385 (Ironic) and 19100 (control).
EXPOSE 16385 19100
ENTRYPOINT ["/usr/local/bin/metal-sim"]
CMD ["serve", "--fleet", "/etc/metal-sim/fleets/single-address.yaml"]
