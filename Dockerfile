# The agent's image: vk-containerd and the CNI plugins it runs, on Debian's
# iptables and nftables.
#   docker build --build-arg VERSION=v0.1.0-$(git rev-parse --short HEAD) -t vk-containerd .
# make image builds the same image without Docker (hack/image); its test holds
# this file's final stage to the same packages, files and entrypoint.
ARG GO_IMAGE=golang:1.26-bookworm
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${GO_IMAGE} AS build
ARG VERSION=v0.1.0-dev
# Default: CNI_PLUGINS_VERSION of hack/versions.env.
ARG CNI_PLUGINS_VERSION=v1.9.0
# The plugins are static; the agent links only the C library, which the
# final stage (the same Debian release as this one) has.
RUN CGO_ENABLED=0 GOBIN=/out/cni go install -trimpath \
      -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
      github.com/containernetworking/plugins/plugins/main/bridge@$CNI_PLUGINS_VERSION \
      github.com/containernetworking/plugins/plugins/ipam/host-local@$CNI_PLUGINS_VERSION \
      github.com/containernetworking/plugins/plugins/main/loopback@$CNI_PLUGINS_VERSION \
      github.com/containernetworking/plugins/plugins/meta/portmap@$CNI_PLUGINS_VERSION
WORKDIR /src
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -ldflags "-s -w -X github.com/vk-containerd/vk-containerd/internal/version.Version=$VERSION" \
      -o /out/vk-containerd ./cmd/vk-containerd

FROM ${BASE_IMAGE}
ARG VERSION=v0.1.0-dev
# The slim image already leaves out docs, man pages and locales.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates iptables nftables \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old /var/log/apt /var/log/dpkg.log
COPY --from=build /out/vk-containerd /usr/local/bin/vk-containerd
COPY --from=build /out/cni/bridge /out/cni/host-local /out/cni/loopback /out/cni/portmap /opt/cni/bin/
LABEL org.opencontainers.image.title=vk-containerd org.opencontainers.image.version=$VERSION
ENTRYPOINT ["/usr/local/bin/vk-containerd"]
