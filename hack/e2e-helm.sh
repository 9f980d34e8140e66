#!/usr/bin/env bash
# make e2e-helm: vk-containerd installed as a user with a cluster of their own
# installs it. On the local cluster (make up), a kubelet node joins
# (hack/kubelet-node.sh); the image is built (make image) and the chart is
# installed onto that kubelet's host; the e2e tests run against the node it
# registers; then helm test, a helm upgrade (running pods are kept), a bad
# value (the agent says why, in its log and in the node's events) and
# helm uninstall, after which the host holds nothing of the node's pods.
# Measured results are printed on lines that start with "figure:".
# VKC_HELM_E2E_TESTS narrows the e2e tests (a go test -run pattern);
# VKC_HELM_E2E_KEEP=1 leaves a failed run as it is, to look at.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# shellcheck source=local.sh
source "$HACK_DIR/local.sh"
export KUBECONFIG=$LOCAL/kubeconfig
HOST_NODE=${VKC_KUBELET_NODE_NAME:-kubelet-node}
NODE=$HOST_NODE-vk
RELEASE=vkc
NS=vk-system
AGENTS=app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=agent
# The e2e tests of what a user does first with a node: pods, logs, exec,
# attach, port-forward, volumes, restarts, deletion.
TESTS=${VKC_HELM_E2E_TESTS:-'^(TestNodeIsReadyWithHostInfo|TestKubeletAPIAuth|TestServingCertificateFromCluster|TestPodRunsWithKubeletStatus|TestKubectlLogs|TestKubectlExec|TestKubectlAttach|TestKubectlPortForward|TestVolumes|TestEnvironmentAndDownwardAPI|TestRestartPolicies|TestGracefulAndForcedDeletionLeaveNothing|TestAgentRestartKeepsNodeObject)$'}

kubectl() { "$K8S_BIN/kubectl" "$@"; }
helm() { "$HELM_BIN/helm" "$@"; }
figure() { printf 'figure: %s\n' "$*"; }

