//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The fault suite (TestFault*, run by `make e2e-faults`) breaks what a node
// depends on and checks that nothing it runs is lost and nothing it held is
// leaked. Leaks are counted on the host (`hack/cluster.sh ctl leaks`), never
// by asking the agent. Each test prints its figures as lines that start with
// "figure:".

// figure prints one measured result of a fault test.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figure: "+format, args...)
}

// controlOutput runs the node-control command and returns what it printed.
func controlOutput(t *testing.T, args ...string) string {
	t.Helper()
	requireNode(t, "VKC_E2E_CONTROL is not set: the fault tests need to control the node's processes and read its host")
	cmdline := os.Getenv("VKC_E2E_CONTROL")
	out, err := exec.Command("sh", append([]string{"-c", cmdline + ` "$@"`, "control"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", cmdline, args, err, out)
	}
	return string(out)
}

// hostLeaks reads what pods hold on the host, by kind.
func hostLeaks(t *testing.T) map[string]int {
	t.Helper()
	out := strings.TrimSpace(controlOutput(t, "leaks"))
	counts := map[string]int{}
	for _, field := range strings.Fields(out) {
		k, v, ok := strings.Cut(field, "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			t.Fatalf("ctl leaks printed %q, want name=count fields", out)
		}
		counts[k] = n
	}
	for _, kind := range []string{"namespaces", "veths", "ips", "shims", "containers", "snapshots", "pod-dirs"} {
		if _, ok := counts[kind]; !ok {
			t.Fatalf("ctl leaks printed no %s count: %q", kind, out)
		}
	}
	return counts
}

func formatCounts(c map[string]int) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, c[k])
	}
	return strings.TrimSpace(b.String())
}

// nodePods lists the pods bound to the node under test, in every namespace
// but kube-system: the cluster's add-ons (kube-proxy, CoreDNS) run there for
// good, and ctl leaks does not count what they hold.
func nodePods(ctx context.Context) ([]corev1.Pod, error) {
	list, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{
		FieldSelector: "spec.nodeName=" + nodeName + ",metadata.namespace!=kube-system"})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// requireNoLeaks waits until no pod but the add-ons is bound to the node, then until the
// host holds nothing of any pod, and prints the counts as a figure. It fails
// the test when something stays.
func requireNoLeaks(t *testing.T, after string) {
	t.Helper()
	eventually(t, 3*time.Minute, "no pod bound to the node", func(ctx context.Context) (bool, error) {
		pods, err := nodePods(ctx)
		if err != nil {
			return false, err
		}
		var names []string
		for _, p := range pods {
			names = append(names, p.Namespace+"/"+p.Name)
		}
		return len(pods) == 0, fmt.Errorf("still bound: %v", names)
	})
	var counts map[string]int
	deadline := time.Now().Add(30 * time.Second)
	for {
		counts = hostLeaks(t)
		total := 0
		for _, n := range counts {
			total += n
		}
		if total == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	figure(t, "leaked after %s: %s", after, formatCounts(counts))
	for kind, n := range counts {
		if n != 0 {
			t.Errorf("after %s the host still holds %d %s of deleted pods", after, n, kind)
		}
	}
}

// faultNamespace is a test namespace whose pods are all gone, and whose
// leaks are counted, when the test ends.
func faultNamespace(t *testing.T, fault string) string {
	t.Helper()
	requireNode(t, "VKC_E2E_CONTROL is not set: the fault tests need to control the node's processes and read its host")
	requireNoLeaks(t, "the tests before "+fault) // the counts must start from zero
	ns := testNamespace(t)
	t.Cleanup(func() {
		zero := int64(0)
		_ = client.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		requireNoLeaks(t, fault)
	})
	return ns
}

// runningIDs returns each named pod's container IDs and restart counts, by
// pod and container name.
func runningIDs(t *testing.T, ns string, names []string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, name := range names {
		p, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get pod %s: %v", name, err)
		}
		for _, cs := range p.Status.ContainerStatuses {
			ids[name+"/"+cs.Name] = fmt.Sprintf("%s restarts=%d running=%v", cs.ContainerID, cs.RestartCount, cs.State.Running != nil)
		}
	}
	return ids
}

// compareIDs counts the containers whose ID, restart count or running state
// changed, and reports each as an error.
func compareIDs(t *testing.T, before, after map[string]string) int {
	t.Helper()
	changed := 0
	for k, v := range before {
		if after[k] != v {
			changed++
			t.Errorf("container %s: was %q, now %q", k, v, after[k])
		}
	}
	return changed
}

func sleeper(name string) *corev1.Pod {
	return podSpec(name, busybox, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
}
