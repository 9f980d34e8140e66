#!/usr/bin/env bash
# A kind cluster of this repository's node image (hack/kind/node-image.sh), a control plane and a
# worker, with the chart's vk-containerd node on the worker, through podman (or docker, where an
# engine runs). make e2e-kind runs the e2e suite against it (hack/e2e-kind.sh).
#   hack/kind/kind.sh up         the cluster, a registry of the test images on its network
#   hack/kind/kind.sh install    make image, kind load image-archive, helm install onto the worker
#   hack/kind/kind.sh down       uninstall, delete the cluster, check that nothing is left
#   hack/kind/kind.sh ctl ...    the e2e tests' control of the vk-containerd node (VKC_E2E_CONTROL)
#   hack/kind/kind.sh env        the e2e tests' environment for this cluster, as shell assignments
set -euo pipefail
shopt -s inherit_errexit
source "$(dirname "$0")/../lib.sh"
# shellcheck source=../local.sh
source "$HACK_DIR/local.sh"

CLUSTER=${VKC_KIND_CLUSTER:-vkc}
WORKER=$CLUSTER-worker
VK_NODE=$WORKER-vk
KIND_STATE=$LOCAL/kind
KUBECONFIG_KIND=$KIND_STATE/kubeconfig
RELEASE=vkc
NS=vk-system
NODE_IMAGE=localhost/vk-containerd/kind-node:$KUBERNETES_VERSION
VK_ROOT=/var/lib/vk-containerd          # the chart's rootDir, inside the worker
VK_BRIDGE=vkc0                          # the chart's default bridge
REGISTRY_PORTS=(5000 5001 5002)         # as the local cluster's: plain, basic auth, slow

mkdir -p "$KIND_STATE" "$LOGS" "$RUN"
export KIND_EXPERIMENTAL_PROVIDER=${KIND_EXPERIMENTAL_PROVIDER:-}

# engine_setup: docker where an engine answers, podman otherwise, with the settings podman needs
# on hosts like this one from hack/kind/containers.conf (CONTAINERS_CONF), not /etc's.
engine_setup() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    ENGINE=docker; KIND_EXPERIMENTAL_PROVIDER=docker; return
  fi
  local missing=() p
  for p in podman runc; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  export CONTAINERS_CONF=${CONTAINERS_CONF:-$HACK_DIR/kind/containers.conf}
  ENGINE=podman; KIND_EXPERIMENTAL_PROVIDER=podman
}

kind() { "$KIND_BIN/kind" "$@"; }
kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_KIND" "$@"; }
helm() { "$HELM_BIN/helm" --kubeconfig "$KUBECONFIG_KIND" "$@"; }
on_node() { "$ENGINE" exec "$WORKER" "$@"; }

# gateway prints the host's address on the kind network: where the nodes reach the registry.
gateway() {
  if [[ $ENGINE == podman ]]; then
    podman network inspect kind --format '{{range .Subnets}}{{if .Gateway.To4}}{{.Gateway}}{{end}}{{end}}'
  else
    docker network inspect kind --format '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -F . | head -n 1
  fi
}

node_ip() { "$ENGINE" inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }

up() {
  local t0=$SECONDS
  engine_setup
  "$HACK_DIR/deps.sh" kind helm
  # kind mounts the host's /lib/modules into every node.
  [[ -d /lib/modules ]] || mkdir -p /lib/modules
  "$HACK_DIR/kind/node-image.sh" | tail -n 1
  if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    log "creating kind cluster $CLUSTER ($ENGINE)"
    kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$HACK_DIR/kind/cluster.yaml" \
      --kubeconfig "$KUBECONFIG_KIND" --wait 3m
  fi
  kind get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_KIND"
  # kubectl top, as the local cluster has it: the node image's metrics-server.
  "$ENGINE" exec "$CLUSTER-control-plane" cat /kind/manifests/metrics-server.yaml | kubectl apply -f - >/dev/null
  registry
  log "kind cluster $CLUSTER up in $((SECONDS - t0))s (KUBECONFIG=$KUBECONFIG_KIND)"
}

