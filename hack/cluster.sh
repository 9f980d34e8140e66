#!/usr/bin/env bash
# The local cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# metrics-server, containerd, a loopback OCI registry and vk-containerd as the node,
# all real components built by hack/deps.sh, and the add-ons kube-proxy and CoreDNS as
# pods of the node (hack/addons).
#   hack/cluster.sh up       build what is missing, start what is not running, wait for the node
#                            (NODES=3: and for vk-node-2 and vk-node-3, see hack/nodes.sh)
#   hack/cluster.sh down     stop everything; leave no process, mount, netns, link or iptables rule
#   hack/cluster.sh status   show what runs
#   hack/cluster.sh ctl stop|start|restart|kill containerd|vk-containerd
#                            stop or start one process of the node (for the e2e tests)
#   hack/cluster.sh ctl freeze|thaw kube-apiserver
#                            SIGSTOP or SIGCONT the API server (an outage for the e2e tests)
#   hack/cluster.sh ctl check-clean UID...
#                            fail if containers, directories, mounts or IPs of these pods are left
#   hack/cluster.sh ctl leaks
#                            count what pods hold on the host: pinned namespaces, veths, CNI IPs,
#                            shims, containers, active snapshots, pod directories
#   hack/cluster.sh ctl agent-panics
#                            count the lines of the agent's log that tell of a panic
#   hack/cluster.sh ctl fill-root|free-root
#                            fill the agent's root filesystem to the last block, or free it again
#   hack/cluster.sh join-credentials NAME IP DIR
#                            credentials for another node (a kubelet, say) to join the cluster
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$HACK_DIR/pki.sh"
# shellcheck source=local.sh
source "$HACK_DIR/local.sh"
# shellcheck source=addons/addons.sh
source "$HACK_DIR/addons/addons.sh"
# shellcheck source=nodes.sh
source "$HACK_DIR/nodes.sh"

NODE_NAME=${VKC_NODE_NAME:-vk-node}
NODES=${NODES:-1}                     # vk-node, and vk-node-2... in namespaces of their own
[[ $NODES =~ ^[1-9]$ ]] || die "NODES=$NODES: want a number of nodes from 1 to 9"
NODE_IP=${VKC_NODE_IP:-10.90.1.1}
POD_BRIDGE=vkc0                       # the agent's own pod network, on the node's podCIDR
CLUSTER_CIDR=10.244.0.0/16            # the controller-manager gives each node a /24 of it
SERVICE_RANGE=10.96.0.0/16
DNS_IP=10.96.0.10                     # the kube-dns Service, the agent's --cluster-dns
CLUSTER_DOMAIN=cluster.local
AUTH_REGISTRY=127.0.0.1:5001          # the same images behind basic auth (for imagePullSecrets)
AUTH_REGISTRY_LOGIN=e2e:vk-containerd-e2e
SLOW_REGISTRY=127.0.0.1:5002          # the same images, blobs at 16 KiB/s (pulls a test can interrupt)
AGENT_ROOT=$LOCAL/agent
# The agent's root is a filesystem of its own, as /var/lib/kubelet often is: a
# loop-mounted ext4 image, small enough for a test to fill.
AGENT_ROOT_IMAGE=$LOCAL/agent-root.img
AGENT_ROOT_SIZE=${VKC_AGENT_ROOT_SIZE:-4G}
CTD_NAMESPACE=vk-containerd
AGENT_BIN=$REPO_ROOT/_output/bin/vk-containerd
METRICS_SERVER_PORT=4443               # on the node address: the API server reaches it by an endpoint
COMPONENTS=(registry etcd kube-apiserver kube-controller-manager kube-scheduler csr-approver metrics-server containerd vk-containerd)

build_agent() {
  log "building vk-containerd"
  (cd "$REPO_ROOT" && make --no-print-directory build >/dev/null) || die "building vk-containerd failed; run make build"
}

