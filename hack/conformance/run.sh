#!/usr/bin/env bash
# Runs the upstream Kubernetes e2e suite's conformance specs of the node (sig-node and the common
# volume specs of sig-storage) against one node, offline: the suite is built by
# `hack/deps.sh kubernetes_e2e`, its images by hack/imagebuild (with upstream's busybox, from
# `hack/deps.sh busybox`) and pushed to a local registry.
#   hack/conformance/run.sh           the non-serial specs in parallel, then the serial ones
#   FOCUS=REGEXP hack/conformance/run.sh
#                                     only the conformance specs whose names match REGEXP
#   FAST=1 hack/conformance/run.sh    the quick slice listed in hack/conformance/fast.txt
#   ALL=1 hack/conformance/run.sh     every conformance spec of every area (sig-network, sig-apps,
#                                     sig-cli, sig-api-machinery, sig-auth, ...), against its own
#                                     expectations, expected-failures-all.txt
# Environment:
#   KUBECONFIG     the cluster (default: the local cluster of hack/cluster.sh)
#   NODE           the node under test (default vk-node), or several, comma-separated (the three
#                  of `make up NODES=3`: vk-node,vk-node-2,vk-node-3); they must be Ready,
#                  untainted and the only schedulable nodes, since the specs let the scheduler place
#                  their pods
#   CORDON_OTHERS  1: cordon the other schedulable nodes for the run and uncordon them after
#   REGISTRY       registry that the images are pushed to and the node pulls from, over plain
#                  HTTP (default 127.0.0.1:5000, the local cluster's)
#   PROCS          parallel ginkgo processes (default 4)
#   OUT            results: JUnit, logs, the repo list (default _output/conformance); emptied
#                  first if an earlier run wrote it
#   E2E_ARGS       more flags for e2e.test, e.g. --dump-logs-on-failure=false
# Exits non-zero when a spec fails that hack/conformance/expected-failures.txt does not list.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
# shellcheck source=../image/steps.sh
source "$HACK_DIR/image/steps.sh"

KUBECONFIG=${KUBECONFIG:-/var/lib/vk-containerd-local/kubeconfig}
export KUBECONFIG
NODE=${NODE:-vk-node}
REGISTRY=${REGISTRY:-127.0.0.1:5000}
PROCS=${PROCS:-4}
CONF=$HACK_DIR/conformance
if [[ ${ALL:-} == 1 ]]; then
  OUT=${OUT:-$REPO_ROOT/_output/conformance-all}; EXPECTED=$CONF/expected-failures-all.txt
else
  OUT=${OUT:-$REPO_ROOT/_output/conformance}; EXPECTED=$CONF/expected-failures.txt
fi
OUT=$(realpath -m -- "$OUT")   # ginkgo runs the suite in another directory
LABELS='Conformance && !Disruptive'
# The node's areas: all of sig-node, and sig-storage's specs of the volume types a node serves
# itself: configMap, secret, downwardAPI, projected and emptyDir (test/e2e/common/storage), with
# the emptyDir-wrapper and subPath specs on them; not the CSI, PV and API-only specs. And
# sig-auth's specs of the projected sources the node writes: clusterTrustBundle, podCertificate.
AREAS='\[sig-node\]|\[sig-storage\] (ConfigMap|Secrets|Downward API volume|Projected (configMap|secret|downwardAPI|combined)|EmptyDir (wrapper )?volumes|Subpath Atomic writer volumes) |\[sig-auth\] (Projected PodCertificate|\[FeatureGate:ClusterTrustBundle\]) '

kubectl() { "$K8S_BIN/kubectl" "$@"; }

# regexp_of FILE prints an alternation that matches exactly the spec names listed in FILE. Ginkgo
# matches a focus against "<suite description> <spec name>".
regexp_of() {
  grep -v -e '^#' -e '^\s*$' "$1" | sed -e 's/[][\.|$^*+?(){}]/\\&/g' -e 's/^/ /' -e 's/$/$/' | paste -sd '|'
}

