//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
)

// requireMetricsAPI skips t, or fails it under VKC_E2E_NO_SKIP=1, when the
// cluster has no metrics.k8s.io API (no metrics-server). An API that is
// registered but does not answer is a failure either way.
func requireMetricsAPI(t *testing.T) {
	t.Helper()
	_, err := client.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
	switch {
	case err == nil:
	case apierrors.IsNotFound(err):
		skipOrFail(t, "the cluster serves no metrics.k8s.io/v1beta1: metrics-server is not there")
	default:
		t.Fatalf("metrics.k8s.io/v1beta1 is registered but does not answer: %v", err)
	}
}

// topRow runs kubectl top with args until it prints one row whose first
// column is name, and returns the row's columns. Figures appear after
// metrics-server has scraped the node twice.
func topRow(t *testing.T, timeout time.Duration, name string, args ...string) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, errOut, code := kubectl(t, "", append([]string{"top"}, append(args, "--no-headers")...)...)
		if code == 0 {
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if f := strings.Fields(line); len(f) > 0 && f[0] == name {
					return f
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl top %s: no row for %s after %s (exit %d)\nstdout: %s\nstderr: %s",
				strings.Join(args, " "), name, timeout, code, out, errOut)
		}
		time.Sleep(2 * time.Second)
	}
}

// positive parses a kubectl top figure (250m, 12Mi) and fails t unless it is above zero.
func positive(t *testing.T, what, s string) resource.Quantity {
	t.Helper()
	q, err := resource.ParseQuantity(s)
	if err != nil {
		t.Fatalf("%s: %q is not a quantity: %v", what, s, err)
	}
	if q.Sign() <= 0 {
		t.Errorf("%s is %s, want more than zero", what, s)
	}
	return q
}

// TestKubectlTop runs kubectl top pod and kubectl top node: metrics-server
// reads the node's /metrics/resource and serves the metrics.k8s.io API
// through the API server's aggregation layer.
func TestKubectlTop(t *testing.T) {
	requireMetricsAPI(t)
	ns := testNamespace(t)
	// A busy loop for cpu, and 16 MiB held in a shell variable for memory.
	createPod(t, ns, podSpec("busy", busybox, "sh", "-c",
		`x=$(head -c 16777216 /dev/zero | tr '\0' a); trap 'exit 0' TERM; while true; do :; done & wait`))
	waitPod(t, ns, "busy", 60*time.Second, "Running", isRunningReady)

	// NAME CPU MEMORY
	pod := topRow(t, 2*time.Minute, "busy", "pod", "-n", ns)
	if len(pod) != 3 {
		t.Fatalf("kubectl top pod row %q: want NAME CPU MEMORY", pod)
	}
	positive(t, "pod cpu", pod[1])
	if mem := positive(t, "pod memory", pod[2]); mem.Cmp(resource.MustParse("12Mi")) < 0 {
		t.Errorf("pod memory %s, want most of the 16Mi it holds", pod[2])
	}
	t.Logf("kubectl top pod: %s", strings.Join(pod, " "))

	// POD NAME CPU MEMORY
	ctr := topRow(t, 30*time.Second, "busy", "pod", "busy", "-n", ns, "--containers")
	if len(ctr) != 4 || ctr[1] != "main" {
		t.Fatalf("kubectl top pod --containers row %q: want busy main CPU MEMORY", ctr)
	}
	positive(t, "container cpu", ctr[2])
	positive(t, "container memory", ctr[3])

	// NAME CPU(cores) CPU(%) MEMORY(bytes) MEMORY(%)
	node := topRow(t, 2*time.Minute, nodeName, "node", nodeName)
	if len(node) != 5 {
		t.Fatalf("kubectl top node row %q: want NAME CPU CPU%% MEMORY MEMORY%%", node)
	}
	positive(t, "node cpu", node[1])
	positive(t, "node memory", node[3])
	for _, pct := range []string{node[2], node[4]} {
		if !strings.HasSuffix(pct, "%") {
			t.Errorf("kubectl top node: %q is not a percentage", pct)
		}
	}
	t.Logf("kubectl top node: %s", strings.Join(node, " "))
	if t.Failed() {
		out, _, _ := kubectl(t, "", "get", "--raw", fmt.Sprintf("/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods/busy", ns))
		t.Logf("metrics.k8s.io pod metrics: %s", out)
	}
}