host_network() {
  ip link show "$HOST_LINK" >/dev/null 2>&1 || ip link add "$HOST_LINK" type bridge
  local ip
  for ip in "$API_IP" "$NODE_IP"; do
    ip addr show dev "$HOST_LINK" | grep -q " $ip/" || ip addr add "$ip/32" dev "$HOST_LINK"
  done
  ip link set "$HOST_LINK" up
  sysctl -qw net.ipv4.ip_forward=1
  # A Service's reply that crosses the pod bridge directly must meet conntrack, which undoes
  # kube-proxy's DNAT: bridged traffic through netfilter (br_netfilter).
  [[ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] ||
    die "the kernel has no br_netfilter (modprobe br_netfilter): Services could not answer pods on the same bridge"
  sysctl -qw net.bridge.bridge-nf-call-iptables=1
}

registry() {
  start registry "$REPO_ROOT/_output/bin/registry" --address "$REGISTRY,$HOST_REGISTRY" --blob-dir "$LOCAL/registry" \
    --auth-address "$AUTH_REGISTRY" --auth "$AUTH_REGISTRY_LOGIN" --slow-address "$SLOW_REGISTRY"
  wait_for registry 20 curl -sf "http://$REGISTRY/v2/"
  timed "images pushed" "$REPO_ROOT/_output/bin/imagebuild" --registry "$REGISTRY" --repo "$REPO_ROOT"
}

etcd() {
  start etcd "$ETCD_BIN/etcd" --name local --data-dir "$LOCAL/etcd" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster local=http://127.0.0.1:23800 --listen-metrics-urls ''
  wait_for etcd 30 curl -sf http://127.0.0.1:23790/health
}

apiserver() {
  start kube-apiserver "$K8S_BIN/kube-apiserver" \
    --etcd-servers=http://127.0.0.1:23790 --bind-address="$API_IP" --advertise-address="$API_IP" --secure-port=6443 \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP,Hostname --kubelet-certificate-authority="$PKI/ca.crt" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction --enable-bootstrap-token-auth=true \
    --service-cluster-ip-range="$SERVICE_RANGE" --allow-privileged=true \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --enable-aggregator-routing=true --profiling=false
  wait_for kube-apiserver 90 kubectl get --raw /readyz
}

controller_manager() {
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" \
    --kubeconfig="$LOCAL/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$LOCAL/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$LOCAL/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --controllers='*' --profiling=false \
    --allocate-node-cidrs=true --cluster-cidr="$CLUSTER_CIDR" --node-cidr-mask-size=24 \
    --service-cluster-ip-range="$SERVICE_RANGE"
  wait_for kube-controller-manager 60 curl -sfk https://127.0.0.1:10257/healthz
}

scheduler() {
  start kube-scheduler "$K8S_BIN/kube-scheduler" \
    --kubeconfig="$LOCAL/scheduler.kubeconfig" \
    --authentication-kubeconfig="$LOCAL/scheduler.kubeconfig" \
    --authorization-kubeconfig="$LOCAL/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --profiling=false
  wait_for kube-scheduler 60 curl -sfk https://127.0.0.1:10259/healthz
}

# The cluster signs the node's serving certificate but approves no request
# by itself: the approver approves a node's request for its own addresses.
csr_approver() {
  start csr-approver "$REPO_ROOT/_output/bin/csrapprover" --kubeconfig "$KUBECONFIG_PATH"
  sleep 0.2
  running csr-approver || { tail -n 20 "$LOGS/csr-approver.log" >&2; die "csr-approver exited; its log: $LOGS/csr-approver.log"; }
}

# metrics-server serves metrics.k8s.io (kubectl top) from the nodes' /metrics/resource. It runs
# on the host, listens on the node address (an endpoint may not be a loopback address), verifies
# the node's serving certificate with the cluster CA, and is registered as an aggregated API by
# hack/metrics-server.yaml.
metrics_server() {
  sed -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@CA_BUNDLE@|$(base64 -w0 "$PKI/ca.crt")|g" "$HACK_DIR/metrics-server.yaml" |
    kubectl apply -f - >/dev/null
  start metrics-server "$METRICS_SERVER_BIN/metrics-server" \
    --kubeconfig="$LOCAL/metrics-server.kubeconfig" \
    --authentication-kubeconfig="$LOCAL/metrics-server.kubeconfig" \
    --authorization-kubeconfig="$LOCAL/metrics-server.kubeconfig" \
    --bind-address="$NODE_IP" --secure-port="$METRICS_SERVER_PORT" \
    --tls-cert-file="$PKI/metrics-server-serving.crt" --tls-private-key-file="$PKI/metrics-server-serving.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --metric-resolution=15s
  # Through the API server: the aggregation layer reaches it and it accepts the front proxy.
  wait_for metrics-server 60 kubectl get --raw /apis/metrics.k8s.io/v1beta1
}

containerd_config() {
  registry_hosts "$LOCAL/certs.d" "$REGISTRY" "$AUTH_REGISTRY" "$SLOW_REGISTRY"
  mkdir -p "$LOCAL/containerd"
  cat >"$LOCAL/containerd/config.toml" <<TOML
version = 3
root = "$LOCAL/containerd/root"
state = "$RUN/containerd/state"
# The node agent drives containerd directly: no CRI.
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.sandbox.controller.v1.shim"]

[grpc]
  address = "$RUN/containerd.sock"

[ttrpc]
  address = "$RUN/containerd.sock.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""
TOML
}

containerd_daemon() {
  containerd_config
  start containerd env PATH="$CONTAINERD_BIN:$RUNC_BIN:$PATH" "$CONTAINERD_BIN/containerd" --config "$LOCAL/containerd/config.toml"
  wait_for containerd 30 "$CONTAINERD_BIN/ctr" --address "$RUN/containerd.sock" version
}

AGENT_IPAM=$AGENT_ROOT/network/ipam   # host-local's store of the agent's --network-bridge

# agent_root_fs mounts the agent's root filesystem unless it is mounted.
agent_root_fs() {
  mountpoint -q "$AGENT_ROOT" && return
  mkdir -p "$AGENT_ROOT"
  if [[ ! -f $AGENT_ROOT_IMAGE ]]; then
    truncate -s "$AGENT_ROOT_SIZE" "$AGENT_ROOT_IMAGE"
    mkfs.ext4 -q -F -m 0 "$AGENT_ROOT_IMAGE"
  fi
  mount -o loop "$AGENT_ROOT_IMAGE" "$AGENT_ROOT"
}

agent() {
  agent_root_fs
  start vk-containerd "$AGENT_BIN" \
    --kubeconfig="$LOCAL/node.kubeconfig" --node-name="$NODE_NAME" \
    --node-ip="$NODE_IP" --address="$NODE_IP" \
    --containerd-address="$RUN/containerd.sock" --containerd-namespace="$CTD_NAMESPACE" \
    --network-bridge="$POD_BRIDGE" --network-masquerade=false --cni-bin-dir="$CNI_BIN" \
    --cluster-dns="$DNS_IP" --cluster-domain="$CLUSTER_DOMAIN" --node-labels="$ADDON_NODE_LABEL" \
    --root-dir="$AGENT_ROOT" --client-ca-file="$PKI/ca.crt" \
    --registry-config-dir="$LOCAL/certs.d" --rotate-server-certificates \
    --eviction-pressure-transition-period=10s ${VKC_AGENT_FLAGS:-}
  wait_for vk-containerd 30 node_ready
}

# node_ready: the node is Ready and serves the kubelet API with a certificate
# the cluster issued (the API server verifies it).
node_ready() {
  [[ $(kubectl get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]] &&
    curl -sf --cacert "$PKI/ca.crt" "https://$NODE_IP:10250/healthz"
}

up() {
  local t0=$SECONDS
  timed "dependencies" "$HACK_DIR/deps.sh"
  build_agent
  mkdir -p "$LOCAL" "$RUN" "$LOGS"
  pki_all "$PKI" "$NODE_NAME" "$NODE_IP" "$API_IP"
  kubeconfig "$KUBECONFIG_PATH" "$APISERVER" "$PKI" admin
  kubeconfig "$LOCAL/controller-manager.kubeconfig" "$APISERVER" "$PKI" controller-manager
  kubeconfig "$LOCAL/scheduler.kubeconfig" "$APISERVER" "$PKI" scheduler
  kubeconfig "$LOCAL/node.kubeconfig" "$APISERVER" "$PKI" node
  kubeconfig "$LOCAL/metrics-server.kubeconfig" "$APISERVER" "$PKI" metrics-server
  host_network
  registry
  etcd
  apiserver
  controller_manager
  scheduler
  csr_approver
  metrics_server
  containerd_daemon
  agent
  extra_nodes_up
  # Pods need the default service account, which the controller-manager makes.
  wait_for kube-controller-manager 60 kubectl get serviceaccount default
  wait_for kube-controller-manager 60 kubectl -n kube-system get serviceaccount default
  addons_up
  extra_nodes_proxied
  log "local cluster up in $((SECONDS - t0))s"
  cat <<MSG

The local cluster is up; its nodes: $(kubectl get nodes -o 'jsonpath={.items[*].metadata.name}').
  export KUBECONFIG=$KUBECONFIG_PATH
  $K8S_BIN/kubectl get nodes -o wide
  $K8S_BIN/kubectl run hello --image=$REGISTRY/busybox:1.35 --restart=Never -- sh -c 'echo hello; sleep 3600'
  $K8S_BIN/kubectl top node    # and top pod: figures after two scrapes (15 s apart)
Logs are in $LOGS. Stop it with: make down
MSG
}

# cleanup_node removes what pods left on the host if the agent could not:
# containerd tasks and containers, pinned namespaces, CNI state and rules, links.
cleanup_node() {
  if running containerd; then ctr_clean "$CONTAINERD_BIN/ctr" "$RUN/containerd.sock" "$CTD_NAMESPACE"; fi
  end_shims "$RUN/containerd.sock" "$CTD_NAMESPACE"
  # Pinned pod namespaces are bind mounts under the agent's root.
  local m
  for m in $(awk -v root="$AGENT_ROOT/" 'index($5, root) == 1 {print $5}' /proc/self/mountinfo | sort -r || true); do
    umount -l "$m" 2>/dev/null || true
  done
  if mountpoint -q "$AGENT_ROOT"; then umount "$AGENT_ROOT" || umount -l "$AGENT_ROOT"; fi
  rm -f "$AGENT_ROOT_IMAGE"
  rm -rf "$LOCAL/cni" /var/lib/cni/results/vk-containerd-* 2>/dev/null || true
  # portmap's chains and the bridge plugin's masquerading chains (CNI- and 24 hex
  # digits), if any pod was not torn down.
  local chains='CNI-(DN-|HOSTPORT|[0-9a-f]{24}$)' chain
  for chain in $(iptables -t nat -S 2>/dev/null | grep -E "^-N $chains" | cut -d' ' -f2); do
    iptables -t nat -F "$chain" 2>/dev/null || true
  done
  for table in nat filter; do
    iptables -t $table -S 2>/dev/null | grep -E "^-A .*-j $chains|^-A .*CNI-HOSTPORT" | sed 's/^-A/-D/' |
      while read -r rule; do eval iptables -t $table "$rule" 2>/dev/null || true; done || true
  done
  for chain in $(iptables -t nat -S 2>/dev/null | grep -E "^-N $chains" | cut -d' ' -f2); do
    iptables -t nat -X "$chain" 2>/dev/null || true
  done
  ip link del "$POD_BRIDGE" 2>/dev/null || true
  ip link del "$HOST_LINK" 2>/dev/null || true
}

down() {
  # A kubelet node beside this one (hack/kubelet-node.sh) goes first, while the API server runs.
  "$HACK_DIR/kubelet-node.sh" down
  if running kube-apiserver && running vk-containerd; then
    kubectl delete pods --all -A --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  stop vk-containerd
  extra_nodes_down
  cleanup_node
  addons_clean_host
  local c
  for c in metrics-server csr-approver kube-scheduler kube-controller-manager kube-apiserver etcd containerd registry; do stop "$c"; done
  rm -rf "$LOCAL/etcd" "$RUN"
  log "local cluster down"
}

status() {
  local c
  for c in "${COMPONENTS[@]}"; do
    if running "$c"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
  done
}

# check_clean UID...: fail if anything of these pods is left on the node:
# containerd containers, the pod directory, mounts, or a CNI IP reservation.
check_clean() {
  check_clean_pods "$CONTAINERD_BIN/ctr" "$RUN/containerd.sock" "$CTD_NAMESPACE" "$AGENT_ROOT" "$AGENT_IPAM" "$@"
}

# check_one_shim UID: fail unless every container of the pod runs under one shim.
check_one_shim() {
  local uid=$1 shims
  shims=$(pgrep -f "containerd-shim-runc-v2 .*-id $uid" | wc -l)
  if [[ $shims != 1 ]]; then echo "pod $uid runs under $shims shims, want 1"; pgrep -af containerd-shim-runc-v2 | head; return 1; fi
}

# leaks prints, as name=count, what pods hold on the host, read from the host
# itself: pinned namespaces (mountinfo), veths on the pod bridge, IPs in
# host-local's store, shims, containers and active snapshots in the agent's
# containerd namespace, and pod directories. The add-ons' pods (kube-system) are
# meant to run and are not counted: with no other pod on the node, every count is 0.
leaks() {
  local addons
  addons=$(kubectl --request-timeout=10s get pods -n kube-system --field-selector "spec.nodeName=$NODE_NAME" -o 'jsonpath={.items[*].metadata.uid}')
  leaks_line "$CONTAINERD_BIN/ctr" "$RUN/containerd.sock" "$CTD_NAMESPACE" "$AGENT_ROOT" "$POD_BRIDGE" "$AGENT_IPAM" \
    "$(tr ' ' '|' <<<"$addons")"
}

# fill_root takes every free block of the agent's root filesystem; free_root gives them back.
fill_root() {
  mountpoint -q "$AGENT_ROOT" || die "$AGENT_ROOT is not a filesystem of its own"
  local free; free=$(df -B1 --output=avail "$AGENT_ROOT" | tail -1)
  fallocate -l "$free" "$AGENT_ROOT/.fill" 2>/dev/null || true
  # fallocate leaves what ext4 keeps for its own metadata: take the rest block by block.
  dd if=/dev/zero of="$AGENT_ROOT/.fill-tail" bs=4k status=none 2>/dev/null || true
  df -h "$AGENT_ROOT" | tail -1
}
free_root() { rm -f "$AGENT_ROOT/.fill" "$AGENT_ROOT/.fill-tail"; }

# ctl ACTION NAME: stop, start, restart or kill -9 one of the node's processes.
ctl() {
  local action=$1 name=${2:-} starter
  case $action in
    check-clean) shift; check_clean "$@"; return ;;
    check-one-shim) check_one_shim "$2"; return ;;
    leaks) leaks; return ;;
    agent-panics) grep -c 'panic' "$LOGS/vk-containerd.log" || true; return ;;
    host-tempdir | host-read | host-rmdir) host_files "${action#host-}" "$name"; return ;;
    fill-root) fill_root; return ;;
    free-root) free_root; return ;;
    freeze | thaw)
      [[ $name == kube-apiserver ]] || die "ctl: $action works on kube-apiserver only"
      running kube-apiserver || die "kube-apiserver is not running"
      if [[ $action == freeze ]]; then kill -STOP "$(cat "$RUN/kube-apiserver.pid")"; else kill -CONT "$(cat "$RUN/kube-apiserver.pid")"; fi
      return ;;
  esac
  case $name in
    containerd) starter=containerd_daemon ;;
    vk-containerd) starter=agent ;;
    *) die "ctl: unknown process $name (containerd or vk-containerd)" ;;
  esac
  mkdir -p "$RUN" "$LOGS"
  case $action in
    stop) stop "$name" ;;
    start) $starter ;;
    restart) stop "$name"; $starter ;;
    kill) running "$name" && kill -9 "$(cat "$RUN/$name.pid")"; rm -f "$RUN/$name.pid" ;;
    *) die "ctl: unknown action $action (stop, start, restart or kill)" ;;
  esac
}

