#!/usr/bin/env bash
# Builds the kind node image localhost/vk-containerd/kind-node:$KUBERNETES_VERSION offline, from
# Debian's packages and the components hack/deps.sh builds from the Go module proxy, and loads
# it into podman (or docker, where an engine runs). Nothing in it is pulled when a cluster starts:
#   - a Debian bookworm root with systemd (a newer systemd refuses cgroup v1 hosts), iptables,
#     nftables, iproute2, conntrack, ...;
#   - kubelet, kubeadm and kubectl in /usr/bin; containerd with CRI, its shim, ctr and crictl
#     in /usr/local/bin; runc in /usr/local/sbin; the CNI plugins bridge, host-local, loopback
#     and portmap in /opt/cni/bin;
#   - hack/kind/files: the entrypoint, containerd's and the kubelet's units and configuration,
#     and /kind/manifests/default-cni.yaml, the cluster network hack/kind/net;
#   - kubeadm's images (kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
#     etcd, coredns), the sandbox image, kind-net's and metrics-server's (its manifest is
#     /kind/manifests/metrics-server.yaml), each a Debian layer and a layer of its
#     binary, imported into the node's containerd (namespace k8s.io) and pinned.
# The image is cached under $VKC_CACHE/kind-node, keyed by everything it is made of; the last
# line on stdout is "image: <reference>".
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/../lib.sh"
# shellcheck source=../image/steps.sh
source "$HACK_DIR/image/steps.sh"
cd "$REPO_ROOT"

REF=localhost/vk-containerd/kind-node:$KUBERNETES_VERSION
FILES=$HACK_DIR/kind/files
OUT=$REPO_ROOT/_output
TOOL=$OUT/bin/image
# kubeadm v1.37.2 asks for etcd 3.7.0-0; the cluster configuration (hack/kind/cluster.yaml)
# names the etcd this repository builds instead.
ETCD_TAG=${ETCD_VERSION#v}-0
SANDBOX=registry.k8s.io/pause:3.10.2
NODE_PACKAGES=(systemd systemd-sysv iptables nftables iproute2 ethtool conntrack util-linux mount
  kmod libseccomp2 ca-certificates procps jq bash e2fsprogs socat)

grep -qF "imageTag: \"$ETCD_TAG\"" "$HACK_DIR/kind/cluster.yaml" ||
  die "hack/kind/cluster.yaml must name etcd's image tag $ETCD_TAG (etcd $ETCD_VERSION)"
"$HACK_DIR/deps.sh" kind kubernetes kubelet kubernetes_node coredns etcd containerd containerd_cri runc crictl metrics_server
mkdir -p "$OUT/bin" "$VKC_CACHE/kind-node"
go build -o "$TOOL" ./hack/image
exec 9>"$VKC_CACHE/.build.lock"

# engine prints the container engine that kind will use: docker where one answers, podman else.
engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; return; fi
  command -v podman >/dev/null || die "neither a docker engine nor podman here: apt-get install podman runc"
  echo podman
}

