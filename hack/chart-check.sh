#!/usr/bin/env bash
# Checks charts/vk-containerd: helm lint; helm template with the default values
# and with each documented option, every rendering accepted by the API server
# (kubectl apply --dry-run=server: its schema, validation and admission); and
# the values schema refusing wrong types, unknown keys and refused values.
# Needs the local cluster (make up) or KUBECONFIG of another.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

"$HACK_DIR/deps.sh" helm
HELM=$HELM_BIN/helm
CHART=$REPO_ROOT/charts/vk-containerd
KUBECONFIG=${KUBECONFIG:-/var/lib/vk-containerd-local/kubeconfig}
export KUBECONFIG
kubectl() { "$K8S_BIN/kubectl" "$@"; }
NS=vk-chart-check

"$HELM" lint --strict "$CHART"

# Each documented option, as --set arguments (one line a rendering).
options=(
  ""
  "--set identity.mode=serviceAccount"
  "--set identity.mode=serviceAccount --set identity.serviceAccount.readSecrets=true --set apiServer=https://127.0.0.1:6443"
  "--set identity.bootstrap.expiration=2030-01-01T00:00:00Z --set identity.bootstrap.approveRenewals=false"
  "--set servingCertificate.mode=csr"
  "--set apiServer=https://127.0.0.1:6443 --set hostRootPropagation=None"
  "--set nodeSelector.kubernetes\\.io/hostname=host-1 --set tolerations[0].operator=Exists"
  "--set node.nameSuffix=-edge --set node.labels.zone=a --set node.taints[0]=vk=true:NoSchedule --set node.maxPods=50 --set node.port=10270 --set node.clusterDNS[0]=10.96.0.10 --set node.verbosity=4"
  "--set containerd.socket=/run/k3s/containerd/containerd.sock --set containerd.root=/var/lib/rancher/k3s/agent/containerd --set containerd.namespace=edge --set rootDir=/srv/vk"
  "--set network.bridge.name=vkc1 --set network.bridge.masquerade=false --set network.bridge.podCIDRs[0]=10.244.9.0/24 --set network.bridge.podCIDRs[1]=fd00:10:244:9::/64"
  "--set network.mode=host --set network.host.confDir=/etc/cni/other --set network.host.binDir=/usr/lib/cni --set network.host.stateDirs[0]=/var/lib/cni --set network.host.stateDirs[1]=/run/flannel"
  "--set registries[0].host=registry.local:5000 --set registries[0].hostsToml=server=1"
  "--set image.repository=registry.local/vk-containerd --set image.tag=v1 --set image.pullPolicy=Always --set imagePullSecrets[0].name=pull"
  "--set resources.limits.memory=256Mi --set priorityClassName= --set extraArgs[0]=--pod-sync-workers=20"
  "--set test.image=busybox:1.36 --set test.timeout=5m --set uninstall.timeout=10m"
)

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
trap 'kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true' EXIT
# A dry run creates nothing, so the pods' service accounts must exist for
# their admission: these are made for real, in the check's namespace.
for sa in check-vk-containerd check-vk-containerd-test check-vk-containerd-uninstall; do
  kubectl -n "$NS" create serviceaccount "$sa" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
done
n=0
for opt in "${options[@]}"; do
  # shellcheck disable=SC2086 # each line is several arguments
  out=$("$HELM" template check "$CHART" -n "$NS" $opt) || die "helm template ${opt:-(defaults)} failed"
  printf '%s\n' "$out" | kubectl apply --dry-run=server -f - >/dev/null ||
    die "the API server refuses the chart rendered with ${opt:-its defaults}"
  n=$((n + 1))
done
log "chart: $n renderings accepted by the API server"

# Values the schema must refuse, each with the words of its refusal.
refused=(
  "--set node.port=abc|got string, want integer"
  "--set bogus=1|additional properties 'bogus' not allowed"
  "--set node.bogus=1|additional properties 'bogus' not allowed"
  "--set containerd.namespace=k8s.io|/containerd/namespace"
  "--set identity.mode=token|/identity/mode"
  "--set rootDir=relative|/rootDir"
  "--set node.taints[0]=no-effect|/node/taints/0"
  "--set apiServer=http://insecure|/apiServer"
  "--set network.mode=calico|/network/mode"
  "--set network.bridge.name=a-bridge-name-too-long|/network/bridge/name"
)
for r in "${refused[@]}"; do
  opt=${r%%|*} want=${r#*|}
  # shellcheck disable=SC2086
  if out=$("$HELM" template check "$CHART" $opt 2>&1); then die "the schema accepts $opt"; fi
  grep -qF -- "$want" <<<"$out" || die "the schema refuses $opt without saying \"$want\": $out"
done
log "chart: the schema refuses all ${#refused[@]} bad values"
