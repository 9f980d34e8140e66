# The local cluster's layout and the helpers that hack/cluster.sh, hack/kubelet-node.sh,
# hack/e2e-helm.sh and hack/kind/kind.sh share: background processes by pid file, containerd
# clean-up, the leak count, the e2e tests' access to host files, chart values.
# Source it after lib.sh; do not run it.
# shellcheck shell=bash disable=SC2034 # its variables are for the scripts that source it

LOCAL=${VKC_LOCAL:-/var/lib/vk-containerd-local}   # state of the local cluster
RUN=${VKC_LOCAL_RUN:-/run/vk-containerd-local}     # sockets and pid files
LOGS=$LOCAL/logs
PKI=$LOCAL/pki
export KUBECONFIG_PATH=$LOCAL/kubeconfig
HOST_LINK=vkchost0                  # a bridge holding the API server's and vk-node's addresses; the
                                    # ports of further nodes' namespaces (hack/nodes.sh)
REGISTRY=127.0.0.1:5000
# The API server listens on an address of the host link, not on loopback: pods reach it there,
# through the kubernetes Service, as they reach a control plane node.
API_IP=10.90.0.1
NODE_ADDRESSES=10.90.0.0/16         # the nodes' InternalIPs are in it, and no other address of the host
APISERVER=https://$API_IP:6443
HOST_REGISTRY=$API_IP:5000          # the registry, for nodes whose loopback is their own

kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

