#!/usr/bin/env bash
# Builds the real components of the local cluster from the Go module proxy and Debian's
# packages, once per version, into $VKC_CACHE (see hack/lib.sh). Safe to run again: what is
# already cached is not rebuilt.
#   hack/deps.sh            everything the local cluster needs
#   hack/deps.sh helm       only helm
#   hack/deps.sh kubernetes_e2e sample_apiserver busybox
#                           the e2e suite, its aggregated API server and the busybox of its test
#                           images for hack/conformance (not built for the local cluster)
#   hack/deps.sh kubelet containerd_cri crictl
#                           a kubelet node's binaries for hack/kubelet-node.sh (not built for the
#                           local cluster)
#   hack/deps.sh kind       kind (hack/kind)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

mkdir -p "$VKC_CACHE"
exec 9>"$VKC_CACHE/.build.lock"
flock 9

# debian_packages PACKAGE... installs those of the Debian packages that are missing.
debian_packages() {
  local p missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  ((${#missing[@]} == 0)) && return
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian packages: libseccomp for runc, busybox for the test images, iptables for portmap,
# nftables to remove kube-proxy's tables, openssl for the cluster's certificates.
system_packages() {
  debian_packages libseccomp-dev pkg-config busybox-static iptables nftables openssl iproute2 util-linux
}

# throwaway_module DIR NAME REQUIRE... writes a go.mod + tools.go that requires modules and
# imports the given packages, so `go build` can build binaries of modules whose go.mod carries
# replace directives (which `go install pkg@version` refuses).
throwaway_module() {
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir"
  printf 'module %s\n\ngo 1.26.0\n' "$name" > "$dir/go.mod"
  { echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
    for p in "$@"; do echo "	_ \"$p\""; done; echo ')'; } > "$dir/tools.go"
}

# project_requires prints the module requirements of this repository's go.mod.
project_requires() {
  awk '/^require \(/ {r = 1; next} r && /^\)/ {r = 0} r && $1 !~ "^//" {print "\t" $1 " " $2}
       /^require [^(]/ {print "\t" $2 " " $3}' "$REPO_ROOT/go.mod"
}

# k8s_module DIR NAME PKG...: a throwaway module for packages of k8s.io/kubernetes at
# $KUBERNETES_VERSION, each of its staging modules replaced by the published module.
# $extra_require ("module version") adds one more module, built against the same versions.
#
# It also requires the versions of this repository's go.mod. The build cache serves a package
# compiled for one build to another only when every module below it has the same version, and
# the agent shares some 1100 packages with the control plane (client-go, grpc, protobuf, ...):
# aligned, a new machine compiles them once. go.mod keeps each shared module at least at the
# version Kubernetes and metrics-server ask for (a patch or minor release above, at most), so
# that every build selects go.mod's version.
k8s_module() {
  local dir=$1 name=$2; shift 2
  throwaway_module "$dir" "$name" "$@"
  (
    cd "$dir"
    local upstream
    upstream=$(go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    { echo; echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
      [[ -z ${extra_require:-} ]] || echo "require $extra_require"
      echo; echo 'require ('; project_requires; echo ')'
      echo; echo 'replace ('
      grep -E '=> \./staging/' "$upstream" | awk -v v="$KUBERNETES_STAGING_VERSION" '{print "\t" $1 " => " $1 " " v}'
      echo ')'; } >> go.mod
    # -e: tidy also loads the tests of every dependency, and one test of prometheus (a
    # metrics-server dependency) reaches a package that two module versions provide. No build
    # imports it; a real missing import still fails the go build that follows.
    go mod tidy -e 2>"$dir/tidy.log" || { cat "$dir/tidy.log" >&2; return 1; }
  )
}

# k8s_ldflags prints the linker flags that stamp $KUBERNETES_VERSION into a Kubernetes binary.
k8s_ldflags() {
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  printf '%s' "-s -w -X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION" \
    " -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    " -X k8s.io/component-base/version.gitTreeState=clean"
}

# The control plane and the kubelet are built in one throwaway module, so that the kubelet,
# built only when asked, finds the packages it shares with the control plane (nearly all of
# client-go, apiserver and component-base) in the build cache: a minute, not ten.
K8S_SRC=$VKC_CACHE/src/kubernetes-$KUBERNETES_VERSION
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kubeadm kube-proxy)

# kubernetes_module [reuse]: the module of K8S_CMDS; with reuse, one already written for all of
# them is kept (a kubelet built later then matches the control plane built from it).
kubernetes_module() {
  local pkgs=() c
  for c in "${K8S_CMDS[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  if [[ ${1:-} == reuse && -f $K8S_SRC/go.sum ]]; then
    local lacking=0
    for c in "${pkgs[@]}"; do grep -q "\"$c\"" "$K8S_SRC/tools.go" || lacking=1; done
    ((lacking)) || return 0
  fi
  k8s_module "$K8S_SRC" vkc-build-kubernetes "${pkgs[@]}"
}

kubernetes() {
  [[ -x $K8S_BIN/kube-apiserver && -x $K8S_BIN/kubectl && -x $K8S_BIN/kube-scheduler && -x $K8S_BIN/kube-controller-manager ]] && return
  log "building kubernetes $KUBERNETES_VERSION (apiserver, controller-manager, scheduler, kubectl; several minutes)"
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  local pkgs=(); for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  kubernetes_module
  mkdir -p "$K8S_BIN.tmp"
  (cd "$K8S_SRC" && go build -ldflags "$(k8s_ldflags)" -o "$K8S_BIN.tmp/" "${pkgs[@]}")
  rm -rf "$K8S_BIN" && mv "$K8S_BIN.tmp" "$K8S_BIN"
}

# kubelet builds the kubelet for a kubelet node beside the local cluster's (hack/kubelet-node.sh).
kubelet() {
  [[ -x $KUBELET_BIN/kubelet ]] && return
  log "building kubelet $KUBERNETES_VERSION"
  kubernetes_module reuse
  rm -rf "$KUBELET_BIN.tmp" && mkdir -p "$KUBELET_BIN.tmp"
  (cd "$K8S_SRC" && go build -ldflags "$(k8s_ldflags)" -o "$KUBELET_BIN.tmp/" k8s.io/kubernetes/cmd/kubelet)
  rm -rf "$KUBELET_BIN" && mv "$KUBELET_BIN.tmp" "$KUBELET_BIN"
}

# kubernetes_node builds kube-proxy, which the local cluster runs as a pod of its node, and
# kubeadm, which a kind node runs beside the kubelet.
kubernetes_node() {
  [[ -x $K8S_NODE_BIN/kubeadm && -x $K8S_NODE_BIN/kube-proxy ]] && return
  log "building kubeadm and kube-proxy $KUBERNETES_VERSION"
  kubernetes_module reuse
  rm -rf "$K8S_NODE_BIN.tmp" && mkdir -p "$K8S_NODE_BIN.tmp"
  (cd "$K8S_SRC" && go build -ldflags "$(k8s_ldflags)" -o "$K8S_NODE_BIN.tmp/" k8s.io/kubernetes/cmd/kubeadm k8s.io/kubernetes/cmd/kube-proxy)
  rm -rf "$K8S_NODE_BIN" && mv "$K8S_NODE_BIN.tmp" "$K8S_NODE_BIN"
}

# coredns is the cluster DNS (the local cluster's add-on, and kubeadm's), static like its
# upstream image.
coredns() {
  [[ -x $COREDNS_BIN/coredns ]] && return
  log "building coredns $COREDNS_VERSION"
  rm -rf "$COREDNS_BIN.tmp"
  CGO_ENABLED=0 GOBIN=$COREDNS_BIN.tmp go install -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
  rm -rf "$COREDNS_BIN" && mv "$COREDNS_BIN.tmp" "$COREDNS_BIN"
}

kind() {
  [[ -x $KIND_BIN/kind ]] && return
  log "building kind $KIND_VERSION"
  rm -rf "$KIND_BIN.tmp"
  GOBIN=$KIND_BIN.tmp go install "sigs.k8s.io/kind@$KIND_VERSION"
  rm -rf "$KIND_BIN" && mv "$KIND_BIN.tmp" "$KIND_BIN"
}

# kubernetes_e2e builds what the conformance run needs (hack/conformance; not part of the local
# cluster): the e2e suite's test binary, the ginkgo CLI of the version the suite requires, the
# static agnhost and nnp programs, and kitten's and nautilus's files that the test images are
# made of.
kubernetes_e2e() {
  local out=$K8S_E2E_BIN k=k8s.io/kubernetes
  local src=$VKC_CACHE/src/kubernetes-e2e-$KUBERNETES_VERSION
  if ! [[ -x $out/e2e.test && -x $out/ginkgo && -x $out/agnhost && -x $out/nnp ]]; then
    log "building the kubernetes $KUBERNETES_VERSION e2e suite (e2e.test, ginkgo, agnhost, nnp; several minutes)"
    k8s_module "$src" vkc-build-kubernetes-e2e $k/test/e2e $k/test/images/agnhost $k/test/images/nonewprivs
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (
      cd "$src"
      # tidy leaves out what only the suite's _test.go files import.
      go get -t "$k/test/e2e@$KUBERNETES_VERSION"
      go test -c -vet=off -ldflags "$(k8s_ldflags)" -o "$out.tmp/e2e.test" $k/test/e2e
      CGO_ENABLED=0 go build -ldflags "-s -w" -o "$out.tmp/" $k/test/images/agnhost
      CGO_ENABLED=0 go build -ldflags "-s -w" -o "$out.tmp/nnp" $k/test/images/nonewprivs
      GOBIN=$out.tmp go install "github.com/onsi/ginkgo/v2/ginkgo@$(go list -m -f '{{.Version}}' github.com/onsi/ginkgo/v2)"
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
  fi
  local name dir
  for name in kitten nautilus; do
    [[ -f $out/$name/data.json ]] && continue
    dir=$(cd "$src" && go list -m -f '{{.Dir}}' $k)/test/images/$name/html
    mkdir -p "$out/$name.tmp" && cp "$dir/$name.jpg" "$dir/data.json" "$out/$name.tmp/"
    chmod 644 "$out/$name.tmp"/* && rm -rf "${out:?}/$name" && mv "$out/$name.tmp" "$out/$name"
  done
}

# sample_apiserver is the aggregated API server that the suite's Aggregator spec deploys,
# built like metrics_server against the control plane's modules.
sample_apiserver() {
  [[ -x $SAMPLE_APISERVER_BIN/sample-apiserver ]] && return
  log "building sample-apiserver $KUBERNETES_STAGING_VERSION"
  local src=$VKC_CACHE/src/sample-apiserver-$KUBERNETES_STAGING_VERSION pkg=k8s.io/sample-apiserver
  extra_require="$pkg $KUBERNETES_STAGING_VERSION" k8s_module "$src" vkc-build-sample-apiserver $pkg
  rm -rf "$SAMPLE_APISERVER_BIN.tmp"
  (cd "$src" && CGO_ENABLED=0 go build -ldflags "$(k8s_ldflags)" -o "$SAMPLE_APISERVER_BIN.tmp/sample-apiserver" $pkg)
  rm -rf "$SAMPLE_APISERVER_BIN" && mv "$SAMPLE_APISERVER_BIN.tmp" "$SAMPLE_APISERVER_BIN"
}

# debian_pool_file PATH SHA256 OUT downloads PATH (pool/...) of a Debian archive to OUT from the
# first of debian_mirrors (hack/lib.sh) that serves it with that sha256, through apt's HTTP proxy
# if apt has one.
debian_pool_file() {
  local path=$1 sum=$2 out=$3 proxy='' m
  eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null)"
  [[ ${proxy,,} != direct ]] || proxy=''
  for m in $(debian_mirrors); do
    log "downloading ${path##*/} from $m"
    if curl -fsSL --retry 2 ${proxy:+--proxy "$proxy"} -o "$out.tmp" "$m$path" &&
      echo "$sum  $out.tmp" | sha256sum -c --status; then
      mv "$out.tmp" "$out"; return
    fi
    log "no ${path##*/} with sha256 $sum at $m"
  done
  rm -f "$out.tmp"
  die "cannot download $path from the host's Debian mirrors (or DEBIAN_MIRROR)"
}

# busybox builds upstream's busybox, static, for the conformance run's busybox images
# (hack/imagebuild --conformance), as upstream's busybox image carries it. Debian's busybox-static
# (1.35) reverts upstream's fix that keeps environment variables whose names are not shell
# identifiers (data-1), which the ConfigMap and Secret env specs print with `sh -c env`. The
# release tarball comes from Debian's source pool, unpatched; tc is left out, since it does not
# build against current kernel headers. About a minute on 2 cores.
busybox() {
  [[ -x $BUSYBOX_BIN/busybox ]] && return
  debian_packages build-essential bzip2 curl
  local src=$VKC_CACHE/src/busybox-$BUSYBOX_VERSION tarball=$VKC_CACHE/src/busybox_$BUSYBOX_VERSION.orig.tar.bz2
  mkdir -p "$VKC_CACHE/src"
  echo "$BUSYBOX_SHA256  $tarball" | sha256sum -c --status 2>/dev/null ||
    debian_pool_file "pool/main/b/busybox/${tarball##*/}" "$BUSYBOX_SHA256" "$tarball"
  log "building busybox $BUSYBOX_VERSION (static)"
  rm -rf "$src" && mkdir -p "$src"
  tar -xjf "$tarball" -C "$src" --strip-components=1
  # The banner's build date is the release's (its Makefile's time), not today's.
  (cd "$src" && export SOURCE_DATE_EPOCH && SOURCE_DATE_EPOCH=$(stat -c %Y Makefile) &&
    make defconfig >build.log 2>&1 &&
    sed -i -e 's/^# CONFIG_STATIC is not set$/CONFIG_STATIC=y/' -e 's/^CONFIG_TC=y$/# CONFIG_TC is not set/' .config &&
    make -j"$(nproc)" busybox </dev/null >>build.log 2>&1) ||
    { tail -n 30 "$src/build.log" >&2; die "building busybox failed (log: $src/build.log)"; }
  "$src/busybox" sh -c true || die "the busybox built does not run"
  rm -rf "$BUSYBOX_BIN.tmp" && install -D -m 0755 "$src/busybox" "$BUSYBOX_BIN.tmp/busybox"
  rm -rf "$BUSYBOX_BIN" && mv "$BUSYBOX_BIN.tmp" "$BUSYBOX_BIN"
}

etcd() {
  [[ -x $ETCD_BIN/etcd ]] && return
  log "building etcd $ETCD_VERSION"
  local src=$VKC_CACHE/src/etcd-$ETCD_VERSION
  throwaway_module "$src" vkc-build-etcd go.etcd.io/etcd/server/v3
  (cd "$src" && printf '\nrequire go.etcd.io/etcd/server/v3 %s\n' "$ETCD_VERSION" >> go.mod &&
    go mod tidy && go build -o "$ETCD_BIN.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$ETCD_BIN" && mv "$ETCD_BIN.tmp" "$ETCD_BIN"
}

# containerd_into DIR TAGS builds containerd, its shim and ctr with build TAGS into DIR.
containerd_into() {
  local dir=$1 tags=$2 m=github.com/containerd/containerd/v2/cmd
  [[ -x $dir/containerd && -x $dir/containerd-shim-runc-v2 && -x $dir/ctr ]] && return
  log "building containerd $CONTAINERD_VERSION (tags: $tags)"
  GOBIN=$dir.tmp go install -tags "$tags" \
    "$m/containerd@$CONTAINERD_VERSION" "$m/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$m/ctr@$CONTAINERD_VERSION"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

# containerd is the local cluster's: the node agent drives it directly, without CRI.
containerd() { containerd_into "$CONTAINERD_BIN" "no_btrfs no_devmapper no_zfs no_cri no_tracing"; }

# containerd_cri is containerd with its CRI plugin, for a kubelet node (hack/kubelet-node.sh).
containerd_cri() { containerd_into "$CONTAINERD_CRI_BIN" "no_btrfs no_devmapper no_zfs no_tracing"; }

# crictl is the CRI client a kubelet host has: hack/kubelet-node.sh stops and removes the
# kubelet's pod sandboxes with it, so that their CNI teardown runs. Built against the control
# plane's Kubernetes modules, like metrics-server, to share the build cache.
crictl() {
  [[ -x $CRICTL_BIN/crictl ]] && return
  log "building crictl $CRI_TOOLS_VERSION"
  local src=$VKC_CACHE/src/cri-tools-$CRI_TOOLS_VERSION pkg=sigs.k8s.io/cri-tools/cmd/crictl
  extra_require="sigs.k8s.io/cri-tools $CRI_TOOLS_VERSION" k8s_module "$src" vkc-build-cri-tools $pkg
  rm -rf "$CRICTL_BIN.tmp"
  (cd "$src" && go build -ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRI_TOOLS_VERSION" \
    -o "$CRICTL_BIN.tmp/crictl" $pkg)
  rm -rf "$CRICTL_BIN" && mv "$CRICTL_BIN.tmp" "$CRICTL_BIN"
}

runc() {
  [[ -x $RUNC_BIN/runc ]] && return
  log "building runc $RUNC_VERSION"
  local src=$VKC_CACHE/src/runc-$RUNC_VERSION
  throwaway_module "$src" vkc-build-runc github.com/opencontainers/runc
  (cd "$src" && printf '\nrequire github.com/opencontainers/runc %s\n' "$RUNC_VERSION" >> go.mod &&
    go mod tidy && go build -tags seccomp -o "$RUNC_BIN.tmp/runc" github.com/opencontainers/runc)
  rm -rf "$RUNC_BIN" && mv "$RUNC_BIN.tmp" "$RUNC_BIN"
}

cni_plugins() {
  local plugins=(main/bridge main/loopback ipam/host-local meta/portmap)
  local p ok=1
  for p in "${plugins[@]}"; do [[ -x $CNI_BIN/${p#*/} ]] || ok=0; done
  ((ok)) && return
  log "building CNI plugins $CNI_PLUGINS_VERSION"
  local args=(); for p in "${plugins[@]}"; do args+=("github.com/containernetworking/plugins/plugins/$p@$CNI_PLUGINS_VERSION"); done
  GOBIN=$CNI_BIN.tmp go install "${args[@]}"
  rm -rf "$CNI_BIN" && mv "$CNI_BIN.tmp" "$CNI_BIN"
}

helm() {
  [[ -x $HELM_BIN/helm ]] && return
  log "building helm $HELM_VERSION"
  GOBIN=$HELM_BIN.tmp go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$HELM_BIN" && mv "$HELM_BIN.tmp" "$HELM_BIN"
}

# metrics_server serves the metrics.k8s.io API (kubectl top) from the node's /metrics/resource.
# It is built against the Kubernetes modules of the control plane, not its own older ones,
# so that nearly every package it needs is already in the build cache after kubernetes():
# about 30 s instead of five to ten minutes on two cores.
metrics_server() {
  [[ -x $METRICS_SERVER_BIN/metrics-server ]] && return
  log "building metrics-server $METRICS_SERVER_VERSION"
  local src=$VKC_CACHE/src/metrics-server-$METRICS_SERVER_VERSION pkg=sigs.k8s.io/metrics-server/cmd/metrics-server
  extra_require="sigs.k8s.io/metrics-server $METRICS_SERVER_VERSION" k8s_module "$src" vkc-build-metrics-server $pkg
  rm -rf "$METRICS_SERVER_BIN.tmp"
  (cd "$src" && go build -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    -o "$METRICS_SERVER_BIN.tmp/metrics-server" $pkg)
  rm -rf "$METRICS_SERVER_BIN" && mv "$METRICS_SERVER_BIN.tmp" "$METRICS_SERVER_BIN"
}

if (($# == 0)); then
  set -- system_packages etcd containerd runc cni_plugins kubernetes kubernetes_node coredns metrics_server
fi
for step in "$@"; do
  t0=$SECONDS
  "$step"
  ((SECONDS - t0 > 1)) && log "$step ready in $((SECONDS - t0))s"
done
exit 0
