#!/usr/bin/env bash
# A real kubelet node beside the local cluster's vk-node: kubelet v1.37 on a containerd of its
# own with CRI, joined to the cluster of hack/cluster.sh. It is the host a user has, onto which
# the Helm chart installs vk-containerd as a DaemonSet.
#   hack/kubelet-node.sh up       start it (the local cluster must be up), wait until it is Ready
#                                 and runs a pod, check logs, exec and Bidirectional mounts
#   hack/kubelet-node.sh down     stop it; leave no process, mount, cgroup, link, IP or rule
#   hack/kubelet-node.sh status   show what runs
#   hack/kubelet-node.sh leaks    count what the Helm-installed agent's pods hold on this host
#   hack/kubelet-node.sh ctl check-clean UID...|leaks
#                                 as hack/cluster.sh ctl, for the Helm-installed agent (the e2e
#                                 tests' VKC_E2E_CONTROL)
#   hack/kubelet-node.sh ctl restart|kill|start vk-containerd
#                                 delete the agent's pod (its DaemonSet makes a new one), SIGKILL
#                                 the agent (the kubelet starts it again), wait until it runs
#   hack/kubelet-node.sh ctl stop|start|restart containerd
#                                 this node's containerd
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=local.sh
source "$HACK_DIR/local.sh"

KN_NAME=${VKC_KUBELET_NODE_NAME:-kubelet-node}
KN_IP=${VKC_KUBELET_NODE_IP:-10.90.1.2}       # on $HOST_LINK, beside vk-node's address
KN=$LOCAL/kubelet-node                        # its state
KN_RUN=$RUN/kubelet-node                      # its sockets and containerd state
KN_SOCK=$KN_RUN/containerd.sock
KN_PKI=$KN/pki
KUBELET_ROOT=$KN/kubelet
KN_BRIDGE=vkk0
KN_SUBNET=10.93.0.0/24
KN_NET=kubelet-node                           # the CNI network's name
KN_IPAM=$KN/cni/ipam
# The kubelet's cgroups go below a root of their own, not /: a kubelet removes the pod cgroups
# below its root that it does not know, killing their processes, so two kubelets of one host
# (this one and another's) must not share one.
KN_CGROUP=/vkc-kubelet-node
# The Helm-installed agent's root: a shared mount, so that what the agent mounts below it in
# its container (pinned namespaces, volumes), through a Bidirectional hostPath, shows on the host.
VK_ROOT=${VKC_HELM_AGENT_ROOT:-$KN/vk-root}
# The Helm-installed agent's own pod network (--network-bridge), on its node's podCIDR.
VK_BRIDGE=vkh0
VK_IPAM=$VK_ROOT/network/ipam
PAUSE_IMAGE=$REGISTRY/pause:v1
CTR=$CONTAINERD_CRI_BIN/ctr
# The kernel settings a kubelet sets at start (protectKernelDefaults: false); down puts back
# what the host had.
KERNEL_TUNABLES=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes)

crictl() { "$CRICTL_BIN/crictl" --config "$KN/crictl.yaml" --runtime-endpoint "unix://$KN_SOCK" --image-endpoint "unix://$KN_SOCK" "$@"; }

# require_cluster dies unless the local cluster's API server and registry answer.
require_cluster() {
  if ! running kube-apiserver || ! kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
    die "the local cluster is not up (hack/cluster.sh status); start it with make up"
  fi
  curl -sf "http://$REGISTRY/v2/" >/dev/null || die "the local cluster's registry $REGISTRY does not answer; make up starts it"
}

# pause_image pushes the sandbox image unless the registry has it: a cluster started before
# imagebuild knew it lacks it (the registry keeps manifests in memory only).
pause_image() {
  curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/pause/manifests/v1" && return
  (cd "$REPO_ROOT" && go build -o _output/bin/ ./hack/imagebuild) || die "building hack/imagebuild failed"
  "$REPO_ROOT/_output/bin/imagebuild" --registry "$REGISTRY" --repo "$REPO_ROOT" --only pause >/dev/null
}

