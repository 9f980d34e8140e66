# vk-containerd
#   make up      the local cluster with vk-containerd as its node (NODES=3: three nodes,
#                each but the first in a network namespace of its own)
#   make down    stop it and clean the host
#   make test    vet + unit tests + fuzzing + local cluster + e2e tests + fault suite
#                + chart checks + the Helm-installed node + the conformance fast slice
#                + three nodes + down + kind
#   make build   the binaries, into _output/bin
#   make image   the agent's container image, without Docker (hack/image/image.sh), pushed to
#                IMAGE_REGISTRY (default 127.0.0.1:5000, the local cluster's registry)
#   make e2e-helm          the chart on a kubelet node of the local cluster, tested end to end
#   make chart-check       helm lint and every documented option through the API server
#   make conformance       the upstream e2e suite's node conformance specs (hack/conformance/run.sh)
#   make conformance-fast  a quick slice of them

SHELL := /bin/bash
GO ?= go
VERSION ?= v0.1.0-$(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
LDFLAGS := -X github.com/vk-containerd/vk-containerd/internal/version.Version=$(VERSION)
BIN := _output/bin
E2E_TIMEOUT ?= 30m
NODES ?= 1

.PHONY: build image up down status test vet unit fuzz e2e e2e-faults e2e-nodes e2e-helm e2e-kind kind-image chart-check bench clean conformance conformance-all conformance-fast

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/vk-containerd ./hack/registry ./hack/imagebuild ./hack/csrapprover

# image prints "image: <reference>" last; IMAGE_REGISTRY=host:port pushes elsewhere.
image:
	@VERSION=$(VERSION) hack/image/image.sh

up: build
	@NODES=$(NODES) hack/cluster.sh up

down:
	@hack/cluster.sh down

status:
	@hack/cluster.sh status

vet:
	@test -z "$$(gofmt -l . | grep -v '^_output/')" || { echo "gofmt needed:"; gofmt -l . | grep -v '^_output/'; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...

unit:
	VKC_TEST_ROOT=1 $(GO) test -count=1 ./...

# The e2e tests run against the cluster in KUBECONFIG (default: the local cluster).
E2E_ENV = KUBECONFIG=$${KUBECONFIG:-/var/lib/vk-containerd-local/kubeconfig} \
	  VKC_E2E_CONTROL=$${VKC_E2E_CONTROL-$(CURDIR)/hack/cluster.sh ctl} \
	  VKC_E2E_NO_SKIP=$${VKC_E2E_NO_SKIP-1} \
	  VKC_E2E_KUBECTL=$${VKC_E2E_KUBECTL:-$$(hack/cluster.sh kubectl-path)}

# e2e runs the end-to-end tests but the fault suite.
e2e:
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -skip '^TestFault' -v ./e2e/...

# e2e-faults runs the fault suite (e2e/faults*_test.go): agent kill under churn,
# containerd restart, API server outage, full root disk, deletions midway.
# Each test prints its measured results on lines that start with "figure:".
e2e-faults:
	$(E2E_ENV) $(GO) test -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -run '^TestFault' -v ./e2e/...

# e2e-nodes adds vk-node-2 and vk-node-3 to the local cluster (make up NODES=3), each in a
# network namespace of its own, and runs the tests across nodes: pod to pod, pod to Service
# and DNS between every pair, and Services and DNS from vk-node-2.
e2e-nodes: build
	@NODES=3 hack/cluster.sh up
	$(E2E_ENV) VKC_E2E_PEER_NODE=vk-node-2,vk-node-3 $(GO) test -count=1 -tags e2e -timeout 10m \
	  -run '^TestClusterNetworkFromPods$$' -v ./e2e/...
	$(E2E_ENV) VKC_NODE_NAME=vk-node-2 $(GO) test -count=1 -tags e2e -timeout 10m \
	  -run '^TestServicesAndDNSFromPods$$' -v ./e2e/...

# e2e-helm installs the chart onto a kubelet node that joins the local cluster
# (hack/kubelet-node.sh), runs e2e tests against the node it registers, then
# helm test, upgrade, a bad value and uninstall (hack/e2e-helm.sh).
e2e-helm:
	@hack/e2e-helm.sh

# e2e-kind runs the e2e suite on a kind cluster of this repository's node image
# (hack/kind), with the chart's node on its worker; podman here, docker where
# an engine runs.
e2e-kind: build
	@hack/e2e-kind.sh

# kind-image builds the kind node image, offline (hack/kind/node-image.sh).
kind-image:
	@hack/kind/node-image.sh

# chart-check lints charts/vk-containerd and has the API server check every
# documented option's rendering (hack/chart-check.sh).
chart-check:
	@hack/chart-check.sh

# fuzz runs every fuzz target for FUZZTIME each (hack/fuzz.sh).
fuzz:
	@FUZZTIME=$${FUZZTIME:-15s} hack/fuzz.sh

# test brings the local cluster up, runs every test, and takes the cluster down
# whatever the outcome, then runs the e2e suite on a kind cluster of its own;
# it fails when any step fails.
test: vet unit fuzz
	@$(MAKE) --no-print-directory up
	@rc=0; $(MAKE) --no-print-directory e2e || rc=$$?; \
	  $(MAKE) --no-print-directory e2e-faults || rc=$$?; \
	  $(MAKE) --no-print-directory chart-check || rc=$$?; \
	  $(MAKE) --no-print-directory e2e-helm || rc=$$?; \
	  $(MAKE) --no-print-directory conformance-fast || rc=$$?; \
	  $(MAKE) --no-print-directory e2e-nodes || rc=$$?; \
	  $(MAKE) --no-print-directory down || rc=$$?; \
	  $(MAKE) --no-print-directory e2e-kind || rc=$$?; exit $$rc

# bench measures pod start and removal on the local cluster (make up first);
# numbers go to bench.json and a table.
bench:
	$(GO) run ./hack/bench -kubeconfig /var/lib/vk-containerd-local/kubeconfig -node vk-node \
	  -agent-pid-file /run/vk-containerd-local/vk-containerd.pid -n $${BENCH_PODS:-1,50} -out $${BENCH_OUT:-bench.json}

# conformance runs the upstream e2e suite's conformance specs of the node against NODE (default
# vk-node) of the cluster in KUBECONFIG (default: the local cluster); FOCUS='regexp' narrows them.
# Results go to _output/conformance. See hack/conformance/run.sh.
conformance:
	@hack/conformance/run.sh

# conformance-all runs every conformance spec of the suite, of every area, against NODE
# (hack/conformance/expected-failures-all.txt); results in _output/conformance-all.
conformance-all:
	@ALL=1 hack/conformance/run.sh

# conformance-fast runs the quick slice listed in hack/conformance/fast.txt.
conformance-fast:
	@FAST=1 hack/conformance/run.sh

clean:
	rm -rf _output