# registry serves the test images on the kind network's gateway, as the local cluster does on
# loopback: the registry binary and images of make build, pushed by imagebuild.
registry() {
  local gw; gw=$(gateway)
  [[ -n $gw ]] || die "no IPv4 gateway on the kind network"
  echo "$gw" >"$KIND_STATE/gateway"
  start kind-registry "$REPO_ROOT/_output/bin/registry" --address "$gw:${REGISTRY_PORTS[0]}" \
    --blob-dir "$KIND_STATE/registry" --auth-address "$gw:${REGISTRY_PORTS[1]}" \
    --auth "e2e:vk-containerd-e2e" --slow-address "$gw:${REGISTRY_PORTS[2]}"
  wait_for kind-registry 20 curl -sf "http://$gw:${REGISTRY_PORTS[0]}/v2/"
  # The kind nodes' kubelets pull from it too (the e2e tests' pods on other nodes).
  local node
  for node in $(kind get nodes --name "$CLUSTER"); do
    "$ENGINE" exec "$node" sh -c "mkdir -p /etc/containerd/certs.d/$gw:5000 && printf '%s\n' \
      'server = \"http://$gw:5000\"' '[host.\"http://$gw:5000\"]' '  capabilities = [\"pull\", \"resolve\"]' \
      >/etc/containerd/certs.d/$gw:5000/hosts.toml"
  done
  timed "test images pushed to $gw" "$REPO_ROOT/_output/bin/imagebuild" --registry "$gw:${REGISTRY_PORTS[0]}" --repo "$REPO_ROOT"
}