running() { local f=$RUN/$1.pid; [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null; }

# start NAME CMD...: start CMD in the background unless it already runs.
start() {
  local name=$1; shift
  if running "$name"; then log "$name already running (pid $(cat "$RUN/$name.pid"))"; return; fi
  nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

# wait_for NAME SECONDS CHECK...: poll CHECK until it succeeds; on timeout show the log.
wait_for() {
  local name=$1 secs=$2; shift 2
  local t0=$SECONDS
  while ! "$@" >/dev/null 2>&1; do
    if ! running "$name"; then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name exited while starting; its log: $LOGS/$name.log"
    fi
    if ((SECONDS - t0 >= secs)); then
      tail -n 20 "$LOGS/$name.log" >&2 || true
      die "$name not ready after ${secs}s; its log: $LOGS/$name.log"
    fi
    sleep 0.2
  done
  log "$name ready in $((SECONDS - t0))s"
}

# stop NAME: SIGTERM, then SIGKILL after 15 s, by pid file.
stop() {
  local name=$1 f=$RUN/$1.pid
  [[ -f $f ]] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    kill -CONT "$pid" 2>/dev/null || true # a frozen process takes its SIGTERM once continued
    for _ in $(seq 75); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    log "$name stopped"
  fi
  rm -f "$f"
}

# registry_mirror DIR NAME ENDPOINT: a containerd hosts directory in which registry NAME is
# served by ENDPOINT over plain HTTP.
registry_mirror() {
  mkdir -p "$1/$2"
  printf 'server = "http://%s"\n\n[host."http://%s"]\n  capabilities = ["pull", "resolve"]\n' "$3" "$3" >"$1/$2/hosts.toml"
}

# registry_hosts DIR REGISTRY...: a containerd hosts directory (config_path) that reaches each
# registry over plain HTTP.
registry_hosts() {
  local dir=$1 r; shift
  for r in "$@"; do registry_mirror "$dir" "$r" "$r"; done
}

# ctr_clean CTR ADDRESS NAMESPACE: kill every task of a containerd namespace and delete its
# containers (and so their snapshots), for what an agent or a kubelet left behind.
ctr_clean() {
  local ctr=("$1" --address "$2" -n "$3") id
  for id in $("${ctr[@]}" tasks ls -q 2>/dev/null); do
    "${ctr[@]}" tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
  done
  for id in $("${ctr[@]}" containers ls -q 2>/dev/null); do
    for _ in $(seq 25); do "${ctr[@]}" tasks delete -f "$id" >/dev/null 2>&1 && break; "${ctr[@]}" tasks ls -q | grep -qx "$id" || break; sleep 0.2; done
    "${ctr[@]}" containers delete "$id" >/dev/null 2>&1 || true
  done
}

# shim_pattern ADDRESS [NAMESPACE] is the pgrep pattern of the runc shims of the containerd at
# ADDRESS (of one namespace, or of all). The address ends the pattern: the kubelet node's
# socket lies below the local cluster's state directory.
shim_pattern() { printf 'containerd-shim-runc-v2 -namespace %s -id [^ ]+ -address %s( |$)' "${2:-[^ ]+}" "$1"; }

# end_shims ADDRESS [NAMESPACE]: SIGKILL the shims of that containerd and their children. A
# shim whose task delete was cut off (its client stopped mid-removal) outlives its container,
# and containerd's state goes with $RUN.
end_shims() {
  local shim
  for shim in $(pgrep -f "$(shim_pattern "$@")" || true); do
    pkill -9 -P "$shim" 2>/dev/null || true
    kill -9 "$shim" 2>/dev/null || true
  done
}

# unmount_under DIR...: unmount every mount at or below each DIR, deepest first (pinned
# namespaces, volumes, rootfs overlays, the shared bind mounts).
unmount_under() {
  local d m
  for d in "$@"; do
    for m in $(awk -v d="$d" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -ru || true); do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
  done
}

# check_clean_pods CTR ADDRESS NAMESPACE ROOT IPAM UID...: fail, saying what, if anything of
# these pods of a vk-containerd agent is left on the host: containers and snapshots in NAMESPACE of the
# containerd at ADDRESS, the pod directory below the agent's ROOT, mounts, or an IP in
# host-local's store IPAM (the agent's CNI container ID is the pod UID).
check_clean_pods() {
  local ctr=("$1" --address "$2" -n "$3") root=$4 ipam=$5 uid bad=0
  shift 5
  for uid in "$@"; do
    if [[ -n $("${ctr[@]}" containers ls -q "labels.\"io.vk-containerd.pod.uid\"==$uid") ]]; then
      echo "pod $uid: containerd containers left"; bad=1
    fi
    if [[ -e $root/pods/$uid ]]; then echo "pod $uid: directory $root/pods/$uid left"; bad=1; fi
    if grep -q "$uid" /proc/self/mountinfo; then echo "pod $uid: mounts left"; bad=1; fi
    if "${ctr[@]}" snapshots ls | grep -q "^$uid"; then echo "pod $uid: snapshots left"; bad=1; fi
    if grep -rqs "$uid" "$ipam"; then echo "pod $uid: CNI IP reservation left"; bad=1; fi
  done
  return $bad
}

# leaks_line CTR ADDRESS NAMESPACE ROOT BRIDGE IPAM [KEEP] prints, as name=count, what the pods
# of a vk-containerd agent hold on the host, read from the host itself: namespaces pinned under
# the agent's ROOT (mountinfo), veths on BRIDGE, IPs in host-local's store IPAM, the plugins'
# iptables rules of the network named BRIDGE, shims, containers and active snapshots in
# NAMESPACE of the containerd at ADDRESS, and pod directories. KEEP is an ERE of the UIDs of
# pods that are meant to run (the cluster's add-ons): what they hold is not counted. The
# agent names everything of a pod by its UID: pod directory, CNI container ID, shim group,
# container IDs and so snapshot keys. With no pod of the agent but those, every count is 0.
leaks_line() {
  local ctr=("$1" --address "$2" -n "$3") address=$2 namespace=$3 root=$4 bridge=$5 ipam=$6
  local keep=${7:-}
  # not_kept: filter stdin to the lines that name no kept pod.
  not_kept() { if [[ -n $keep ]]; then grep -vE "$keep" || true; else cat; fi; }
  local pinned ns keep_veths="" p veths ips rules shims containers snapshots dirs
  pinned=$(awk -v root="$root/" '{for (i = 7; $i != "-"; i++); if ($(i+1) == "nsfs" && index($5, root) == 1) print $5}' /proc/self/mountinfo)
  ns=$(grep -c . < <(not_kept <<<"$pinned") || true)
  # A kept pod's veth: the host end of its netns's eth0.
  if [[ -n $keep ]]; then
    for p in $(grep -E "$keep" <<<"$pinned" | grep '/net$' || true); do
      # "2: eth0@if17: ...": ip asks the entered namespace over netlink (/sys would be the host's).
      keep_veths+=" $(nsenter --net="$p" ip -o link show eth0 2>/dev/null | sed -n 's/^[0-9]*: eth0@if\([0-9]*\):.*/\1/p' || true)"
    done
  fi
  veths=$(ip -o link show master "$bridge" 2>/dev/null |
    awk -v skip=" $keep_veths " '{i = $1; sub(":", "", i); if (index(skip, " " i " ") == 0) n++} END {print n+0}' || true)
  # host-local keeps one file per IP, named for it, whose first line is the CNI container ID.
  ips=$(find "$ipam" -type f -regex '.*/[0-9.]+$\|.*/[0-9a-f:]+$' -exec head -qn1 {} + 2>/dev/null | tr -d '\r' | not_kept | grep -c . || true)
  # The bridge and portmap plugins' iptables rules name the network, which is named after its bridge.
  rules=$(iptables -t nat -S 2>/dev/null | grep -cF "name: \\\"$bridge\\\"" || true)
  shims=$(pgrep -af "$(shim_pattern "$address" "$namespace")" | not_kept | grep -c . || true)
  containers=$("${ctr[@]}" containers ls -q 2>/dev/null | not_kept | grep -c . || true)
  snapshots=$("${ctr[@]}" snapshots ls 2>/dev/null | awk '$NF == "Active" {print $1}' | not_kept | grep -c . || true)
  dirs=$(find "$root/pods" -mindepth 1 -maxdepth 1 2>/dev/null | not_kept | grep -c . || true)
  echo "namespaces=$ns veths=$veths ips=$ips rules=$rules shims=$shims containers=$containers snapshots=$snapshots pod-dirs=$dirs"
}

# host_files ACTION [PATH]: the e2e tests' access to the files of the node's host
# (VKC_E2E_CONTROL host-tempdir|host-read PATH|host-rmdir DIR): tempdir makes a directory and
# prints its path, read prints a file, rmdir removes a directory that tempdir made.
host_files() {
  case $1 in
    tempdir) mktemp -d /tmp/vkc-e2e.XXXXXX ;;
    read) cat -- "$2" ;;
    rmdir)
      [[ $2 == /tmp/vkc-e2e.* ]] || { echo "host-rmdir: $2 is no directory of host-tempdir's" >&2; return 1; }
      rm -rf -- "$2" ;;
    *) echo "unknown host file action $1" >&2; return 1 ;;
  esac
}

# registries_values HOST... prints the chart's registries value for plain-HTTP registries at
# HOSTs (host:port), one hosts.toml each.
registries_values() {
  local r
  for r in "$@"; do
    printf -- '- host: "%s"\n  hostsToml: |\n    server = "http://%s"\n    [host."http://%s"]\n      capabilities = ["pull", "resolve"]\n' "$r" "$r" "$r"
  done
}

# bridge_network DIR NAME BRIDGE SUBNET IPAM_DIR writes DIR/10-NAME.conflist: pods on
# BRIDGE with host-local addresses from SUBNET kept in IPAM_DIR, and portmap for hostPorts.
bridge_network() {
  local dir=$1 name=$2 bridge=$3 subnet=$4 ipam=$5
  mkdir -p "$dir"
  cat >"$dir/10-$name.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$name",
  "plugins": [
    {
      "type": "bridge", "bridge": "$bridge", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$subnet"}]], "routes": [{"dst": "0.0.0.0/0"}],
               "dataDir": "$ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
}