# node_ready NAME: the node exists and is Ready.
node_ready() {
  [[ $(kubectl get node "$1" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# wait_until SECONDS WHAT CHECK...: poll CHECK; fail saying WHAT on timeout.
wait_until() {
  local secs=$1 what=$2; shift 2
  local t0=$SECONDS
  until "$@"; do
    ((SECONDS - t0 < secs)) || die "$what: not within ${secs}s"
    sleep 0.5
  done
}

# agent_pod prints the name of the agent pod that runs now.
agent_pod() {
  kubectl -n "$NS" get pods -l "$AGENTS" --field-selector=status.phase=Running \
    -o 'jsonpath={.items[0].metadata.name}'
}

values() {
  local image=$1
  cat <<YAML
image:
  repository: ${image%:*}
  tag: ${image##*:}
nodeSelector:
  kubernetes.io/hostname: $HOST_NODE
# The local cluster's API server is on an address of the host; it verifies kubelet
# serving certificates against the cluster CA, and its approver approves them.
apiServer: $APISERVER
servingCertificate:
  mode: csr
containerd:
  socket: $RUN/kubelet-node/containerd.sock
  root: $LOCAL/kubelet-node/containerd/root
rootDir: $LOCAL/kubelet-node/vk-root
# This machine's / is a private mount.
hostRootPropagation: None
# The chart's own network (the default mode), on a bridge apart from vk-node's vkc0.
network:
  bridge:
    name: vkh0
registries:
$(registries_values 127.0.0.1:5000 127.0.0.1:5001 127.0.0.1:5002)
test:
  image: 127.0.0.1:5000/busybox:1.35
YAML
}

install() {
  local image t0=$SECONDS
  image=$(cd "$REPO_ROOT" && make --no-print-directory image | tail -n 1)
  [[ $image == "image: "* ]] || die "make image did not end with its reference: $image"
  image=${image#image: }
  figure "make image: $((SECONDS - t0)) s, $image"
  values "$image" >"$LOCAL/helm-e2e-values.yaml"
  t0=$SECONDS
  helm install "$RELEASE" "$REPO_ROOT/charts/vk-containerd" -n "$NS" --create-namespace \
    -f "$LOCAL/helm-e2e-values.yaml" --wait --timeout 3m
  wait_until 120 "node $NODE Ready" node_ready "$NODE"
  figure "helm install to node $NODE Ready: $((SECONDS - t0)) s"
  local user
  user=$(kubectl get csr -o jsonpath="{.items[?(@.spec.signerName==\"kubernetes.io/kube-apiserver-client-kubelet\")].spec.username}")
  grep -q "system:bootstrap:" <<<"$user" || die "the node's client certificate was not asked for with a bootstrap token (CSR users: $user)"
  [[ $(kubectl get node "$NODE" -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}') == 10260 ]] ||
    die "node $NODE does not report the chart's kubelet port 10260"
}

run_e2e() {
  local t0=$SECONDS
  (cd "$REPO_ROOT" && VKC_NODE_NAME=$NODE VKC_E2E_KUBELET_PORT=10260 VKC_E2E_CONTROL="$HACK_DIR/kubelet-node.sh ctl" VKC_E2E_NO_SKIP=1 \
    VKC_E2E_KUBECTL=$K8S_BIN/kubectl go test -count=1 -tags e2e -timeout 20m -run "$TESTS" -v ./e2e/...)
  figure "e2e tests on the Helm-installed node: $((SECONDS - t0)) s"
}

# sleeper_state prints the container ID and restart count of the sleeper pod.
sleeper_state() {
  kubectl -n "$NS" get pod sleeper -o 'jsonpath={.status.containerStatuses[0].containerID} {.status.containerStatuses[0].restartCount}'
}

start_sleeper() {
  kubectl -n "$NS" run sleeper --image=127.0.0.1:5000/busybox:1.35 --restart=Never \
    --overrides="{\"spec\":{\"nodeName\":\"$NODE\"}}" -- sleep 3600 >/dev/null
  kubectl -n "$NS" wait pod/sleeper --for=condition=Ready --timeout=60s >/dev/null
}

upgrade() {
  start_sleeper
  local before after old new t0=$SECONDS
  before=$(sleeper_state) old=$(agent_pod)
  helm upgrade "$RELEASE" "$REPO_ROOT/charts/vk-containerd" -n "$NS" --reuse-values --set node.verbosity=2 --wait --timeout 3m
  new=$(agent_pod)
  [[ $new != "$old" ]] || die "helm upgrade did not replace the agent"
  kubectl -n "$NS" get pod "$new" -o jsonpath='{.spec.containers[0].args}' | grep -q -- '-v=2' ||
    die "the new agent does not run with the changed value"
  wait_until 60 "node $NODE Ready after the upgrade" node_ready "$NODE"
  after=$(sleeper_state)
  [[ $after == "$before" ]] || die "the upgrade touched a running pod: container and restarts $before, now $after"
  figure "helm upgrade: $((SECONDS - t0)) s; the running pod kept its container (${before% *}), restarts ${after#* }"
}

# bad_value upgrades to a containerd socket that does not exist: the agent
# must end with one line that says so, in its log and in the node's events,
# and a rollback must bring the node back with its pods.
bad_value() {
  local sock=/run/vk-containerd-missing/containerd.sock line t0=$SECONDS
  local want="containerd socket $sock does not exist"
  helm upgrade "$RELEASE" "$REPO_ROOT/charts/vk-containerd" -n "$NS" --reuse-values --set containerd.socket=$sock \
    --set test.timeout=15s >/dev/null
  wait_until 120 "the agent's log saying \"$want\"" agent_log_says "$want"
  wait_until 30 "an event of node $NODE saying \"$want\"" node_event_says "$want"
  line=$(agent_log_lines "$want" | head -n 1)
  figure "bad value: agent log \"$line\" after $((SECONDS - t0)) s"
  # With no agent, helm test must fail: its pod cannot run on the node.
  if helm test "$RELEASE" -n "$NS" --timeout 2m >/dev/null 2>&1; then die "helm test passed on a node without an agent"; fi
  figure "helm test without an agent fails: $(kubectl -n "$NS" logs "pod/$RELEASE-vk-containerd-test" 2>&1 | grep 'check-node:' | tail -n 1 || true)"
  kubectl -n "$NS" delete pod "$RELEASE-vk-containerd-test" --ignore-not-found >/dev/null
  helm rollback "$RELEASE" -n "$NS" --wait --timeout 3m >/dev/null
  rmdir /run/vk-containerd-missing 2>/dev/null || true # made by the hostPath mount
  wait_until 120 "node $NODE Ready after the rollback" node_ready "$NODE"
  [[ $(kubectl -n "$NS" get pod sleeper -o jsonpath='{.status.phase}') == Running ]] || die "the sleeper pod did not survive the bad value"
}

agent_log_lines() {
  local p
  for p in $(kubectl -n "$NS" get pods -l "$AGENTS" -o 'jsonpath={.items[*].metadata.name}'); do
    kubectl -n "$NS" logs "$p" 2>/dev/null | grep -F "$1" || true
    kubectl -n "$NS" logs "$p" --previous 2>/dev/null | grep -F "$1" || true
  done
}
agent_log_says() { [[ -n $(agent_log_lines "$1") ]]; }
node_event_says() {
  kubectl get events -n default --field-selector "involvedObject.kind=Node,involvedObject.name=$NODE,reason=KubeletSetupFailed" \
    -o 'jsonpath={.items[*].message}' | grep -qF "$1"
}

run_helm_test() {
  local t0=$SECONDS
  # The test pod is kept when it fails: its log says which step.
  helm test "$RELEASE" -n "$NS" --timeout 3m ||
    { kubectl -n "$NS" logs "pod/$RELEASE-vk-containerd-test" >&2 || true; return 1; }
  figure "helm test: $((SECONDS - t0)) s"
}

uninstall() {
  local t0=$SECONDS leaks agent_log=$LOCAL/logs/helm-agent-uninstall.log
  # The agent's last words: what it did with the pods and its files.
  kubectl -n "$NS" logs -f "$(agent_pod)" >"$agent_log" 2>&1 &
  helm uninstall "$RELEASE" -n "$NS" --wait --timeout 5m
  ! kubectl get node "$NODE" >/dev/null 2>&1 || die "helm uninstall left node $NODE"
  kubectl -n "$NS" get pod sleeper >/dev/null 2>&1 && die "helm uninstall left the pod sleeper"
  leaks=$("$HACK_DIR/kubelet-node.sh" leaks)
  if [[ -n $(tr ' ' '\n' <<<"$leaks" | grep -v '=0$') ]]; then
    grep -v 'certificate_store\|shared_informer' "$agent_log" | tail -n 20 >&2
    find "$LOCAL/kubelet-node/vk-root" -maxdepth 3 >&2
    die "helm uninstall left on the host: $leaks"
  fi
  ! ip link show vkh0 >/dev/null 2>&1 || die "helm uninstall left the pods' bridge vkh0"
  local left
  left=$(find "$LOCAL/kubelet-node/vk-root" -mindepth 1 2>/dev/null | head -n 5)
  [[ -z $left ]] || die "helm uninstall left files of the agent: $left"
  figure "helm uninstall: $((SECONDS - t0)) s; left on the host: $leaks"
  kubectl delete namespace "$NS" --wait=false >/dev/null
}

# on_exit leaves the cluster as it was: after a failure it shows the agent's
# log, removes what the chart made without its hooks (their agents may be
# the failure), and takes the kubelet node down, which cleans its host.
on_exit() {
  local rc=$?
  if ((rc != 0)) && [[ -n ${VKC_HELM_E2E_KEEP:-} ]]; then
    log "VKC_HELM_E2E_KEEP is set: the release and the kubelet node are left as they are"
    exit $rc
  fi
  if ((rc != 0)); then
    log "e2e-helm failed; the agents' last log lines:"
    kubectl -n "$NS" logs -l "$AGENTS" --tail=40 --prefix 2>/dev/null || true
    kubectl -n "$NS" get events --sort-by=.lastTimestamp 2>/dev/null | tail -n 15 || true
    remove_release
  fi
  "$HACK_DIR/kubelet-node.sh" down
  exit $rc
}

remove_release() {
  if helm status "$RELEASE" -n "$NS" >/dev/null 2>&1; then
    helm uninstall "$RELEASE" -n "$NS" --no-hooks --wait --timeout 2m >/dev/null || true
  fi
  kubectl delete node "$NODE" --ignore-not-found >/dev/null
  kubectl delete namespace "$NS" --ignore-not-found --timeout=90s >/dev/null
}

"$HACK_DIR/deps.sh" helm kubelet containerd_cri
remove_release # what an interrupted run left
"$HACK_DIR/kubelet-node.sh" up
trap on_exit EXIT
install
run_e2e
run_helm_test
upgrade
bad_value
uninstall
log "e2e-helm passed"