# values are the chart's values for the worker: the image kind loaded, the registry's hosts over
# plain HTTP, the cluster's DNS.
values() {
  local image=$1 gw
  gw=$(cat "$KIND_STATE/gateway")
  cat <<YAML
image:
  repository: ${image%:*}
  tag: ${image##*:}
  pullPolicy: Never
nodeSelector:
  kubernetes.io/hostname: $WORKER
node:
  clusterDNS: [10.96.0.10]
# The serving certificate from the cluster (install approves it), as the local cluster's node has.
servingCertificate:
  mode: csr
registries:
$(registries_values "$gw:5000" "$gw:5001" "$gw:5002")
test:
  image: $gw:5000/busybox:1.35
YAML
}

install() {
  engine_setup
  local image t0=$SECONDS
  # Pushed to the cluster's registry (no other need be running) and loaded from its archive.
  image=$(cd "$REPO_ROOT" && IMAGE_REGISTRY=$(cat "$KIND_STATE/gateway"):5000 make --no-print-directory image | tail -n 1)
  [[ $image == "image: "* ]] || die "make image did not end with its reference: $image"
  image=${image#image: }
  kind load image-archive "$REPO_ROOT/_output/images/vk-containerd.tar" --name "$CLUSTER" --nodes "$WORKER"
  values "$image" >"$KIND_STATE/values.yaml"
  # kube-proxy, kubeadm's DaemonSet, tolerates every taint: keep it off vk-containerd nodes,
  # whose host's kube-proxy already serves their pods (they share its network namespace).
  kubectl -n kube-system patch daemonset kube-proxy --type merge -p \
    '{"spec":{"template":{"spec":{"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"vk-containerd.io/release","operator":"DoesNotExist"}]}]}}}}}}}' >/dev/null
  helm upgrade --install "$RELEASE" "$REPO_ROOT/charts/vk-containerd" -n "$NS" --create-namespace \
    -f "$KIND_STATE/values.yaml" --wait --timeout 3m
  # The agent is ready (its health check) a moment before its node object is made; its
  # serving certificate waits for an approval, which kubeadm's cluster gives no one.
  local t1=$SECONDS
  until kubectl get node "$VK_NODE" >/dev/null 2>&1 && approve_serving; do
    ((SECONDS - t1 < 120)) || die "node $VK_NODE is not registered with a serving certificate after 120s"; sleep 0.5
  done
  kubectl wait --for=condition=Ready "node/$VK_NODE" --timeout=120s >/dev/null
  # The host reaches the node's pods through the worker, as the other nodes do (kind-net).
  local cidr ip
  cidr=$(kubectl get node "$VK_NODE" -o jsonpath='{.spec.podCIDR}')
  ip=$(node_ip "$WORKER")
  ip route replace "$cidr" via "$ip"
  echo "$cidr" >"$KIND_STATE/route"
  log "vk-containerd node $VK_NODE Ready in $((SECONDS - t0))s (pods $cidr via $ip)"
}

# approve_serving approves the node's kubelet-serving requests; it fails while there is none.
approve_serving() {
  local csrs
  csrs=$(kubectl get csr -o jsonpath='{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}{.metadata.name} {.spec.username}{"\n"}{end}' |
    awk -v u="system:node:$VK_NODE" '$2 == u {print $1}')
  [[ -n $csrs ]] || return 1
  # shellcheck disable=SC2086
  kubectl certificate approve $csrs >/dev/null
}

# env prints the e2e suite's environment for the cluster.
env_vars() {
  local gw; gw=$(cat "$KIND_STATE/gateway")
  cat <<ENV
KUBECONFIG=$KUBECONFIG_KIND
VKC_NODE_NAME=$VK_NODE
VKC_E2E_PEER_NODE=$CLUSTER-control-plane
VKC_E2E_KUBELET_PORT=10260
VKC_E2E_CONTROL="$HACK_DIR/kind/kind.sh ctl"
VKC_E2E_KUBECTL=$K8S_BIN/kubectl
VKC_E2E_REGISTRY=$gw:5000
VKC_E2E_BUSYBOX=$gw:5000/busybox:1.35
VKC_E2E_BUSYBOX_B=$gw:5000/busybox:1.35-b
VKC_E2E_HTTPSERVER=$gw:5000/httpserver:v1
VKC_E2E_AUTH_REGISTRY=$gw:5001
VKC_E2E_SLOW_REGISTRY=$gw:5002
ENV
}

agent_pod() {
  kubectl -n "$NS" get pods --field-selector "spec.nodeName=$WORKER" -l app.kubernetes.io/name=vk-containerd \
    -o 'jsonpath={.items[0].metadata.name}' 2>/dev/null
}

agent_running() {
  local p; p=$(agent_pod); [[ -n $p ]] &&
    [[ $(kubectl -n "$NS" get pod "$p" -o 'jsonpath={.status.containerStatuses[0].ready}') == true ]]
}

# in_node FUNCTION ARGS...: run one of hack/local.sh's host checks inside the worker.
in_node() {
  on_node bash -c "$(declare -f check_clean_pods leaks_line shim_pattern host_files); $(printf '%q ' "$@")"
}

ctl() {
  engine_setup
  local action=${1:-} name=${2:-}
  case $action in
    check-clean) shift
      in_node check_clean_pods ctr /run/containerd/containerd.sock vk-containerd "$VK_ROOT" "$VK_ROOT/network/ipam" "$@"
      return ;;
    check-one-shim)
      local n; n=$(on_node pgrep -f "containerd-shim-runc-v2 .*-id $name" | wc -l)
      [[ $n == 1 ]] || { echo "pod $name runs under $n shims, want 1"; return 1; }
      return ;;
    leaks) in_node leaks_line ctr /run/containerd/containerd.sock vk-containerd "$VK_ROOT" "$VK_BRIDGE" "$VK_ROOT/network/ipam"; return ;;
    agent-panics) kubectl -n "$NS" logs "$(agent_pod)" | grep -c panic || true; return ;;
    host-tempdir | host-read | host-rmdir) in_node host_files "${action#host-}" "$name"; return ;;
  esac
  case $name in
    vk-containerd)
      case $action in
        restart) kubectl -n "$NS" delete pod "$(agent_pod)" --wait=true --timeout=60s >/dev/null ;;
        kill) on_node pkill -9 -x vk-containerd; return ;;
        # Held stopped: the DaemonSet's pods asked for a node label no node has, so the
        # worker's agent is stopped as a pod is (SIGTERM) and none replaces it until start.
        stop)
          kubectl -n "$NS" patch daemonset "$RELEASE-vk-containerd" --type merge \
            -p '{"spec":{"template":{"spec":{"nodeSelector":{"vk-containerd.io/e2e-held":"stopped"}}}}}' >/dev/null
          local t0=$SECONDS
          while [[ -n $(agent_pod) ]]; do ((SECONDS - t0 < 60)) || die "the agent on $WORKER did not stop in 60s"; sleep 0.5; done
          return ;;
        start)
          kubectl -n "$NS" patch daemonset "$RELEASE-vk-containerd" --type json \
            -p '[{"op":"remove","path":"/spec/template/spec/nodeSelector/vk-containerd.io~1e2e-held"}]' >/dev/null 2>&1 || true ;;
        *) die "ctl: unknown action $action vk-containerd (stop, start, restart or kill)" ;;
      esac
      local t0=$SECONDS
      until agent_running; do ((SECONDS - t0 < 120)) || die "the vk-containerd agent on $WORKER is not Ready after 120s"; sleep 0.5; done ;;
    containerd)
      case $action in
        stop | start | restart) on_node systemctl "$action" containerd ;;
        *) die "ctl: unknown action $action (stop, start or restart)" ;;
      esac ;;
    *) die "ctl: unknown action or process: $action $name" ;;
  esac
}