# join_credentials NAME IP DIR writes what a second node needs to join the local cluster:
# a kubeconfig with the node identity system:node:NAME, and a serving certificate for NAME
# and IP from the cluster CA, the one the API server verifies kubelets against.
join_credentials() {
  (($# == 3)) || die "usage: hack/cluster.sh join-credentials NAME IP DIR"
  local name=$1 ip=$2 dir=$3
  [[ -f $PKI/ca.key ]] || die "no cluster CA in $PKI; run make up first"
  pki_cert "$PKI" "node-$name" "system:node:$name" system:nodes
  pki_cert "$PKI" "serving-$name" "system:node:$name" system:nodes "DNS:$name,IP:$ip"
  mkdir -p "$dir"; chmod 700 "$dir"
  cp "$PKI/ca.crt" "$dir/ca.crt"
  cp "$PKI/node-$name.crt" "$dir/node.crt"; cp "$PKI/node-$name.key" "$dir/node.key"
  cp "$PKI/serving-$name.crt" "$dir/kubelet.crt"; cp "$PKI/serving-$name.key" "$dir/kubelet.key"
  kubeconfig "$dir/kubeconfig" "$APISERVER" "$dir" node
  cat <<EOF
Credentials for node $name are in $dir. Start a kubelet with
  --kubeconfig=$dir/kubeconfig --hostname-override=$name --node-ip=$ip
  --tls-cert-file=$dir/kubelet.crt --tls-private-key-file=$dir/kubelet.key
(or put kubelet.crt and kubelet.key in its --cert-dir).
EOF
}

case ${1:-} in
  up) up ;;
  join-credentials) shift; join_credentials "$@" ;;
  ctl) shift; ctl "$@" ;;
  kubectl-path) echo "$K8S_BIN/kubectl" ;;
  down) down ;;
  status) status ;;
  *) sed -n '2,13p' "$0"; exit 2 ;;
esac
