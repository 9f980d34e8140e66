# Shared shell helpers for the hack/ scripts. Source it; do not run it.

HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HACK_DIR/.." && pwd)
# shellcheck source=versions.env
source "$HACK_DIR/versions.env"

VKC_CACHE=${VKC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vk-containerd}
export GOFLAGS=${GOFLAGS:--buildvcs=false}

# log prints a progress line to stderr.
log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }

# die prints an error line and exits non-zero.
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# timed runs a command and logs how long it took.
timed() {
  local what=$1; shift
  local t0=$SECONDS
  "$@" || die "$what failed"
  log "$what done in $((SECONDS - t0))s"
}

# bindir NAME VERSION prints the cache directory that holds one component's binaries.
bindir() { printf '%s/%s-%s/bin' "$VKC_CACHE" "$1" "$2"; }

K8S_BIN=$(bindir kubernetes "$KUBERNETES_VERSION")
KUBELET_BIN=$(bindir kubelet "$KUBERNETES_VERSION")
K8S_E2E_BIN=$(bindir kubernetes-e2e "$KUBERNETES_VERSION")
SAMPLE_APISERVER_BIN=$(bindir sample-apiserver "$KUBERNETES_STAGING_VERSION")   # hack/conformance
ETCD_BIN=$(bindir etcd "$ETCD_VERSION")
CONTAINERD_BIN=$(bindir containerd "$CONTAINERD_VERSION")
CONTAINERD_CRI_BIN=$(bindir containerd-cri "$CONTAINERD_VERSION")
CRICTL_BIN=$(bindir cri-tools "$CRI_TOOLS_VERSION")
RUNC_BIN=$(bindir runc "$RUNC_VERSION")
CNI_BIN=$(bindir cni-plugins "$CNI_PLUGINS_VERSION")
HELM_BIN=$(bindir helm "$HELM_VERSION")
METRICS_SERVER_BIN=$(bindir metrics-server "$METRICS_SERVER_VERSION")
K8S_NODE_BIN=$(bindir kubernetes-node "$KUBERNETES_VERSION")   # kubeadm, kube-proxy: the kind node image
COREDNS_BIN=$(bindir coredns "$COREDNS_VERSION")
KIND_BIN=$(bindir kind "$KIND_VERSION")

# Upstream's busybox, which `hack/deps.sh busybox` builds static for the conformance run's busybox
# images from its release tarball as Debian's source pool holds it (the "orig" tarball).
BUSYBOX_VERSION=1.37.0
BUSYBOX_SHA256=3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4
BUSYBOX_BIN=$(bindir busybox "$BUSYBOX_VERSION")   # hack/conformance

# host_sources lists the host's apt source files: mmdebstrap (hack/image/steps.sh) and
# debian_mirrors fetch from the mirrors this machine is configured for.
host_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] && grep -qE '^[[:space:]]*[^#[:space:]]' "$f" && echo "$f"
  done
  return 0
}

# debian_mirrors prints the URL of each Debian archive to download from, one a line, ending in
# "/": DEBIAN_MIRROR where it is set (a host that is not Debian), else the URIs of the host's apt
# sources, one-line ("deb [options] URI suite ...") and deb822 ("URIs: ...") alike, in their order.
debian_mirrors() {
  if [[ -n ${DEBIAN_MIRROR:-} ]]; then echo "${DEBIAN_MIRROR%/}/"; return; fi
  local files; mapfile -t files < <(host_sources)
  ((${#files[@]})) || return 0
  awk 'FNR == 1 {deb822 = FILENAME ~ /\.sources$/}
    /^[[:space:]]*#/ {next}
    deb822 && tolower($1) == "uris:" {for (i = 2; i <= NF; i++) print $i}
    !deb822 && ($1 == "deb" || $1 == "deb-src") {
      i = 2; if ($2 ~ /^\[/) {while (i < NF && $i !~ /\]$/) i++; i++}
      print $i
    }' "${files[@]}" | sed 's:/*$:/:' | awk '!seen[$0]++'
}