# host_address puts the node's IP on the local cluster's port-less bridge. vk-node's kube-proxy
# (hack/addons) serves this network namespace, and so this node's NodePorts too, but it reads
# the host's addresses for them only when it starts: it is restarted once the address is new.
host_address() {
  ip link show "$HOST_LINK" >/dev/null 2>&1 || die "no $HOST_LINK: the local cluster is not up"
  [[ $(ip -o addr show dev "$HOST_LINK") == *" $KN_IP/"* ]] && return
  ip addr add "$KN_IP/32" dev "$HOST_LINK"
  if kubectl -n kube-system get daemonset kube-proxy >/dev/null 2>&1; then
    kubectl -n kube-system rollout restart daemonset/kube-proxy >/dev/null &&
      kubectl -n kube-system rollout status daemonset/kube-proxy --timeout=90s >/dev/null ||
      die "kube-proxy did not restart with $KN_IP among its NodePort addresses"
  fi
}

# save_kernel_tunables records the host's values once, before the first kubelet start.
save_kernel_tunables() {
  [[ -f $KN/kernel-tunables ]] && return
  local k
  for k in "${KERNEL_TUNABLES[@]}"; do echo "$k=$(sysctl -n "$k")"; done >"$KN/kernel-tunables"
}

restore_kernel_tunables() {
  [[ -f $KN/kernel-tunables ]] || return 0
  local kv
  while read -r kv; do sysctl -qw "$kv" || true; done <"$KN/kernel-tunables"
  rm -f "$KN/kernel-tunables"
}

# cgroup_hierarchies prints the mount points of the cgroup hierarchies: the v1 ones, and the
# unified one of this hybrid host, where runc makes each container's cgroup too.
cgroup_hierarchies() { awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/mounts; }

# cgroup_root makes the kubelet's cgroup root in every hierarchy: the kubelet checks that it
# exists in the v1 ones and creates its kubepods tree below it.
cgroup_root() {
  local h
  for h in $(cgroup_hierarchies); do
    [[ -d $h$KN_CGROUP ]] && continue
    mkdir "$h$KN_CGROUP"
    if [[ -f $h/cpuset.cpus && -f $h/cpuset.mems ]]; then # a new v1 cpuset has no CPUs and no memory nodes
      cat "$h/cpuset.cpus" >"$h$KN_CGROUP/cpuset.cpus"
      cat "$h/cpuset.mems" >"$h$KN_CGROUP/cpuset.mems"
    fi
  done
}

# remove_cgroup_root kills what is left in the kubelet's cgroups (pod processes of this node
# only) and removes them, deepest first.
remove_cgroup_root() {
  local h
  for h in $(cgroup_hierarchies); do
    [[ -d $h$KN_CGROUP ]] || continue
    find "$h$KN_CGROUP" -name cgroup.procs -exec cat {} + 2>/dev/null |
      while read -r pid; do kill -9 "$pid" 2>/dev/null || true; done
    for _ in $(seq 25); do
      find "$h$KN_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
      [[ -d $h$KN_CGROUP ]] || break
      sleep 0.2
    done
  done
}

# shared_mount DIR makes DIR a mount point of its own with shared propagation. This host's /
# is a private mount; a Bidirectional hostPath mount needs its source on a shared one.
shared_mount() {
  mkdir -p "$1"
  mountpoint -q "$1" || mount --bind "$1" "$1"
  mount --make-rshared "$1"
}

# propagation DIR prints the propagation of the mount DIR is on: shared or private.
propagation() {
  findmnt -no PROPAGATION --target "$1" 2>/dev/null || echo unknown
}