focus=${FOCUS:-$AREAS}
if [[ ${FAST:-} == 1 ]]; then focus=$(regexp_of "$CONF/fast.txt"); fi
if [[ ${ALL:-} == 1 ]]; then focus=${FOCUS:-'\[sig-'}; fi   # every spec's name begins with its area

build() {
  flock -n "$VKC_CACHE/.build.lock" true 2>/dev/null || log "waiting for another build in $VKC_CACHE to end"
  "$HACK_DIR/deps.sh" kubernetes_e2e sample_apiserver etcd busybox
  (cd "$REPO_ROOT" && go build -o _output/bin/ ./hack/imagebuild ./hack/image &&
    go build -o _output/bin/conformance-report ./hack/conformance/report)
}

# The tools of upstream's agnhost image that the specs run in it (curl, nc -v, dig, getent),
# from Debian: the root filesystem under the agnhost stand-ins (hack/imagebuild).
AGNHOST_TOOLS=(curl netcat-openbsd bind9-dnsutils iproute2)

# images pushes the suite's images and writes the KUBE_TEST_REPO_LIST file that points the
# suite's registries at REGISTRY. The flag of that name is read too late; the variable works.
images() {
  curl -sf "http://$REGISTRY/v2/" >/dev/null || die "no registry at $REGISTRY (hack/cluster.sh up starts one)"
  local tools; tools=$(debian_rootfs "$("$REPO_ROOT/_output/bin/image" list suite)" "${AGNHOST_TOOLS[@]}")
  timed "images pushed" "$REPO_ROOT/_output/bin/imagebuild" --registry "$REGISTRY" --conformance "$K8S_E2E_BIN" \
    --tools "$tools" --busybox "$BUSYBOX_BIN/busybox" >"$OUT/images.txt"
  # The Aggregator spec's pod: the sample API server and its etcd, each one binary on the tools.
  local stage; stage=$(mktemp -d)
  TOOL=$REPO_ROOT/_output/bin/image
  component_image "$stage/a" "$tools" "$REGISTRY/e2e-test-images/sample-apiserver:1.29.2" '["/sample-apiserver"]' push \
    "$SAMPLE_APISERVER_BIN/sample-apiserver=sample-apiserver" &&
    component_image "$stage/e" "$tools" "$REGISTRY/etcd:3.7.0-0" "" push "$ETCD_BIN/etcd=usr/local/bin/etcd" ||
    { rm -rf "$stage"; die "pushing the Aggregator spec's images failed"; }
  rm -rf "$stage"
  cat >"$OUT/repo-list.yaml" <<YAML
promoterE2eRegistry: $REGISTRY/e2e-test-images
buildImageRegistry: $REGISTRY/build-image
gcEtcdRegistry: $REGISTRY
gcRegistry: $REGISTRY
sigStorageRegistry: $REGISTRY/sig-storage
privateRegistry: $REGISTRY/k8s-authenticated-test
dockerLibraryRegistry: $REGISTRY/library
cloudProviderGcpRegistry: $REGISTRY/cloud-provider-gcp
invalidRegistry: $REGISTRY/invalid
YAML
  export KUBE_TEST_REPO_LIST=$OUT/repo-list.yaml
}

