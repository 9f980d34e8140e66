#!/usr/bin/env bash
# make e2e-kind: the e2e suite on a kind cluster, as its users and their CI try the project.
# hack/kind/kind.sh makes a cluster of this repository's node image (a control plane and a
# worker; podman here, docker where an engine runs), helm installs the chart onto the worker,
# and the suite (every test but the fault suite's, none skipped) runs against the worker's
# vk-containerd node; then helm test, and the cluster is deleted, leaving nothing on the host.
# Each measured figure is printed on a line that starts with "figure:".
#   VKC_KIND_E2E_TESTS  narrows the tests (a go test -run pattern)
#   VKC_KIND_KEEP=1     keeps the cluster after a failure
set -euo pipefail
source "$(dirname "$0")/lib.sh"

KIND=$HACK_DIR/kind/kind.sh
figure() { echo "figure: $*"; }

on_exit() {
  local rc=$?
  if ((rc != 0)) && [[ -n ${VKC_KIND_KEEP:-} ]]; then
    log "VKC_KIND_KEEP is set: the kind cluster is left as it is"; exit $rc
  fi
  "$KIND" down || rc=1
  exit $rc
}
trap on_exit EXIT

t_all=$SECONDS t0=$SECONDS
"$KIND" up
figure "kind cluster (node image, 2 nodes) up: $((SECONDS - t0)) s"
t0=$SECONDS
"$KIND" install
figure "helm install to the vk-containerd node Ready: $((SECONDS - t0)) s"

t0=$SECONDS
while IFS= read -r kv; do export "${kv%%=*}=$(eval echo "${kv#*=}")"; done < <("$KIND" env)
(cd "$REPO_ROOT" && VKC_E2E_NO_SKIP=1 go test -count=1 -tags e2e -timeout 30m -skip '^TestFault' \
  ${VKC_KIND_E2E_TESTS:+-run "$VKC_KIND_E2E_TESTS"} -v ./e2e/...)
figure "e2e tests on the kind cluster's vk-containerd node: $((SECONDS - t0)) s"

t0=$SECONDS
"$HELM_BIN/helm" --kubeconfig "$KUBECONFIG" test vkc -n vk-system --timeout 3m
figure "helm test: $((SECONDS - t0)) s"

trap - EXIT
t0=$SECONDS
"$KIND" down
figure "kind cluster deleted, nothing left: $((SECONDS - t0)) s"
figure "make e2e-kind: $((SECONDS - t_all)) s"
log "e2e-kind passed"