containerd_config() {
  registry_hosts "$KN/certs.d" "$REGISTRY"
  mkdir -p "$KN/containerd" "$KN_RUN"
  printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n' "$KN_SOCK" "$KN_SOCK" >"$KN/crictl.yaml"
  cat >"$KN/containerd/config.toml" <<TOML
version = 3
root = "$KN/containerd/root"
state = "$KN_RUN/containerd/state"
# NRI would listen on a socket of the host's, shared by every containerd on it.
disabled_plugins = ["io.containerd.nri.v1.nri"]

[grpc]
  address = "$KN_SOCK"

[ttrpc]
  address = "$KN_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$KN/containerd/opt"

[plugins."io.containerd.cri.v1.images"]
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "$PAUSE_IMAGE"
  [plugins."io.containerd.cri.v1.images".registry]
    config_path = "$KN/certs.d"

[plugins."io.containerd.cri.v1.runtime"]
  # This kernel refuses a negative oom_score_adj, which the kubelet asks for some pods.
  restrict_oom_score_adj = true
  # Pinned pod network namespaces below this containerd's state, not in the host's /var/run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["$CNI_BIN"]
    conf_dir = "$KN/cni/net.d"
  [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
      BinaryName = "$RUNC_BIN/runc"

[plugins."io.containerd.grpc.v1.cri"]
  # exec, attach and port-forward streams, proxied by the kubelet
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
TOML
}

cni_config() { bridge_network "$KN/cni/net.d" "$KN_NET" "$KN_BRIDGE" "$KN_SUBNET" "$KN_IPAM"; }

containerd_daemon() {
  containerd_config
  start kubelet-node-containerd env PATH="$CONTAINERD_CRI_BIN:$RUNC_BIN:$PATH" \
    "$CONTAINERD_CRI_BIN/containerd" --config "$KN/containerd/config.toml"
  wait_for kubelet-node-containerd 30 crictl info
}

kubelet_config() {
  # Cluster DNS as vk-node has it: the kube-dns Service of the add-ons (hack/addons).
  local dns; dns=$(kubectl -n kube-system get service kube-dns -o 'jsonpath={.spec.clusterIP}' 2>/dev/null || true)
  cat >"$KN/kubelet-config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $KN_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: $KN_IP
healthzPort: 10248
tlsCertFile: $KN_PKI/kubelet.crt
tlsPrivateKeyFile: $KN_PKI/kubelet.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $KN_PKI/ca.crt}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://$KN_SOCK
cgroupDriver: cgroupfs
cgroupRoot: $KN_CGROUP
failCgroupV1: false
failSwapOn: false
podLogsDir: $KN/pod-logs
serializeImagePulls: false
clusterDomain: cluster.local
clusterDNS: [${dns:-}]
# The disk is shared with other work on this host: evict only when it is all but full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
  imagefs.inodesFree: 1%
YAML
}

kubelet_daemon() {
  kubelet_config
  start kubelet-node-kubelet "$KUBELET_BIN/kubelet" --config="$KN/kubelet-config.yaml" \
    --kubeconfig="$KN_PKI/kubeconfig" --root-dir="$KUBELET_ROOT" \
    --hostname-override="$KN_NAME" --node-ip="$KN_IP"
  wait_for kubelet-node-kubelet 90 node_ready
}