# refresh_local_images: the specs pull IfNotPresent, so a node that holds an older build of an
# image under the same tag would run it. On the local cluster, drop such stale images from the
# node's containerd; another node must be cleared by hand.
refresh_local_images() {
  local ctr=("$CONTAINERD_BIN/ctr" --address /run/vk-containerd-local/containerd.sock -n vk-containerd)
  [[ ,$NODE, == *,vk-node,* && -S /run/vk-containerd-local/containerd.sock ]] || return 0
  local ref digest have
  while read -r _ ref; do
    digest=${ref##*@}; ref=${ref%@*}
    have=$("${ctr[@]}" images ls "name==$ref" 2>/dev/null | awk 'NR > 1 {print $3}')
    if [[ -n $have && $have != "$digest" ]]; then
      log "removing stale $ref ($have) from the node"
      "${ctr[@]}" images rm "$ref" >/dev/null 2>&1 || log "could not remove $ref from the node"
    fi
  done <"$OUT/images.txt"
}

cordoned=()
uncordon() {
  local n
  for n in "${cordoned[@]}"; do kubectl uncordon "$n" >/dev/null && log "uncordoned $n"; done
  cordoned=()
}

# check_node: each node of NODE (a comma-separated list) must be Ready (within 2 minutes),
# schedulable and untainted, and no other node may take the pods.
check_node() {
  local t0=$SECONDS under n
  IFS=, read -ra under <<<"$NODE"
  for n in "${under[@]}"; do
    until [[ $(kubectl get node "$n" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]; do
      ((SECONDS - t0 < 120)) || die "node $n is not Ready"
      sleep 2
    done
  done
  local name unsched taints ready found=0 others=()
  while IFS='|' read -r name unsched taints ready; do
    if [[ ",$NODE," == *",$name,"* ]]; then
      found=$((found + 1))
      [[ $ready == True ]] || die "node $name is not Ready"
      [[ $unsched != true ]] || die "node $name is cordoned"
      [[ $taints != *NoSchedule* && $taints != *NoExecute* ]] || die "node $name has taints: $taints"
    elif [[ $unsched != true && $taints != *NoSchedule* && $taints != *NoExecute* ]]; then
      others+=("$name")
    fi
  done < <(kubectl get nodes -o jsonpath='{range .items[*]}{.metadata.name}|{.spec.unschedulable}|{range .spec.taints[*]}{.key}:{.effect},{end}|{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
  ((found == ${#under[@]})) || die "not every node of $NODE is in the cluster of $KUBECONFIG"
  ((${#others[@]} == 0)) && return
  if [[ ${CORDON_OTHERS:-} != 1 ]]; then
    die "other schedulable nodes would take the specs' pods: ${others[*]}; cordon them, or set CORDON_OTHERS=1"
  fi
  trap uncordon EXIT
  local n
  for n in "${others[@]}"; do kubectl cordon "$n" >/dev/null && cordoned+=("$n") && log "cordoned $n"; done
}

# run_ginkgo NAME LABEL-FILTER PROCS: one ginkgo run, its output in $OUT/NAME.log and its JUnit
# in $OUT/junit_NAME_01.xml. The ginkgo CLI does not pass signals on to its processes, so an
# interrupt is sent to the e2e.test processes themselves.
run_ginkgo() {
  local name=$1 labels=$2 procs=$3
  log "running the $name specs ($procs processes); output in $OUT/$name.log"
  "$K8S_E2E_BIN/ginkgo" --procs="$procs" --label-filter="$labels" --focus="$focus" \
    --timeout=4h --silence-skips --no-color \
    "$K8S_E2E_BIN/e2e.test" -- \
    --kubeconfig="$KUBECONFIG" --kubectl-path="$K8S_BIN/kubectl" \
    --report-dir="$OUT" --report-prefix="${name}_" ${E2E_ARGS:-} \
    >"$OUT/$name.log" 2>&1 &
  local pid=$!
  trap 'pkill -TERM -P '"$pid"' e2e.test 2>/dev/null; wait '"$pid"'; uncordon; exit 130' INT TERM
  local rc=0; wait "$pid" || rc=$?
  trap - INT TERM
  grep -E '^(Ran|FAIL!|SUCCESS!|Test Suite)' "$OUT/$name.log" >&2 || true
  return $rc
}

main() {
  local t0=$SECONDS
  build
  # The repo list marks a directory that an earlier run wrote.
  if [[ -f $OUT/repo-list.yaml ]]; then find "$OUT" -mindepth 1 -delete; fi
  mkdir -p "$OUT"
  images
  refresh_local_images
  check_node
  local rc=0
  run_ginkgo parallel "$LABELS && !Serial" "$PROCS" || rc=$?
  if [[ ${FAST:-} != 1 ]]; then run_ginkgo serial "$LABELS && Serial" 1 || rc=$?; fi
  uncordon
  log "ginkgo done in $((SECONDS - t0))s (exit $rc)"
  "$REPO_ROOT/_output/bin/conformance-report" --expected "$EXPECTED" "$OUT"/junit_*.xml
}

main "$@"