# key hashes what the image is made of: versions, this script and its files, the image tool
# and kind-net's sources, and the binaries themselves.
key() {
  {
    cat "$HACK_DIR/versions.env" "$0" "$HACK_DIR/image/steps.sh"
    find "$FILES" "$HACK_DIR/kind/net" "$HACK_DIR/image" "$HACK_DIR/images/pause" -type f | sort | xargs cat
    printf '%s\n' "${NODE_PACKAGES[@]}"
    sha256sum "$K8S_BIN"/* "$KUBELET_BIN/kubelet" "$K8S_NODE_BIN"/* "$COREDNS_BIN/coredns" "$ETCD_BIN/etcd" "$METRICS_SERVER_BIN/metrics-server" \
      "$CONTAINERD_CRI_BIN"/* "$RUNC_BIN/runc" "$CRICTL_BIN/crictl" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
}

# component NAME REF ENTRYPOINT FILE=PATH...: an image of the Debian base and those files.
component() {
  local name=$1 ref=$2 entry=$3; shift 3
  component_image "$WORK/stage/$name" "$BASE" "$ref" "$entry" "$WORK/images/$name.tar" "$@"
}

# import_images imports every archive in $WORK/images into the rootfs's containerd store
# (namespace k8s.io, as the CRI has it), pinned so the kubelet's image GC leaves them, and
# unpacked later by the CRI, on first use.
import_images() {
  local sock=$WORK/containerd.sock pid img
  # The local cluster's containerd (no CRI), the same version as the node's, on the node's store.
  printf 'version = 3\nroot = "%s"\nstate = "%s"\ndisabled_plugins = ["io.containerd.nri.v1.nri"]\n[grpc]\n  address = "%s"\n[ttrpc]\n  address = "%s.ttrpc"\n' \
    "$ROOTFS/var/lib/containerd" "$WORK/containerd-state" "$sock" "$sock" >"$WORK/containerd.toml"
  "$CONTAINERD_BIN/containerd" --config "$WORK/containerd.toml" >"$WORK/containerd.log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do [[ -S $sock ]] && break; sleep 0.2; done
  for img in "$WORK"/images/*.tar; do
    "$CONTAINERD_BIN/ctr" --address "$sock" -n k8s.io images import --no-unpack --digests \
      --label io.cri-containerd.pinned=pinned "$img" >/dev/null
  done
  "$CONTAINERD_BIN/ctr" --address "$sock" -n k8s.io images ls -q | sed 's/^/  /' >&2
  kill "$pid" && wait "$pid" 2>/dev/null || true
}

build() {
  local t0=$SECONDS
  WORK=$(mktemp -d "$VKC_CACHE/kind-node/build.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  mkdir -p "$WORK/images"
  local plugins=()
  mapfile -t plugins < <("$TOOL" list cni-plugins)
  static_cni_plugins "${plugins[@]}"
  BASE=$(debian_rootfs bookworm $("$TOOL" list packages))
  local nodefs
  nodefs=$(debian_rootfs bookworm "${NODE_PACKAGES[@]}")

  log "kind node: the images kubeadm asks for"
  local reg=registry.k8s.io v=$KUBERNETES_VERSION c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    component "$c" "$reg/$c:$v" "" "$K8S_BIN/$c=usr/local/bin/$c"
  done
  component kube-proxy "$reg/kube-proxy:$v" "" "$K8S_NODE_BIN/kube-proxy=usr/local/bin/kube-proxy"
  component etcd "$reg/etcd:$ETCD_TAG" "" "$ETCD_BIN/etcd=usr/local/bin/etcd"
  component coredns "$reg/coredns/coredns:$COREDNS_VERSION" '["/coredns"]' "$COREDNS_BIN/coredns=coredns"
  CGO_ENABLED=0 go build -ldflags "-s -w" -o "$WORK/pause" ./hack/images/pause
  component pause "$SANDBOX" '["/pause"]' "$WORK/pause=pause"
  component metrics-server localhost/vk-containerd/metrics-server:v1 '["/usr/local/bin/metrics-server"]' \
    "$METRICS_SERVER_BIN/metrics-server=usr/local/bin/metrics-server"
  CGO_ENABLED=0 go build -ldflags "-s -w" -o "$WORK/kind-net" ./hack/kind/net
  component kind-net localhost/vk-containerd/kind-net:v1 '["/usr/local/bin/kind-net"]' "$WORK/kind-net=usr/local/bin/kind-net"

  log "kind node: the root filesystem"
  ROOTFS=$WORK/rootfs
  mkdir -p "$ROOTFS"
  tar -C "$ROOTFS" -xf "$nodefs"
  local b
  for b in kubelet; do install -m 0755 "$KUBELET_BIN/$b" "$ROOTFS/usr/bin/$b"; done
  install -m 0755 "$K8S_NODE_BIN/kubeadm" "$K8S_BIN/kubectl" "$ROOTFS/usr/bin/"
  install -m 0755 "$CONTAINERD_CRI_BIN"/* "$CRICTL_BIN/crictl" "$ROOTFS/usr/local/bin/"
  install -D -m 0755 "$RUNC_BIN/runc" "$ROOTFS/usr/local/sbin/runc"
  for b in "${plugins[@]}"; do install -D -m 0755 "$CNI_STATIC_BIN/${b##*/}" "$ROOTFS/opt/cni/bin/${b##*/}"; done
  install -D -m 0755 "$FILES/bin/entrypoint" "$ROOTFS/usr/local/bin/entrypoint"
  install -D -m 0644 "$FILES/etc/containerd.toml" "$ROOTFS/etc/containerd/config.toml"
  install -D -m 0644 "$FILES/etc/crictl.yaml" "$ROOTFS/etc/crictl.yaml"
  install -D -m 0644 "$FILES/etc/default-kubelet" "$ROOTFS/etc/default/kubelet"
  install -D -m 0644 "$FILES/manifests/default-cni.yaml" "$ROOTFS/kind/manifests/default-cni.yaml"
  install -D -m 0644 "$FILES/manifests/metrics-server.yaml" "$ROOTFS/kind/manifests/metrics-server.yaml"
  echo "$KUBERNETES_VERSION" >"$ROOTFS/kind/version"
  cp -r "$FILES/systemd/." "$ROOTFS/etc/systemd/system/"
  mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants" "$ROOTFS/etc/kubernetes/manifests" \
    "$ROOTFS/etc/cni/net.d" "$ROOTFS/var/lib/kubelet"
  ln -sf ../containerd.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/containerd.service"
  ln -sf ../kubelet.service "$ROOTFS/etc/systemd/system/multi-user.target.wants/kubelet.service"
  # Units that have nothing to do in a container, or would fight it for the terminal.
  local u
  for u in getty@tty1.service systemd-udevd.service systemd-udev-trigger.service systemd-binfmt.service \
    console-getty.service systemd-modules-load.service; do
    ln -sf /dev/null "$ROOTFS/etc/systemd/system/$u"
  done

  log "kind node: importing the images into its containerd"
  import_images
  file_layer "$ROOTFS" "$WORK/node.layer.tar"
  "$TOOL" assemble -layer "$WORK/node.layer.tar" -ref "$REF" -env container=docker \
    -entrypoint '["/usr/local/bin/entrypoint", "/sbin/init"]' -stop-signal 'SIGRTMIN+3' \
    -archive "$CACHED.tmp"
  mv "$CACHED.tmp" "$CACHED"
  log "kind node image built in $((SECONDS - t0))s: $CACHED"
}

flock 9
CACHED=$VKC_CACHE/kind-node/kind-node-$KUBERNETES_VERSION-$(key).tar
[[ -s $CACHED ]] || build
flock -u 9
ENGINE=$(engine)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$HACK_DIR/kind/containers.conf}
# The engine's image ID is the digest of the image's configuration, which the archive names.
config=$(tar -xOf "$CACHED" manifest.json | sed -n 's/.*"Config":"\(sha256:\)\{0,1\}\([0-9a-f]\{64\}\).*/\2/p')
if [[ -z $config || $("$ENGINE" image inspect --format '{{.Id}}' "$REF" 2>/dev/null) != "$config" ]]; then
  log "loading $REF into $ENGINE"
  "$ENGINE" load -i "$CACHED" >/dev/null
fi
echo "image: $REF"