# down uninstalls the chart (its hook tears every pod down), deletes the cluster, and fails if
# anything of it is left on the host: containers, volumes, the network, the route, the registry.
down() {
  engine_setup
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    helm uninstall "$RELEASE" -n "$NS" --wait --timeout 5m >/dev/null 2>&1 || true
    kind delete cluster --name "$CLUSTER"
  fi
  [[ -f $KIND_STATE/route ]] && { ip route del "$(cat "$KIND_STATE/route")" 2>/dev/null || true; rm -f "$KIND_STATE/route"; }
  stop kind-registry
  "$ENGINE" network rm kind >/dev/null 2>&1 || true
  podman_traces
  local left
  left=$("$ENGINE" ps -a --filter "label=io.x-k8s.kind.cluster=$CLUSTER" -q; "$ENGINE" volume ls -q --filter "label=$CLUSTER-control-plane=true"; "$ENGINE" volume ls -q --filter "label=$WORKER=true")
  if [[ $ENGINE == podman && -z $(podman ps -aq) ]]; then
    left+=$({ iptables-save | grep -E '^[:-].*NETAVARK' || true; } | head -n 3; find /sys/fs/cgroup/*/libpod_parent -maxdepth 0 2>/dev/null || true)
  fi
  [[ -z $left ]] || die "kind left on the host: $left"
  log "kind cluster $CLUSTER down"
}

# podman_traces removes what podman keeps once its last container is gone: netavark's
# iptables chains and the parent cgroups of its containers. Another user's container keeps them.
podman_traces() {
  [[ $ENGINE == podman && -z $(podman ps -aq) ]] || return 0
  local table rule chain
  for table in nat filter; do
    { iptables -t $table -S | grep -E '^-A .*-j NETAVARK' || true; } | while read -r rule; do
      eval iptables -t $table "${rule/-A/-D}" 2>/dev/null || true
    done
    for chain in $(iptables -t $table -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
      iptables -t $table -F "$chain" 2>/dev/null || true
    done
    for chain in $(iptables -t $table -S | awk '$1 == "-N" && $2 ~ /^NETAVARK/ {print $2}'); do
      iptables -t $table -X "$chain" 2>/dev/null || true
    done
  done
  find /sys/fs/cgroup/*/libpod_parent -depth -type d -exec rmdir {} + 2>/dev/null || true
}

case ${1:-} in
  up) up ;;
  install) install ;;
  down) down ;;
  ctl) shift; ctl "$@" ;;
  env) engine_setup; env_vars ;;
  *) die "usage: hack/kind/kind.sh up|install|down|ctl|env" ;;
esac