# node_ready: the node is Ready and serves the kubelet API with its certificate from the
# cluster CA (the one the API server verifies).
node_ready() {
  [[ $(kubectl get node "$KN_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]] &&
    curl -s -o /dev/null --cacert "$KN_PKI/ca.crt" "https://$KN_IP:10250/healthz"
}

# check_pods runs two pods on the node and checks what a user relies on: a pod on the pod
# network whose logs and exec work through the API server and that has its service account
# token and the cluster CA; and a DaemonSet-like privileged hostNetwork pod with Bidirectional
# hostPath mounts of the agent's root and the kubelet's root, whose mounts show on the host.
check_pods() {
  local t0=$SECONDS probe=.propagation-check
  kubectl delete pod kubelet-node-check kubelet-node-propagation --ignore-not-found --wait=true >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: kubelet-node-check, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: $KN_NAME}
  terminationGracePeriodSeconds: 2
  containers:
  - name: check
    image: $REGISTRY/busybox:1.35
    command: [sh, -c, "trap 'exit 0' TERM; echo kubelet-node-check-ok; while :; do sleep 1; done"]
---
apiVersion: v1
kind: Pod
metadata: {name: kubelet-node-propagation, namespace: default}
spec:
  nodeSelector: {kubernetes.io/hostname: $KN_NAME}
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: check
    image: $REGISTRY/busybox:1.35
    securityContext: {privileged: true}
    command: [sh, -c, "mkdir -p /vk-root/$probe /kubelet-root/$probe &&
      mount -t tmpfs check /vk-root/$probe && mount -t tmpfs check /kubelet-root/$probe &&
      trap 'umount /vk-root/$probe /kubelet-root/$probe; exit 0' TERM && while :; do sleep 1; done"]
    volumeMounts:
    - {name: vk-root, mountPath: /vk-root, mountPropagation: Bidirectional}
    - {name: kubelet-root, mountPath: /kubelet-root, mountPropagation: Bidirectional}
  volumes:
  - {name: vk-root, hostPath: {path: $VK_ROOT, type: Directory}}
  - {name: kubelet-root, hostPath: {path: $KUBELET_ROOT, type: Directory}}
YAML
  if ! kubectl wait --for=condition=Ready --timeout=90s pod/kubelet-node-check pod/kubelet-node-propagation >/dev/null; then
    kubectl describe pod kubelet-node-check kubelet-node-propagation | tail -n 30 >&2
    die "the check pods did not start on $KN_NAME; the kubelet's log: $LOGS/kubelet-node-kubelet.log"
  fi
  local ip; ip=$(kubectl get pod kubelet-node-check -o 'jsonpath={.status.podIP}')
  [[ $ip == "${KN_SUBNET%.*}".* ]] || die "the check pod has IP '$ip', not one of $KN_SUBNET"
  wait_for kubelet-node-kubelet 20 kubectl logs kubelet-node-check
  [[ $(kubectl logs kubelet-node-check) == kubelet-node-check-ok ]] || die "kubectl logs of the check pod lacks its line"
  [[ $(kubectl exec kubelet-node-check -- cat /var/run/secrets/kubernetes.io/serviceaccount/namespace) == default ]] ||
    die "kubectl exec in the check pod failed, or it has no service account token"
  kubectl exec kubelet-node-check -- grep -q 'BEGIN CERTIFICATE' /var/run/secrets/kubernetes.io/serviceaccount/ca.crt ||
    die "the check pod has no cluster CA (kube-root-ca.crt)"
  mountpoint -q "$VK_ROOT/$probe" || die "a Bidirectional mount below $VK_ROOT does not show on the host"
  mountpoint -q "$KUBELET_ROOT/$probe" || die "a Bidirectional mount below $KUBELET_ROOT does not show on the host"
  kubectl exec kubelet-node-propagation -- sh -c "timeout 5 wget -q -O /dev/null http://$API_IP:6443/ 2>&1 | grep -q 400" ||
    die "the hostNetwork pod does not reach the API server on $API_IP:6443"
  kubectl delete pod kubelet-node-check kubelet-node-propagation --wait=true --timeout=60s >/dev/null
  unmount_under "$VK_ROOT/$probe" "$KUBELET_ROOT/$probe"
  rmdir "$VK_ROOT/$probe" "$KUBELET_ROOT/$probe" 2>/dev/null || true
  log "check pods ran and were deleted in $((SECONDS - t0))s (logs, exec, service account, Bidirectional mounts, hostNetwork)"
}

up() {
  local t0=$SECONDS
  require_cluster
  timed "dependencies" "$HACK_DIR/deps.sh" kubelet containerd_cri crictl runc cni_plugins
  mkdir -p "$KN" "$KN_RUN" "$LOGS"
  pause_image
  host_address
  "$HACK_DIR/cluster.sh" join-credentials "$KN_NAME" "$KN_IP" "$KN_PKI" >/dev/null
  shared_mount "$VK_ROOT"
  cni_config
  containerd_daemon
  save_kernel_tunables
  cgroup_root
  kubelet_daemon
  check_pods
  log "kubelet node up in $((SECONDS - t0))s"
  cat <<MSG

The kubelet node $KN_NAME ($KN_IP) is up beside vk-node, on its own containerd with CRI.
  export KUBECONFIG=$KUBECONFIG_PATH
  $K8S_BIN/kubectl get nodes -o wide
  $CRICTL_BIN/crictl --config $KN/crictl.yaml ps
For the Helm-installed agent on this host:
  containerd socket     $KN_SOCK
  agent root (shared)   $VK_ROOT
  CNI                   conf $KN/cni/net.d, plugins $CNI_BIN
  registry hosts        $KN/certs.d
  hack/kubelet-node.sh status     what runs
  hack/kubelet-node.sh leaks      what the agent's pods hold on this host
Logs: $LOGS/kubelet-node-*.log. Stop it with: hack/kubelet-node.sh down (make down does too)
MSG
}

# present: something of the kubelet node is on this host (a process, a directory, the address,
# the bridge, a cgroup). down does nothing otherwise, so make down pays little for it.
present() {
  local h
  [[ -e $KN || -e $KN_RUN || -e $VK_ROOT ]] && return 0
  if running kubelet-node-kubelet || running kubelet-node-containerd; then return 0; fi
  ip link show "$KN_BRIDGE" >/dev/null 2>&1 && return 0
  [[ $(ip -o addr show dev "$HOST_LINK" 2>/dev/null) == *" $KN_IP/"* ]] && return 0
  for h in $(cgroup_hierarchies); do [[ -d $h$KN_CGROUP ]] && return 0; done
  return 1
}

# remove_portmap_rules deletes the hostPort rules of this node's network (portmap marks each
# with 'dnat name: "NET"'), of pods whose CNI DEL did not run; then portmap's top-level chains,
# once no pod of any network uses them.
remove_portmap_rules() {
  local rule chain
  iptables -t nat -S CNI-HOSTPORT-DNAT >/dev/null 2>&1 || return 0
  { iptables -t nat -S CNI-HOSTPORT-DNAT | grep -F "dnat name: \\\"$KN_NET\\\"" || true; } | while read -r rule; do
    chain=$(sed -n 's/.* -j \(CNI-DN-[^ ]*\).*/\1/p' <<<"$rule")
    eval iptables -t nat "${rule/-A/-D}" 2>/dev/null || true
    [[ -z $chain ]] || { iptables -t nat -F "$chain" && iptables -t nat -X "$chain"; } 2>/dev/null || true
  done
  # (Read whole: grep -q may end a pipe early, and pipefail would take the writer's SIGPIPE.)
  [[ $(iptables -t nat -S CNI-HOSTPORT-DNAT) == *"-A "* ]] && return 0
  { iptables -t nat -S | grep -E '^-A (PREROUTING|OUTPUT|POSTROUTING) .*-j CNI-HOSTPORT-' || true; } | while read -r rule; do
    eval iptables -t nat "${rule/-A/-D}" 2>/dev/null || true
  done
  for chain in CNI-HOSTPORT-DNAT CNI-HOSTPORT-SETMARK CNI-HOSTPORT-MASQ; do
    iptables -t nat -F "$chain" 2>/dev/null || true
    iptables -t nat -X "$chain" 2>/dev/null || true
  done
}

# remove_agent_network deletes what the Helm-installed agent's network holds when its pods were
# not torn down: the plugins' rules that name it (the masquerading and portmap chains they
# jump to go with them) and its bridge.
remove_agent_network() {
  local rule chain
  { iptables -t nat -S | grep -F "name: \\\"$VK_BRIDGE\\\"" || true; } | while read -r rule; do
    chain=$(sed -n 's/.* -j \(CNI-[^ ]*\).*/\1/p' <<<"$rule")
    eval iptables -t nat "${rule/-A/-D}" 2>/dev/null || true
    [[ -z $chain || $chain == CNI-HOSTPORT-* ]] || { iptables -t nat -F "$chain" && iptables -t nat -X "$chain"; } 2>/dev/null || true
  done
  ip link del "$VK_BRIDGE" 2>/dev/null || true
}

# remove_kubelet_traces deletes what every kubelet makes at the same place whatever its
# configuration: the iptables chains KUBE-IPTABLES-HINT, KUBE-KUBELET-CANARY and KUBE-FIREWALL
# (and its jumps), and the device plugins' socket in /var/lib/kubelet. Another kubelet on this
# host makes the same ones: while one runs they stay.
remove_kubelet_traces() {
  pgrep -x kubelet >/dev/null && return 0
  rm -f /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint
  rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet 2>/dev/null || true
  local ipt t
  for ipt in iptables ip6tables; do
    command -v "$ipt" >/dev/null || continue
    for t in INPUT OUTPUT; do
      while "$ipt" -t filter -D "$t" -j KUBE-FIREWALL 2>/dev/null; do :; done
    done
    "$ipt" -t filter -F KUBE-FIREWALL 2>/dev/null || true
    "$ipt" -t filter -X KUBE-FIREWALL 2>/dev/null || true
    for t in mangle nat filter; do "$ipt" -t "$t" -X KUBE-KUBELET-CANARY 2>/dev/null || true; done
    "$ipt" -t mangle -X KUBE-IPTABLES-HINT 2>/dev/null || true
  done
}

down() {
  present || return 0
  local t0=$SECONDS ns
  stop kubelet-node-kubelet
  # The Node first: the DaemonSet controller then makes no new pods for it; its pods go
  # from the API at once, since no kubelet is left to confirm their end.
  if running kube-apiserver && kubectl --request-timeout=5s get --raw /readyz >/dev/null 2>&1; then
    kubectl delete node "$KN_NAME" --ignore-not-found --wait=true --timeout=30s >/dev/null || true
    kubectl delete pods -A --field-selector "spec.nodeName=$KN_NAME" --force --grace-period=0 >/dev/null 2>&1 || true
  fi
  if running kubelet-node-containerd; then
    # The kubelet's sandboxes through CRI, so that their CNI DEL runs; then what is left in
    # every namespace, the agent's (vk-containerd) among them.
    crictl --timeout 30s rmp --all --force >/dev/null 2>&1 || true
    for ns in $("$CTR" --address "$KN_SOCK" namespaces ls -q 2>/dev/null); do ctr_clean "$CTR" "$KN_SOCK" "$ns"; done
  fi
  end_shims "$KN_SOCK"
  stop kubelet-node-containerd
  end_shims "$KN_SOCK"
  remove_cgroup_root
  unmount_under "$KN" "$KN_RUN" "$VK_ROOT"
  remove_agent_network
  remove_portmap_rules
  remove_kubelet_traces
  ip link del "$KN_BRIDGE" 2>/dev/null || true
  ip addr del "$KN_IP/32" dev "$HOST_LINK" 2>/dev/null || true
  # What the kubelet and containerd's CNI keep in the host's own directories.
  # (libcni's cache, of sandboxes whose CNI DEL did not run: this network's and the loopback
  # that containerd adds, named for the same sandbox IDs)
  local f id
  for f in /var/lib/cni/results/"$KN_NET"-*; do
    [[ -e $f ]] || continue
    id=${f#/var/lib/cni/results/"$KN_NET"-}; id=${id%-*}
    rm -f "$f" /var/lib/cni/results/cni-loopback-"$id"-lo
  done
  rmdir /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  find /var/log/containers -maxdepth 1 -lname "$KN/*" -delete 2>/dev/null || true
  rmdir /var/log/containers 2>/dev/null || true
  restore_kernel_tunables
  # No mount may be left below what goes: rm would reach through a bind mount into its source.
  if awk -v a="$KN" -v b="$KN_RUN" -v c="$VK_ROOT" '$5 == a || $5 == b || $5 == c || index($5, a "/") == 1 ||
      index($5, b "/") == 1 || index($5, c "/") == 1 {found = 1} END {exit !found}' /proc/self/mountinfo; then
    die "mounts are left below $KN, $KN_RUN or $VK_ROOT (see /proc/self/mountinfo); not removing them"
  fi
  rm -rf "$KN" "$KN_RUN" "$VK_ROOT"
  log "kubelet node down in $((SECONDS - t0))s"
}

status() {
  local c
  for c in kubelet-node-containerd kubelet-node-kubelet; do
    if running "$c"; then echo "$c: running (pid $(cat "$RUN/$c.pid"))"; else echo "$c: stopped"; fi
  done
  if running kube-apiserver; then
    kubectl get node "$KN_NAME" -o wide 2>/dev/null || echo "node $KN_NAME: not registered"
    kubectl get pods -A -o wide --field-selector "spec.nodeName=$KN_NAME" 2>/dev/null
  fi
  [[ -d $VK_ROOT ]] && echo "agent root $VK_ROOT: $(propagation "$VK_ROOT") mount"
  [[ -d $KUBELET_ROOT ]] && echo "kubelet root $KUBELET_ROOT: $(propagation "$KUBELET_ROOT") mount"
  echo "leaks: $(leaks)"
}

# leaks counts, as hack/cluster.sh ctl leaks does for vk-node, what the Helm-installed agent's
# pods hold on this host: its containerd namespace vk-containerd of this node's containerd, the
# namespaces it pins below its root, and its own network (bridge, host-local's store, rules).
leaks() {
  leaks_line "$CTR" "$KN_SOCK" vk-containerd "$VK_ROOT" "$VK_BRIDGE" "$VK_IPAM"
}

# agent_pod prints namespace/name of the Helm-installed agent's pod on this host, if any.
agent_pod() {
  kubectl get pods -A --field-selector "spec.nodeName=$KN_NAME" -l app.kubernetes.io/name=vk-containerd \
    -o 'jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name} {.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 1 {print $1; exit}' # not one being deleted
}

# agent_running: the agent's container runs (in the CRI) and its pod is Ready.
agent_running() {
  local p; p=$(agent_pod)
  [[ -n $p ]] && agent_pid >/dev/null && [[ $(kubectl -n "${p%/*}" get pod "${p#*/}" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

# agent_pid prints the host PID of the agent's container, from this node's CRI.
agent_pid() {
  local p id
  p=$(agent_pod); [[ -n $p ]] || return 1
  id=$(crictl ps -q --state running --label "io.kubernetes.pod.namespace=${p%/*}" --label "io.kubernetes.pod.name=${p#*/}" | head -n 1)
  [[ -n $id ]] || return 1
  crictl inspect -o go-template --template '{{.info.pid}}' "$id"
}

# ctl ACTION [NAME]: the e2e tests' control of the Helm-installed node (VKC_E2E_CONTROL).
ctl() {
  local action=${1:-} name=${2:-} p pid
  case $action in
    check-clean) shift; check_clean_pods "$CTR" "$KN_SOCK" vk-containerd "$VK_ROOT" "$VK_IPAM" "$@"; return ;;
    leaks) leaks; return ;;
    host-tempdir | host-read | host-rmdir) host_files "${action#host-}" "$name"; return ;;
  esac
  case $name in
    vk-containerd)
      case $action in
        restart)
          p=$(agent_pod); [[ -n $p ]] || die "no vk-containerd agent pod on $KN_NAME"
          kubectl -n "${p%/*}" delete pod "${p#*/}" --wait=true --timeout=60s >/dev/null ;;
        kill)
          pid=$(agent_pid) || die "no running vk-containerd agent on $KN_NAME"
          kill -9 "$pid"
          while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
          return ;;
        start) ;;
        *) die "ctl: $action vk-containerd: the DaemonSet's agent can be restarted, killed or waited for (start), not held stopped" ;;
      esac
      local t0=$SECONDS
      until agent_running; do ((SECONDS - t0 < 120)) || die "the vk-containerd agent on $KN_NAME is not Ready after 120s"; sleep 0.5; done ;;
    containerd)
      case $action in
        stop) stop kubelet-node-containerd ;;
        start) containerd_daemon ;;
        restart) stop kubelet-node-containerd; containerd_daemon ;;
        *) die "ctl: unknown action $action (stop, start or restart)" ;;
      esac ;;
    *) die "ctl: unknown action or process: $action $name" ;;
  esac
}

case ${1:-} in
  up) up ;;
  down) down ;;
  status) status ;;
  leaks) leaks ;;
  ctl) shift; ctl "$@" ;;
  *) sed -n '2,17p' "$0"; exit 2 ;;
esac
