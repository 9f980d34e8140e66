# More vk-containerd nodes for the local cluster (make up NODES=3): node K (2, 3, ...) is
# vk-node-K, an agent in a network namespace of its own, vkc-node-K, as a machine of a
# multi-node cluster has one:
#   - its address 10.90.2.K on eth0, a veth whose other end is a port of the host link
#     vkchost0, beside the API server's address (its default route) and vk-node's;
#   - its own pod bridge vkc0 on its podCIDR, kube-proxy's rules and hostNetwork pods
#     (--host-network-namespace), all inside the namespace;
#   - routes to every other node's podCIDR through that node's address, in every namespace
#     and on the host;
#   - the local cluster's containerd, in a namespace of its own (vk-containerd-K), and a root
#     directory $LOCAL/agent-K;
#   - the registry's images by their usual names (127.0.0.1:5000/...), which its agent pulls
#     from the registry's address on the host link.
# Source it from cluster.sh, after local.sh; do not run it.
# shellcheck shell=bash

EXTRA_NODE_NETNS_PREFIX=vkc-node-

extra_node_name() { echo "$NODE_NAME-$1"; }
extra_node_ip() { echo "10.90.2.$1"; }
extra_node_netns() { echo "$EXTRA_NODE_NETNS_PREFIX$1"; }
extra_node_root() { echo "$LOCAL/agent-$1"; }

# extra_node_network K makes node K's namespace and its link to the host, unless they exist.
extra_node_network() {
  local k=$1 netns ip host_end
  netns=$(extra_node_netns "$k"); ip=$(extra_node_ip "$k"); host_end=vkcn$k
  ip netns list | grep -qx "$netns\( .*\)\?" || ip netns add "$netns"
  if ! ip link show "$host_end" >/dev/null 2>&1; then
    ip link add "$host_end" type veth peer name eth0 netns "$netns"
  fi
  ip link set "$host_end" master "$HOST_LINK" up
  ip -n "$netns" link set lo up
  ip -n "$netns" link set eth0 up
  ip -n "$netns" addr show dev eth0 | grep -q " $ip/" || ip -n "$netns" addr add "$ip/16" dev eth0
  ip -n "$netns" route replace default via "$API_IP" dev eth0
  # What the host sets for vk-node, each namespace has of its own.
  ip netns exec "$netns" sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1
  # The host reaches the nodes on its link.
  ip route replace 10.90.2.0/24 dev "$HOST_LINK"
}

# extra_node_agent K starts node K's agent in its namespace (nsenter, not ip netns exec, which
# would give it a mount namespace of its own: containerd must see the agent's mounts).
extra_node_agent() {
  local k=$1 name netns ip root
  name=$(extra_node_name "$k"); netns=$(extra_node_netns "$k"); ip=$(extra_node_ip "$k"); root=$(extra_node_root "$k")
  pki_cert "$PKI" "node-$name" "system:node:$name" system:nodes
  kubeconfig "$LOCAL/node-$k.kubeconfig" "$APISERVER" "$PKI" "node-$name"
  mkdir -p "$root"
  # The agent pulls (containerd's client does): its loopback has no registry.
  registry_mirror "$LOCAL/certs.d-nodes" "$REGISTRY" "$HOST_REGISTRY"
  start "vk-containerd-$k" nsenter --net="/run/netns/$netns" "$AGENT_BIN" \
    --kubeconfig="$LOCAL/node-$k.kubeconfig" --node-name="$name" --node-ip="$ip" --address="$ip" \
    --host-network-namespace="/run/netns/$netns" \
    --containerd-address="$RUN/containerd.sock" --containerd-namespace="$CTD_NAMESPACE-$k" \
    --network-bridge="$POD_BRIDGE" --network-masquerade=false --cni-bin-dir="$CNI_BIN" \
    --cluster-dns="$DNS_IP" --cluster-domain="$CLUSTER_DOMAIN" --node-labels="$ADDON_NODE_LABEL" \
    --root-dir="$root" --client-ca-file="$PKI/ca.crt" \
    --registry-config-dir="$LOCAL/certs.d-nodes" --rotate-server-certificates ${VKC_AGENT_FLAGS:-}
}

# extra_node_ready K: node K is Ready and serves the kubelet API with the cluster's certificate.
extra_node_ready() {
  local name ip
  name=$(extra_node_name "$1"); ip=$(extra_node_ip "$1")
  [[ $(kubectl get node "$name" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]] &&
    curl -sf --cacert "$PKI/ca.crt" "https://$ip:10250/healthz"
}

# pod_routes routes each node's podCIDR through the node's address, in every node's namespace
# and on the host (where vk-node's own is its bridge's).
pod_routes() {
  local k n cidr via
  for ((n = 1; n <= NODES; n++)); do
    if ((n == 1)); then
      cidr=$(kubectl get node "$NODE_NAME" -o 'jsonpath={.spec.podCIDR}'); via=$NODE_IP
    else
      cidr=$(kubectl get node "$(extra_node_name "$n")" -o 'jsonpath={.spec.podCIDR}'); via=$(extra_node_ip "$n")
      ip route replace "$cidr" via "$via" dev "$HOST_LINK"
    fi
    [[ -n $cidr ]] || die "node $n has no podCIDR"
    for ((k = 2; k <= NODES; k++)); do
      ((k == n)) || ip -n "$(extra_node_netns "$k")" route replace "$cidr" via "$via" dev eth0
    done
  done
}

# extra_nodes_up starts nodes 2..NODES, waits until each is Ready, and routes their pod networks.
extra_nodes_up() {
  local k
  for ((k = 2; k <= NODES; k++)); do
    extra_node_network "$k"
    extra_node_agent "$k"
  done
  for ((k = 2; k <= NODES; k++)); do
    wait_for "vk-containerd-$k" 60 extra_node_ready "$k"
  done
  ((NODES > 1)) && pod_routes
  return 0
}

# extra_nodes_proxied fails unless each extra node's kube-proxy keeps its rules in the node's
# namespace (a hostNetwork pod of that node's, not the host's).
extra_nodes_proxied() {
  local k netns
  for ((k = 2; k <= NODES; k++)); do
    netns=$(extra_node_netns "$k")
    wait_for "vk-containerd-$k" 60 ip netns exec "$netns" nft list table ip kube-proxy
  done
}

# extra_nodes_down stops every extra node's agent and removes what its pods left, its root
# and its namespace (with its bridge, veths and kube-proxy's rules in it).
extra_nodes_down() {
  local netns k root
  for netns in $(ip netns list | awk -v p="^$EXTRA_NODE_NETNS_PREFIX[0-9]+$" '$1 ~ p {print $1}'); do
    k=${netns#"$EXTRA_NODE_NETNS_PREFIX"}; root=$(extra_node_root "$k")
    stop "vk-containerd-$k"
    if running containerd; then ctr_clean "$CONTAINERD_BIN/ctr" "$RUN/containerd.sock" "$CTD_NAMESPACE-$k"; fi
    end_shims "$RUN/containerd.sock" "$CTD_NAMESPACE-$k"
    unmount_under "$root"
    rm -rf "$root" "$LOCAL/node-$k.kubeconfig"
    ip netns del "$netns"
    ip link del "vkcn$k" 2>/dev/null || true
  done
}
