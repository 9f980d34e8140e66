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
